"""Interest: the LinearKinkIrm curve at several utilisations, and its compounding in the market.

The deploy script's model: 2% a year at 0% utilisation, +8% per unit of utilisation up to the 80% kink
(2% + 8% x 0.8 = 8.4% there), then +100% per unit above the kink (28.4% at 100%).
Per-second rates are the annual rate / 31,536,000, rounded down.
"""

from __future__ import annotations

import pytest
from brownie import LinearKinkIrm

from scripts.samples import shares, usd
from tests.contracts.lending._world import (
    DEFAULT_IRM,
    WAD,
    YEAR,
    at,
    kink_rate_per_second,
    mul_div,
    taylor_compounded,
    to_assets_up,
)
from tests.support.events import assert_event
from tests.support.reverts import reverts_with

# utilisation (WAD) -> per-second rate, each worked out by hand:
RATES = [
    # 0.02 / 31,536,000 = 634,195,839.67e-18
    (0, 634_195_839),
    # 0.02 + 0.08 x 0.4 = 0.052 -> 1,648,909,183.15
    (4 * 10**17, 1_648_909_183),
    # 0.02 + 0.08 x 0.5 = 0.06 -> 1,902,587,519.02
    (5 * 10**17, 1_902_587_519),
    # at the kink: 0.02 + 0.064 = 0.084 -> 2,663,622,526.63
    (8 * 10**17, 2_663_622_526),
    # above: 0.084 + 1.0 x 0.1 = 0.184 -> 5,834,601,725.01
    (9 * 10**17, 5_834_601_725),
    # full: 0.084 + 0.2 = 0.284 -> 9,005,580,923.39
    (WAD, 9_005_580_923),
    # utilisation above 100% is read as 100%
    (2 * WAD, 9_005_580_923),
]


@pytest.mark.parametrize("utilization, rate", RATES)
def test_kink_model_rate_at_utilisation(world, utilization, rate):
    assert world.irm.borrowRatePerSecond(utilization) == rate == kink_rate_per_second(utilization, *DEFAULT_IRM)


def test_kink_model_exposes_its_parameters(world):
    irm = world.irm
    assert (irm.baseRatePerYear(), irm.slope1PerYear(), irm.slope2PerYear(), irm.kinkWad()) == DEFAULT_IRM


def test_kink_model_is_continuous_at_the_kink_and_steeper_above(world):
    irm, kink = world.irm, DEFAULT_IRM[3]
    below, at_kink, above = (irm.borrowRatePerSecond(u) for u in (kink - 10**15, kink, kink + 10**15))
    # 0.1 point of utilisation: +0.008% a year below the kink, +0.1% above
    assert at_kink - below == kink_rate_per_second(kink, *DEFAULT_IRM) - kink_rate_per_second(kink - 10**15, *DEFAULT_IRM)
    assert above - at_kink > 10 * (at_kink - below)


@pytest.mark.parametrize("kink", [0, WAD, WAD + 1])
def test_kink_model_rejects_a_kink_outside_zero_one(world, kink):
    with reverts_with(LinearKinkIrm, "InvalidKink", kink):
        LinearKinkIrm.deploy(1, 1, 1, kink, {"from": world.actors.admin})


def test_market_rate_follows_utilisation(world, market):
    a, m = world.actors, market
    m.deposit(usd(10_000), a.bob, {"from": a.bob})
    m.supplyCollateral(shares(300), a.alice, {"from": a.alice})  # $30,000: up to $17,250 of debt
    t = m.borrow(usd(4_000), a.alice, {"from": a.alice}).timestamp
    assert m.utilization() == 4 * 10**17 and m.borrowRatePerSecond() == 1_648_909_183
    # Every step in the same second: no interest in between, so the utilisations are exact.
    for total, utilization, rate in ((5_000, 5, 1_902_587_519), (8_000, 8, 2_663_622_526),
                                     (9_000, 9, 5_834_601_725), (10_000, 10, 9_005_580_923)):
        at(t)
        m.borrow(usd(total) - m.totalBorrowAssets(), a.alice, {"from": a.alice})
        assert m.utilization() == utilization * 10**17
        assert m.borrowRatePerSecond() == rate == world.irm.borrowRatePerSecond(m.utilization())


def test_interest_compounds_over_a_year_at_half_utilisation(world, market):
    a, m = world.actors, market
    m.deposit(usd(10_000), a.bob, {"from": a.bob})
    m.supplyCollateral(shares(300), a.alice, {"from": a.alice})
    t = m.borrow(usd(5_000), a.alice, {"from": a.alice}).timestamp

    at(t + YEAR)
    tx = m.accrueInterest({"from": a.keeper})

    # rate 1,902,587,519 x 31,536,000 s = 0.059999999999184 (x n);
    # e^(xn) - 1 ~ xn + (xn)^2/2 + (xn)^3/6 = 0.06 + 0.0018 + 0.000036 = 0.061835999999133571
    # interest = floor(5,000e6 x 0.061835999999133571) = 309,179,999
    growth = taylor_compounded(1_902_587_519, YEAR)
    assert growth == 61_835_999_999_133_571
    interest = mul_div(usd(5_000), growth, WAD)
    assert interest == 309_179_999
    assert_event(tx, "InterestAccrued", emitter=m, interest=interest, borrowRatePerSecond=1_902_587_519,
                 totalBorrowAssets=usd(5_000) + interest)
    assert m.totalBorrowAssets() == usd(5_000) + interest
    # The lenders own it: 10,000 + 309.179999
    assert m.totalAssets() == usd(10_000) + interest
    assert m.liquidity() == usd(5_000)
    # Alice's debt: ceil(5e15 x (5,309,179,999 + 1) / (5e15 + 10^6)) = ceil(5,309,179,998.94) = 5,309,179,999
    assert m.debtOf(a.alice) == 5_309_179_999 == to_assets_up(5 * 10**15, usd(5_000) + interest, 5 * 10**15)
    # Bob, the only lender, can take all of it once Alice repays.
    m.repay(0, m.positionOf(a.alice)[0], a.alice, {"from": a.alice})
    assert m.maxWithdraw(a.bob) >= usd(10_000) + interest - 1


def test_interest_above_the_kink_for_a_day(world, market):
    a, m = world.actors, market
    m.deposit(usd(10_000), a.bob, {"from": a.bob})
    m.supplyCollateral(shares(300), a.alice, {"from": a.alice})
    t = m.borrow(usd(9_000), a.alice, {"from": a.alice}).timestamp
    at(t + 86_400)
    tx = m.accrueInterest({"from": a.keeper})
    # 90% utilisation: 5,834,601,725 / s x 86,400 s = 0.000504109589... (+ second and third order terms)
    growth = taylor_compounded(5_834_601_725, 86_400)
    interest = mul_div(usd(9_000), growth, WAD)
    assert interest == 4_538_130  # $4.54 on $9,000 in a day: 18.4% a year
    assert_event(tx, "InterestAccrued", interest=interest, borrowRatePerSecond=5_834_601_725,
                 totalBorrowAssets=usd(9_000) + interest)


def test_accrual_uses_the_utilisation_at_its_start_and_compounds_between_calls(world, market):
    a, m = world.actors, market
    m.deposit(usd(10_000), a.bob, {"from": a.bob})
    m.supplyCollateral(shares(300), a.alice, {"from": a.alice})
    t = m.borrow(usd(5_000), a.alice, {"from": a.alice}).timestamp
    borrowed = usd(5_000)
    for step in range(1, 4):
        at(t + step * 30 * 86_400)
        utilization = mul_div(borrowed, WAD, borrowed + usd(5_000))
        rate = kink_rate_per_second(utilization, *DEFAULT_IRM)
        interest = mul_div(borrowed, taylor_compounded(rate, 30 * 86_400), WAD)
        tx = m.accrueInterest({"from": a.keeper})
        assert_event(tx, "InterestAccrued", interest=interest, borrowRatePerSecond=rate,
                     totalBorrowAssets=borrowed + interest)
        borrowed += interest
    assert m.totalBorrowAssets() == borrowed


def test_accrual_without_borrows_or_time_emits_nothing(world, market):
    a, m = world.actors, market
    m.deposit(usd(1_000), a.bob, {"from": a.bob})
    tx = m.accrueInterest({"from": a.keeper})
    assert "InterestAccrued" not in tx.events
    m.supplyCollateral(shares(10), a.alice, {"from": a.alice})
    t = m.borrow(usd(100), a.alice, {"from": a.alice}).timestamp
    at(t)
    assert "InterestAccrued" not in m.accrueInterest({"from": a.keeper}).events
    assert m.totalBorrowAssets() == usd(100)


def test_views_include_interest_not_yet_accrued(world, market):
    a, m = world.actors, market
    m.deposit(usd(10_000), a.bob, {"from": a.bob})
    m.supplyCollateral(shares(300), a.alice, {"from": a.alice})
    t = m.borrow(usd(5_000), a.alice, {"from": a.alice}).timestamp
    from tests.contracts.lending._world import warp

    warp(t + YEAR)
    interest = 309_179_999  # as in the one-year test
    assert m.totalBorrowAssets() == usd(5_000) + interest
    assert m.totalAssets() == usd(10_000) + interest
    assert m.debtOf(a.alice) == 5_309_179_999
