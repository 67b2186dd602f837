"""Self-repaying loans: the yield of the collateral shares is harvested by the market, credited to each
borrower pro rata to collateral, repays that borrower's debt first, and the excess becomes claimable (pull).

Set-up of most tests (zero-rate `flat` market): Alice posts 100 and Carol 300 of the asset's 1,000 shares, so
the market holds 400. Revenue of $1,000 paid to the share token gives the market 400/1,000 of it ($400):
per collateral share $1, Alice $100 and Carol $300.
"""

from __future__ import annotations

import pytest

from scripts.samples import shares, usd
from tests.contracts.lending._world import HOUR, MAX_UINT, YEAR, at, ints
from tests.support.events import assert_event, assert_no_event
from tests.support.meter import report
from tests.support.reverts import reverts_with


@pytest.fixture
def posted(world, flat):
    """Bob lends 20,000; Alice posts 100 shares, Carol 300."""
    a = world.actors
    flat.deposit(usd(20_000), a.bob, {"from": a.bob})
    flat.supplyCollateral(shares(100), a.alice, {"from": a.alice})
    flat.supplyCollateral(shares(300), a.carol, {"from": a.carol})
    return flat


def test_yield_repays_debt_first(world, posted):
    a, m = world.actors, posted
    m.borrow(usd(5_000), a.alice, {"from": a.alice})  # 5 x 10^15 borrow shares
    world.pay_revenue(usd(1_000))
    # Not yet harvested, but visible: 100 x ($1,000 / 1,000 shares)
    assert m.pendingYieldOf(a.alice) == usd(100)
    assert m.pendingYieldOf(a.carol) == usd(300)

    tx = m.applyYield(a.alice, {"from": a.keeper})  # anyone may shrink a loan

    # harvest: the market's 400 shares earned $400; index += 400e6 x 10^36 / 400e18 = 10^24 per share unit
    assert_event(tx, "YieldHarvested", emitter=m, amount=usd(400), totalCollateral=shares(400))
    # Alice's $100 all repays debt: shares = floor(100e6 x (5e15 + 10^6) / (5,000e6 + 1)) = 10^14
    assert_event(tx, "YieldApplied", emitter=m, borrower=a.alice, **{"yield": usd(100)}, repaidAssets=usd(100),
                 credited=0)
    assert m.debtOf(a.alice) == usd(4_900)
    assert m.positionOf(a.alice)[0] == 5 * 10**15 - 10**14
    assert m.claimableYieldOf(a.alice) == 0
    # The yield became lenders' liquidity: 20,000 - 5,000 + 100
    assert m.liquidity() == usd(15_100)
    assert m.totalAssets() == usd(20_000)
    # Carol's share waits in the index until applied: all of it will be claimable (no debt).
    assert m.pendingYieldOf(a.carol) == usd(300)
    assert world.coin.balanceOf(m) == usd(15_100) + usd(300)


def test_excess_yield_becomes_claimable_when_debt_is_fully_repaid(world, posted):
    a, m, coin = world.actors, posted, world.coin
    m.borrow(usd(50), a.alice, {"from": a.alice})  # 5 x 10^13 shares
    world.pay_revenue(usd(1_000))

    tx = m.applyYield(a.alice, {"from": a.keeper})

    # $100 earned: $50 clears the debt (all 5 x 10^13 shares), $50 becomes claimable.
    assert_event(tx, "YieldApplied", borrower=a.alice, **{"yield": usd(100)}, repaidAssets=usd(50), credited=usd(50))
    assert ints(m.positionOf(a.alice)) == (0, shares(100))
    assert m.debtOf(a.alice) == 0 and m.totalBorrowShares() == 0 and m.totalBorrowAssets() == 0
    assert m.claimableYieldOf(a.alice) == usd(50)

    before = coin.balanceOf(a.bob)
    tx = m.claimYield(a.bob, {"from": a.alice})  # paid to a receiver of her choice
    assert tx.return_value == usd(50)
    assert_event(tx, "YieldClaimed", emitter=m, borrower=a.alice, receiver=a.bob, amount=usd(50))
    assert coin.balanceOf(a.bob) == before + usd(50)
    assert m.claimableYieldOf(a.alice) == 0
    with reverts_with(m, "NothingToClaim", a.alice):
        m.claimYield(a.alice, {"from": a.alice})


def test_claim_yield_applies_pending_yield_first(world, posted):
    a, m, coin = world.actors, posted, world.coin
    world.pay_revenue(usd(1_000))
    before = coin.balanceOf(a.carol)
    # Carol has no debt: her $300 is applied and claimed in one call.
    tx = m.claimYield(a.carol, {"from": a.carol})
    assert_event(tx, "YieldHarvested", amount=usd(400), totalCollateral=shares(400))
    assert_event(tx, "YieldApplied", borrower=a.carol, **{"yield": usd(300)}, repaidAssets=0, credited=usd(300))
    assert_event(tx, "YieldClaimed", borrower=a.carol, receiver=a.carol, amount=usd(300))
    assert coin.balanceOf(a.carol) == before + usd(300)
    # Alice's $100 stays in the market until she (or a keeper) applies it.
    assert coin.balanceOf(m) == usd(20_000) + usd(100)


def test_claim_yield_reverts_on_zero_receiver_or_nothing(world, posted):
    a, m = world.actors, posted
    with reverts_with(m, "ZeroAddress"):
        m.claimYield("0x" + "00" * 20, {"from": a.alice})
    with reverts_with(m, "NothingToClaim", a.alice):
        m.claimYield(a.alice, {"from": a.alice})
    with reverts_with(m, "NothingToClaim", a.mallory):
        m.claimYield(a.mallory, {"from": a.mallory})


def test_harvest_yield_with_nothing_pending_or_no_collateral_returns_zero(world, flat):
    a, m = world.actors, flat
    tx = m.harvestYield({"from": a.keeper})
    assert tx.return_value == 0
    assert_no_event(tx, "YieldHarvested")
    m.supplyCollateral(shares(100), a.alice, {"from": a.alice})
    tx = m.harvestYield({"from": a.keeper})
    assert tx.return_value == 0
    assert_no_event(tx, "YieldHarvested")
    world.pay_revenue(usd(1_000))
    tx = m.harvestYield({"from": a.keeper})
    assert tx.return_value == usd(100)
    assert_event(tx, "YieldHarvested", amount=usd(100), totalCollateral=shares(100))


def test_new_collateral_does_not_share_yield_earned_before_it_arrived(world, flat):
    a, m = world.actors, flat
    m.supplyCollateral(shares(100), a.alice, {"from": a.alice})
    world.pay_revenue(usd(1_000))  # the market's 100 shares earned $100, all Alice's
    tx = m.supplyCollateral(shares(300), a.carol, {"from": a.carol})
    assert_event(tx, "YieldHarvested", amount=usd(100), totalCollateral=shares(100))
    assert m.pendingYieldOf(a.carol) == 0
    assert m.pendingYieldOf(a.alice) == usd(100)
    # Then both earn pro rata: another $1,000 -> the market's 400 shares get $400.
    world.pay_revenue(usd(1_000))
    assert m.pendingYieldOf(a.alice) == usd(200)
    assert m.pendingYieldOf(a.carol) == usd(300)


def test_collateral_changes_apply_the_yield_earned_so_far(world, posted):
    a, m = world.actors, posted
    world.pay_revenue(usd(1_000))
    # Alice withdraws half her collateral: her $100 was earned on 100 shares and is kept.
    tx = m.withdrawCollateral(shares(50), a.alice, {"from": a.alice})
    assert_event(tx, "YieldApplied", borrower=a.alice, **{"yield": usd(100)}, repaidAssets=0, credited=usd(100))
    assert m.claimableYieldOf(a.alice) == usd(100)
    # Next $1,000: the market holds 350 shares -> $350; Alice 50 of them -> $50, Carol $300 + $300.
    world.pay_revenue(usd(1_000))
    assert m.pendingYieldOf(a.alice) == usd(50)
    assert m.pendingYieldOf(a.carol) == usd(600)


def test_yield_rounding_is_carried_not_lost(world, flat):
    """Uneven harvests: the magnified remainder is carried to the next harvest, so the borrowers are credited
    everything harvested, to the unit, once the carry evens out."""
    a, m = world.actors, flat
    m.supplyCollateral(shares(1), a.alice, {"from": a.alice})
    m.supplyCollateral(shares(2), a.carol, {"from": a.carol})
    # Each payment of 334 base units to the 1,000 shares raises the token's index by 334e15 per share unit;
    # the market's 3e18 units have accumulated floor(3 x 334e15 x k / 1e18) = 1, 2, 3 after k = 1, 2, 3.
    # Harvest 1: 1 x 1e36 / 3e18 = 333,333,333,333,333,333 per unit, carry 1e18 -> Alice 0.33 -> 0, Carol 0.67 -> 0
    # Harvest 2: (1e36 + 1e18) / 3e18 -> index 666,666,666,666,666,666, carry 2e18 -> Alice 0, Carol 1
    # Harvest 3: (1e36 + 2e18) / 3e18 = 333,333,333,333,333,334 exactly -> index 1e18 -> Alice 1, Carol 2
    expected = [(0, 0), (0, 1), (1, 2)]
    for k in range(3):
        world.pay_revenue(334)
        tx = m.harvestYield({"from": a.keeper})
        assert tx.return_value == 1
        assert (m.pendingYieldOf(a.alice), m.pendingYieldOf(a.carol)) == expected[k]
    assert world.coin.balanceOf(m) == 3


def test_loan_shrinks_as_lease_epochs_settle(world, posted):
    """The real path: a lease bills metered delivery, settlement pays the share holders, the market's
    collateral share of it repays Alice's loan."""
    a, m, e0, lease = world.actors, posted, world.e0, world.suite.lease_market
    coin = world.coin
    m.borrow(usd(5_000), a.alice, {"from": a.alice})
    # The operator offers all 8 GPUs at $2 / GPU-hour; a lessee rents them for 3 epochs from e0 + 1.
    lease.createOffer((world.asset_id, 8, usd(2), 1, 100, 0, 9_900, 1_000, 500, 0, (False, 0, 0, 0, 0)),
                      {"from": a.operator})
    coin.mint(a.lessee, usd(1_000), {"from": a.admin})
    coin.approve(lease, MAX_UINT, {"from": a.lessee})
    lease.openLease(1, 8, 3, usd(2), {"from": a.lessee})
    world.clock.goto(e0 + 4)
    full = dict(gpu_seconds=8 * HOUR, utilization_bps=9_000, energy_wh=5_000)
    world.poster.post([report(world.asset_id, e0)] + [report(world.asset_id, e, **full) for e in range(e0 + 1, e0 + 4)])
    lease.settleThrough(world.asset_id, e0 + 3, {"from": a.keeper})

    # Per full epoch: gross 8 x $2 = $16; energy 5,000 Wh x PUE 1.2 x $0.12/kWh = $0.72; fee 10% of $15.28
    # = $1.528; net $13.752 to the 1,000 shares. Three epochs: $41.256; the market's 400 shares: $16.5024,
    # Alice's 100: $4.1256.
    assert m.pendingYieldOf(a.alice) == 4_125_600
    debt = m.debtOf(a.alice)
    tx = m.applyYield(a.alice, {"from": a.keeper})
    assert_event(tx, "YieldHarvested", amount=16_502_400, totalCollateral=shares(400))
    assert_event(tx, "YieldApplied", borrower=a.alice, **{"yield": 4_125_600}, repaidAssets=4_125_600, credited=0)
    assert m.debtOf(a.alice) == debt - 4_125_600


def test_supply_collateral_accrues_interest_before_applying_yield(world, market):
    """supplyCollateral accrues interest first (as every entry point does), then harvests and applies the
    borrower's yield: a debt the yield covers is repaid WITH its interest, and the lenders keep it."""
    from tests.contracts.lending._world import warp

    a, m = world.actors, market
    m.deposit(usd(10_000), a.bob, {"from": a.bob})
    m.supplyCollateral(shares(100), a.alice, {"from": a.alice})
    t = m.borrow(usd(1_000), a.alice, {"from": a.alice}).timestamp
    world.pay_revenue(usd(20_000))  # the market's 100 shares: $2,000 of yield for Alice, more than her debt
    warp(t + YEAR)  # a quiet year: nobody touched the market
    lenders_before, debt = m.totalAssets(), m.debtOf(a.alice)
    # 10% utilisation: 2% + 8% x 0.1 = 2.8% a year -> debt 1,028,395,658 (e^0.028 - 1 = 2.8396%)
    assert debt == 1_028_395_658
    assert lenders_before == usd(10_000) + 28_395_658
    at(t + YEAR)

    tx = m.supplyCollateral(shares(1), a.alice, {"from": a.alice})

    assert_event(tx, "InterestAccrued", emitter=m, interest=28_395_658, borrowRatePerSecond=887_874_175,
                 totalBorrowAssets=debt)
    assert_event(tx, "YieldHarvested", emitter=m, amount=usd(2_000), totalCollateral=shares(100))
    # The debt is repaid with its interest; only the rest is claimable: 2,000,000,000 - 1,028,395,658.
    assert_event(tx, "YieldApplied", emitter=m, borrower=a.alice, **{"yield": usd(2_000)}, repaidAssets=debt,
                 credited=971_604_342)
    assert m.claimableYieldOf(a.alice) == usd(2_000) - debt == 971_604_342
    assert ints(m.positionOf(a.alice)) == (0, shares(101))
    # The lenders keep the year's interest: 9,000 not lent + 1,028,395,658 repaid.
    assert m.totalAssets() == lenders_before == m.liquidity() == 10_028_395_658
    assert m.totalBorrowAssets() == 0 and m.totalBorrowShares() == 0


def test_loan_in_another_stablecoin_gets_its_yield_as_claimable_only(world, actors):
    """The factory requires the valuation's quote token to be the loan token, and the suite's YieldValuation
    quotes in the settlement token the shares pay yield in: with it, the loan token IS the yield token and
    yield always repays debt. A loan in another stablecoin needs an admin-enabled valuation quoting in that
    coin; here a second deployment's YieldValuation (its own stablecoin, registry and asset 1). Note that the
    factory cannot tell that this valuation prices ANOTHER registry's asset 1: the admin's enabling it is the
    only safeguard (see the report)."""
    from brownie import LendingMarket

    from scripts.deploy import SuiteConfig, deploy_suite
    from scripts.samples import H100_CLUSTER, register_asset
    from tests.contracts.lending._world import CLEAN_PARAMS, LLTV_625

    other = deploy_suite(actors.admin, SuiteConfig(compliance=actors.compliance, stablecoin_name="Other USD",
                                                   stablecoin_symbol="oUSD"))
    coin2 = other.stablecoin
    register_asset(other, actors.admin, actors.operator, H100_CLUSTER)
    other.valuation.configure(1, CLEAN_PARAMS, usd(100), {"from": actors.admin})
    world.factory.setValuationEnabled(other.valuation, True, {"from": actors.admin})
    with reverts_with(world.factory, "LoanTokenMismatch", world.coin, coin2):
        world.factory.createMarket((world.coin, world.token, other.valuation, world.flat_irm, LLTV_625),
                                   {"from": actors.keeper})
    m = LendingMarket.at(world.factory.createMarket(
        (coin2, world.token, other.valuation, world.flat_irm, LLTV_625), {"from": actors.keeper}).return_value)
    assert m.yieldRepaysDebt() is False and m.loanToken() == coin2 and m.asset() == coin2

    for who in (actors.bob, actors.alice):
        coin2.mint(who, usd(100_000), {"from": actors.admin})
        coin2.approve(m, MAX_UINT, {"from": who})
    world.token.approve(m, MAX_UINT, {"from": actors.alice})
    m.deposit(usd(10_000), actors.bob, {"from": actors.bob})
    m.supplyCollateral(shares(100), actors.alice, {"from": actors.alice})
    m.borrow(usd(1_000), actors.alice, {"from": actors.alice})
    world.pay_revenue(usd(1_000))  # in the first stablecoin: the market's 100 shares earn $100

    tx = m.applyYield(actors.alice, {"from": actors.keeper})
    assert_event(tx, "YieldApplied", borrower=actors.alice, **{"yield": usd(100)}, repaidAssets=0, credited=usd(100))
    assert m.debtOf(actors.alice) == usd(1_000)  # untouched
    assert m.liquidity() == usd(9_000) == coin2.balanceOf(m)
    assert world.coin.balanceOf(m) == usd(100)
    before = world.coin.balanceOf(actors.alice)
    m.claimYield(actors.alice, {"from": actors.alice})
    assert world.coin.balanceOf(actors.alice) == before + usd(100)
    assert world.coin.balanceOf(m) == 0
