"""YieldValuation: IShareValuation's formula checked by hand, from settled lease revenue.

    annualNetPerShare = windowNet x (31,536,000 / (windowEpochs x 3600)) / totalShares    (x 1e18 per share)
    capitalised       = annualNetPerShare / capRate
    decay             = max(0, 1 - decayPerYear x age)
    target            = capitalised x decay x (1 - silence cut if silent) x (1 - suspended cut if suspended)
    price             = anchored once per epoch (`update`, which markets call before relying on a price): one
                        step from the previous anchor toward the target of at most maxMove x that anchor
                        (rounded up; of the target when the anchor is 0), however many epochs passed since;
                        `quote` is what `update` would return now (the anchor itself in the anchor's epoch)

Revenue enters through `LeaseMarket.addRevenue` (the operator's spot revenue), which enrols the asset in
epoch e0; each epoch's report is a zero-delivery one, so the only revenue is the added one: $2 added gives
gross $2, no energy, a 10% operator fee ($0.20) and $1.80 net to the 1,000 shares.
"""

from __future__ import annotations

import pytest

from scripts.samples import shares, usd
from tests.contracts.lending._world import (
    BPS,
    CLEAN_PARAMS,
    LOOSE_GUARDS,
    MAX_UINT,
    STATUS_ACTIVE,
    STATUS_RETIRED,
    STATUS_SUSPENDED,
    YEAR,
    at,
    ints,
    mul_div,
    step_price,
    walk_prices,
)
from tests.support.events import assert_event, assert_no_event
from tests.support.meter import report
from tests.support.reverts import reverts_with

SPOT = b"SPOT".ljust(32, b"\0")
# window 24, cap rate 15%, decay 20%/yr, move 10%/epoch, silent after 2 epochs, silence -50%, suspended -30%
PARAMS = (24, 1_500, 2_000, 1_000, 2, 5_000, 3_000) + LOOSE_GUARDS
NO_DECAY = (24, 1_500, 0, 1_000, 2, 5_000, 3_000) + LOOSE_GUARDS


def add_revenue(world, amounts: dict[int, int]) -> None:
    """The operator adds revenue to future epochs (the first call enrols the asset in the current epoch)."""
    lease, a = world.suite.lease_market, world.actors
    world.coin.mint(a.operator, sum(amounts.values()), {"from": a.admin})
    world.coin.approve(lease, MAX_UINT, {"from": a.operator})
    for epoch, amount in amounts.items():
        lease.addRevenue(world.asset_id, epoch, amount, SPOT, {"from": a.operator})


def report_and_settle(world, through: int) -> None:
    """Posts zero-delivery reports from the oracle's cursor through `through` and settles them."""
    first = world.suite.oracle.cursorOf(world.asset_id)[0]
    if first <= through:
        world.poster.post([report(world.asset_id, e) for e in range(first, through + 1)])
    world.suite.lease_market.settleThrough(world.asset_id, through, {"from": world.actors.keeper})


def configure(world, params, price: int = 1) -> object:
    return world.valuation.configure(world.asset_id, params, price, {"from": world.actors.admin})


def four_epochs_of(world, amount: int = usd(2)) -> None:
    """Revenue `amount` in each of e0..e0+3, reported and settled in e0+4."""
    add_revenue(world, {world.e0 + k: amount for k in range(4)})
    world.clock.goto(world.e0 + 4)
    report_and_settle(world, world.e0 + 3)


def test_configure_sets_params_and_first_anchor(world):
    v, a = world.valuation, world.actors
    assert v.quoteToken() == world.coin
    assert ints(v.paramsOf(world.asset_id)) == CLEAN_PARAMS
    assert ints(v.anchorOf(world.asset_id)) == (usd(100), world.e0, True)
    # Reconfiguring keeps the anchor (the price argument is ignored) and says which anchor stands.
    tx = configure(world, PARAMS, usd(5))
    assert_event(tx, "AssetConfigured", emitter=v, assetId=world.asset_id, params=list(PARAMS), anchorPrice=usd(100))
    assert ints(v.paramsOf(world.asset_id)) == PARAMS
    assert ints(v.anchorOf(world.asset_id)) == (usd(100), world.e0, True)


def test_configure_first_time_needs_a_price(world, actors):
    from scripts.samples import L40S_EDGE, register_asset

    edge = register_asset(world.suite, actors.admin, actors.operator2, L40S_EDGE)
    v = world.valuation
    with reverts_with(v, "AssetNotConfigured", edge.asset_id):
        v.quote(edge.asset_id)
    with reverts_with(v, "InvalidAnchorPrice", edge.asset_id, 0):
        v.configure(edge.asset_id, PARAMS, 0, {"from": actors.admin})
    tx = v.configure(edge.asset_id, PARAMS, usd(25), {"from": actors.admin})
    assert_event(tx, "AssetConfigured", assetId=edge.asset_id, params=list(PARAMS), anchorPrice=usd(25))
    # Never reported: every ended epoch counts as silent.
    parts = v.breakdown(edge.asset_id)
    assert parts["silent"] is True and parts["silentEpochs"] == world.clock.epoch_at(world.t0)


@pytest.mark.parametrize(
    "index, value",
    [(0, 0), (0, 24 * 365 + 1), (1, 0), (2, BPS + 1), (3, 0), (3, BPS + 1), (4, 0), (5, BPS + 1), (6, BPS + 1),
     (7, 0), (7, 87_600_001), (8, 0), (8, 24 * 365 + 1), (9, 0), (9, 2**96)],
)
def test_configure_rejects_out_of_range_params(world, index, value):
    params = list(PARAMS)
    params[index] = value
    with reverts_with(world.valuation, "InvalidValuationParams", world.asset_id):
        configure(world, tuple(params))


def test_configure_rejects_unknown_asset_and_non_admin(world):
    v, a = world.valuation, world.actors
    with reverts_with(v, "InvalidValuationParams", 99):
        v.configure(99, PARAMS, usd(1), {"from": a.admin})
    role = v.VALUATION_ADMIN_ROLE()
    with reverts_with(v, "AccessControlUnauthorizedAccount", a.keeper, role):
        v.configure(world.asset_id, PARAMS, usd(1), {"from": a.keeper})


def test_no_history_prices_at_the_anchor(world):
    # Nothing settled: the anchor ($100, the offering price) stands in for the capitalised yield.
    parts = world.valuation.breakdown(world.asset_id)
    assert parts["windowEpochs"] == 0 and parts["capitalised"] == usd(100) and parts["target"] == usd(100)
    assert ints(world.valuation.quote(world.asset_id)) == (usd(100), False)


def test_target_from_window_net_annualised_capitalised_and_decayed(world):
    v, a = world.valuation, world.actors
    configure(world, PARAMS)
    four_epochs_of(world)
    commissioned = world.suite.asset_registry.commissionedAtOf(world.asset_id)
    ts = at(world.clock.start(world.e0 + 4) + 600)
    tx = v.update(world.asset_id, {"from": a.keeper})

    # windowNet: 4 epochs x $1.80 = 7,200,000 (the window of 24 holds all 4 settled epochs)
    # annual per share: 7,200,000 x 31,536,000 x 1e18 / (4 x 3600 x 1e21) = 7.2e6 x 2.19 = 15,768,000 ($15.768)
    # capitalised at 15%: 15,768,000 x 10,000 / 1,500 = 105,120,000 ($105.12)
    # decay 20% a year; the GPUs were commissioned 180 days before the world started, ~4 h 09 min ago more:
    # 2,000 x (15,552,000 + ~14,940 s) / 31,536,000 = 987.25 -> 987 bps -> factor 9,013
    # target: 105,120,000 x 9,013 / 10,000 = 94,744,656
    age = ts - commissioned
    decay_bps = 2_000 * age // YEAR
    assert decay_bps == 987
    target = 105_120_000 * (BPS - decay_bps) // BPS
    assert target == 94_744_656
    parts = v.breakdown(world.asset_id)
    assert parts["windowNet"] == 7_200_000 and parts["windowEpochs"] == 4
    assert parts["annualNetPerShare"] == 15_768_000
    assert parts["capitalised"] == 105_120_000
    assert parts["decayFactorBps"] == 9_013
    assert parts["silent"] is False and parts["suspended"] is False and parts["retired"] is False
    assert parts["target"] == target
    # One anchoring (the first since e0, four epochs ago): at most 10% of $100 -> the $5.26 fall is within it.
    assert_event(tx, "PriceUpdated", emitter=v, assetId=world.asset_id, epoch=world.e0 + 4, price=target,
                 target=target)
    assert ints(v.anchorOf(world.asset_id)) == (target, world.e0 + 4, True)


def test_window_keeps_only_the_last_epochs(world):
    v = world.valuation
    configure(world, (2,) + NO_DECAY[1:])
    # $2, $2, $4, $4 added -> nets 1.8, 1.8, 3.6, 3.6 ($)
    add_revenue(world, {world.e0: usd(2), world.e0 + 1: usd(2), world.e0 + 2: usd(4), world.e0 + 3: usd(4)})
    world.clock.goto(world.e0 + 4)
    report_and_settle(world, world.e0 + 3)
    parts = v.breakdown(world.asset_id)
    # window 2: e0+2 and e0+3 -> 7,200,000 over 2 epochs: 7.2e6 x 31,536,000 x 1e18 / (2 x 3600 x 1e21) = 31,536,000
    assert parts["windowEpochs"] == 2 and parts["windowNet"] == 7_200_000
    assert parts["annualNetPerShare"] == 31_536_000
    # / 15% = 210,240,000
    assert parts["capitalised"] == parts["target"] == 210_240_000
    # One anchoring may raise the price 10% of the $100 anchor, however many epochs passed: $110, not $140.
    assert world.price() == usd(110) == step_price(usd(100), 210_240_000, 1_000)


def test_decay_by_gpu_age_reaches_zero(world):
    v = world.valuation
    configure(world, (24, 1_500, 10_000, 1_000, 1_000_000, 5_000, 3_000) + LOOSE_GUARDS)  # -100% a year
    commissioned = world.suite.asset_registry.commissionedAtOf(world.asset_id)
    from tests.contracts.lending._world import warp

    warp(commissioned + YEAR // 2)
    # half a year old: 10,000 x 0.5 = 5,000 bps lost; no history -> capitalised = anchor $100 -> target $50
    parts = v.breakdown(world.asset_id)
    assert parts["decayFactorBps"] == 5_000 and parts["target"] == usd(50)
    warp(commissioned + YEAR + 1)
    parts = v.breakdown(world.asset_id)
    assert parts["decayFactorBps"] == 0 and parts["target"] == 0


def test_silence_haircut_and_freeze(world):
    v = world.valuation
    configure(world, NO_DECAY)
    four_epochs_of(world)  # reported through e0+3, cursor e0+4
    assert v.breakdown(world.asset_id)["target"] == 105_120_000
    # In e0+5 one ended epoch (e0+4) is unreported: not yet silent (threshold 2).
    world.clock.goto(world.e0 + 5)
    parts = v.breakdown(world.asset_id)
    assert parts["silentEpochs"] == 1 and parts["silent"] is False
    assert v.quote(world.asset_id)[1] is False
    # In e0+6: two silent epochs -> silent: target x (1 - 50%) = 52,560,000 and borrowing frozen.
    world.clock.goto(world.e0 + 6)
    parts = v.breakdown(world.asset_id)
    assert parts["silentEpochs"] == 2 and parts["silent"] is True
    assert parts["target"] == 52_560_000
    price, frozen = v.quote(world.asset_id)
    assert frozen is True
    # Nothing anchored since e0: one step of at most 10% of the $100 anchor toward $52.56, however stale.
    assert price == usd(90) == step_price(usd(100), 52_560_000, 1_000)
    # Anchored (by a keeper here; a market's borrow or liquidation does the same): the price and the freeze.
    tx = v.update(world.asset_id, {"from": world.actors.keeper})
    assert ints(tx.return_value) == (usd(90), True)
    assert_event(tx, "PriceUpdated", emitter=v, assetId=world.asset_id, epoch=world.e0 + 6, price=usd(90),
                 target=52_560_000)
    # The meter reports again: not silent, target back to the capitalised yield.
    report_and_settle(world, world.e0 + 5)
    parts = v.breakdown(world.asset_id)
    assert parts["silent"] is False and parts["windowEpochs"] == 6
    # 6 epochs of which 4 earned: 7.2e6 x 31,536,000 x 1e18 / (6 x 3600 x 1e21) = 10,512,000 -> /15% = 70,080,000
    assert parts["target"] == 70_080_000
    # The freeze is read fresh (borrowing resumes at once); the price stays this epoch's anchor.
    assert ints(v.quote(world.asset_id)) == (usd(90), False)
    tx = v.update(world.asset_id, {"from": world.actors.keeper})
    assert ints(tx.return_value) == (usd(90), False)
    assert_no_event(tx, "PriceUpdated")
    # Next epoch (e0+6 unreported: 1 silent epoch, under the threshold): 10% of $90 toward $70.08 -> $81.
    world.clock.goto(world.e0 + 7)
    assert ints(v.quote(world.asset_id)) == (usd(81), False)


def test_suspension_haircut_stacks_with_silence(world):
    v = world.valuation
    configure(world, NO_DECAY)
    four_epochs_of(world)
    world.set_status(STATUS_SUSPENDED)
    parts = v.breakdown(world.asset_id)
    # suspended: 105,120,000 x (1 - 30%) = 73,584,000, frozen at once
    assert parts["suspended"] is True and parts["target"] == 73_584_000
    assert v.quote(world.asset_id)[1] is True
    # A suspended asset cannot be reported (the oracle refuses it), so silence follows: x 50% more.
    world.clock.goto(world.e0 + 6)
    parts = v.breakdown(world.asset_id)
    assert parts["silent"] and parts["target"] == 105_120_000 * 5_000 // BPS * 7_000 // BPS == 36_792_000
    world.set_status(STATUS_ACTIVE)
    assert v.breakdown(world.asset_id)["target"] == 52_560_000


def test_retired_asset_targets_zero_and_the_bound_still_applies(world):
    v = world.valuation
    world.set_status(STATUS_RETIRED)
    parts = v.breakdown(world.asset_id)
    assert parts["retired"] is True and parts["target"] == 0 and parts["capitalised"] == 0
    assert ints(v.quote(world.asset_id)) == (usd(100), True)
    # Without an anchoring the quote is one step from the e0 anchor, however long the wait: $90 in e0+1 and e0+5.
    for k in (1, 5):
        world.clock.goto(world.e0 + k)
        assert ints(v.quote(world.asset_id)) == (usd(90), True)
    # Anchored once an epoch from e0+5, it falls 10% of each anchor (rounded up): $90, $81, $72.90, $65.61...
    prices = world.anchor_each_epoch(world.e0 + 5, world.e0 + 5 + 158)
    assert prices[:4] == [usd(90), usd(81), 72_900_000, 65_610_000]
    assert prices == walk_prices(usd(100), [0] * 159, 1_000)
    # ...and the step rounded up takes the last units whole: 0 exactly at the 159th anchoring, and it stays there.
    assert prices[-2] == 1 and prices[-1] == 0
    world.clock.goto(world.e0 + 5 + 159)
    assert ints(v.quote(world.asset_id)) == (0, True)


def test_update_moves_by_at_most_the_bound_per_epoch(world):
    v, a = world.valuation, world.actors
    configure(world, (24, 1_500, 0, 100, 1_000_000, 5_000, 3_000) + LOOSE_GUARDS)  # 1% a epoch
    four_epochs_of(world, usd(20))  # capitalised $1,051.20: ten times the anchor
    # The first anchoring since e0, four epochs later: ONE step of 1% of $100 -> $101 (not +4%).
    tx = v.update(world.asset_id, {"from": a.keeper})
    assert ints(tx.return_value) == (usd(101), False)
    assert_event(tx, "PriceUpdated", emitter=v, assetId=world.asset_id, epoch=world.e0 + 4, price=usd(101),
                 target=1_051_200_000)
    assert ints(v.anchorOf(world.asset_id)) == (usd(101), world.e0 + 4, True)
    # Same epoch again: the anchor is returned and nothing is written.
    tx = v.update(world.asset_id, {"from": a.keeper})
    assert ints(tx.return_value) == (usd(101), False)
    assert_no_event(tx, "PriceUpdated")
    assert ints(v.anchorOf(world.asset_id)) == (usd(101), world.e0 + 4, True)
    # Next epoch: +1% of the new anchor ($1.01) -> $102.01, quoted first, then written. e0+4 settled with no
    # revenue: $18 x 4 over 5 epochs: 72e6 x 31,536,000 x 1e18 / (5 x 3600 x 1e21) = 126,144,000 -> /15%.
    world.clock.goto(world.e0 + 5)
    report_and_settle(world, world.e0 + 4)
    assert v.breakdown(world.asset_id)["target"] == 840_960_000
    assert world.price() == usd(101) + mul_div(usd(101), 100, BPS, up=True) == 102_010_000
    tx = v.update(world.asset_id, {"from": a.keeper})
    assert_event(tx, "PriceUpdated", emitter=v, assetId=world.asset_id, epoch=world.e0 + 5, price=102_010_000,
                 target=840_960_000)


def test_update_reverts_for_an_unconfigured_asset_and_returns_the_anchor_in_its_epoch(world):
    v, a = world.valuation, world.actors
    with reverts_with(v, "AssetNotConfigured", 7):
        v.update(7, {"from": a.keeper})
    with reverts_with(v, "AssetNotConfigured", 7):
        v.quote(7)
    # Still e0, the anchor's epoch: update returns the anchor and writes nothing (no NothingChanged any more).
    tx = v.update(world.asset_id, {"from": a.keeper})
    assert ints(tx.return_value) == (usd(100), False)
    assert_no_event(tx, "PriceUpdated")
    assert ints(v.anchorOf(world.asset_id)) == (usd(100), world.e0, True)
    assert not [item for item in v.abi if item.get("type") == "error" and item["name"] == "NothingChanged"]


def test_the_freeze_is_read_fresh_within_an_anchored_epoch(world):
    v, a = world.valuation, world.actors
    world.clock.goto(world.e0 + 1)
    assert ints(v.update(world.asset_id, {"from": a.keeper}).return_value) == (usd(100), False)
    # Suspended after the anchoring, in the same epoch: the anchored price, but frozen at once...
    world.set_status(STATUS_SUSPENDED)
    tx = v.update(world.asset_id, {"from": a.keeper})
    assert ints(tx.return_value) == (usd(100), True)
    assert_no_event(tx, "PriceUpdated")
    assert ints(v.quote(world.asset_id)) == (usd(100), True)
    # ...and active again, unfrozen at once.
    world.set_status(STATUS_ACTIVE)
    assert ints(v.quote(world.asset_id)) == (usd(100), False)
    assert ints(v.update(world.asset_id, {"from": a.keeper}).return_value) == (usd(100), False)


def test_a_single_epoch_moves_the_quote_at_most_one_bound_even_with_a_stale_anchor(world):
    """After k quiet epochs without an anchoring, one epoch's revenue (an operator's addRevenue after a quiet
    spell) moves the price one bound, not k: the bound is per anchoring, whatever the time since the anchor."""
    v, a = world.valuation, world.actors
    configure(world, NO_DECAY[:4] + (1_000_000,) + NO_DECAY[5:])
    add_revenue(world, {world.e0 + 9: usd(100)})  # enrols in e0; revenue only in e0+9
    world.clock.goto(world.e0 + 10)
    world.poster.post([report(world.asset_id, e) for e in range(world.e0, world.e0 + 10)])
    # Nothing settled yet: the quote stands at the $100 anchor in e0+10.
    before = world.price()
    assert before == usd(100)
    world.suite.lease_market.settleThrough(world.asset_id, world.e0 + 9, {"from": a.keeper})
    # Settled: 10 epochs, one with $90 net: 90e6 x 31,536,000 x 1e18 / (10 x 3600 x 1e21) = 78,840,000 a share
    # a year; / 15% = $525.60 target.
    assert v.breakdown(world.asset_id)["target"] == 525_600_000
    # One step of 10% of the $100 anchor, ten epochs after it: $110 (the old per-elapsed-epoch rule gave $200).
    after = world.price()
    assert after == usd(110) == step_price(usd(100), 525_600_000, 1_000)
    assert after - before == mul_div(usd(100), 1_000, BPS)
    tx = v.update(world.asset_id, {"from": a.keeper})
    assert_event(tx, "PriceUpdated", emitter=v, assetId=world.asset_id, epoch=world.e0 + 10, price=usd(110),
                 target=525_600_000)
    # The next epoch: 10% of the new $110 anchor.
    world.clock.goto(world.e0 + 11)
    assert world.price() == usd(121)


def test_a_price_that_reached_zero_can_recover(world):
    """A zero anchor (a window of zero net revenue: a genuine outage) does not stick: from a zero anchor the
    step is a fraction of the target, so the price climbs back at the bounded pace once the asset earns."""
    v, a = world.valuation, world.actors
    configure(world, (2, 1_500, 0, 10_000, 1_000_000, 5_000, 3_000) + LOOSE_GUARDS)  # window 2, up to 100% an anchoring
    add_revenue(world, {world.e0: usd(2), world.e0 + 4: usd(2), world.e0 + 5: usd(2)})
    world.clock.goto(world.e0 + 4)
    report_and_settle(world, world.e0 + 3)
    # Window e0+2..e0+3 earned nothing: target 0; one anchoring of up to 100% of $100 takes the price to 0.
    assert v.breakdown(world.asset_id)["target"] == 0 and world.price() == 0
    tx = v.update(world.asset_id, {"from": a.keeper})
    assert_event(tx, "PriceUpdated", emitter=v, assetId=world.asset_id, epoch=world.e0 + 4, price=0, target=0)
    assert ints(v.anchorOf(world.asset_id)) == (0, world.e0 + 4, True)
    # 50% per anchoring from now on (reconfiguring keeps the anchor, here 0).
    configure(world, (2, 1_500, 0, 5_000, 1_000_000, 5_000, 3_000) + LOOSE_GUARDS, usd(100))
    assert ints(v.anchorOf(world.asset_id)) == (0, world.e0 + 4, True)
    # The GPUs earn again: e0+4 and e0+5 net $1.80 each -> target $105.12.
    world.clock.goto(world.e0 + 6)
    report_and_settle(world, world.e0 + 5)
    assert v.breakdown(world.asset_id)["target"] == 105_120_000
    # From the zero anchor the step is 50% of the TARGET: $52.56.
    assert world.price() == 52_560_000 == step_price(0, 105_120_000, 5_000)
    tx = v.update(world.asset_id, {"from": a.keeper})
    assert_event(tx, "PriceUpdated", emitter=v, assetId=world.asset_id, epoch=world.e0 + 6, price=52_560_000,
                 target=105_120_000)
    # Then 50% of each anchor (nothing more settled: the target stays $105.12): $78.84, then the target.
    prices = world.anchor_each_epoch(world.e0 + 7, world.e0 + 8)
    assert prices == [78_840_000, 105_120_000] == walk_prices(52_560_000, [105_120_000] * 2, 5_000)


def test_market_borrowing_follows_the_valuation(world, flat):
    """The market borrows at update()'s price: the settled-yield price sets how much 100 shares can borrow, and
    the borrow anchors it for the epoch."""
    a, m, v = world.actors, flat, world.valuation
    configure(world, NO_DECAY)
    m.deposit(usd(20_000), a.bob, {"from": a.bob})
    m.supplyCollateral(shares(100), a.alice, {"from": a.alice})
    four_epochs_of(world, usd(20))  # target $1,051.20; one anchoring -> +10%: $110
    assert world.price() == usd(110)
    # 100 shares x $110 x 0.575 = 6,325
    with reverts_with(m, "InsufficientCollateral", a.alice, usd(6_325) + 1, usd(6_325)):
        m.borrow(usd(6_325) + 1, a.alice, {"from": a.alice})
    assert ints(v.anchorOf(world.asset_id)) == (usd(100), world.e0, True)  # the reverted borrow wrote nothing
    tx = m.borrow(usd(6_325), a.alice, {"from": a.alice})
    assert_event(tx, "PriceUpdated", emitter=v, assetId=world.asset_id, epoch=world.e0 + 4, price=usd(110),
                 target=1_051_200_000)
    assert ints(v.anchorOf(world.asset_id)) == (usd(110), world.e0 + 4, True)
    # Next epoch (e0+4 unreported: 1 silent epoch, under the threshold of 2): 10% of $110 more -> $121:
    # 100 x $121 x 0.575 = 6,957.50, i.e. 632.50 more.
    world.clock.goto(world.e0 + 5)
    assert world.price() == usd(121)
    with reverts_with(m, "InsufficientCollateral", a.alice, 6_957_500_001, 6_957_500_000):
        m.borrow(632_500_001, a.alice, {"from": a.alice})
    tx = m.borrow(632_500_000, a.alice, {"from": a.alice})
    assert_event(tx, "PriceUpdated", emitter=v, assetId=world.asset_id, epoch=world.e0 + 5, price=usd(121),
                 target=1_051_200_000)


def test_markets_anchor_the_price_only_where_they_rely_on_it(world, flat):
    """borrow, withdrawCollateral with debt and liquidate call update() (the first in an epoch anchors the price);
    supplyCollateral, repay, withdrawals without debt and every view do not."""
    a, m, v = world.actors, flat, world.valuation
    m.deposit(usd(20_000), a.bob, {"from": a.bob})
    for who in (a.alice, a.carol):
        m.supplyCollateral(shares(100), who, {"from": who})
    tx = m.borrow(usd(1_000), a.alice, {"from": a.alice})
    assert_no_event(tx, "PriceUpdated")  # e0 is the anchor's own epoch
    world.clock.goto(world.e0 + 1)
    # No settled history and active: the target is the anchor itself ($100), so each anchoring rewrites $100.
    assert m.healthFactor(a.alice) == 10_000 * 625 * 10**15 // 1_000
    assert m.collateralValueOf(a.alice) == usd(10_000)
    for tx in (m.supplyCollateral(shares(1), a.alice, {"from": a.alice}),
               m.repay(usd(100), 0, a.alice, {"from": a.alice}),
               m.withdrawCollateral(shares(1), a.carol, {"from": a.carol})):  # Carol has no debt
        assert_no_event(tx, "PriceUpdated")
    assert ints(v.anchorOf(world.asset_id)) == (usd(100), world.e0, True)
    tx = m.withdrawCollateral(shares(1), a.alice, {"from": a.alice})  # in debt: the LTV check needs a price
    assert_event(tx, "PriceUpdated", emitter=v, assetId=world.asset_id, epoch=world.e0 + 1, price=usd(100),
                 target=usd(100))
    assert_no_event(m.borrow(usd(100), a.alice, {"from": a.alice}), "PriceUpdated")  # already anchored
    world.clock.goto(world.e0 + 2)
    # A liquidation that reverts (healthy) anchors nothing; one that proceeds anchors (see test_liquidation).
    with reverts_with(m, "HealthyPosition", a.alice, usd(1_000), usd(6_250)):
        m.liquidate(a.alice, 0, 1, {"from": a.liquidator})
    assert ints(v.anchorOf(world.asset_id)) == (usd(100), world.e0 + 1, True)
    tx = m.borrow(usd(100), a.alice, {"from": a.alice})
    assert_event(tx, "PriceUpdated", emitter=v, assetId=world.asset_id, epoch=world.e0 + 2, price=usd(100),
                 target=usd(100))


def test_revenue_each_hour_sets_the_same_price_whatever_the_epoch_count(world):
    """Annualisation: 4 epochs at $1.80 and 1 epoch at $1.80 give the same annual yield per share."""
    v = world.valuation
    configure(world, NO_DECAY)
    add_revenue(world, {world.e0: usd(2)})
    world.clock.goto(world.e0 + 1)
    report_and_settle(world, world.e0)
    # 1.8e6 x 31,536,000 x 1e18 / (1 x 3600 x 1e21) = 15,768,000
    assert v.breakdown(world.asset_id)["annualNetPerShare"] == 15_768_000


# ------------------------------------------------------------------------------------------ no settled history

def test_without_history_a_suspension_haircut_does_not_compound_with_each_anchoring(world):
    """IShareValuation: target = capitalised x haircuts, and without settled history the offering price ($100)
    stands in for the capitalised value: suspended at -50%, the target is $50, so anchoring once an epoch
    walks the price down to $50 and no lower, and back up toward $100 once the asset is active again (it once
    compounded: $47.83 at the 7th anchoring, $43.05 at the 8th, stuck there after reactivation)."""
    v = world.valuation
    world.set_status(STATUS_SUSPENDED)
    prices = world.anchor_each_epoch(world.e0 + 1, world.e0 + 8)
    assert prices[:6] == [usd(90), usd(81), 72_900_000, 65_610_000, 59_049_000, 53_144_100]
    assert v.breakdown(world.asset_id)["capitalised"] == usd(100)
    assert prices == walk_prices(usd(100), [usd(50)] * 8, 1_000)
    world.set_status(STATUS_ACTIVE)
    assert world.anchor_each_epoch(world.e0 + 9, world.e0 + 9) == [step_price(usd(50), usd(100), 1_000)]


def test_without_history_the_age_decay_does_not_compound_with_each_anchoring(world):
    """IShareValuation: age decay = 1 - decayPerYear x age. The GPUs are ~180 days old: at 20% a year the
    decay keeps 9,014 bps of the $100 offering price ($90.14), whatever the number of anchorings (it once
    decayed the last anchor again at each anchoring: $90.14, $81.25, $73.24...)."""
    v = world.valuation
    configure(world, PARAMS[:4] + (1_000_000,) + PARAMS[5:])  # 20% a year decay, never silent
    commissioned = world.suite.asset_registry.commissionedAtOf(world.asset_id)
    world.clock.goto(world.e0 + 1)
    keep = BPS - 2_000 * (world.clock.start(world.e0 + 3) - commissioned) // YEAR
    assert keep == 9_014 == BPS - 2_000 * (world.clock.start(world.e0 + 1) - commissioned) // YEAR
    prices = world.anchor_each_epoch(world.e0 + 1, world.e0 + 3)
    assert prices[0] == mul_div(usd(100), keep, BPS) == 90_140_000
    assert v.breakdown(world.asset_id)["capitalised"] == usd(100)
    assert prices == [90_140_000] * 3


# ------------------------------------------------------------------------------- wash-leasing guards


def test_revenue_above_the_reference_price_is_not_capitalised(world):
    v = world.valuation
    # A 5-cent reference per GPU-hour: the 8 GPUs leased all 4 epochs at it earn at most 8 x 4 x $0.05 = $1.60.
    configure(world, NO_DECAY[:9] + (usd("0.05"),))
    four_epochs_of(world)  # $1.80 net a epoch: $7.20 settled
    parts = v.breakdown(world.asset_id)
    assert parts["windowNet"] == 7_200_000
    assert parts["referenceCap"] == 1_600_000
    assert parts["countedNet"] == 1_600_000
    # 1.6e6 x 31,536,000 x 1e18 / (4 x 3600 x 1e21) = 3,504,000 a year; / 15% = 23,360,000
    assert parts["annualNetPerShare"] == 3_504_000
    assert parts["capitalised"] == parts["target"] == 23_360_000


def test_a_rise_is_held_to_the_yearly_rate_from_the_snapshot(world):
    v, a = world.valuation, world.actors
    # 50% a year from a weekly (168-epoch) snapshot; the $100 configured in e0 is the first snapshot.
    configure(world, NO_DECAY[:7] + (5_000, 168, MAX_UINT >> 160), usd(100))
    assert ints(v.snapshotOf(world.asset_id)) == (usd(100), world.e0)
    four_epochs_of(world, usd(20))  # target $1,051.20: the per-epoch step alone would allow $110
    # Four epochs after the snapshot: $100 x 50% x 4 x 3600 / 31,536,000 = $0.022831 more, rounded down.
    assert v.riseCeiling(world.asset_id) == 100_022_831
    tx = v.update(world.asset_id, {"from": a.keeper})
    assert world.price() == 100_022_831
    assert_no_event(tx, "SnapshotTaken")
    # A week after the snapshot the ceiling has grown linearly: $100 x (1 + 0.5 x 168 / 8,760) = $100.958904;
    # that anchoring takes the snapshot with it.
    world.clock.goto(world.e0 + 168)
    tx = v.update(world.asset_id, {"from": a.keeper})
    assert world.price() == 100_958_904
    assert_event(tx, "SnapshotTaken", emitter=v, assetId=world.asset_id, epoch=world.e0 + 168, price=100_958_904)
    assert ints(v.snapshotOf(world.asset_id)) == (100_958_904, world.e0 + 168)


def test_a_fall_moves_the_snapshot_down_at_once(world):
    v, a = world.valuation, world.actors
    configure(world, NO_DECAY[:7] + (5_000, 168, MAX_UINT >> 160), usd(100))
    world.set_status(STATUS_SUSPENDED)  # no history: $100 x (1 - 30%) = $70
    world.clock.goto(world.e0 + 1)
    tx = v.update(world.asset_id, {"from": a.keeper})
    # One step down (10%): $90, and the ceiling now grows from $90, not from the $100 it fell from.
    assert world.price() == usd(90)
    assert_event(tx, "SnapshotTaken", emitter=v, assetId=world.asset_id, epoch=world.e0 + 1, price=usd(90))
    assert ints(v.snapshotOf(world.asset_id)) == (usd(90), world.e0 + 1)
