"""LeaseMarket settlement and the epoch split: billing for metered delivery, SLA credits (firm and interruptible,
with curtailment), energy cost, operator fee and net, revenue the operator adds, void epochs after the grace
period, settlement exactly once and in order, dynamic pricing, share revenue deferred for a frozen share token,
a frozen operator, and settlement gas that does not grow with the number of leases.

Figures (checked by hand in each test's comments):
  H100 cluster: 8 GPUs, capacity 8 x 3600 = 28,800 GPU-s per epoch, PUE 1.20, tariff $0.12/kWh, fee 10%.
  energy cost = Wh x 12,000 x 120,000 / (10,000 x 1,000) = Wh x 144 base units  (5,000 Wh -> $0.72)
  L40S node: 4 GPUs, 14,400 GPU-s per epoch, PUE 1.35, tariff $0.18/kWh, fee 15%.
  energy cost = Wh x 13,500 x 180,000 / 10^7 = Wh x 243 base units  (1,000 Wh -> $0.243)
"""

from __future__ import annotations

import dataclasses

from scripts.samples import H100_CLUSTER, register_asset, shares, usd
from tests.contracts.leases._market import (
    DEMAND_RESPONSE,
    GRACE,
    H100_FULL,
    INTERRUPTIBLE,
    L40S_FULL,
    LEASE_SOURCE,
    MAX_UINT,
    SPOT,
    assert_record_adds_up,
    make_offer,
    open_lease,
    plain,
    pricing,
)
from tests.support.events import assert_event, assert_no_event, count_events
from tests.support.reverts import reverts_with

ZERO_HASH = "0x" + "00" * 32


def _fields(event):
    return {key.replace(" (indexed)", ""): value for key, value in event.items()}


def _settle_through(w, asset_id, last, **figures):
    """Moves to the epoch after `last`, posts `figures` for every unreported epoch through `last`, settles."""
    if w.market.currentEpoch() <= last:
        w.clock.goto(last + 1)
    w.meter.fill(asset_id, last, **figures)
    return w.market.settleThrough(asset_id, last, {"from": w.actors.keeper})


# ----------------------------------------------------------------------------------------------- the split


def test_full_delivery_bills_the_lease_and_splits_energy_fee_and_net(world):
    w, a, m = world, world.actors, world.market
    offer = make_offer(w)  # 8 GPUs, $2/GPU-h, SLA 99%, 10% credit
    lease = open_lease(w, offer, 4, 3)  # E0+1..E0+3, escrow 4 x $2 x 3 = $24
    w.clock.goto(w.e0 + 2)
    w.meter.fill(w.a1, w.e0 + 1, **H100_FULL)
    m.settle(w.a1, w.e0, {"from": a.keeper})  # no lease in E0: nothing billed

    tx = m.settle(w.a1, w.e0 + 1, {"from": a.keeper})

    # gross = 4 GPUs x $2 x 1 h x delivered 28,800/28,800 = $8.00; no credit (100% >= 99%)
    # energy = 5,000 Wh x 1.20 x $0.12/kWh = $0.72; fee = 10% x ($8 - $0.72) = $0.728
    # net = $8 - $0.72 - $0.728 = $6.552
    report_hash = w.oracle.reportHashOf(w.a1, w.e0 + 1)
    assert_event(tx, "EpochSettled", assetId=w.a1, epoch=w.e0 + 1, reportHash=report_hash, gross=usd(8),
                 credits=0, energyCost=usd("0.72"), fee=usd("0.728"), net=usd("6.552"))
    assert_event(tx, "RevenueDeposited", emitter=w.h100.shares, source=LEASE_SOURCE, amount=usd("6.552"),
                 distributed=usd("6.552"), **{"from": m})
    assert_no_event(tx, "EpochVoided")
    # (reportHash, gross, credits, energy, fee, net, added, cumulativeNet, cumGpuSeconds, cumEnergyWh,
    #  cumBusyGpuSeconds, leasedGpus, voided, deliveredWad, availableWad); E0 was metered full too:
    #  2 x 28,800 GPU-s, 2 x 5,000 Wh, busy 2 x 28,800 x 90% = 51,840 GPU-s; 28,800 healthy GPU-s cover the
    #  4 leased GPUs' 14,400 twice over: d = a = min(1, 2) = 1.
    record = assert_record_adds_up(w, w.a1, w.e0 + 1)
    assert plain(record) == (bytes(report_hash), usd(8), 0, usd("0.72"), usd("0.728"), usd("6.552"), 0,
                             usd("6.552"), 57_600, 10_000, 51_840, 4, False, 10**18, 10**18)
    # The operator's balance: energy + fee = $1.448.
    assert m.operatorBalance(a.operator) == usd("1.448")
    # Share holders: Alice 600 and Bob 400 of 1,000 shares: $3.9312 and $2.6208.
    assert w.h100.shares.claimable(a.alice) == usd("3.9312")
    assert w.h100.shares.claimable(a.bob) == usd("2.6208")
    # The lease: $8 billed, two epochs ($16) still reserved, nothing to refund.
    assert plain(m.leaseAccount(lease)) == (usd(8), 0, usd(16), 0, 0, w.e0 + 2)
    # The market holds exactly what it owes: $24 - $6.552 paid to the shares = $16 reserved + $1.448.
    assert w.coin.balanceOf(m) == usd(16) + usd("1.448")


def test_partial_delivery_is_billed_for_what_was_delivered_with_the_sla_credit(world):
    w, a, m = world, world.actors, world.market
    offer = make_offer(w)  # SLA 99%, credit 10%
    lease = open_lease(w, offer, 4, 3)
    w.clock.goto(w.e0 + 2)
    w.meter.post(w.a1, w.e0, **H100_FULL)
    # 3 GPUs healthy all hour while 4 are leased: 10,800 / (4 x 3,600) = 75% of the leased capacity delivered.
    w.meter.post(w.a1, w.e0 + 1, gpu_seconds=10_800, utilization_bps=8_000, energy_wh=3_750)

    tx = m.settleThrough(w.a1, w.e0 + 1, {"from": a.keeper})

    assert tx.return_value == 2
    # gross = $8 x 0.75 = $6.00; 75% < 99% -> 10% credit: charged $6 x 0.9 = $5.40, credits $0.60
    # energy = 3,750 Wh x 144 = $0.54; fee = 10% x ($5.40 - $0.54) = $0.486; net = $4.86 - $0.486 = $4.374
    assert_event(tx, "EpochSettled", index=1, assetId=w.a1, epoch=w.e0 + 1,
                 reportHash=w.oracle.reportHashOf(w.a1, w.e0 + 1), gross=usd(6), credits=usd("0.6"),
                 energyCost=usd("0.54"), fee=usd("0.486"), net=usd("4.374"))
    assert_record_adds_up(w, w.a1, w.e0 + 1)
    # The lease pays $5.40, is credited $0.60, and gets back the undelivered $2 plus the credit now.
    account = m.leaseAccount(lease)
    assert plain(account) == (usd("5.4"), usd("0.6"), usd(16), usd("2.6"), 0, w.e0 + 2)


def test_sla_credit_starts_just_below_the_promised_uptime(world):
    w, a, m = world, world.actors, world.market
    offer = make_offer(w)  # SLA 99%
    lease = open_lease(w, offer, 4, 2)
    w.clock.goto(w.e0 + 3)
    w.meter.post(w.a1, w.e0, **H100_FULL)
    # Billed against the leased capacity, 4 GPUs x 3,600 s = 14,400 GPU-s.
    # E0+1: exactly 99% = 14,256 of 14,400 GPU-s: no credit. gross = $8 x 0.99 = $7.92.
    w.meter.post(w.a1, w.e0 + 1, gpu_seconds=14_256, utilization_bps=9_000, energy_wh=5_000)
    # E0+2: one GPU-second less, 14,255: d = 14,255e18 / 14,400 = 989,930,555,555,555,555 (WAD, rounded down)
    # below 99%: charge index += d x 0.9 = 890,937,499,999,999,999; credit index += the rest
    # 98,993,055,555,555,556. gross = floor($8 x d) = 7,919,444; charged = floor($8 x 0.890937499999999999)
    # = 7,127,499; credits = 7,919,444 - 7,127,499 = 791,945.
    w.meter.post(w.a1, w.e0 + 2, gpu_seconds=14_255, utilization_bps=9_000, energy_wh=5_000)
    m.settleThrough(w.a1, w.e0 + 2, {"from": a.keeper})

    at_sla = assert_record_adds_up(w, w.a1, w.e0 + 1)
    assert (at_sla["gross"], at_sla["credits"]) == (usd("7.92"), 0)
    below = assert_record_adds_up(w, w.a1, w.e0 + 2)
    assert (below["gross"], below["credits"]) == (7_919_444, 791_945)
    # The lease's bill rounds up, its credit down: billed 7,920,000 + ceil(7,127,499.99...) = 15,047,500;
    # credited floor($8 x 0.098993055555555556) = 791,944; refundable = $16 - billed = 952,500
    # (undelivered $0.08 + 0.080556 + credit 0.791944).
    account = m.leaseAccount(lease)
    assert (account["billed"], account["credited"], account["refundable"]) == (15_047_500, 791_944, 952_500)
    # The lease is billed at least what the epochs charged: the market keeps the rounding.
    assert account["billed"] >= at_sla["gross"] + below["gross"] - below["credits"]


def test_firm_lease_is_credited_for_curtailment_and_interruptible_is_not(world):
    w, a, m = world, world.actors, world.market
    firm = make_offer(w, gpus=4, price=usd(2), sla_bps=9_500, credit_bps=2_000)
    spot = make_offer(w, gpus=4, price=usd("1.5"), sla_bps=9_500, credit_bps=2_000, lease_class=INTERRUPTIBLE)
    firm_lease = open_lease(w, firm, 4, 1)  # $8
    spot_lease = open_lease(w, spot, 4, 1, lessee=a.lessee2)  # $6
    w.clock.goto(w.e0 + 2)
    w.meter.post(w.a1, w.e0, **H100_FULL)
    # A grid demand-response request idles 10% of the capacity: delivered 25,920 GPU-s (90%), curtailed 2,880.
    w.meter.post(w.a1, w.e0 + 1, gpu_seconds=25_920, curtailed=2_880, utilization_bps=9_000, energy_wh=4_500)

    tx = m.settleThrough(w.a1, w.e0 + 1, {"from": a.keeper})

    # Both are billed for delivered capacity only (90%).
    # firm: SLA metric = delivered 90% < 95% -> 20% credit: gross $8 x 0.9 = $7.20, charged $5.76, credit $1.44
    # interruptible: SLA metric = available (90% + 10%) = 100% >= 95% -> no credit: gross = charged = $6 x 0.9
    # = $5.40
    # epoch: gross $12.60, credits $1.44, revenue $11.16; energy 4,500 x 144 = $0.648;
    # fee 10% x ($11.16 - $0.648) = $1.0512; net $10.512 - $1.0512 = $9.4608
    assert_event(tx, "EpochSettled", index=1, assetId=w.a1, epoch=w.e0 + 1,
                 reportHash=w.oracle.reportHashOf(w.a1, w.e0 + 1), gross=usd("12.6"), credits=usd("1.44"),
                 energyCost=usd("0.648"), fee=usd("1.0512"), net=usd("9.4608"))
    assert assert_record_adds_up(w, w.a1, w.e0 + 1)["leasedGpus"] == 8
    firm_account, spot_account = m.leaseAccount(firm_lease), m.leaseAccount(spot_lease)
    # firm: billed $5.76, credited $1.44, back $8 - $5.76 = $2.24 (undelivered $0.80 + credit $1.44)
    assert plain(firm_account) == (usd("5.76"), usd("1.44"), 0, usd("2.24"), 0, w.e0 + 2)
    # interruptible: billed $5.40, no credit, back $0.60 (the curtailed 10% is not billed)
    assert plain(spot_account) == (usd("5.4"), 0, 0, usd("0.6"), 0, w.e0 + 2)


def test_interruptible_lease_is_credited_for_a_fault(world):
    w, a, m = world, world.actors, world.market
    spot = make_offer(w, gpus=8, price=usd("1.5"), sla_bps=9_500, credit_bps=2_000, lease_class=INTERRUPTIBLE)
    lease = open_lease(w, spot, 8, 1)  # $12/h
    # 90% delivered and nothing curtailed: available = 90% < 95%, a fault: 20% credit.
    _settle_through(w, w.a1, w.e0 + 1, gpu_seconds=25_920, utilization_bps=9_000, energy_wh=4_500)
    # gross $12 x 0.9 = $10.80; charged $10.80 x 0.8 = $8.64; credit $2.16
    record = assert_record_adds_up(w, w.a1, w.e0 + 1)
    assert (record["gross"], record["credits"]) == (usd("10.8"), usd("2.16"))
    assert m.leaseAccount(lease)["credited"] == usd("2.16")


def test_outage_bills_nothing_and_the_operator_bears_the_energy(world):
    w, a, m = world, world.actors, world.market
    lease = open_lease(w, make_offer(w), 8, 1)  # $16
    # Meter outage reported as zero healthy GPU-seconds; the GPUs still drew 1,000 Wh.
    _settle_through(w, w.a1, w.e0 + 1, gpu_seconds=0, utilization_bps=0, energy_wh=1_000)
    # Nothing delivered: gross 0; energy cost capped at the revenue (0): nothing to anyone.
    record = assert_record_adds_up(w, w.a1, w.e0 + 1)
    assert plain(record)[1:6] == (0, 0, 0, 0, 0)
    assert m.leaseAccount(lease)["refundable"] == usd(16)


def test_energy_cost_is_capped_at_the_epoch_revenue(world):
    w, a, m = world, world.actors, world.market
    offer = make_offer(w, price=usd("0.1"))
    open_lease(w, offer, 1, 1)  # $0.10 for the epoch
    _settle_through(w, w.a1, w.e0 + 1, **H100_FULL)
    # revenue $0.10 < energy $0.72: the operator takes the $0.10 and bears the rest; fee 0, net 0.
    record = assert_record_adds_up(w, w.a1, w.e0 + 1)
    assert plain(record)[1:6] == (usd("0.1"), 0, usd("0.1"), 0, 0)
    assert m.operatorBalance(a.operator) == usd("0.1")


def test_l40s_split_uses_its_own_economics(world):
    w, a, m = world, world.actors, world.market
    offer = make_offer(w, w.a2, gpus=4, price=usd("1.25"))
    open_lease(w, offer, 4, 1, lessee=a.lessee2)  # $5/h
    _settle_through(w, w.a2, w.e0 + 1, **L40S_FULL)
    # gross $5; energy 1,000 Wh x 1.35 x $0.18/kWh = $0.243; fee 15% x $4.757 = $0.71355; net $4.04345
    record = assert_record_adds_up(w, w.a2, w.e0 + 1)
    assert plain(record)[1:6] == (usd(5), 0, usd("0.243"), usd("0.71355"), usd("4.04345"))
    assert m.operatorBalance(a.operator2) == usd("0.95655")
    assert w.l40s.shares.claimable(a.carol) == usd("4.04345")
    # The other asset is untouched.
    assert m.nextSettleEpoch(w.a1) == 0 and not m.isEnrolled(w.a1)


def test_settlement_bills_every_lease_of_every_offer_once(world):
    w, a, m = world, world.actors, world.market
    o1 = make_offer(w, gpus=5, price=usd(2))
    o2 = make_offer(w, gpus=3, price=usd(3))
    leases = [open_lease(w, o1, 2, 2), open_lease(w, o1, 3, 1, lessee=a.lessee2), open_lease(w, o2, 3, 2)]
    _settle_through(w, w.a1, w.e0 + 2, **H100_FULL)
    # E0+1: 2 x $2 + 3 x $2 + 3 x $3 = $19; E0+2: 2 x $2 + 3 x $3 = $13
    assert m.settlementOf(w.a1, w.e0 + 1)["gross"] == usd(19)
    assert m.settlementOf(w.a1, w.e0 + 2)["gross"] == usd(13)
    assert m.settlementOf(w.a1, w.e0 + 1)["leasedGpus"] == 8
    assert m.settlementOf(w.a1, w.e0 + 2)["leasedGpus"] == 5
    assert [m.leaseAccount(lease)["billed"] for lease in leases] == [usd(8), usd(6), usd(18)]
    for epoch in range(w.e0, w.e0 + 3):
        assert_record_adds_up(w, w.a1, epoch)
    # cumulativeNet runs over the settled epochs.
    nets = [m.settlementOf(w.a1, e)["net"] for e in range(w.e0, w.e0 + 3)]
    assert m.settlementOf(w.a1, w.e0 + 2)["cumulativeNet"] == sum(nets)


# ----------------------------------------------------------------------------------------------- added revenue


def test_added_revenue_joins_the_epoch_gross_tagged_by_source(world):
    w, a, m = world, world.actors, world.market
    open_lease(w, make_offer(w), 4, 1)  # $8
    tx = m.addRevenue(w.a1, w.e0 + 1, usd(3), SPOT, {"from": a.operator})
    assert_event(tx, "RevenueAdded", assetId=w.a1, epoch=w.e0 + 1, source=SPOT, amount=usd(3))
    tx = m.addRevenue(w.a1, w.e0 + 1, usd(1), DEMAND_RESPONSE, {"from": a.operator})
    assert_event(tx, "RevenueAdded", assetId=w.a1, epoch=w.e0 + 1, source=DEMAND_RESPONSE, amount=usd(1))
    assert m.addedRevenue(w.a1, w.e0 + 1) == usd(4)

    tx = _settle_through(w, w.a1, w.e0 + 1, **H100_FULL)

    # gross = $8 rent + $4 added = $12; energy $0.72; fee 10% x $11.28 = $1.128; net $10.152
    assert_event(tx, "EpochSettled", index=1, assetId=w.a1, epoch=w.e0 + 1,
                 reportHash=w.oracle.reportHashOf(w.a1, w.e0 + 1), gross=usd(12), credits=0,
                 energyCost=usd("0.72"), fee=usd("1.128"), net=usd("10.152"))
    assert assert_record_adds_up(w, w.a1, w.e0 + 1)["addedRevenue"] == usd(4)
    with reverts_with(m, "EpochAlreadySettled", w.a1, w.e0 + 1):
        m.addRevenue(w.a1, w.e0 + 1, usd(1), SPOT, {"from": a.operator})


def test_add_revenue_enrols_an_asset_without_offers(world):
    w, a, m = world, world.actors, world.market
    tx = m.addRevenue(w.a2, w.e0 + 2, usd(5), SPOT, {"from": a.operator2})
    assert_event(tx, "AssetEnrolled", assetId=w.a2, firstEpoch=w.e0)
    _settle_through(w, w.a2, w.e0 + 2, **L40S_FULL)
    # gross $5; energy $0.243; fee 15% x $4.757 = $0.71355; net $4.04345
    record = assert_record_adds_up(w, w.a2, w.e0 + 2)
    assert plain(record)[1:7] == (usd(5), 0, usd("0.243"), usd("0.71355"), usd("4.04345"), usd(5))


def test_add_revenue_reverts_on_zero_other_caller_or_settled_epoch(world):
    w, a, m = world, world.actors, world.market
    make_offer(w)
    with reverts_with(m, "ZeroAmount"):
        m.addRevenue(w.a1, w.e0, 0, SPOT, {"from": a.operator})
    with reverts_with(m, "NotOperator", w.a1, a.lessee):
        m.addRevenue(w.a1, w.e0, usd(1), SPOT, {"from": a.lessee})
    _settle_through(w, w.a1, w.e0, **H100_FULL)
    with reverts_with(m, "EpochAlreadySettled", w.a1, w.e0):
        m.addRevenue(w.a1, w.e0, usd(1), SPOT, {"from": a.operator})
    with reverts_with(m, "EpochAlreadySettled", w.a1, w.e0 - 3):
        m.addRevenue(w.a1, w.e0 - 3, usd(1), SPOT, {"from": a.operator})


# ----------------------------------------------------------------------------------------------- order, once


def test_settle_exactly_once_and_in_order(world):
    w, a, m = world, world.actors, world.market
    make_offer(w)
    w.clock.goto(w.e0 + 3)
    w.meter.fill(w.a1, w.e0 + 2, **H100_FULL)
    with reverts_with(m, "EpochNotSettleable", w.a1, w.e0 + 1, w.e0):
        m.settle(w.a1, w.e0 + 1, {"from": a.keeper})
    m.settle(w.a1, w.e0, {"from": a.keeper})
    with reverts_with(m, "EpochAlreadySettled", w.a1, w.e0):
        m.settle(w.a1, w.e0, {"from": a.keeper})
    with reverts_with(m, "EpochNotSettleable", w.a1, w.e0 + 2, w.e0 + 1):
        m.settle(w.a1, w.e0 + 2, {"from": a.keeper})
    m.settle(w.a1, w.e0 + 1, {"from": a.keeper})
    assert m.nextSettleEpoch(w.a1) == w.e0 + 2
    with reverts_with(m, "EpochAlreadySettled", w.a1, w.e0 + 1):
        m.settle(w.a1, w.e0 + 1, {"from": a.keeper})


def test_settle_reverts_for_an_asset_not_enrolled(world):
    w, a, m = world, world.actors, world.market
    with reverts_with(m, "AssetNotEnrolled", w.a2):
        m.settle(w.a2, w.e0, {"from": a.keeper})
    with reverts_with(m, "AssetNotEnrolled", w.a2):
        m.settleThrough(w.a2, w.e0, {"from": a.keeper})


def test_settle_reverts_while_the_report_is_pending(world):
    w, a, m = world, world.actors, world.market
    make_offer(w)
    voidable = w.clock.end(w.e0) + GRACE
    # The epoch in progress has no report and cannot be voided before its end plus the grace period.
    with reverts_with(m, "ReportPending", w.a1, w.e0, voidable):
        m.settle(w.a1, w.e0, {"from": a.keeper})
    w.clock.goto_time(voidable - 60)
    with reverts_with(m, "ReportPending", w.a1, w.e0, voidable):
        m.settle(w.a1, w.e0, {"from": a.keeper})


def test_settle_through_settles_up_to_the_first_pending_epoch(world):
    w, a, m = world, world.actors, world.market
    make_offer(w)
    w.clock.goto(w.e0 + 4)
    w.meter.fill(w.a1, w.e0 + 2, **H100_FULL)  # E0+3 ended but is unreported (grace not over)
    with reverts_with(m, "EpochNotSettleable", w.a1, w.e0, w.e0):
        m.settleThrough(w.a1, w.e0 - 1, {"from": a.keeper})
    tx = m.settleThrough(w.a1, w.e0 + 10, {"from": a.keeper})
    assert tx.return_value == 3
    assert count_events(tx, "EpochSettled") == 3
    assert m.nextSettleEpoch(w.a1) == w.e0 + 3
    with reverts_with(m, "EpochNotSettleable", w.a1, w.e0 + 3, w.e0 + 3):
        m.settleThrough(w.a1, w.e0 + 10, {"from": a.keeper})


# ----------------------------------------------------------------------------------------------- void epochs


def test_unreported_epoch_settles_void_after_the_grace_period(world):
    w, a, m = world, world.actors, world.market
    lease = open_lease(w, make_offer(w), 4, 3)  # E0+1..E0+3, $8 per epoch
    w.clock.goto(w.e0 + 1)
    w.meter.post(w.a1, w.e0, **H100_FULL)
    m.settle(w.a1, w.e0, {"from": a.keeper})
    voidable = w.clock.end(w.e0 + 1) + GRACE
    w.clock.goto_time(voidable - 30)
    with reverts_with(m, "ReportPending", w.a1, w.e0 + 1, voidable):
        m.settle(w.a1, w.e0 + 1, {"from": a.keeper})
    w.clock.goto_time(voidable)

    tx = m.settle(w.a1, w.e0 + 1, {"from": a.keeper})

    assert_event(tx, "EpochVoided", assetId=w.a1, epoch=w.e0 + 1)
    assert_event(tx, "EpochSettled", assetId=w.a1, epoch=w.e0 + 1, reportHash=ZERO_HASH, gross=0, credits=0,
                 energyCost=0, fee=0, net=0)
    record = assert_record_adds_up(w, w.a1, w.e0 + 1)
    previous = m.settlementOf(w.a1, w.e0)
    assert record["voided"] is True and record["leasedGpus"] == 4
    assert (record["cumulativeNet"], record["cumulativeGpuSeconds"], record["cumulativeEnergyWh"]) == (
        previous["cumulativeNet"], previous["cumulativeGpuSeconds"], previous["cumulativeEnergyWh"])
    # No charge without proof of delivery: the void epoch's $8 is the lessee's again.
    account = m.leaseAccount(lease)
    assert plain(account) == (0, 0, usd(16), usd(8), 0, w.e0 + 2)
    tx = m.claimRefund(lease, {"from": a.lessee})
    assert_event(tx, "RefundClaimed", leaseId=lease, to=a.lessee, amount=usd(8))

    # A late report for the void epoch is accepted by the oracle (its epochs stay contiguous) but the market
    # never settles that epoch again; the next one settles with its report.
    w.meter.post(w.a1, w.e0 + 1, **H100_FULL)
    with reverts_with(m, "EpochAlreadySettled", w.a1, w.e0 + 1):
        m.settle(w.a1, w.e0 + 1, {"from": a.keeper})
    w.meter.post(w.a1, w.e0 + 2, **H100_FULL)
    m.settle(w.a1, w.e0 + 2, {"from": a.keeper})
    assert m.leaseAccount(lease)["billed"] == usd(8)


def test_void_epoch_still_pays_the_revenue_the_operator_added(world):
    w, a, m = world, world.actors, world.market
    make_offer(w)
    m.addRevenue(w.a1, w.e0, usd(2), DEMAND_RESPONSE, {"from": a.operator})
    w.clock.goto_time(w.clock.end(w.e0) + GRACE)
    tx = m.settle(w.a1, w.e0, {"from": a.keeper})
    # No report: no metered energy. gross = added $2; fee 10% = $0.20; net $1.80.
    assert_event(tx, "EpochSettled", assetId=w.a1, epoch=w.e0, reportHash=ZERO_HASH, gross=usd(2), credits=0,
                 energyCost=0, fee=usd("0.2"), net=usd("1.8"))


# ----------------------------------------------------------------------------------------------- dynamic pricing


def test_dynamic_price_moves_toward_the_target_by_at_most_max_change_within_the_band(world):
    w, a, m = world, world.actors, world.market
    # $2 starting price, target 80% utilisation, at most 12.5% per epoch, within [$1.90, $2.10].
    offer = make_offer(w, price=usd(2), dynamic=pricing(8_000, 1_250, usd("1.9"), usd("2.1")))
    w.clock.goto(w.e0 + 6)
    utilisations = [10_000, 10_000, 10_000, 0, 8_000, 7_000]
    for i, util in enumerate(utilisations):
        w.meter.post(w.a1, w.e0 + i, gpu_seconds=8 * 3600, utilization_bps=util, energy_wh=5_000)
    prices, events = [], []
    for i in range(len(utilisations)):
        tx = m.settle(w.a1, w.e0 + i, {"from": a.keeper})
        prices.append(m.offerTerms(offer)["pricePerGpuHour"])
        events.append(tx.events["OfferPriceUpdated"][0] if "OfferPriceUpdated" in tx.events else None)
    # E0   100%: deviation (100 - 80) / 80 = 25%; +12.5% x 25% = +3.125%: 2,000,000 + 62,500 = 2,062,500
    # E0+1 100%: 2,062,500 + floor(2,062,500 x 3.125%) = 2,062,500 + 64,453 = 2,126,953 -> ceiling 2,100,000
    # E0+2 100%: already at the ceiling, no change, no event
    # E0+3   0%: deviation 100%: -12.5%: 2,100,000 - 262,500 = 1,837,500 -> floor 1,900,000
    # E0+4  80%: on target, no change
    # E0+5  70%: deviation 12.5%: -1.5625%: 1,900,000 - 29,687 = 1,870,313 -> floor 1,900,000, no change
    assert prices == [2_062_500, 2_100_000, 2_100_000, 1_900_000, 1_900_000, 1_900_000]
    assert [_fields(e) if e else None for e in events] == [
        {"offerId": offer, "epoch": w.e0, "pricePerGpuHour": 2_062_500},
        {"offerId": offer, "epoch": w.e0 + 1, "pricePerGpuHour": 2_100_000},
        None,
        {"offerId": offer, "epoch": w.e0 + 3, "pricePerGpuHour": 1_900_000},
        None,
        None,
    ]
    # Every step is at most maxChangeBps (12.5%) of the price before it.
    previous = usd(2)
    for price in prices:
        assert abs(price - previous) * 10_000 <= previous * 1_250
        previous = price


def test_dynamic_price_step_is_capped_at_max_change(world):
    w, a, m = world, world.actors, world.market
    # Target 40%: at 100% the relative deviation is 150%, capped at 100%: the full +10% step.
    offer = make_offer(w, price=usd(2), dynamic=pricing(4_000, 1_000, usd(1), usd(4)))
    _settle_through(w, w.a1, w.e0 + 1, gpu_seconds=8 * 3600, utilization_bps=10_000, energy_wh=5_000)
    # $2 x 1.1 = $2.20, then $2.20 x 1.1 = $2.42
    assert m.offerTerms(offer)["pricePerGpuHour"] == usd("2.42")


def test_dynamic_price_locks_when_a_lease_opens_and_extensions_keep_it(world):
    w, a, m = world, world.actors, world.market
    offer = make_offer(w, price=usd(2), dynamic=pricing(8_000, 1_250, usd(1), usd(4)))
    early = open_lease(w, offer, 2, 2)  # locked at $2: escrow 2 x $2 x 2 = $8
    _settle_through(w, w.a1, w.e0, gpu_seconds=8 * 3600, utilization_bps=10_000, energy_wh=5_000)
    assert m.offerTerms(offer)["pricePerGpuHour"] == 2_062_500  # +3.125%, as above

    # A lessee whose limit is the old price is protected.
    with reverts_with(m, "PriceAboveMaximum", offer, 2_062_500, usd(2)):
        m.openLease(offer, 2, 2, usd(2), {"from": a.lessee2})
    late = open_lease(w, offer, 2, 2, lessee=a.lessee2)
    # 2 GPUs x $2.0625 x 2 epochs = $8.25
    assert (m.getLease(late)["pricePerGpuHour"], m.getLease(late)["escrow"]) == (2_062_500, usd("8.25"))
    # The early lease extends at its locked $2: 2 x $2 x 3 = $12 more.
    tx = m.extendLease(early, 3, {"from": a.lessee})
    assert tx.events["LeaseExtended"]["addedEscrow"] == usd(12)
    assert m.getLease(early)["pricePerGpuHour"] == usd(2)

    # Billing uses each lease's locked price: E0+1 full delivery bills $4 (early) ...
    _settle_through(w, w.a1, w.e0 + 2, gpu_seconds=8 * 3600, utilization_bps=8_000, energy_wh=5_000)
    assert m.leaseAccount(early)["billed"] == usd(8)
    # ... and the late lease (E0+2, E0+3) $4.125 for E0+2.
    assert m.leaseAccount(late)["billed"] == usd("4.125")


def test_void_epoch_does_not_move_a_dynamic_price(world):
    w, a, m = world, world.actors, world.market
    offer = make_offer(w, price=usd(2), dynamic=pricing(8_000, 1_250, usd(1), usd(4)))
    w.clock.goto_time(w.clock.end(w.e0) + GRACE)
    tx = m.settle(w.a1, w.e0, {"from": a.keeper})
    assert_no_event(tx, "OfferPriceUpdated")
    assert m.offerTerms(offer)["pricePerGpuHour"] == usd(2)


# ----------------------------------------------------------------------------------------------- frozen parties


def test_frozen_share_token_defers_share_revenue_until_flushed(world):
    w, a, m = world, world.actors, world.market
    token = w.h100.shares
    open_lease(w, make_offer(w), 4, 1)
    w.coin.blocklist(token, {"from": a.admin})

    tx = _settle_through(w, w.a1, w.e0 + 1, **H100_FULL)

    # The same $6.552 net as a full epoch of 4 GPUs (see the first test), deferred, not lost; settlement and
    # the operator's share go on.
    assert_event(tx, "ShareRevenueDeferred", assetId=w.a1, amount=usd("6.552"))
    assert tx.events["EpochSettled"][1]["net"] == usd("6.552")
    assert m.deferredShareRevenue(w.a1) == usd("6.552")
    assert token.totalDeposited() == 0
    assert m.operatorBalance(a.operator) == usd("1.448")

    # Still frozen: a flush defers again.
    tx = m.flushShareRevenue(w.a1, {"from": a.keeper})
    assert_event(tx, "ShareRevenueDeferred", assetId=w.a1, amount=usd("6.552"))
    assert_no_event(tx, "ShareRevenueFlushed")
    assert m.deferredShareRevenue(w.a1) == usd("6.552")

    w.coin.unBlocklist(token, {"from": a.admin})
    tx = m.flushShareRevenue(w.a1, {"from": a.keeper})
    assert_event(tx, "ShareRevenueFlushed", assetId=w.a1, amount=usd("6.552"))
    assert m.deferredShareRevenue(w.a1) == 0
    assert token.claimable(a.alice) == usd("3.9312")  # 60%
    with reverts_with(m, "NothingToFlush", w.a1):
        m.flushShareRevenue(w.a1, {"from": a.keeper})


def test_share_token_is_approved_once_and_its_allowance_serves_only_the_markets_deposits(world):
    w, a, m = world, world.actors, world.market
    token = w.h100.shares
    open_lease(w, make_offer(w), 4, 2)
    assert w.coin.allowance(m, token) == 0

    first = _settle_through(w, w.a1, w.e0 + 1, **H100_FULL)
    # The first deposit finds no allowance, approves for every deposit to come and is paid in.
    assert w.coin.allowance(m, token) == 2**256 - 1
    assert_event(first, "Approval", owner=m.address, spender=token.address, value=2**256 - 1)
    assert_no_event(first, "ShareRevenueDeferred")
    assert token.totalDeposited() == usd("6.552")

    second = _settle_through(w, w.a1, w.e0 + 2, **H100_FULL)
    # No approval is written again; the allowance is not spent down.
    assert_no_event(second, "Approval")
    assert token.totalDeposited() == usd("13.104")
    assert w.coin.allowance(m, token) == 2**256 - 1

    # A share token pulls only from the caller of depositRevenue: a stranger's deposit is the stranger's money.
    market_before = w.coin.balanceOf(m)
    w.coin.mint(a.keeper, usd("1"), {"from": a.admin})
    w.coin.approve(token, usd("1"), {"from": a.keeper})
    token.depositRevenue(usd("1"), "0x" + b"GIFT".hex().ljust(64, "0"), {"from": a.keeper})
    assert w.coin.balanceOf(m) == market_before
    assert w.coin.balanceOf(a.keeper) == 0


def test_frozen_operator_cannot_withdraw_but_settlement_goes_on(world):
    w, a, m = world, world.actors, world.market
    open_lease(w, make_offer(w), 4, 1)
    l40s_offer = make_offer(w, w.a2, gpus=4, price=usd("1.25"))
    open_lease(w, l40s_offer, 4, 1, lessee=a.lessee2)
    w.coin.blocklist(a.operator, {"from": a.admin})

    _settle_through(w, w.a1, w.e0 + 1, **H100_FULL)
    _settle_through(w, w.a2, w.e0 + 1, **L40S_FULL)

    assert m.operatorBalance(a.operator) == usd("1.448")
    assert w.h100.shares.claimable(a.alice) == usd("3.9312")
    with reverts_with(w.coin, "AccountBlocklisted", a.operator):
        m.withdrawOperatorBalance(a.operator, {"from": a.operator})
    # The other operator is unaffected: energy $0.243 + fee $0.71355.
    tx = m.withdrawOperatorBalance(a.operator2, {"from": a.operator2})
    assert_event(tx, "OperatorWithdrawal", operator=a.operator2, to=a.operator2, amount=usd("0.95655"))
    assert m.operatorBalance(a.operator2) == 0
    # Once unfrozen, the operator's balance is all there.
    w.coin.unBlocklist(a.operator, {"from": a.admin})
    before = w.coin.balanceOf(a.operator)
    m.withdrawOperatorBalance(a.operator, {"from": a.operator})
    assert w.coin.balanceOf(a.operator) - before == usd("1.448")


def test_withdraw_operator_balance_reverts_on_zero_address_or_nothing(world):
    w, a, m = world, world.actors, world.market
    with reverts_with(m, "ZeroAddress"):
        m.withdrawOperatorBalance("0x" + "00" * 20, {"from": a.operator})
    with reverts_with(m, "NothingToClaim", a.operator):
        m.withdrawOperatorBalance(a.operator, {"from": a.operator})


# ----------------------------------------------------------------------------------------------- O(1) gas


def test_settlement_gas_does_not_grow_with_the_number_of_leases(world, accounts):
    """100 one-GPU leases and one 100-GPU lease on twin assets: the same epochs (same gross, same split)
    must cost the same gas to settle, within 5% (the goal of GOALS.md; in fact equal)."""
    w, a, m = world, world.actors, world.market
    spec = dataclasses.replace(H100_CLUSTER, gpu_count=128)
    twins = []
    for operator in (accounts[12], accounts[13]):
        asset = register_asset(w.suite, a.admin, operator, spec)
        w.oracle.startReporting(asset.asset_id, w.e0, {"from": a.admin})
        asset.shares.openOffering(usd(100), shares(100), w.clock.end(w.e0 + 30), {"from": operator})
        w.coin.approve(asset.shares, MAX_UINT, {"from": a.alice})
        asset.shares.subscribe(shares(100), usd(10_000), {"from": a.alice})
        offer = m.createOffer((asset.asset_id, 128, usd(1), 1, 10, 0, 9_900, 1_000, 500, 0, (False, 0, 0, 0, 0)),
                              {"from": operator}).return_value
        twins.append((asset.asset_id, offer))
    (one_asset, one_offer), (many_asset, many_offer) = twins
    m.openLease(one_offer, 100, 2, usd(1), {"from": a.lessee})
    for i in range(100):
        m.openLease(many_offer, 1, 2, usd(1), {"from": a.lessee if i % 2 else a.lessee2})
    assert m.leasedGpusAt(one_offer, w.e0 + 1) == m.leasedGpusAt(many_offer, w.e0 + 1) == 100

    w.clock.goto(w.e0 + 4)
    full = dict(gpu_seconds=128 * 3600, utilization_bps=9_000, energy_wh=20_000)
    for asset_id in (one_asset, many_asset):
        w.meter.fill(asset_id, w.e0 + 3, **full)
        m.settle(asset_id, w.e0, {"from": a.keeper})
    # E0+1: the leases start; E0+2: steady; E0+3: they end.
    for epoch in (w.e0 + 1, w.e0 + 2, w.e0 + 3):
        one = m.settle(one_asset, epoch, {"from": a.keeper})
        many = m.settle(many_asset, epoch, {"from": a.keeper})
        assert plain(m.settlementOf(one_asset, epoch))[1:7] == plain(m.settlementOf(many_asset, epoch))[1:7]
        ratio = many.gas_used / one.gas_used
        assert ratio <= 1.05, f"epoch {epoch}: {many.gas_used} gas with 100 leases vs {one.gas_used} with 1"


def test_settle_through_voids_a_backlog_of_silent_epochs(world):
    w, a, m = world, world.actors, world.market
    make_offer(w)
    w.clock.goto(w.e0 + 20)
    # Now = start of E0+20 + 120 s. Epoch e is voidable from end(e) + 6 h = start(e + 7): E0..E0+13 are,
    # E0+14 is not yet.
    tx = m.settleThrough(w.a1, w.e0 + 19, {"from": a.keeper})
    assert tx.return_value == 14
    assert count_events(tx, "EpochVoided") == 14
    assert m.nextSettleEpoch(w.a1) == w.e0 + 14
    with reverts_with(m, "ReportPending", w.a1, w.e0 + 14, w.clock.end(w.e0 + 14) + GRACE):
        m.settle(w.a1, w.e0 + 14, {"from": a.keeper})
