"""LeaseMarket views and the LeaseMarketLens figures investors look at: leased fraction, trailing utilisation,
GPU-hours per MWh and annualised net per share (and yield), each computed by hand in the comments."""

from __future__ import annotations

import pytest
from brownie.exceptions import VirtualMachineError

from scripts.samples import usd
from tests.contracts.leases._market import (
    GRACE,
    H100_FULL,
    HOUR,
    LEASE_SOURCE,
    MAX_PRICE,
    make_offer,
    open_lease,
    plain,
)
from tests.support.reverts import encode_error, revert_data, reverts_with


def _call_reverts(w, view, args, error, *error_args):
    with pytest.raises(VirtualMachineError) as info:
        view(*args)
    assert revert_data(info.value) == encode_error(w.market, error, *error_args)


def test_market_wiring_and_constants(world):
    from brownie import chain

    w, m = world, world.market
    assert m.MAX_OFFERS_PER_ASSET() == 8
    assert m.MAX_PRICE_PER_GPU_HOUR() == MAX_PRICE
    assert m.MAX_SETTLEMENT_LAG() == 48
    assert m.LEASE_SOURCE() == "0x" + LEASE_SOURCE.hex()
    assert m.settlementToken() == w.coin
    assert m.positions() == w.positions
    assert m.assetRegistry() == w.registry
    assert m.oracle() == w.oracle
    assert m.gracePeriod() == GRACE
    assert m.currentEpoch() == (chain.time() - w.clock.genesis) // HOUR == w.e0


def test_unknown_asset_views_are_empty(world):
    w, m, a = world, world.market, world.actors
    assert not m.isEnrolled(w.a1)
    assert m.nextSettleEpoch(w.a1) == 0 and m.firstEpochOf(w.a1) == 0
    assert list(m.offersOf(w.a1)) == []
    assert m.leasedGpusOfAsset(w.a1, w.e0) == 0
    assert m.operatorBalance(a.operator) == 0
    assert m.deferredShareRevenue(w.a1) == 0
    assert m.addedRevenue(w.a1, w.e0) == 0


def test_quote_escrow_is_gpus_times_price_times_hours(world):
    m = world.market
    # 3 GPUs x $2 x 5 one-hour epochs = $30
    assert m.quoteEscrow(3, usd(2), 5) == usd(30)
    assert m.quoteEscrow(1, 1, 1) == 1
    assert m.quoteEscrow(0, usd(2), 5) == 0
    assert m.quoteEscrow(5, usd(2), 0) == 0
    # The largest inputs do not overflow: (2^32 - 1) x (2^96 - 1) x (2^32 - 1) x 3600 / 3600.
    top = 2**32 - 1
    assert m.quoteEscrow(top, MAX_PRICE, top) == top * MAX_PRICE * top


def test_lease_account_through_a_lease_life(world):
    w, a, m = world, world.actors, world.market
    lease = open_lease(w, make_offer(w), 2, 3)  # E0+1..E0+3, $4 per epoch, $12
    # (billed, credited, reserved, refundable, refunded, settledThrough)
    assert plain(m.leaseAccount(lease)) == (0, 0, usd(12), 0, 0, w.e0 + 1)
    w.clock.goto(w.e0 + 3)
    w.meter.fill(w.a1, w.e0 + 2, **H100_FULL)
    m.settle(w.a1, w.e0, {"from": a.keeper})
    assert plain(m.leaseAccount(lease)) == (0, 0, usd(12), 0, 0, w.e0 + 1)
    m.settle(w.a1, w.e0 + 1, {"from": a.keeper})
    assert plain(m.leaseAccount(lease)) == (usd(4), 0, usd(8), 0, 0, w.e0 + 2)
    m.settle(w.a1, w.e0 + 2, {"from": a.keeper})
    assert plain(m.leaseAccount(lease)) == (usd(8), 0, usd(4), 0, 0, w.e0 + 3)
    w.clock.goto(w.e0 + 4)
    w.meter.post(w.a1, w.e0 + 3, gpu_seconds=0, utilization_bps=0, energy_wh=0)  # outage: nothing billed
    m.settle(w.a1, w.e0 + 3, {"from": a.keeper})
    assert plain(m.leaseAccount(lease)) == (usd(8), 0, 0, usd(4), 0, w.e0 + 4)
    # Settling past the end changes nothing more.
    w.clock.goto(w.e0 + 5)
    w.meter.post(w.a1, w.e0 + 4, **H100_FULL)
    m.settle(w.a1, w.e0 + 4, {"from": a.keeper})
    assert plain(m.leaseAccount(lease)) == (usd(8), 0, 0, usd(4), 0, w.e0 + 4)


def test_leased_gpus_by_offer_and_asset_over_epochs(world):
    w, a, m = world, world.actors, world.market
    o1 = make_offer(w, gpus=5)
    o2 = make_offer(w, gpus=3)
    open_lease(w, o1, 2, 1)  # E0+1
    open_lease(w, o1, 3, 3)  # E0+1..E0+3
    open_lease(w, o2, 3, 2)  # E0+1..E0+2
    assert [m.leasedGpusAt(o1, w.e0 + i) for i in range(5)] == [0, 5, 3, 3, 0]
    assert [m.leasedGpusAt(o2, w.e0 + i) for i in range(5)] == [0, 3, 3, 0, 0]
    assert [m.leasedGpusOfAsset(w.a1, w.e0 + i) for i in range(5)] == [0, 8, 6, 3, 0]
    # After settling E0..E0+1 the counts read from the offers' settled state.
    w.clock.goto(w.e0 + 2)
    w.meter.fill(w.a1, w.e0 + 1, **H100_FULL)
    m.settleThrough(w.a1, w.e0 + 1, {"from": a.keeper})
    assert m.offerState(o1)["activeGpus"] == 5
    assert m.offerState(o1)["rateSum"] == 5 * usd(2)
    assert [m.leasedGpusOfAsset(w.a1, w.e0 + i) for i in range(2, 5)] == [6, 3, 0]


def test_settlement_of_reverts_for_unsettled_epochs(world):
    w, a, m = world, world.actors, world.market
    _call_reverts(w, m.settlementOf, (w.a1, w.e0), "EpochNotSettled", w.a1, w.e0)  # not enrolled
    make_offer(w)
    w.clock.goto(w.e0 + 1)
    w.meter.post(w.a1, w.e0, **H100_FULL)
    m.settle(w.a1, w.e0, {"from": a.keeper})
    assert m.settlementOf(w.a1, w.e0)["gross"] == 0
    _call_reverts(w, m.settlementOf, (w.a1, w.e0 + 1), "EpochNotSettled", w.a1, w.e0 + 1)
    _call_reverts(w, m.settlementOf, (w.a1, w.e0 - 1), "EpochNotSettled", w.a1, w.e0 - 1)


@pytest.fixture
def settled_history(world):
    """The H100 rented out whole (8 GPUs x $2) for E0+1..E0+3, all epochs settled with varied figures:
      epoch  GPU-s   util   Wh     gross   credits  energy   fee      net
      E0     28,800  90%    5,000  0       0        0        0        0          (no lease yet)
      E0+1   14,400  60%    2,500  $8.00   $0.80    $0.36    $0.684   $6.156     (50% delivered: 10% credit)
      E0+2   21,600  80%    4,000  $12.00  $1.20    $0.576   $1.0224  $9.2016    (75%: credit)
      E0+3   28,800  90%    5,000  $16.00  0        $0.72    $1.528   $13.752
    energy = Wh x 144 base units; fee = 10% x (gross - credits - energy).
    """
    w, a, m = world, world.actors, world.market
    open_lease(w, make_offer(w), 8, 3)
    w.clock.goto(w.e0 + 4)
    w.meter.post(w.a1, w.e0, **H100_FULL)
    w.meter.post(w.a1, w.e0 + 1, gpu_seconds=14_400, utilization_bps=6_000, energy_wh=2_500)
    w.meter.post(w.a1, w.e0 + 2, gpu_seconds=21_600, utilization_bps=8_000, energy_wh=4_000)
    w.meter.post(w.a1, w.e0 + 3, **H100_FULL)
    m.settleThrough(w.a1, w.e0 + 3, {"from": a.keeper})
    return w


def test_settled_history_matches_the_hand_table(settled_history):
    w, m = settled_history, settled_history.market
    table = {
        w.e0: (0, 0, 0, 0, 0),
        w.e0 + 1: (usd(8), usd("0.8"), usd("0.36"), usd("0.684"), usd("6.156")),
        w.e0 + 2: (usd(12), usd("1.2"), usd("0.576"), usd("1.0224"), usd("9.2016")),
        w.e0 + 3: (usd(16), 0, usd("0.72"), usd("1.528"), usd("13.752")),
    }
    for epoch, figures in table.items():
        record = m.settlementOf(w.a1, epoch)
        assert plain(record)[1:6] == figures, epoch
        assert record["reportHash"] == w.oracle.reportHashOf(w.a1, epoch)
        assert record["gross"] == sum(figures[1:])
    # Cumulative counters: GPU-s 93,600; Wh 16,500; busy 25,920 + 8,640 + 17,280 + 25,920 = 77,760.
    last = m.settlementOf(w.a1, w.e0 + 3)
    assert (last["cumulativeGpuSeconds"], last["cumulativeEnergyWh"], last["cumulativeBusyGpuSeconds"]) == (
        93_600, 16_500, 77_760)
    assert last["cumulativeNet"] == usd("29.1096")


def test_net_revenue_between_sums_settled_epochs(settled_history):
    w, m = settled_history, settled_history.market
    # [E0+1, E0+4): $6.156 + $9.2016 + $13.752 = $29.1096
    assert m.netRevenueBetween(w.a1, w.e0 + 1, w.e0 + 4) == usd("29.1096")
    assert m.netRevenueBetween(w.a1, w.e0 + 2, w.e0 + 3) == usd("9.2016")
    # A start before the first epoch is clamped to it; an empty range is 0.
    assert m.netRevenueBetween(w.a1, 0, w.e0 + 2) == usd("6.156")
    assert m.netRevenueBetween(w.a1, w.e0 + 3, w.e0 + 3) == 0
    assert m.netRevenueBetween(w.a1, w.e0 + 3, w.e0 + 1) == 0
    _call_reverts(w, m.netRevenueBetween, (w.a1, w.e0, w.e0 + 5), "EpochNotSettled", w.a1, w.e0 + 4)


def test_lens_trailing_utilisation_is_time_weighted(settled_history):
    w, lens = settled_history, settled_history.lens
    # window 4 (E0..E0+3): busy 77,760 / healthy 93,600 = 0.8307.. -> 8,307 bps
    assert lens.trailingUtilizationBps(w.a1, 4) == 8_307
    # window 2 (E0+2, E0+3): (17,280 + 25,920) / (21,600 + 28,800) = 43,200 / 50,400 = 0.857.. -> 8,571
    assert lens.trailingUtilizationBps(w.a1, 2) == 8_571
    # window 1: E0+3 alone, 90%
    assert lens.trailingUtilizationBps(w.a1, 1) == 9_000
    # a window longer than the history stops at the first epoch; a zero window is empty
    assert lens.trailingUtilizationBps(w.a1, 100) == 8_307
    assert lens.trailingUtilizationBps(w.a1, 0) == 0
    assert lens.trailingUtilizationBps(w.a2, 4) == 0  # not enrolled


def test_lens_gpu_hours_per_mwh(settled_history):
    w, lens = settled_history, settled_history.lens
    # window 4: 93,600 GPU-s = 26 GPU-h over 16,500 Wh = 0.0165 MWh -> 1,575.75.. -> 1,575
    assert lens.gpuHoursPerMWh(w.a1, 4) == 1_575
    # window 2: 50,400 GPU-s = 14 GPU-h over 9,000 Wh -> 1,555.5.. -> 1,555
    assert lens.gpuHoursPerMWh(w.a1, 2) == 1_555
    # window 1: 8 GPU-h over 5 kWh -> 1,600
    assert lens.gpuHoursPerMWh(w.a1, 1) == 1_600
    assert lens.gpuHoursPerMWh(w.a1, 0) == 0


def test_lens_annualised_net_per_share_and_yield(settled_history):
    w, lens = settled_history, settled_history.lens
    # window 3 (E0+1..E0+3): net $29.1096 over 3 h, 1,000 shares:
    # 29,109,600 x 31,536,000 s/yr / (3 x 3,600 s x 1,000 shares) = 29,109,600 x 2.92 = 85,000,032
    # ($85.000032 per share per year)
    assert lens.annualizedNetPerShare(w.a1, 3) == 85_000_032
    # window 4 adds E0 (net 0): x 31,536,000 / 14,400,000 = x 2.19 -> 63,750,024
    assert lens.annualizedNetPerShare(w.a1, 4) == 63_750_024
    # yield on the $100 share price: 85,000,032 x 10,000 / 100,000,000 = 8,500.0032 -> 8,500 bps
    assert lens.annualizedYieldBps(w.a1, 3, usd(100)) == 8_500
    assert lens.annualizedYieldBps(w.a1, 3, 0) == 0
    assert lens.annualizedNetPerShare(w.a1, 0) == 0


def test_lens_leased_fraction_of_the_current_epoch(world):
    w, a, lens = world, world.actors, world.lens
    assert lens.leasedFractionBps(w.a1) == 0  # not enrolled
    o1 = make_offer(w, gpus=5)
    o2 = make_offer(w, gpus=3)
    open_lease(w, o1, 5, 2)  # E0+1, E0+2
    open_lease(w, o2, 1, 1)  # E0+1
    # Leases start next epoch: nothing leased in E0.
    assert lens.leasedFractionBps(w.a1) == 0
    w.clock.goto(w.e0 + 1)
    # 6 of 8 GPUs = 7,500 bps
    assert lens.leasedFractionBps(w.a1) == 7_500
    w.clock.goto(w.e0 + 2)
    # 5 of 8 = 6,250 bps
    assert lens.leasedFractionBps(w.a1) == 6_250
    w.clock.goto(w.e0 + 3)
    assert lens.leasedFractionBps(w.a1) == 0


def test_lens_figures_for_a_void_history_are_zero(world):
    w, a, m, lens = world, world.actors, world.market, world.lens
    make_offer(w)
    w.clock.goto_time(w.clock.end(w.e0 + 1) + GRACE)
    m.settleThrough(w.a1, w.e0 + 1, {"from": a.keeper})
    assert lens.trailingUtilizationBps(w.a1, 2) == 0
    assert lens.gpuHoursPerMWh(w.a1, 2) == 0
    assert lens.annualizedNetPerShare(w.a1, 2) == 0
    with reverts_with(m, "EpochAlreadySettled", w.a1, w.e0):
        m.settle(w.a1, w.e0, {"from": a.keeper})
