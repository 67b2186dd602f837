"""A borrower frozen by the stablecoin issuer (DevStablecoin's blocklist, as USDC's) must block nobody:
lenders still withdraw, others still borrow and claim, the frozen borrower can still be liquidated, its
yield still repays its debt, and its excess yield waits for it (pull) instead of failing anyone's call.

Zero-rate `flat` market at LLTV 62.5%, $100 a share. Bob lends 20,000; Alice (frozen later) posts 100 shares
and borrows 5,000; Carol posts 300 shares. The market holds 400 of the 1,000 shares: revenue of $1,000 gives
Alice $100 and Carol $300.
"""

from __future__ import annotations

import pytest

from scripts.samples import shares, usd
from tests.contracts.lending._world import STATUS_SUSPENDED
from tests.support.events import assert_event
from tests.support.reverts import reverts_with


@pytest.fixture
def frozen(world, flat):
    a, m, coin = world.actors, flat, world.coin
    m.deposit(usd(20_000), a.bob, {"from": a.bob})
    m.supplyCollateral(shares(100), a.alice, {"from": a.alice})
    m.supplyCollateral(shares(300), a.carol, {"from": a.carol})
    m.borrow(usd(5_000), a.alice, {"from": a.alice})
    tx = coin.blocklist(a.alice, {"from": a.admin})
    assert_event(tx, "Blocklisted", account=a.alice)
    return m


def test_lenders_withdraw_and_others_borrow_while_a_borrower_is_frozen(world, frozen):
    a, m, coin = world.actors, frozen, world.coin
    before = coin.balanceOf(a.bob)
    m.withdraw(usd(5_000), a.bob, a.bob, {"from": a.bob})
    assert coin.balanceOf(a.bob) == before + usd(5_000)
    m.borrow(usd(1_000), a.carol, {"from": a.carol})
    m.repay(usd(500), 0, a.carol, {"from": a.carol})
    m.deposit(usd(100), a.bob, {"from": a.bob})
    assert m.liquidity() == usd(20_000 - 5_000 - 5_000 - 1_000 + 500 + 100)


def test_frozen_borrower_cannot_move_stablecoin_but_others_can_repay_for_it(world, frozen):
    a, m, coin = world.actors, frozen, world.coin
    with reverts_with(coin, "AccountBlocklisted", a.alice):
        m.repay(usd(100), 0, a.alice, {"from": a.alice})
    with reverts_with(coin, "AccountBlocklisted", a.alice):
        m.borrow(usd(100), a.alice, {"from": a.alice})  # the loan would be paid to a frozen address
    m.repay(usd(100), 0, a.alice, {"from": a.carol})
    assert m.debtOf(a.alice) == usd(4_900)


def test_frozen_borrower_is_still_liquidated(world, frozen):
    a, m = world.actors, frozen
    world.set_status(STATUS_SUSPENDED)
    # A keeper anchors the price each epoch: 10% of each anchor down, $90 then $81.
    assert world.anchor_each_epoch(world.e0 + 1, world.e0 + 2) == [usd(90), usd(81)]
    # $81: Alice's limit 8,100 x 0.625 = 5,062.50 >= her 5,000: not yet
    with reverts_with(m, "HealthyPosition", a.alice, usd(5_000), 5_062_500_000):
        m.liquidate(a.alice, 0, 10**15, {"from": a.liquidator})
    world.clock.goto(world.e0 + 3)  # not anchored yet: the liquidation anchors $72.90 (limit 4,556.25 < 5,000)
    tx = m.liquidate(a.alice, 0, 10**15, {"from": a.liquidator})
    # $1,000 repaid (10^15 shares); floor(1,000e6 x LIF) = 1,126,760,563; x 1e18 / 72.9e6 = 15.456249149519890260
    assert_event(tx, "Liquidated", liquidator=a.liquidator, borrower=a.alice, repaidAssets=usd(1_000),
                 repaidShares=10**15, seizedCollateral=15_456_249_149_519_890_260, price=72_900_000)
    assert tx.events["PriceUpdated"]["price"] == 72_900_000


def test_yield_repays_a_frozen_borrowers_debt_and_its_excess_waits_without_blocking_anyone(world, frozen):
    a, m, coin = world.actors, frozen, world.coin
    # $60,000 of revenue: the market's 400 shares get $24,000: Alice $6,000 (> $5,000 owed), Carol $18,000.
    world.pay_revenue(usd(60_000))

    tx = m.applyYield(a.alice, {"from": a.keeper})  # no transfer to Alice: nothing can fail
    assert_event(tx, "YieldApplied", borrower=a.alice, **{"yield": usd(6_000)}, repaidAssets=usd(5_000),
                 credited=usd(1_000))
    assert m.debtOf(a.alice) == 0
    assert m.claimableYieldOf(a.alice) == usd(1_000)

    # Alice cannot receive it while frozen...
    with reverts_with(coin, "AccountBlocklisted", a.alice):
        m.claimYield(a.alice, {"from": a.alice})
    # ...which blocks no one else: Carol claims, Bob withdraws, the keeper harvests.
    m.claimYield(a.carol, {"from": a.carol})
    assert coin.balanceOf(m) >= m.liquidity() + usd(1_000)
    m.withdraw(usd(1_000), a.bob, a.bob, {"from": a.bob})
    assert m.claimableYieldOf(a.alice) == usd(1_000)

    # Unfrozen, she pulls it.
    coin.unBlocklist(a.alice, {"from": a.admin})
    before = coin.balanceOf(a.alice)
    m.claimYield(a.alice, {"from": a.alice})
    assert coin.balanceOf(a.alice) == before + usd(1_000)


def test_frozen_borrower_can_name_another_receiver_documented(world, frozen):
    """Documents current behaviour (see the report): the freeze binds the addresses a token transfer names,
    and `claimYield(receiver)` (like ERC-4626 `withdraw(receiver)`) pays a receiver of the caller's choice, so a
    frozen borrower can still direct its claimable yield to an address that is not frozen."""
    a, m, coin = world.actors, frozen, world.coin
    world.pay_revenue(usd(60_000))
    m.applyYield(a.alice, {"from": a.keeper})
    before = coin.balanceOf(a.bob)
    m.claimYield(a.bob, {"from": a.alice})
    assert coin.balanceOf(a.bob) == before + usd(1_000)
