from brownie import chain

from scripts.deploy import SuiteConfig, deploy_suite
from scripts.samples import H100_CLUSTER, register_asset, shares, usd
from tests.support.meter import MeterPoster, make_signers, report

import pytest

HOUR = 3600


@pytest.fixture(scope="module")
def world(actors):
    signers = make_signers(3)
    genesis = chain.time() // HOUR * HOUR - 10 * HOUR
    suite = deploy_suite(actors.admin, SuiteConfig(compliance=actors.compliance, oracle_genesis=genesis,
                                                   oracle_signers=[s.address for s in signers], oracle_threshold=2))
    asset = register_asset(suite, actors.admin, actors.operator, H100_CLUSTER)
    poster = MeterPoster(suite.oracle, signers, actors.keeper)
    return suite, asset, poster, genesis


def test_lease_is_billed_for_delivery_and_investors_paid(world, actors):
    suite, asset, poster, genesis = world
    coin, market, token = suite.stablecoin, suite.lease_market, asset.shares
    expiry = chain.time() + 365 * 86400
    suite.investor_registry.addInvestor(actors.alice, expiry, 756, {"from": actors.compliance})
    coin.mint(actors.alice, usd(1_000_000), {"from": actors.admin})
    token.openOffering(usd(100), shares(1000), chain.time() + 86400, {"from": actors.operator})
    coin.approve(token, usd(100_000), {"from": actors.alice})
    token.subscribe(shares(1000), usd(100_000), {"from": actors.alice})

    now_epoch = market.currentEpoch()
    suite.oracle.startReporting(asset.asset_id, now_epoch, {"from": actors.admin})
    terms = (asset.asset_id, 8, usd(2), 1, 100, 0, 9_900, 1_000, 500, 0, (False, 0, 0, 0, 0))
    market.createOffer(terms, {"from": actors.operator})
    coin.mint(actors.lessee, usd(10_000), {"from": actors.admin})
    coin.approve(market, usd(10_000), {"from": actors.lessee})
    tx = market.openLease(1, 4, 3, usd(2), {"from": actors.lessee})
    lease_id = tx.return_value
    assert tx.events["LeaseOpened"]["escrow"] == 4 * usd(2) * 3
    start = now_epoch + 1

    chain.sleep(5 * HOUR)
    chain.mine()
    # now_epoch: empty; start..start+2: full delivery, half delivery, full
    reports = [report(1, now_epoch, 0, 0, 0)]
    reports.append(report(1, start, 8 * HOUR, 9000, 5000))
    reports.append(report(1, start + 1, 4 * HOUR, 9000, 2500))  # 50% delivered: below SLA -> 10% credit
    reports.append(report(1, start + 2, 8 * HOUR, 9000, 5000))
    poster.post(reports)
    settled = market.settleThrough(1, start + 2, {"from": actors.keeper}).return_value
    assert settled == 4
    s0 = market.settlementOf(1, start)
    # rent 4 GPUs x $2 = $8/h, full delivery
    assert s0["gross"] == usd(8)
    # energy 5000 Wh x 1.2 PUE x $0.12/kWh = $0.72; fee 10% of (8 - 0.72) = $0.728
    assert s0["energyCost"] == usd("0.72")
    assert s0["fee"] == usd("0.728")
    assert s0["net"] == usd(8) - usd("0.72") - usd("0.728")
    s1 = market.settlementOf(1, start + 1)
    assert s1["gross"] == usd(4)
    assert s1["credits"] == usd("0.4")
    acct = market.leaseAccount(lease_id)
    assert acct["billed"] == usd(8) + usd("3.6") + usd(8)
    assert acct["credited"] == usd("0.4")
    assert acct["refundable"] == usd(24) - acct["billed"]
    before = coin.balanceOf(actors.lessee)
    market.claimRefund(lease_id, {"from": actors.lessee})
    assert coin.balanceOf(actors.lessee) - before == usd("4.4")
    assert market.getLease(lease_id)["status"] == 4  # Closed
    total_net = sum(market.settlementOf(1, e)["net"] for e in range(start, start + 3))
    assert token.claimable(actors.alice) == total_net
    assert suite.lease_lens.trailingUtilizationBps(1, 10) == 9000
