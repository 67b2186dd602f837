"""The borrowers' side: collateral in and out, borrowing up to the borrow LTV, repaying by assets or shares,
and the frozen valuation (silent meter, suspended or retired asset) that stops new borrowing only.

Figures use the zero-rate `flat` market at LLTV 62.5% (borrow LTV 57.5%) and the $100 anchor price: 100
shares are worth $10,000 and carry at most $5,750 of debt at borrowing, $6,250 before liquidation. Borrow
shares start at 10^6 per base unit (SharesMath's virtual shares), so a first borrow of X gives X x 10^6.
"""

from __future__ import annotations

import pytest

from scripts.samples import shares, usd
from tests.contracts.lending._world import (
    CLEAN_PARAMS,
    MAX_UINT,
    STATUS_ACTIVE,
    STATUS_RETIRED,
    STATUS_SUSPENDED,
    WAD,
    ints,
)
from tests.support.events import assert_event, assert_no_event
from tests.support.reverts import reverts_with


@pytest.fixture
def lent(world, flat):
    """Bob has lent 20,000 dev-USD in the flat market."""
    flat.deposit(usd(20_000), world.actors.bob, {"from": world.actors.bob})
    return flat


# ------------------------------------------------------------------------------------------ collateral


def test_supply_collateral_on_behalf_pulls_from_caller(world, flat):
    a, token = world.actors, world.token
    before = token.balanceOf(a.carol)

    tx = flat.supplyCollateral(shares(40), a.alice, {"from": a.carol})

    assert_event(tx, "CollateralSupplied", emitter=flat, caller=a.carol, onBehalf=a.alice, amount=shares(40))
    assert ints(flat.positionOf(a.alice)) == (0, shares(40))
    assert ints(flat.positionOf(a.carol)) == (0, 0)
    assert flat.totalCollateral() == shares(40) == token.balanceOf(flat)
    assert token.balanceOf(a.carol) == before - shares(40)
    # 40 shares x $100
    assert flat.collateralValueOf(a.alice) == usd(4_000)
    assert flat.healthFactor(a.alice) == MAX_UINT


def test_supply_collateral_reverts_on_zero_amount_or_address(world, flat):
    a = world.actors
    with reverts_with(flat, "ZeroAmount"):
        flat.supplyCollateral(0, a.alice, {"from": a.alice})
    with reverts_with(flat, "ZeroAddress"):
        flat.supplyCollateral(1, "0x" + "00" * 20, {"from": a.alice})


def test_supply_collateral_reverts_in_the_share_token_without_shares_or_verification(world, flat):
    a = world.actors
    # Bob is verified but holds no shares; Mallory is not even allowed to hold them.
    with reverts_with(world.token, "ERC20InsufficientBalance", a.bob, 0, shares(1)):
        flat.supplyCollateral(shares(1), a.bob, {"from": a.bob})
    with reverts_with(world.suite.investor_registry, "NotVerified", a.mallory):
        flat.supplyCollateral(shares(1), a.mallory, {"from": a.mallory})


def test_withdraw_collateral_without_debt_takes_everything(world, flat):
    a = world.actors
    flat.supplyCollateral(shares(100), a.alice, {"from": a.alice})
    tx = flat.withdrawCollateral(shares(100), a.carol, {"from": a.alice})
    assert_event(tx, "CollateralWithdrawn", emitter=flat, borrower=a.alice, receiver=a.carol, amount=shares(100))
    assert ints(flat.positionOf(a.alice)) == (0, 0) and flat.totalCollateral() == 0
    assert world.token.balanceOf(a.carol) == shares(400)


def test_withdraw_collateral_reverts_on_zero_amount_address_or_excess(world, flat):
    a = world.actors
    flat.supplyCollateral(shares(10), a.alice, {"from": a.alice})
    with reverts_with(flat, "ZeroAmount"):
        flat.withdrawCollateral(0, a.alice, {"from": a.alice})
    with reverts_with(flat, "ZeroAddress"):
        flat.withdrawCollateral(1, "0x" + "00" * 20, {"from": a.alice})
    with reverts_with(flat, "ExceedsCollateral", a.alice, shares(10) + 1, shares(10)):
        flat.withdrawCollateral(shares(10) + 1, a.alice, {"from": a.alice})


def test_withdraw_collateral_to_unverified_receiver_reverts_in_the_share_token(world, flat):
    a = world.actors
    flat.supplyCollateral(shares(10), a.alice, {"from": a.alice})
    with reverts_with(world.suite.investor_registry, "NotVerified", a.mallory):
        flat.withdrawCollateral(shares(1), a.mallory, {"from": a.alice})


def test_withdraw_collateral_keeps_the_borrow_ltv(world, lent):
    a, m = world.actors, lent
    m.supplyCollateral(shares(100), a.alice, {"from": a.alice})
    m.borrow(usd(5_000), a.alice, {"from": a.alice})
    # Debt 5,000e6 needs floor(value x 0.575) >= 5,000e6, value = floor(c x 100e6 / 1e18) = floor(c / 1e10):
    # value >= 8,695,652,174 (5e9 / 0.575 = 8,695,652,173.9), so c >= 86.95652174 shares and at most
    # 100 - 86.95652174 = 13.04347826 shares can leave.
    most = 13_043_478_260_000_000_000
    # One unit more: value 8,695,652,173 -> max debt floor(8,695,652,173 x 0.575) = 4,999,999,999.
    with reverts_with(m, "InsufficientCollateral", a.alice, usd(5_000), 4_999_999_999):
        m.withdrawCollateral(most + 1, a.alice, {"from": a.alice})
    m.withdrawCollateral(most, a.alice, {"from": a.alice})
    assert m.positionOf(a.alice)[1] == shares(100) - most
    # The position now sits exactly at the borrow LTV, still far from liquidation (HF = 0.625 / 0.575).
    assert m.healthFactor(a.alice) == 8_695_652_174 * 625 * 10**15 // usd(5_000)
    with reverts_with(m, "InsufficientCollateral", a.alice, usd(5_000), 4_999_999_999):
        m.withdrawCollateral(1, a.alice, {"from": a.alice})


# ------------------------------------------------------------------------------------------ borrow


def test_borrow_up_to_the_borrow_ltv_exactly(world, lent):
    a, m, coin = world.actors, lent, world.coin
    m.supplyCollateral(shares(100), a.alice, {"from": a.alice})
    assert m.borrowLtv() == 575 * 10**15  # 0.625 - 0.05
    # Max debt = 10,000e6 x 0.575 = 5,750e6; one unit more fails.
    with reverts_with(m, "InsufficientCollateral", a.alice, usd(5_750) + 1, usd(5_750)):
        m.borrow(usd(5_750) + 1, a.alice, {"from": a.alice})

    before = coin.balanceOf(a.carol)
    tx = m.borrow(usd(5_750), a.carol, {"from": a.alice})

    # First borrow: shares = ceil(5,750e6 x (0 + 10^6) / (0 + 1)) = 5.75 x 10^15
    assert tx.return_value == 5_750 * 10**12
    assert_event(tx, "Borrowed", emitter=m, borrower=a.alice, receiver=a.carol, assets=usd(5_750),
                 shares=5_750 * 10**12)
    assert coin.balanceOf(a.carol) == before + usd(5_750)
    assert ints(m.positionOf(a.alice)) == (5_750 * 10**12, shares(100))
    # debt = ceil(5.75e15 x (5,750e6 + 1) / (5.75e15 + 10^6)) = 5,750e6 (the ratio is exactly 10^6)
    assert m.debtOf(a.alice) == usd(5_750)
    assert m.totalBorrowAssets() == usd(5_750) and m.totalBorrowShares() == 5_750 * 10**12
    assert m.liquidity() == usd(14_250)
    assert m.totalAssets() == usd(20_000)
    # utilisation 5,750 / 20,000 = 0.2875
    assert m.utilization() == 2875 * 10**14
    # HF = 10,000e6 x 0.625 / 5,750e6 = 1.0869565217391304347...
    assert m.healthFactor(a.alice) == 1_086_956_521_739_130_434
    # At the cap: not one more unit.
    with reverts_with(m, "InsufficientCollateral", a.alice, usd(5_750) + 1, usd(5_750)):
        m.borrow(1, a.alice, {"from": a.alice})


def test_second_borrower_gets_shares_at_the_running_rate(world, lent):
    a, m = world.actors, lent
    for who in (a.alice, a.carol):
        m.supplyCollateral(shares(100), who, {"from": who})
    m.borrow(usd(5_750), a.alice, {"from": a.alice})
    # ceil(1,000e6 x (5.75e15 + 10^6) / (5,750e6 + 1)) = 10^15
    assert m.borrow(usd(1_000), a.carol, {"from": a.carol}).return_value == 10**15
    assert m.debtOf(a.carol) == usd(1_000)


def test_borrow_reverts_without_collateral(world, lent):
    # First borrow of 1 unit: shares 10^6, debt ceil(10^6 x 2 / (2 x 10^6)) = 1, max debt 0.
    with reverts_with(lent, "InsufficientCollateral", world.actors.carol, 1, 0):
        lent.borrow(1, world.actors.carol, {"from": world.actors.carol})


def test_borrow_reverts_on_zero_amount_or_receiver(world, lent):
    a = world.actors
    with reverts_with(lent, "ZeroAmount"):
        lent.borrow(0, a.alice, {"from": a.alice})
    with reverts_with(lent, "ZeroAddress"):
        lent.borrow(1, "0x" + "00" * 20, {"from": a.alice})


def test_borrow_reverts_beyond_liquidity(world, flat):
    a = world.actors
    flat.deposit(usd(1_000), a.bob, {"from": a.bob})
    flat.supplyCollateral(shares(100), a.alice, {"from": a.alice})
    with reverts_with(flat, "InsufficientLiquidity", usd(1_000) + 1, usd(1_000)):
        flat.borrow(usd(1_000) + 1, a.alice, {"from": a.alice})
    flat.borrow(usd(1_000), a.alice, {"from": a.alice})
    assert flat.liquidity() == 0 and flat.utilization() == WAD


def test_borrow_reverts_when_meter_is_silent_and_resumes_when_reports_arrive(world, lent):
    a, v, m = world.actors, world.valuation, lent
    silent_params = CLEAN_PARAMS[:4] + (3,) + CLEAN_PARAMS[5:]
    v.configure(world.asset_id, silent_params, 1, {"from": a.admin})  # anchor kept: the price stays $100
    m.supplyCollateral(shares(100), a.alice, {"from": a.alice})
    m.borrow(usd(1_000), a.alice, {"from": a.alice})

    # Epoch e0 + 3: e0, e0+1, e0+2 ended unreported -> 3 silent epochs >= 3 -> frozen.
    world.clock.goto(world.e0 + 3)
    price, frozen = v.quote(world.asset_id)
    assert frozen
    # The silence haircut halves the target ($50); one anchoring moves the price 10% of the $100 anchor: $90.
    assert price == usd(90)
    with reverts_with(m, "BorrowingFrozen", world.asset_id):
        m.borrow(1, a.alice, {"from": a.alice})
    # Everything else still works while frozen: repay, more collateral, withdrawals within the LTV. The
    # withdrawal in debt anchors the silent epoch's price ($90) through update().
    m.repay(usd(100), 0, a.alice, {"from": a.alice})
    m.supplyCollateral(shares(1), a.alice, {"from": a.alice})
    tx = m.withdrawCollateral(shares(1), a.alice, {"from": a.alice})
    assert_event(tx, "PriceUpdated", emitter=v, assetId=world.asset_id, epoch=world.e0 + 3, price=usd(90),
                 target=usd(50))
    m.withdraw(usd(100), a.bob, a.bob, {"from": a.bob})

    # The meter catches up: e0..e0+2 reported, no epoch is silent, borrowing resumes at once (the freeze is
    # read fresh), at this epoch's $90 anchor.
    from tests.support.meter import report

    world.poster.post([report(world.asset_id, e) for e in range(world.e0, world.e0 + 3)])
    assert ints(v.quote(world.asset_id)) == (usd(90), False)
    tx = m.borrow(usd(1_000), a.alice, {"from": a.alice})
    assert_event(tx, "Borrowed", emitter=m, borrower=a.alice, receiver=a.alice, assets=usd(1_000),
                 shares=10**15)
    assert m.debtOf(a.alice) == usd(1_900)


@pytest.mark.parametrize("status", [STATUS_SUSPENDED, STATUS_RETIRED])
def test_borrow_reverts_when_asset_not_active(world, lent, status):
    a, m = world.actors, lent
    m.supplyCollateral(shares(100), a.alice, {"from": a.alice})
    world.set_status(status)
    assert ints(world.valuation.quote(world.asset_id)) == (usd(100), True)  # frozen; price unmoved in this epoch
    with reverts_with(m, "BorrowingFrozen", world.asset_id):
        m.borrow(1, a.alice, {"from": a.alice})
    if status == STATUS_SUSPENDED:
        world.set_status(STATUS_ACTIVE)
        m.borrow(1, a.alice, {"from": a.alice})


def test_borrow_checks_frozen_before_liquidity_and_liquidity_before_collateral(world, flat):
    a = world.actors
    # No liquidity and no collateral: the liquidity error comes first...
    with reverts_with(flat, "InsufficientLiquidity", 1, 0):
        flat.borrow(1, a.carol, {"from": a.carol})
    # ...and a frozen valuation before both.
    world.set_status(STATUS_SUSPENDED)
    with reverts_with(flat, "BorrowingFrozen", world.asset_id):
        flat.borrow(1, a.carol, {"from": a.carol})


# ------------------------------------------------------------------------------------------ repay


def test_repay_by_assets_by_shares_and_on_behalf(world, lent):
    a, m, coin = world.actors, lent, world.coin
    m.supplyCollateral(shares(100), a.alice, {"from": a.alice})
    m.borrow(usd(5_750), a.alice, {"from": a.alice})

    # By assets: shares = floor(1,000e6 x (5.75e15 + 10^6) / (5,750e6 + 1)) = 10^15
    tx = m.repay(usd(1_000), 0, a.alice, {"from": a.alice})
    assert ints(tx.return_value) == (usd(1_000), 10**15)
    assert_event(tx, "Repaid", emitter=m, caller=a.alice, onBehalf=a.alice, assets=usd(1_000), shares=10**15)
    assert m.debtOf(a.alice) == usd(4_750)

    # By shares, paid by Carol for Alice: assets = ceil(7.5e14 x (4,750e6 + 1) / (4.75e15 + 10^6)) = 750e6
    before = coin.balanceOf(a.carol)
    tx = m.repay(0, 750 * 10**12, a.alice, {"from": a.carol})
    assert ints(tx.return_value) == (usd(750), 750 * 10**12)
    assert_event(tx, "Repaid", caller=a.carol, onBehalf=a.alice, assets=usd(750), shares=750 * 10**12)
    assert coin.balanceOf(a.carol) == before - usd(750)

    # Everything left, by shares: 4 x 10^15 shares = 4,000e6.
    left = m.positionOf(a.alice)[0]
    assert left == 4 * 10**15
    assert ints(m.repay(0, left, a.alice, {"from": a.alice}).return_value) == (usd(4_000), left)
    assert ints(m.positionOf(a.alice)) == (0, shares(100))
    assert m.totalBorrowAssets() == 0 and m.totalBorrowShares() == 0
    assert m.liquidity() == m.totalAssets() == usd(20_000) == coin.balanceOf(m)
    assert m.healthFactor(a.alice) == MAX_UINT


def test_repay_reverts_on_inconsistent_input_zero_address_and_excess(world, lent):
    a, m = world.actors, lent
    m.supplyCollateral(shares(100), a.alice, {"from": a.alice})
    m.borrow(usd(100), a.alice, {"from": a.alice})  # 10^14 shares
    with reverts_with(m, "InconsistentInput", 0, 0):
        m.repay(0, 0, a.alice, {"from": a.alice})
    with reverts_with(m, "InconsistentInput", 5, 5):
        m.repay(5, 5, a.alice, {"from": a.alice})
    with reverts_with(m, "ZeroAddress"):
        m.repay(1, 0, "0x" + "00" * 20, {"from": a.alice})
    # Assets mode: more than the debt reverts. 100e6 + 1: floor((100e6 + 1) x (10^14 + 10^6) / (100e6 + 1))
    # = 10^14 + 10^6 shares.
    with reverts_with(m, "ExceedsDebt", a.alice, 10**14 + 10**6, 10**14):
        m.repay(usd(100) + 1, 0, a.alice, {"from": a.alice})
    # Someone without debt cannot repay by assets: 1 unit is 10^6 shares of none.
    with reverts_with(m, "ExceedsDebt", a.carol, 10**6, 0):
        m.repay(1, 0, a.carol, {"from": a.carol})
    # Shares mode: asking for more than the position repays the position, no more.
    tx = m.repay(0, 10**14 + 1, a.alice, {"from": a.alice})
    assert ints(tx.return_value) == (usd(100), 10**14)
    assert_event(tx, "Repaid", emitter=m, caller=a.alice, onBehalf=a.alice, assets=usd(100), shares=10**14)
    assert ints(m.positionOf(a.alice)) == (0, shares(100))
    # ...and for a position without debt it repays min(5, 0) = 0: nothing paid, a Repaid event of zeros.
    tx = m.repay(0, 5, a.carol, {"from": a.carol})
    assert ints(tx.return_value) == (0, 0)
    assert_event(tx, "Repaid", emitter=m, caller=a.carol, onBehalf=a.carol, assets=0, shares=0)


def test_repay_of_dust_never_reduces_debt_by_more_than_it_pays(world, market):
    """After interest a borrow share is worth less than a base unit and repaying by assets rounds the shares
    down: the borrower's debt falls by at most what was paid, and the lenders' assets do not fall."""
    from tests.contracts.lending._world import YEAR, at, to_shares_down

    a, m = world.actors, market
    m.deposit(usd(20_000), a.bob, {"from": a.bob})
    m.supplyCollateral(shares(100), a.alice, {"from": a.alice})
    t = m.borrow(usd(5_000), a.alice, {"from": a.alice}).timestamp
    at(t + YEAR)
    m.accrueInterest({"from": a.keeper})
    total_assets, total_shares = m.totalBorrowAssets(), m.totalBorrowShares()
    debt, lenders = m.debtOf(a.alice), m.totalAssets()
    at(t + YEAR)  # same second: no more interest
    burnt = m.repay(1, 0, a.alice, {"from": a.alice}).return_value[1]
    # floor(1 x (S + 10^6) / (A + 1)): fewer than 10^6 shares once A / S > 10^-6 per share
    assert burnt == to_shares_down(1, total_assets, total_shares) < 10**6
    assert debt - m.debtOf(a.alice) <= 1
    assert m.totalAssets() >= lenders


def test_repaying_the_debt_view_in_assets_exceeds_the_shares_so_repay_all_by_shares(world, market):
    """debtOf rounds up; converting it back to shares rounds down, but one extra base unit is worth about
    10^6 shares, so `repay(debtOf, 0)` asks for more shares than the position holds. As in morpho-blue,
    repaying everything is done by shares."""
    from tests.contracts.lending._world import YEAR, at, to_shares_down

    a, m = world.actors, market
    m.deposit(usd(20_000), a.bob, {"from": a.bob})
    m.supplyCollateral(shares(100), a.alice, {"from": a.alice})
    t = m.borrow(usd(5_000), a.alice, {"from": a.alice}).timestamp
    at(t + YEAR // 7)
    m.accrueInterest({"from": a.keeper})
    debt, owned = m.debtOf(a.alice), m.positionOf(a.alice)[0]
    wanted = to_shares_down(debt, m.totalBorrowAssets(), m.totalBorrowShares())
    assert wanted > owned
    at(t + YEAR // 7)
    with reverts_with(m, "ExceedsDebt", a.alice, wanted, owned):
        m.repay(debt, 0, a.alice, {"from": a.alice})
    at(t + YEAR // 7)
    repaid_assets, _ = m.repay(0, owned, a.alice, {"from": a.alice}).return_value
    assert repaid_assets == debt
    assert m.debtOf(a.alice) == 0


# ------------------------------------------------------------------------------------------ views


def test_views_follow_the_price(world, lent):
    a, m = world.actors, lent
    m.supplyCollateral(shares(100), a.alice, {"from": a.alice})
    m.borrow(usd(5_000), a.alice, {"from": a.alice})
    world.set_status(STATUS_SUSPENDED)
    world.clock.goto(world.e0 + 1)
    # Suspended: target $50, one epoch later the price is 100 - 10 = $90.
    assert world.price() == usd(90)
    assert m.collateralValueOf(a.alice) == usd(9_000)
    # HF = 9,000 x 0.625 / 5,000 = 1.125
    assert m.healthFactor(a.alice) == 1_125 * 10**15


def test_repay_all_by_the_shares_the_position_shows_succeeds_after_a_harvest(world, lent):
    """Yield harvested into the market's index (by anyone: a keeper's harvestYield, any borrower's collateral
    move, a liquidation) is not in `positionOf` yet; repay applies it first, which burns some of the borrow
    shares, then repays min(shares asked, shares left): `repay(0, positionOf(me).borrowShares, me)` repays
    everything that is left."""
    a, m, coin = world.actors, lent, world.coin
    m.supplyCollateral(shares(100), a.alice, {"from": a.alice})
    m.supplyCollateral(shares(300), a.carol, {"from": a.carol})
    m.borrow(usd(1_000), a.alice, {"from": a.alice})  # 10^15 shares
    world.pay_revenue(usd(1_000))  # the market's 400 shares: $400; Alice's 100: $100
    m.harvestYield({"from": a.keeper})
    owed = m.positionOf(a.alice)[0]
    assert owed == 10**15  # what Alice sees: her yield is in the index, not yet in her position
    before = coin.balanceOf(a.alice)

    tx = m.repay(0, owed, a.alice, {"from": a.alice})

    # Her $100 repays floor(100e6 x (10^15 + 10^6) / (1,000e6 + 1)) = 10^14 shares first; she pays the other
    # 9 x 10^14 shares: ceil(9e14 x (900e6 + 1) / (9e14 + 10^6)) = 900e6.
    assert_event(tx, "YieldApplied", emitter=m, borrower=a.alice, **{"yield": usd(100)}, repaidAssets=usd(100),
                 credited=0)
    assert ints(tx.return_value) == (usd(900), 9 * 10**14)
    assert_event(tx, "Repaid", emitter=m, caller=a.alice, onBehalf=a.alice, assets=usd(900), shares=9 * 10**14)
    assert coin.balanceOf(a.alice) == before - usd(900)
    assert ints(m.positionOf(a.alice)) == (0, shares(100))
    assert m.totalBorrowAssets() == 0 and m.totalBorrowShares() == 0
    # The lenders got it all back: 20,000 lent, 1,000 borrowed, 100 + 900 repaid.
    assert m.liquidity() == m.totalAssets() == usd(20_000)


def test_repay_all_with_max_uint_shares_and_by_another_payer(world, lent):
    """type(uint256).max in shares mode means "everything", whatever the yield already repaid; a third party
    can clear a position that way and pays exactly what was left."""
    a, m, coin = world.actors, lent, world.coin
    m.supplyCollateral(shares(100), a.alice, {"from": a.alice})
    m.borrow(usd(1_000), a.alice, {"from": a.alice})
    world.pay_revenue(usd(1_000))  # the market's 100 shares, all Alice's: $100
    # Carol's collateral harvests it into the index first (new collateral does not share it).
    tx = m.supplyCollateral(shares(300), a.carol, {"from": a.carol})
    assert_event(tx, "YieldHarvested", emitter=m, amount=usd(100), totalCollateral=shares(100))
    before = coin.balanceOf(a.carol)

    tx = m.repay(0, MAX_UINT, a.alice, {"from": a.carol})

    assert_event(tx, "YieldApplied", emitter=m, borrower=a.alice, **{"yield": usd(100)}, repaidAssets=usd(100),
                 credited=0)
    assert ints(tx.return_value) == (usd(900), 9 * 10**14)
    assert_event(tx, "Repaid", emitter=m, caller=a.carol, onBehalf=a.alice, assets=usd(900), shares=9 * 10**14)
    assert coin.balanceOf(a.carol) == before - usd(900)
    assert ints(m.positionOf(a.alice)) == (0, shares(100))
    # Assets mode keeps its strict check: no debt left, one more unit reverts.
    with reverts_with(m, "ExceedsDebt", a.alice, 10**6, 0):
        m.repay(1, 0, a.alice, {"from": a.carol})


def test_repay_all_after_yield_cleared_the_debt_succeeds_and_pays_nothing(world, lent):
    """The harvested yield covers the whole debt: "repay everything I saw" succeeds, repays 0 more shares and
    pulls nothing; the excess yield is claimable."""
    a, m, coin = world.actors, lent, world.coin
    m.supplyCollateral(shares(100), a.alice, {"from": a.alice})
    m.supplyCollateral(shares(300), a.carol, {"from": a.carol})
    m.borrow(usd(50), a.alice, {"from": a.alice})  # 5 x 10^13 shares
    world.pay_revenue(usd(1_000))  # Alice: $100
    m.harvestYield({"from": a.keeper})
    owed = m.positionOf(a.alice)[0]
    assert owed == 5 * 10**13
    before = coin.balanceOf(a.alice)
    tx = m.repay(0, owed, a.alice, {"from": a.alice})
    assert_event(tx, "YieldApplied", emitter=m, borrower=a.alice, **{"yield": usd(100)}, repaidAssets=usd(50),
                 credited=usd(50))
    assert ints(tx.return_value) == (0, 0)
    assert_event(tx, "Repaid", emitter=m, caller=a.alice, onBehalf=a.alice, assets=0, shares=0)
    assert coin.balanceOf(a.alice) == before
    assert ints(m.positionOf(a.alice)) == (0, shares(100)) and m.claimableYieldOf(a.alice) == usd(50)


def test_repay_applies_harvested_yield_only_documented(world, lent):
    """Documents current behaviour (see the report): repay applies the yield already harvested into the index,
    but does not harvest, so yield still in the share token (counted by pendingYieldOf) is not applied: the
    borrower pays the whole debt and that yield becomes claimable once harvested."""
    a, m, coin = world.actors, lent, world.coin
    m.supplyCollateral(shares(100), a.alice, {"from": a.alice})
    m.borrow(usd(1_000), a.alice, {"from": a.alice})
    world.pay_revenue(usd(1_000))
    assert m.pendingYieldOf(a.alice) == usd(100)
    before = coin.balanceOf(a.alice)
    tx = m.repay(0, MAX_UINT, a.alice, {"from": a.alice})
    assert_no_event(tx, "YieldApplied")
    assert ints(tx.return_value) == (usd(1_000), 10**15)
    assert coin.balanceOf(a.alice) == before - usd(1_000)
    assert m.pendingYieldOf(a.alice) == usd(100)
    tx = m.claimYield(a.alice, {"from": a.alice})
    assert_event(tx, "YieldApplied", emitter=m, borrower=a.alice, **{"yield": usd(100)}, repaidAssets=0,
                 credited=usd(100))
    assert tx.return_value == usd(100)
