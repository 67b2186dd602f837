"""The epoch aggregator on the shared DCGM sample and on recordings generated here, with each expected figure
worked out by hand (60 s epochs, 15 s scrapes: an interval is healthy when it lasts at most 30 s).

Energy figures: 1 Wh = 3_600_000 mJ; a GPU drawing 700 W for 15 s uses 10_500_000 mJ.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from oracle.aggregate import AggregationConfig, aggregate
from oracle.assets import load_asset_map
from oracle.errors import ConfigError
from oracle.models import (
    AggregationResult,
    AssetEpochStats,
    AssetMap,
    CurtailmentWindow,
    Report,
)
from oracle.sources.recording import RecordingSource

from oracle_testkit import EPOCH, GENESIS, GPU_A1, GPU_A2, GPU_B1, Recording

Writer = Callable[[Recording], Path]

E = 10_500_000
"""mJ a 700 W GPU uses in one 15 s scrape interval."""


def run(path: Path, assets: AssetMap, **kwargs: Any) -> AggregationResult:
    return aggregate(RecordingSource(path).fetch(), assets, **kwargs)


def stats(result: AggregationResult, asset_id: int, epoch: int) -> AssetEpochStats:
    for aggregate_ in result.epochs:
        if aggregate_.epoch == epoch:
            for entry in aggregate_.assets:
                if entry.report.asset_id == asset_id:
                    return entry
    raise LookupError(f"no report for asset {asset_id} epoch {epoch}")


def report(result: AggregationResult, asset_id: int, epoch: int) -> Report:
    return stats(result, asset_id, epoch).report


def steady(rec: Recording, uuid: str, times: Sequence[float], *, start_energy: int = 10**9, util: float = 50) -> None:
    """Scrapes of ``uuid`` at ``times``, drawing E mJ per 15 s."""
    for t in times:
        rec.scrape(uuid, t, energy=start_energy + int(E * t / 15), util=util)


QUARTER_MINUTES = [0, 15, 30, 45, 60]


# --- the shared sample -----------------------------------------------------------------------------


def test_sample_recording_aggregates_to_expected_reports(sample_paths: tuple[Path, Path, Path]) -> None:
    recording, assets_file, expected_file = sample_paths
    expected = json.loads(expected_file.read_text())

    result = aggregate(RecordingSource(recording).fetch(), load_asset_map(assets_file))

    got = [r.model_dump() for r in result.reports()]
    want = [{**r, "curtailedGpuSeconds": 0} for r in expected["reports"]]
    assert got == sorted(want, key=lambda r: (r["assetId"], r["epoch"]))
    assert result.readings_total == 22_608
    assert result.readings_accepted == 22_608
    assert result.rejections == []


def test_sample_recording_counters_explain_the_reports(sample_paths: tuple[Path, Path, Path]) -> None:
    recording, assets_file, _ = sample_paths
    result = aggregate(RecordingSource(recording).fetch(), load_asset_map(assets_file))
    # Asset 1, epoch 0: the exporter was unreachable for 150 s, so one 165 s interval per GPU is a gap:
    # 8 GPUs x 165 s = 1320 s unhealthy, 8 x 3600 - 1320 = 27480 s delivered. GPU 5's driver reload is a reset.
    h100_first = stats(result, 1, 0)
    assert (h100_first.delivered_ms, h100_first.unhealthy_ms, h100_first.counter_resets) == (27_480_000, 1_320_000, 1)
    # Asset 1, epoch 1: GPU 3 reports XID 79 for ten minutes: 600 s unhealthy.
    assert stats(result, 1, 1).unhealthy_ms == 600_000
    # Asset 2, epoch 1: GPU 1 vanishes for ten minutes: one 615 s gap.
    assert stats(result, 2, 1).unhealthy_ms == 615_000


# --- energy ------------------------------------------------------------------------------------------


def test_energy_counts_reset_as_new_value(recording: Recording, asset_map: AssetMap, write_recording: Writer) -> None:
    # Counter: 100e6, 110.5e6, 121e6, then the driver reloads: 2e6, 12.5e6.
    # Energy = 10.5e6 + 10.5e6 + 2e6 (the new value counts since the reset) + 10.5e6 = 33_500_000 mJ
    # = 9.30 Wh -> 9.
    for t, energy in zip(QUARTER_MINUTES, [100_000_000, 110_500_000, 121_000_000, 2_000_000, 12_500_000], strict=True):
        recording.scrape(GPU_A1, t, energy=energy, util=80)
    result = run(write_recording(recording), asset_map)

    a1 = stats(result, 1, 0)
    assert a1.energy_mj == 33_500_000
    assert a1.counter_resets == 1
    assert a1.report == Report(
        asset_id=1, epoch=0, gpu_seconds=60, curtailed_gpu_seconds=0, utilization_bps=8000, energy_wh=9
    )


def test_energy_across_a_gap_still_counts(recording: Recording, asset_map: AssetMap, write_recording: Writer) -> None:
    # Scrapes at 0, 15 and 60: the exporter was unreachable between 15 and 60 (45 s > 30 s: a gap).
    # Energy = (110.5e6 - 100e6) + (142e6 - 110.5e6) = 42_000_000 mJ = 11.67 Wh -> 11, although only 15 s
    # are healthy.
    for t, energy in ((0, 100_000_000), (15, 110_500_000), (60, 142_000_000)):
        recording.scrape(GPU_A1, t, energy=energy, util=90)
    result = run(write_recording(recording), asset_map)

    a1 = stats(result, 1, 0)
    assert (a1.delivered_ms, a1.unhealthy_ms, a1.energy_mj) == (15_000, 45_000, 42_000_000)
    assert a1.report == Report(
        asset_id=1, epoch=0, gpu_seconds=15, curtailed_gpu_seconds=0, utilization_bps=9000, energy_wh=11
    )


# --- health ------------------------------------------------------------------------------------------


def test_interval_of_exactly_twice_the_scrape_interval_is_healthy(
    recording: Recording, asset_map: AssetMap, write_recording: Writer
) -> None:
    # Scrapes at 0, 30, 60: two 30 s intervals, each exactly 2 x 15 s: all 60 s healthy.
    steady(recording, GPU_A1, [0, 30, 60])
    assert report(run(write_recording(recording), asset_map), 1, 0).gpu_seconds == 60


def test_interval_longer_than_twice_the_scrape_interval_is_a_gap(
    recording: Recording, asset_map: AssetMap, write_recording: Writer
) -> None:
    # Scrapes at 0, 30.001, 60: (0, 30.001] is 1 ms too long -> unhealthy; (30.001, 60] = 29.999 s healthy.
    steady(recording, GPU_A1, [0, 30.001, 60])
    a1 = stats(run(write_recording(recording), asset_map), 1, 0)
    assert (a1.delivered_ms, a1.unhealthy_ms) == (29_999, 30_001)
    assert a1.report.gpu_seconds == 29  # 29_999 ms rounded down


def test_scrape_interval_is_configurable(recording: Recording, asset_map: AssetMap, write_recording: Writer) -> None:
    # Scrapes at 0, 15, 45, 60: intervals of 15, 30 and 15 s. With the default 15 s scrape interval all are
    # healthy (30 <= 2 x 15): 60 s. With a 10 s scrape interval the 30 s one exceeds 2 x 10 s: 30 s healthy.
    steady(recording, GPU_A1, [0, 15, 45, 60])
    path = write_recording(recording)
    assert report(run(path, asset_map), 1, 0).gpu_seconds == 60
    assert report(run(path, asset_map, config=AggregationConfig.from_seconds("10")), 1, 0).gpu_seconds == 30


def test_xid_error_at_interval_end_makes_it_unhealthy(
    recording: Recording, asset_map: AssetMap, write_recording: Writer
) -> None:
    # XID 79 reported at 30 s: (15, 30] is unhealthy; (30, 45] ends with XID 0 again: healthy.
    # Delivered = 60 - 15 = 45 s; utilisation over healthy time only: (15 x 10% + 15 x 40% + 15 x 60%) / 45 s
    # = 36.67 % -> 3666 bps (the 99 % reported at 30 s is not in the mean).
    utils = [0, 10, 99, 40, 60]
    xids = [0, 0, 79, 0, 0]
    recording.series(GPU_A1, QUARTER_MINUTES, [10**9 + i * E for i in range(5)], utils, xids)
    a1 = stats(run(write_recording(recording), asset_map), 1, 0)
    assert (a1.delivered_ms, a1.unhealthy_ms) == (45_000, 15_000)
    assert a1.report.utilization_bps == 3666
    assert a1.report.energy_wh == 11  # 4 x 10.5e6 = 42e6 mJ: energy counts whatever the health


def test_missing_gpu_counts_no_time_for_the_asset(
    recording: Recording, asset_map: AssetMap, write_recording: Writer
) -> None:
    # Asset 1 has A1 and A2; only A1 reports. Asset 2 (B1) reports nothing at all but is still reported.
    steady(recording, GPU_A1, QUARTER_MINUTES, util=70)
    result = run(write_recording(recording), asset_map)
    assert report(result, 1, 0).gpu_seconds == 60  # one GPU x 60 s, not two
    assert report(result, 2, 0) == Report(
        asset_id=2, epoch=0, gpu_seconds=0, curtailed_gpu_seconds=0, utilization_bps=0, energy_wh=0
    )


def test_gpu_seconds_sum_over_the_assets_gpus(
    recording: Recording, asset_map: AssetMap, write_recording: Writer
) -> None:
    # A1 at 80 % and A2 at 40 % for 60 s each: 120 GPU-seconds, mean (80 + 40) / 2 = 60 % -> 6000 bps;
    # energy 2 x 4 x 10.5e6 = 84e6 mJ = 23.3 Wh -> 23.
    steady(recording, GPU_A1, QUARTER_MINUTES, util=80)
    steady(recording, GPU_A2, QUARTER_MINUTES, util=40)
    assert report(run(write_recording(recording), asset_map), 1, 0) == Report(
        asset_id=1, epoch=0, gpu_seconds=120, curtailed_gpu_seconds=0, utilization_bps=6000, energy_wh=23
    )


# --- epochs ------------------------------------------------------------------------------------------


def test_interval_straddling_an_epoch_boundary_is_split_pro_rata(
    recording: Recording, asset_map: AssetMap, write_recording: Writer
) -> None:
    # Scrapes every 15 s from 5 s to 125 s; each interval uses 10_000_000 mJ; utilisation at the end of each
    # interval: 10, 20, ..., 80 %.
    times = [5, 20, 35, 50, 65, 80, 95, 110, 125]
    energies = [10**9 + i * 10_000_000 for i in range(len(times))]
    utils = [0, 10, 20, 30, 40, 50, 60, 70, 80]
    recording.series(GPU_A1, times, energies, utils)
    result = run(write_recording(recording), asset_map)

    # Only epochs 0 [0, 60) and 1 [60, 120) are complete (the recording ends at 125 < 180).
    assert [e.epoch for e in result.epochs] == [0, 1]
    # Epoch 0: (5,20] (20,35] (35,50] whole = 45 s, plus 10 s of (50,65] = 55 s (0..5 s is before the first
    # sample). Energy: 3 x 10e6 + 10e6 x 10/15 rounded down = 30e6 + 6_666_666 = 36_666_666 mJ -> 10 Wh.
    # Utilisation: (15 x 10 + 15 x 20 + 15 x 30 + 10 x 40) / 55 = 1300 / 55 = 23.636 % -> 2363 bps.
    first = stats(result, 1, 0)
    assert (first.delivered_ms, first.energy_mj, first.intervals) == (55_000, 36_666_666, 4)
    assert first.report == Report(
        asset_id=1, epoch=0, gpu_seconds=55, curtailed_gpu_seconds=0, utilization_bps=2363, energy_wh=10
    )
    # Epoch 1: 5 s of (50,65] + (65,80] (80,95] (95,110] + 10 s of (110,125] = 60 s.
    # Energy: the rest of (50,65]: 10e6 - 6_666_666 = 3_333_334, + 30e6, + 10e6 x 10/15 rounded down
    # = 6_666_666 -> 40_000_000 mJ = 11.1 Wh -> 11.
    # Utilisation: (5 x 40 + 15 x 50 + 15 x 60 + 15 x 70 + 10 x 80) / 60 = 3700 / 60 = 61.67 % -> 6166 bps.
    second = stats(result, 1, 1)
    assert (second.delivered_ms, second.energy_mj, second.intervals) == (60_000, 40_000_000, 5)
    assert second.report == Report(
        asset_id=1, epoch=1, gpu_seconds=60, curtailed_gpu_seconds=0, utilization_bps=6166, energy_wh=11
    )


def test_only_complete_epochs_are_reported(recording: Recording, asset_map: AssetMap, write_recording: Writer) -> None:
    # The recording ends at 90 s: epoch 0 [0, 60) is complete, epoch 1 [60, 120) is not.
    steady(recording, GPU_A1, [0, 15, 30, 45, 60, 75, 90])
    result = run(write_recording(recording), asset_map)
    assert [(r.asset_id, r.epoch) for r in result.reports()] == [(1, 0), (2, 0)]


def test_nothing_is_reported_before_the_first_epoch_ends(
    recording: Recording, asset_map: AssetMap, write_recording: Writer
) -> None:
    steady(recording, GPU_A1, [0, 15, 30, 45])
    assert run(write_recording(recording), asset_map).reports() == []


def test_meter_outage_epoch_is_reported_as_zero_healthy_time(
    recording: Recording, asset_map: AssetMap, write_recording: Writer
) -> None:
    # Scrapes at 0..45 and 135..180, nothing in between: epoch 1 [60, 120) saw no sample at all.
    # The gap interval (45, 135] lasts 90 s and used 9_000_000 mJ; pro rata: 15 s in epoch 0 -> 1_500_000,
    # 60 s in epoch 1 -> 6_000_000, 15 s in epoch 2 -> 1_500_000.
    for t, energy in ((0, 0), (15, 1_000_000), (30, 2_000_000), (45, 3_000_000)):
        recording.scrape(GPU_A1, t, energy=10**9 + energy)
    for t, energy in ((135, 12_000_000), (150, 13_000_000), (165, 14_000_000), (180, 15_000_000)):
        recording.scrape(GPU_A1, t, energy=10**9 + energy)
    result = run(write_recording(recording), asset_map)

    assert [e.epoch for e in result.epochs] == [0, 1, 2]
    outage = stats(result, 1, 1)
    assert (outage.delivered_ms, outage.unhealthy_ms, outage.energy_mj, outage.intervals) == (0, 60_000, 6_000_000, 1)
    assert outage.report == Report(
        asset_id=1, epoch=1, gpu_seconds=0, curtailed_gpu_seconds=0, utilization_bps=0, energy_wh=1
    )
    # Epoch 0: 45 s healthy + 15 s of the gap; energy 3 x 1e6 + 1.5e6 = 4.5e6 mJ -> 1 Wh.
    assert (stats(result, 1, 0).delivered_ms, stats(result, 1, 0).energy_mj) == (45_000, 4_500_000)
    # Epoch 2 [120, 180): 15 s of the gap + 45 s healthy; energy 1.5e6 + 3e6 = 4.5e6 mJ.
    assert (stats(result, 1, 2).delivered_ms, stats(result, 1, 2).energy_mj) == (45_000, 4_500_000)


def test_first_epoch_argument_skips_earlier_epochs(
    recording: Recording, asset_map: AssetMap, write_recording: Writer
) -> None:
    steady(recording, GPU_A1, [15 * i for i in range(13)])  # 0..180 s: epochs 0, 1, 2 complete
    result = run(write_recording(recording), asset_map, first_epoch=2)
    assert [(r.asset_id, r.epoch) for r in result.reports()] == [(1, 2), (2, 2)]
    assert report(result, 1, 2).gpu_seconds == 60


def test_covered_until_override_limits_complete_epochs(
    recording: Recording, asset_map: AssetMap, write_recording: Writer
) -> None:
    steady(recording, GPU_A1, [15 * i for i in range(13)])
    result = run(write_recording(recording), asset_map, covered_until_ms=(GENESIS + 2 * EPOCH) * 1000)
    assert [e.epoch for e in result.epochs] == [0, 1]


# --- curtailment -------------------------------------------------------------------------------------


def test_idle_intervals_inside_a_curtailment_window_count_as_curtailed(
    recording: Recording, asset_map: AssetMap, write_recording: Writer
) -> None:
    # Utilisation at 15, 30, 45, 60 s: 100, 0, 0, 0 %. Window [15, 45) covers (15,30] and (30,45] exactly.
    # Curtailed: 30 s. Delivered: (0,15] at 100 % and (45,60] at 0 % (idle outside the window is delivered
    # idle time) = 30 s; utilisation (15 x 100 + 15 x 0) / 30 = 50 % -> 5000 bps.
    recording.series(GPU_A1, QUARTER_MINUTES, [10**9 + i * E for i in range(5)], [0, 100, 0, 0, 0])
    window = CurtailmentWindow(asset_id=1, start=GENESIS + 15, end=GENESIS + 45)
    a1 = stats(run(write_recording(recording), asset_map, curtailments=[window]), 1, 0)
    assert (a1.delivered_ms, a1.curtailed_ms) == (30_000, 30_000)
    assert a1.report == Report(
        asset_id=1, epoch=0, gpu_seconds=30, curtailed_gpu_seconds=30, utilization_bps=5000, energy_wh=11
    )


def test_curtailment_window_edge_splits_an_interval_pro_rata(
    recording: Recording, asset_map: AssetMap, write_recording: Writer
) -> None:
    # Same utilisation; window [20, 45) covers only 10 s of (15,30]: curtailed 10 + 15 = 25 s.
    # Delivered: 15 s at 100 % + 5 s (15..20) at 0 % + 15 s (45..60) at 0 % = 35 s;
    # utilisation 1500 / 35 = 42.857 % -> 4285 bps.
    recording.series(GPU_A1, QUARTER_MINUTES, [10**9 + i * E for i in range(5)], [0, 100, 0, 0, 0])
    window = CurtailmentWindow(asset_id=1, start=GENESIS + 20, end=GENESIS + 45)
    a1 = stats(run(write_recording(recording), asset_map, curtailments=[window]), 1, 0)
    assert (a1.delivered_ms, a1.curtailed_ms) == (35_000, 25_000)
    assert (a1.report.gpu_seconds, a1.report.curtailed_gpu_seconds, a1.report.utilization_bps) == (35, 25, 4285)


def test_curtailment_ignores_busy_and_unhealthy_intervals(
    recording: Recording, asset_map: AssetMap, write_recording: Writer
) -> None:
    # Window [0, 60) over the whole epoch. Utilisation 30 % at 15 s (busy: delivered), 0 % with XID 79 at
    # 30 s (unhealthy: neither delivered nor curtailed), 0 % at 45 and 60 s (curtailed: 30 s).
    recording.series(GPU_A1, QUARTER_MINUTES, [10**9 + i * E for i in range(5)], [0, 30, 0, 0, 0], [0, 0, 79, 0, 0])
    window = CurtailmentWindow(asset_id=1, start=GENESIS, end=GENESIS + 60)
    a1 = stats(run(write_recording(recording), asset_map, curtailments=[window]), 1, 0)
    assert (a1.delivered_ms, a1.curtailed_ms, a1.unhealthy_ms) == (15_000, 30_000, 15_000)
    assert a1.report.utilization_bps == 3000


def test_curtailment_applies_only_to_its_asset_and_overlapping_windows_count_once(
    recording: Recording, asset_map: AssetMap, write_recording: Writer
) -> None:
    # Both A1 (asset 1) and B1 (asset 2) idle all epoch; two overlapping windows for asset 1 cover [0, 40):
    # A1: 40 s curtailed, 20 s delivered idle. B1 has no window: 60 s delivered idle. A window for asset 9
    # (not in the map) is ignored.
    steady(recording, GPU_A1, QUARTER_MINUTES, util=0)
    steady(recording, GPU_B1, QUARTER_MINUTES, util=0)
    windows = [
        CurtailmentWindow(asset_id=1, start=GENESIS, end=GENESIS + 30),
        CurtailmentWindow(asset_id=1, start=GENESIS + 10, end=GENESIS + 40),
        CurtailmentWindow(asset_id=9, start=GENESIS, end=GENESIS + 60),
    ]
    result = run(write_recording(recording), asset_map, curtailments=windows)
    assert (stats(result, 1, 0).delivered_ms, stats(result, 1, 0).curtailed_ms) == (20_000, 40_000)
    assert (stats(result, 2, 0).delivered_ms, stats(result, 2, 0).curtailed_ms) == (60_000, 0)


def test_fully_curtailed_epoch_reports_zero_utilization(
    recording: Recording, asset_map: AssetMap, write_recording: Writer
) -> None:
    steady(recording, GPU_A1, QUARTER_MINUTES, util=0)
    window = CurtailmentWindow(asset_id=1, start=GENESIS - 100, end=GENESIS + 100)
    assert report(run(write_recording(recording), asset_map, curtailments=[window]), 1, 0) == Report(
        asset_id=1, epoch=0, gpu_seconds=0, curtailed_gpu_seconds=60, utilization_bps=0, energy_wh=11
    )


# --- configuration -----------------------------------------------------------------------------------


@pytest.mark.parametrize("seconds", ["0", "-15", "abc", "0.0001", "nan", "inf"])
def test_invalid_scrape_interval_raises_config_error(seconds: str) -> None:
    with pytest.raises(ConfigError):
        AggregationConfig.from_seconds(seconds)


def test_scrape_interval_in_seconds_is_exact_to_the_millisecond() -> None:
    assert AggregationConfig.from_seconds("7.5").scrape_interval_ms == 7_500
    assert AggregationConfig.from_seconds(15).max_healthy_interval_ms == 30_000


def test_text_path_in_small_chunks_matches_one_chunk(sample_paths: tuple[Path, Path, Path]) -> None:
    recording, assets_file, _ = sample_paths
    batch = RecordingSource(recording).fetch()
    assets = load_asset_map(assets_file)
    whole = aggregate(batch, assets)
    chunked = aggregate(batch, assets, config=AggregationConfig(chunk_scrapes=37))
    assert chunked.epochs == whole.epochs
