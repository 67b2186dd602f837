"""The daemon's epoch pipeline without a chain: fixed per-epoch windows, readiness, fleet-scale chunks."""

from __future__ import annotations

from pathlib import Path

import pytest

from oracle.aggregate import AggregationConfig, aggregate
from oracle.daemon import EpochAggregator, crash_hook_from_env, source_coverage_ms
from oracle.errors import ConfigError
from oracle.sources.recording import RecordingSource
from oracle.sources.simulator import AssetWindow, CounterReset, FleetSimulator, GpuWindow, make_asset_map

G = 1_760_000_000
ASSETS = make_asset_map(seed=9, genesis=G, epoch_length=60, gpus_per_asset={1: 4, 2: 3, 3: 2})


def fleet(**events: object) -> FleetSimulator:
    return FleetSimulator(ASSETS, start_s=G - 600, end_s=G + 8 * 60 + 30, seed=9, **events)  # type: ignore[arg-type]


def aggregator(source: object, **kw: object) -> EpochAggregator:
    return EpochAggregator(source, ASSETS, config=AggregationConfig(), **kw)  # type: ignore[arg-type]


def test_each_epoch_is_computed_from_its_own_window_however_the_fetch_is_cut() -> None:
    source = fleet(outages=[AssetWindow(1, G + 70, G + 100)], resets=[CounterReset(ASSETS.assets[2].gpus[0], G + 200)])
    together = aggregator(source).compute(0, 7).reports()
    one_by_one = {}
    for epoch in range(8):
        one_by_one.update(aggregator(source).compute(epoch, epoch).reports())
    assert together == one_by_one
    assert len(together) == 3 * 8


def test_windows_agree_with_a_whole_file_aggregation_when_no_gap_straddles_an_epoch_end(tmp_path: Path) -> None:
    source = fleet(xid=[GpuWindow(ASSETS.assets[1].gpus[1], G + 130, G + 160)])
    path = source.write_openmetrics(tmp_path / "fleet.om")
    whole = {(r.asset_id, r.epoch): r for r in aggregate(RecordingSource(path).fetch(), ASSETS).reports()}
    windowed = aggregator(RecordingSource(path)).compute(0, 7).reports()
    assert windowed == {k: v for k, v in whole.items() if k[1] <= 7}


def test_a_gap_straddling_an_epoch_start_counts_its_energy_even_when_the_first_window_misses_it() -> None:
    source = fleet(outages=[AssetWindow(3, G + 170, G + 200)])  # scrapes 165 -> 210 span the start of epoch 3
    whole = aggregate(source.fetch(), ASSETS, config=AggregationConfig(), first_epoch=3)
    (expected,) = [s for e in whole.epochs if e.epoch == 3 for s in e.assets if s.report.asset_id == 3]
    with_lookback = aggregator(source).compute(3, 3).stats[(3, 3)]
    without = aggregator(source, lookback_ms=0).compute(3, 3).stats[(3, 3)]  # the window widens to the 165 s scrape
    assert with_lookback.energy_mj == without.energy_mj == expected.energy_mj
    assert with_lookback.energy_mj > 0


def test_an_epoch_is_ready_once_the_chain_time_and_the_source_passed_its_end_plus_grace() -> None:
    agg = aggregator(fleet())
    end_of_2 = G + 3 * 60
    assert agg.ready_through(end_of_2 - 1, coverage_ms=(end_of_2 + 100) * 1000) == 1
    assert agg.ready_through(end_of_2, coverage_ms=(end_of_2 + 100) * 1000) == 2
    assert agg.ready_through(end_of_2 + 100, coverage_ms=(end_of_2 + 14) * 1000) == 1  # grace not covered yet
    assert agg.ready_through(end_of_2 + 100, coverage_ms=(end_of_2 + 15) * 1000) == 2
    assert agg.ready_through(G + 30, coverage_ms=(G + 30) * 1000) is None
    assert agg.window_ms(2) == ((G + 120 - 600) * 1000, (G + 180 + 15) * 1000)


def test_a_recordings_coverage_is_its_last_reading(tmp_path: Path) -> None:
    path = fleet().write_openmetrics(tmp_path / "f.om")
    assert source_coverage_ms(RecordingSource(path)) == (G + 8 * 60 + 30) * 1000
    assert aggregator(RecordingSource(path)).ready_through(G + 10**6) == 7


def test_fleet_scale_chunks_of_whole_assets_give_the_same_reports() -> None:
    source = fleet(xid=[GpuWindow(ASSETS.assets[3].gpus[0], G + 30, G + 50)])
    whole = aggregator(source).compute(0, 3)
    chunked = aggregator(source, chunk_gpus=4).compute(0, 3)
    assert chunked.reports() == whole.reports()


def test_crash_points_only_fire_at_the_named_step(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WELLHEAD_TEST_CRASH_AFTER", raising=False)
    crash_hook_from_env()("signed")  # no variable: nothing happens
    monkeypatch.setenv("WELLHEAD_TEST_CRASH_AFTER", "submitted")
    killed = []
    monkeypatch.setattr("os.kill", lambda pid, sig: killed.append(sig))
    hook = crash_hook_from_env()
    hook("signed")
    assert killed == []
    hook("submitted")
    assert len(killed) == 1


def test_a_counted_crash_point_fires_at_its_nth_time_and_a_bad_count_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WELLHEAD_TEST_CRASH_AFTER", "submitted:3")
    killed = []
    monkeypatch.setattr("os.kill", lambda pid, sig: killed.append(sig))
    hook = crash_hook_from_env()
    for _ in range(2):
        hook("submitted")
        hook("signed")
    assert killed == []
    hook("submitted")
    assert len(killed) == 1
    monkeypatch.setenv("WELLHEAD_TEST_CRASH_AFTER", "submitted:zero")
    with pytest.raises(ConfigError, match="WELLHEAD_TEST_CRASH_AFTER=submitted:zero"):
        crash_hook_from_env()
