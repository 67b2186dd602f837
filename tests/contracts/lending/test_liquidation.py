"""Liquidation: only unhealthy positions, only verified liquidators, repay mode and seize mode, partial
liquidations, the incentive factor, and bad debt written off against the lenders with an event.

Set-up (zero-rate `flat` market, LLTV 62.5%, LIF = 1 / 0.8875 = 1.126760563380281690): Bob lends 20,000;
Alice posts 100 shares and borrows the maximum 5,750; Carol posts 100 shares and borrows 1,000. Borrow totals
6,750e6 assets / 6.75e15 shares: exactly 10^6 shares per unit, so share and asset figures convert exactly.
The price is moved by suspending the asset (target: half the capitalised value) and anchoring it once an
epoch (a keeper's `update`; a market's borrow, withdrawal in debt or liquidation anchors the same way): each
anchoring moves it 10% of the previous anchor, rounded up: $90 in e0+1, $81 in e0+2, $72.90, $65.61,
$59.049 and $53.1441 in e0+6 (the same walk whether the target is $50 or half of each anchor, see the
report). Without an anchoring a quote moves one step from the last anchor, however many epochs passed.
"""

from __future__ import annotations

import pytest

from scripts.samples import shares, usd
from tests.contracts.lending._world import (
    CLEAN_PARAMS,
    LLTV_50,
    LLTV_625,
    MAX_UINT,
    STATUS_ACTIVE,
    STATUS_RETIRED,
    STATUS_SUSPENDED,
    WAD,
    ints,
    now,
    lif,
    max_debt,
    seize_for_repaid_shares,
    shares_for_seized,
    walk_prices,
)
from tests.support.events import assert_event
from tests.support.reverts import reverts_with

LIF_625 = 1_126_760_563_380_281_690


@pytest.fixture
def borrowed(world, flat):
    a, m = world.actors, flat
    m.deposit(usd(20_000), a.bob, {"from": a.bob})
    for who, debt in ((a.alice, 5_750), (a.carol, 1_000)):
        m.supplyCollateral(shares(100), who, {"from": who})
        m.borrow(usd(debt), who, {"from": who})
    return m


def price_walks_to(world, epoch_offset: int) -> int:
    """Suspends the asset (if not yet) and anchors the price once in each epoch after the current one through
    e0 + offset; returns the price (that epoch's anchor, which a liquidation in the same epoch reads too)."""
    if world.suite.asset_registry.statusOf(world.asset_id) == STATUS_ACTIVE:
        world.set_status(STATUS_SUSPENDED)
    world.anchor_each_epoch(world.clock.epoch_at(now()) + 1, world.e0 + epoch_offset)
    return world.price()


def test_liquidate_reverts_on_a_healthy_position(world, borrowed):
    a, m = world.actors, borrowed
    # $100: Alice owes 5,750 and may owe up to 10,000 x 0.625 = 6,250 before liquidation.
    with reverts_with(m, "HealthyPosition", a.alice, usd(5_750), usd(6_250)):
        m.liquidate(a.alice, 0, 10**12, {"from": a.liquidator})
    # $90: Alice's limit is 5,625 < 5,750, Carol's 1,000 is still fine.
    assert price_walks_to(world, 1) == usd(90)
    with reverts_with(m, "HealthyPosition", a.carol, usd(1_000), usd(5_625)):
        m.liquidate(a.carol, shares(1), 0, {"from": a.liquidator})
    # Someone without a position is healthy too.
    with reverts_with(m, "HealthyPosition", a.bob, 0, 0):
        m.liquidate(a.bob, 0, 1, {"from": a.liquidator})


def test_liquidate_reverts_for_unverified_liquidator(world, borrowed):
    a, m = world.actors, borrowed
    price_walks_to(world, 1)
    # Mallory has the stablecoin and approved the market, but could not hold the seized shares.
    with reverts_with(m, "LiquidatorNotVerified", a.mallory):
        m.liquidate(a.alice, 0, 10**15, {"from": a.mallory})
    # Verification is checked before health: a healthy target does not change the error.
    with reverts_with(m, "LiquidatorNotVerified", a.mallory):
        m.liquidate(a.carol, 0, 10**15, {"from": a.mallory})


def test_liquidate_reverts_when_liquidator_kyc_expired_or_revoked(world, borrowed):
    a, m = world.actors, borrowed
    price_walks_to(world, 1)
    world.suite.investor_registry.revokeInvestor(a.liquidator, {"from": a.compliance})
    with reverts_with(m, "LiquidatorNotVerified", a.liquidator):
        m.liquidate(a.alice, 0, 10**15, {"from": a.liquidator})


def test_liquidate_reverts_on_inconsistent_input(world, borrowed):
    a, m = world.actors, borrowed
    with reverts_with(m, "InconsistentInput", 0, 0):
        m.liquidate(a.alice, 0, 0, {"from": a.liquidator})
    with reverts_with(m, "InconsistentInput", 1, 1):
        m.liquidate(a.alice, 1, 1, {"from": a.liquidator})
    # Input is checked before the liquidator.
    with reverts_with(m, "InconsistentInput", 0, 0):
        m.liquidate(a.alice, 0, 0, {"from": a.mallory})


def test_partial_liquidation_in_repay_mode(world, borrowed):
    a, m, coin, token = world.actors, borrowed, world.coin, world.token
    price = price_walks_to(world, 1)
    assert price == usd(90) and m.liquidationIncentiveFactor() == LIF_625 == lif(LLTV_625)
    hf_before = m.healthFactor(a.alice)  # 9,000 x 0.625 / 5,750 = 0.97826...
    assert hf_before == 978_260_869_565_217_391
    coin_before, shares_before = coin.balanceOf(a.liquidator), token.balanceOf(a.liquidator)

    tx = m.liquidate(a.alice, 0, 10**15, {"from": a.liquidator})

    # Repay 10^15 shares = 1,000e6 (exact ratio). Seized = floor(floor(1,000e6 x 1.12676...) x 1e18 / 90e6)
    #   = floor(1,126,760,563 x 1e18 / 90e6) = 12.519561811111111111 shares.
    seized = 12_519_561_811_111_111_111
    assert seized == seize_for_repaid_shares(10**15, price, LLTV_625, usd(6_750), 6_750 * 10**12)
    assert ints(tx.return_value) == (seized, usd(1_000))
    assert_event(tx, "Liquidated", emitter=m, liquidator=a.liquidator, borrower=a.alice, repaidAssets=usd(1_000),
                 repaidShares=10**15, seizedCollateral=seized, price=usd(90))
    assert ints(m.positionOf(a.alice)) == (4_750 * 10**12, shares(100) - seized)
    assert coin.balanceOf(a.liquidator) == coin_before - usd(1_000)
    assert token.balanceOf(a.liquidator) == shares_before + seized
    assert m.totalCollateral() == shares(200) - seized == token.balanceOf(m)
    assert m.liquidity() == usd(20_000 - 6_750 + 1_000)
    assert m.totalAssets() == usd(20_000)  # the lenders lose nothing
    # LTV 5,750 / 9,000 = 0.639 < 1 / LIF = 0.8875, so the position is healthier afterwards:
    # 4,750 / (87.48043818888... x $90 = 7,873.24) = 0.6033
    hf_after = m.healthFactor(a.alice)
    assert hf_after > hf_before
    assert hf_after == max_debt(shares(100) - seized, price, WAD) * LLTV_625 // usd(4_750)


def test_partial_liquidation_in_seize_mode(world, borrowed):
    a, m, coin = world.actors, borrowed, world.coin
    price = price_walks_to(world, 1)
    coin_before = coin.balanceOf(a.liquidator)

    tx = m.liquidate(a.alice, shares(10), 0, {"from": a.liquidator})

    # 10 shares x $90 = 900e6 (rounded up); / LIF rounded up = ceil(900e6 / 1.12676056338028169) = 798,750,001
    # (900 x 0.8875 = 798.75 exactly, and the floored LIF tips it over); shares rounded up: 798,750,001 x 10^6.
    repaid_shares = 798_750_001 * 10**6
    assert repaid_shares == shares_for_seized(shares(10), price, LLTV_625, usd(6_750), 6_750 * 10**12)
    assert ints(tx.return_value) == (shares(10), 798_750_001)
    assert_event(tx, "Liquidated", liquidator=a.liquidator, borrower=a.alice, repaidAssets=798_750_001,
                 repaidShares=repaid_shares, seizedCollateral=shares(10), price=usd(90))
    assert ints(m.positionOf(a.alice)) == (5_750 * 10**12 - repaid_shares, shares(90))
    assert coin.balanceOf(a.liquidator) == coin_before - 798_750_001
    # The partial liquidation restored health (90 shares x $90 x 0.625 = 5,062.5 >= 4,951.249999 owed):
    # a second one is refused.
    assert m.healthFactor(a.alice) >= WAD
    with reverts_with(m, "HealthyPosition", a.alice, 4_951_249_999, 5_062_500_000):
        m.liquidate(a.alice, shares(10), 0, {"from": a.liquidator})


def test_repeated_partial_liquidations_while_unhealthy(world, borrowed):
    a, m = world.actors, borrowed
    assert price_walks_to(world, 3) == 72_900_000  # Alice's limit 7,290 x 0.625 = 4,556.25 for 5,750 owed
    # $500 each (5 x 10^14 shares, exact ratio): floor(floor(500e6 x LIF) x 1e18 / 72.9e6)
    # = floor(563,380,281 x 1e18 / 72.9e6) = 7.728124567901234567 shares each time.
    seized = seize_for_repaid_shares(5 * 10**14, 72_900_000, LLTV_625, usd(6_750), 6_750 * 10**12)
    assert seized == 7_728_124_567_901_234_567
    # Health before each: 4,556.25 / 5,750 = 0.792, then 4,204.137324 / 5,250 = 0.801, 3,852.024648 / 4,750 = 0.811.
    for k, limit in enumerate((4_556_250_000, 4_204_137_324, 3_852_024_648)):
        assert m.healthFactor(a.alice) < WAD
        with reverts_with(m, "HealthyPosition", a.carol, usd(1_000), 4_556_250_000):
            m.liquidate(a.carol, 0, 1, {"from": a.liquidator})
        tx = m.liquidate(a.alice, 0, 5 * 10**14, {"from": a.liquidator})
        assert_event(tx, "Liquidated", emitter=m, liquidator=a.liquidator, borrower=a.alice, repaidAssets=usd(500),
                     repaidShares=5 * 10**14, seizedCollateral=seized, price=72_900_000)
        assert max_debt(shares(100) - k * seized, 72_900_000, LLTV_625) == limit
    assert ints(m.positionOf(a.alice)) == (4_250 * 10**12, shares(100) - 3 * seized)
    # Still unhealthy, but each liquidation below 1/LIF left it healthier: 3,499.91 / 4,250 = 0.8235.
    assert m.healthFactor(a.alice) == 823_508_699_558_823_529


def test_liquidate_reverts_when_seizing_more_than_collateral_or_repaying_more_than_debt(world, borrowed):
    a, m = world.actors, borrowed
    price = price_walks_to(world, 1)
    with reverts_with(m, "ExceedsCollateral", a.alice, shares(101), shares(100)):
        m.liquidate(a.alice, shares(101), 0, {"from": a.liquidator})
    # 90 shares x $90 / LIF = 7,188.75 > 5,750 of debt
    too_many = shares_for_seized(shares(90), price, LLTV_625, usd(6_750), 6_750 * 10**12)
    assert too_many == 7_188_750_001 * 10**6
    with reverts_with(m, "ExceedsDebt", a.alice, too_many, 5_750 * 10**12):
        m.liquidate(a.alice, shares(90), 0, {"from": a.liquidator})
    with reverts_with(m, "ExceedsDebt", a.alice, 5_750 * 10**12 + 1, 5_750 * 10**12):
        m.liquidate(a.alice, 0, 5_750 * 10**12 + 1, {"from": a.liquidator})


def test_full_liquidation_in_repay_mode_leaves_collateral_to_the_borrower(world, borrowed):
    a, m = world.actors, borrowed
    price = price_walks_to(world, 1)
    tx = m.liquidate(a.alice, 0, 5_750 * 10**12, {"from": a.liquidator})
    # floor(5,750e6 x 1.12676...) = 6,478,873,239; x 1e18 / 90e6 = 71.987480433333333333 shares seized;
    # 28.01 stay Alice's, her debt is gone, no bad debt.
    seized = seize_for_repaid_shares(5_750 * 10**12, price, LLTV_625, usd(6_750), 6_750 * 10**12)
    assert seized == 71_987_480_433_333_333_333
    assert "BadDebtRealized" not in tx.events
    assert ints(m.positionOf(a.alice)) == (0, shares(100) - seized)
    m.withdrawCollateral(shares(100) - seized, a.alice, {"from": a.alice})


def test_incentive_is_capped_at_115_percent_for_lltv_50(world):
    a = world.actors
    m = world.create_market(LLTV_50, world.flat_irm)
    assert m.liquidationIncentiveFactor() == 115 * 10**16  # min(1.15, 1 / 0.85 = 1.176)
    m.deposit(usd(10_000), a.bob, {"from": a.bob})
    m.supplyCollateral(shares(100), a.alice, {"from": a.alice})
    m.borrow(usd(4_500), a.alice, {"from": a.alice})  # borrow LTV 0.45
    # $90: limit 4,500 -> still healthy (debt must EXCEED it)
    assert price_walks_to(world, 1) == usd(90)
    with reverts_with(m, "HealthyPosition", a.alice, usd(4_500), usd(4_500)):
        m.liquidate(a.alice, 0, 10**15, {"from": a.liquidator})
    # $81: limit 4,050 < 4,500
    assert price_walks_to(world, 2) == usd(81)
    tx = m.liquidate(a.alice, 0, 10**15, {"from": a.liquidator})
    # 1,000 x 1.15 / 81 = 14.197530864197530864 shares (rounded down)
    assert_event(tx, "Liquidated", liquidator=a.liquidator, borrower=a.alice, repaidAssets=usd(1_000),
                 repaidShares=10**15, seizedCollateral=14_197_530_864_197_530_864, price=usd(81))


def test_bad_debt_is_realized_against_lenders_with_an_event(world, borrowed):
    a, m = world.actors, borrowed
    price = price_walks_to(world, 6)
    assert price == 53_144_100  # Alice's 100 shares: $5,314.41 for $5,750 of debt
    assert m.totalAssets() == usd(20_000)
    # Bob, the only lender: 2e16 x (20,000e6 + 1) / (2e16 + 10^6) = 20,000e6 (rounded down)
    assert m.convertToAssets(m.balanceOf(a.bob)) == usd(20_000)

    tx = m.liquidate(a.alice, shares(100), 0, {"from": a.liquidator})

    # Seize all 100 shares: $5,314.41 / LIF (up) = ceil(5,314,410,000 x 0.8875...) = 4,716,538,876 repaid
    # (5,314.41 x 0.8875 = 4,716.538875 and the floored LIF tips it over; 4,716,538,876 x 10^6 shares);
    # Alice's remaining 1,033,461,124 x 10^6 shares are written off: 1,033,461,124 units of bad debt.
    assert_event(tx, "Liquidated", liquidator=a.liquidator, borrower=a.alice, repaidAssets=4_716_538_876,
                 repaidShares=4_716_538_876 * 10**6, seizedCollateral=shares(100), price=53_144_100)
    assert_event(tx, "BadDebtRealized", emitter=m, borrower=a.alice, assets=1_033_461_124,
                 shares=1_033_461_124 * 10**6)
    assert ints(m.positionOf(a.alice)) == (0, 0)
    # Lenders' assets fall by exactly the bad debt: 20,000 - 1,033.461124
    assert m.totalAssets() == usd(20_000) - 1_033_461_124 == 18_966_538_876
    assert m.totalBorrowAssets() == usd(1_000) and m.totalBorrowShares() == 10**15
    assert m.debtOf(a.carol) == usd(1_000)  # other borrowers owe what they owed
    # Bob bears it: 2e16 x (18,966,538,876 + 1) / (2e16 + 10^6) = 18,966,538,876.05 -> 18,966,538,876
    assert m.convertToAssets(m.balanceOf(a.bob)) == 18_966_538_876


def test_worthless_collateral_is_taken_whole_and_the_debt_written_off(world, borrowed):
    a, m, v = world.actors, borrowed, world.valuation
    # A suspended asset's value cut to zero, moving fully in one epoch.
    v.configure(world.asset_id, CLEAN_PARAMS[:3] + (10_000,) + CLEAN_PARAMS[4:6] + (10_000,) + CLEAN_PARAMS[7:], 1, {"from": a.admin})
    assert price_walks_to(world, 1) == 0
    assert m.healthFactor(a.alice) == 0
    # Repay mode at price 0: one share unit repaid takes all the collateral; the rest is bad debt.
    tx = m.liquidate(a.alice, 0, 1, {"from": a.liquidator})
    assert_event(tx, "Liquidated", liquidator=a.liquidator, borrower=a.alice, repaidAssets=1, repaidShares=1,
                 seizedCollateral=shares(100), price=0)
    # Totals after the 1-share repayment (1 unit, rounded up): 6,750e6 - 1 / 6.75e15 - 1; Alice's other
    # 5.75e15 - 1 shares are worth ceil(...) = 5,750e6 (bad debt rounds UP, as in morpho-blue).
    assert_event(tx, "BadDebtRealized", borrower=a.alice, assets=usd(5_750), shares=5_750 * 10**12 - 1)
    # Seize mode at price 0: the collateral is free, the debt all bad.
    tx = m.liquidate(a.carol, shares(100), 0, {"from": a.liquidator})
    assert_event(tx, "Liquidated", liquidator=a.liquidator, borrower=a.carol, repaidAssets=0, repaidShares=0,
                 seizedCollateral=shares(100), price=0)
    # Alice's write-off rounded up took one unit of Carol's debt with it: 999,999,999 left to write off.
    assert_event(tx, "BadDebtRealized", borrower=a.carol, assets=usd(1_000) - 1, shares=10**15)
    assert m.totalBorrowAssets() == 0 and m.totalBorrowShares() == 0 and m.totalCollateral() == 0
    # The lenders keep what was not lent plus the one unit repaid.
    assert m.totalAssets() == m.liquidity() == usd(20_000) - usd(6_750) + 1


def test_retired_asset_walks_to_zero_and_its_loans_are_liquidated(world, borrowed):
    a, m = world.actors, borrowed
    world.set_status(STATUS_RETIRED)
    parts = world.valuation.breakdown(world.asset_id)
    assert parts["retired"] is True and parts["target"] == 0
    world.clock.goto(world.e0 + 1)
    assert ints(world.valuation.quote(world.asset_id)) == (usd(90), True)  # the bound still applies
    world.clock.goto(world.e0 + 10)
    assert ints(world.valuation.quote(world.asset_id)) == (usd(90), True)  # one step per anchoring, not per epoch
    # The first liquidation anchors the price it uses: $90 (Alice's limit 5,625 < 5,750).
    tx = m.liquidate(a.alice, 0, 10**15, {"from": a.liquidator})
    assert_event(tx, "PriceUpdated", emitter=world.valuation, assetId=world.asset_id, epoch=world.e0 + 10,
                 price=usd(90), target=0)
    assert tx.events["Liquidated"]["price"] == usd(90)
    # Anchored once an epoch, the price reaches 0 at the 159th anchoring (10% of each anchor, rounded up).
    prices = world.anchor_each_epoch(world.e0 + 11, world.e0 + 168)
    assert [usd(90)] + prices == walk_prices(usd(100), [0] * 159, 1_000) and prices[-1] == 0
    # Worthless: Carol's collateral is taken whole for nothing and her debt written off.
    tx = m.liquidate(a.carol, shares(100), 0, {"from": a.liquidator})
    assert_event(tx, "Liquidated", liquidator=a.liquidator, borrower=a.carol, repaidAssets=0, repaidShares=0,
                 seizedCollateral=shares(100), price=0)
    assert_event(tx, "BadDebtRealized", emitter=m, borrower=a.carol, assets=usd(1_000), shares=10**15)
    assert ints(m.positionOf(a.carol)) == (0, 0)


def test_interest_alone_makes_a_position_liquidatable(world, market):
    from tests.contracts.lending._world import at

    a, m = world.actors, market
    m.deposit(usd(5_750), a.bob, {"from": a.bob})
    m.supplyCollateral(shares(100), a.alice, {"from": a.alice})
    t = m.borrow(usd(5_750), a.alice, {"from": a.alice}).timestamp  # 100% utilisation: 28.4% a year
    at(t + 90 * 86_400)
    # 90 days at 9,005,580,923 / s: x n = 0.07002; e^x - 1 to third order = 0.072536 -> interest 417,085,158;
    # debt 6,167,085,158 < 6,250e6: still healthy
    debt = 6_167_085_158
    with reverts_with(m, "HealthyPosition", a.alice, debt, usd(6_250)):
        m.liquidate(a.alice, 0, 10**15, {"from": a.liquidator})
    at(t + 120 * 86_400)
    # 120 days: debt 6,312,720,840 > 6,250e6
    tx = m.liquidate(a.alice, 0, 10**15, {"from": a.liquidator})
    assert tx.events["InterestAccrued"]["totalBorrowAssets"] == 6_312_720_840


def test_liquidation_applies_pending_yield_first(world, borrowed):
    a, m = world.actors, borrowed
    assert price_walks_to(world, 1) == usd(90)
    # $4,000 of revenue: the market's 200 shares get $800, Alice $400: her debt 5,750 -> 5,350 <= 5,625.
    world.pay_revenue(usd(4_000))
    with reverts_with(m, "HealthyPosition", a.alice, usd(5_350), usd(5_625)):
        m.liquidate(a.alice, 0, 10**15, {"from": a.liquidator})


def test_liquidation_still_pays_when_the_borrower_is_frozen(world, borrowed):
    """A stablecoin freeze on the borrower does not protect it from liquidation: no token moves to or from it."""
    a, m, coin = world.actors, borrowed, world.coin
    coin.blocklist(a.alice, {"from": a.admin})
    price_walks_to(world, 1)
    tx = m.liquidate(a.alice, 0, 10**15, {"from": a.liquidator})
    assert tx.events["Liquidated"]["repaidAssets"] == usd(1_000)


def test_liquidator_needs_the_stablecoin_it_repays(world, borrowed):
    a, m, coin = world.actors, borrowed, world.coin
    price_walks_to(world, 1)
    coin.approve(m, 0, {"from": a.liquidator})
    with reverts_with(coin, "ERC20InsufficientAllowance", m, 0, usd(1_000)):
        m.liquidate(a.alice, 0, 10**15, {"from": a.liquidator})
    coin.approve(m, MAX_UINT, {"from": a.liquidator})
