import pytest
from brownie import LendingMarket, chain

from scripts.deploy import SuiteConfig, deploy_suite
from scripts.samples import H100_CLUSTER, register_asset, shares, usd
from tests.support.meter import MeterPoster, make_signers, report

HOUR = 3600
WAD = 10**18


@pytest.fixture(scope="module")
def world(actors):
    signers = make_signers(1)
    genesis = chain.time() // HOUR * HOUR - 10 * HOUR
    suite = deploy_suite(actors.admin, SuiteConfig(compliance=actors.compliance, oracle_genesis=genesis,
                                                   oracle_signers=[s.address for s in signers], oracle_threshold=1))
    asset = register_asset(suite, actors.admin, actors.operator, H100_CLUSTER)
    poster = MeterPoster(suite.oracle, signers, actors.keeper)
    return suite, asset, poster


def test_loan_shrinks_with_yield_and_liquidates_after_outage(world, actors):
    suite, asset, poster = world
    coin, market, token = suite.stablecoin, suite.lease_market, asset.shares
    expiry = chain.time() + 365 * 86400
    for who in (actors.alice, actors.bob, actors.liquidator):
        suite.investor_registry.addInvestor(who, expiry, 756, {"from": actors.compliance})
        coin.mint(who, usd(1_000_000), {"from": actors.admin})
    token.openOffering(usd(100), shares(1000), chain.time() + 86400, {"from": actors.operator})
    coin.approve(token, usd(100_000), {"from": actors.alice})
    token.subscribe(shares(1000), usd(100_000), {"from": actors.alice})

    now_epoch = market.currentEpoch()
    suite.oracle.startReporting(asset.asset_id, now_epoch, {"from": actors.admin})
    params = (24, 1500, 2000, 1000, 3, 5000, 5000)
    suite.valuation.configure(asset.asset_id, params, usd(100), {"from": actors.admin})
    tx = suite.lending_factory.createMarket((coin, token, suite.valuation, suite.irm, 5 * 10**17), {"from": actors.keeper})
    lending = LendingMarket.at(tx.return_value)
    assert suite.investor_registry.canHold(lending)

    coin.approve(lending, usd(50_000), {"from": actors.bob})
    lending.deposit(usd(50_000), actors.bob, {"from": actors.bob})
    token.approve(lending, shares(500), {"from": actors.alice})
    lending.supplyCollateral(shares(500), actors.alice, {"from": actors.alice})
    price, frozen = suite.valuation.quote(asset.asset_id)
    assert not frozen
    lending.borrow(usd(10_000), actors.alice, {"from": actors.alice})
    debt0 = lending.debtOf(actors.alice)

    # Lease all 8 GPUs for 5 epochs at $2, report full delivery, settle: yield flows to the collateral.
    market.createOffer((asset.asset_id, 8, usd(2), 1, 100, 0, 9_900, 1_000, 500, 0, (False, 0, 0, 0, 0)), {"from": actors.operator})
    coin.approve(market, usd(1000), {"from": actors.bob})
    market.openLease(1, 8, 5, usd(2), {"from": actors.bob})
    chain.sleep(7 * HOUR)
    chain.mine()
    poster.post([report(1, e, 8 * HOUR if e > now_epoch else 0, 9000 if e > now_epoch else 0, 5000 if e > now_epoch else 0)
                 for e in range(now_epoch, now_epoch + 6)])
    market.settleThrough(1, now_epoch + 5, {"from": actors.keeper})
    pending = lending.pendingYieldOf(actors.alice)
    assert pending > 0
    lending.applyYield(actors.alice, {"from": actors.keeper})
    assert lending.debtOf(actors.alice) < debt0
    assert lending.debtOf(actors.alice) >= debt0 - pending - 1

    # The meter goes silent: borrowing freezes and the price falls epoch by epoch until liquidation.
    suite.valuation.update(asset.asset_id, {"from": actors.keeper})
    high, _ = suite.valuation.quote(asset.asset_id)
    print("price after yield", high)
    for _ in range(60):
        if lending.healthFactor(actors.alice) < WAD:
            break
        chain.sleep(HOUR)
        chain.mine()
        if market.nextSettleEpoch(1) < market.currentEpoch() - 6:
            market.settleThrough(1, market.currentEpoch(), {"from": actors.keeper})
        suite.valuation.update(asset.asset_id, {"from": actors.keeper})
    price2, frozen2 = suite.valuation.quote(asset.asset_id)
    print("price after silence", price2, suite.valuation.breakdown(asset.asset_id))
    assert frozen2 and price2 < high
    assert lending.healthFactor(actors.alice) < WAD
    coin.approve(lending, usd(100_000), {"from": actors.liquidator})
    tx = lending.liquidate(actors.alice, 0, lending.positionOf(actors.alice)[0] // 2, {"from": actors.liquidator})
    assert tx.events["Liquidated"]["seizedCollateral"] > 0
    assert token.balanceOf(actors.liquidator) == tx.events["Liquidated"]["seizedCollateral"]
