"""The columnar fast path (:func:`aggregate_grid`, GPUs x scrapes arrays) and differential tests: the grid
path, the text path and a plain-Python reference aggregator must agree exactly on random fleets."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oracle.aggregate import AggregationConfig, aggregate, aggregate_grid
from oracle.assets import load_asset_map
from oracle.models import (
    AggregationResult,
    AssetMap,
    CurtailmentWindow,
    RejectReason,
    Report,
)
from oracle.sources.base import Metric, ReadingColumns, ScrapeGrid
from oracle.sources.recording import RecordingSource, parse_exposition

from oracle_testkit import (
    GENESIS,
    GPU_A1,
    GPU_A2,
    GPU_B1,
    GPU_STRAY,
    Recording,
    RefScrape,
    reference_aggregate,
)

E = 10_500_000


def make_grid(uuids: list[str], series: dict[str, list[RefScrape]], *, power: float = 300.0) -> ScrapeGrid:
    """A scrape grid from per-GPU scrape lists (rows padded, absent slots marked in ``present``)."""
    width = max((len(s) for s in series.values()), default=0)
    shape = (len(uuids), width)
    ts = np.zeros(shape, np.int64)
    util = np.zeros(shape, np.float64)
    energy = np.zeros(shape, np.int64)
    xid = np.zeros(shape, np.int64)
    present = np.zeros(shape, np.bool_)
    for row, uuid in enumerate(uuids):
        for j, scrape in enumerate(series.get(uuid, [])):
            ts[row, j], util[row, j], energy[row, j], xid[row, j] = scrape.t_ms, scrape.util, scrape.energy, scrape.xid
            present[row, j] = True
    return ScrapeGrid(
        uuids=uuids,
        ts_ms=ts,
        util_pct=util,
        power_w=np.full(shape, power),
        energy_mj=energy,
        xid=xid,
        present=present,
    )


def sample_as_grid(columns: ReadingColumns) -> ScrapeGrid:
    """Pivot the parsed sample recording into a grid with plain Python (independent of the aggregator)."""
    per_gpu: dict[str, dict[int, dict[int, float | int]]] = {}
    for i in range(len(columns)):
        labels = columns.series_labels[int(columns.series_id[i])]
        metric = int(columns.series_metric[int(columns.series_id[i])])
        value = int(columns.energy_mj[i]) if metric == Metric.TOTAL_ENERGY else float(columns.value[i])
        per_gpu.setdefault(labels["UUID"], {}).setdefault(int(columns.ts_ms[i]), {})[metric] = value
    series = {
        uuid: [
            RefScrape(t, int(m[Metric.GPU_UTIL]), int(m[Metric.TOTAL_ENERGY]), int(m[Metric.XID_ERRORS]))
            for t, m in sorted(scrapes.items())
        ]
        for uuid, scrapes in per_gpu.items()
    }
    return make_grid(sorted(series), series)


def steady(times_s: Sequence[float], *, util: int = 50, xid_at: tuple[float, ...] = ()) -> list[RefScrape]:
    return [
        RefScrape(int((GENESIS + t) * 1000), util, 10**9 + int(E * t / 15), 79 if t in xid_at else 0) for t in times_s
    ]


QUARTER_MINUTES = [0, 15, 30, 45, 60]


def test_sample_as_a_grid_aggregates_to_expected_reports(sample_paths: tuple[Path, Path, Path]) -> None:
    recording, assets_file, expected_file = sample_paths
    columns = RecordingSource(recording).fetch().data
    assert isinstance(columns, ReadingColumns)
    result = aggregate_grid(sample_as_grid(columns), load_asset_map(assets_file))
    expected = json.loads(expected_file.read_text())["reports"]
    assert [r.model_dump() for r in result.reports()] == sorted(
        ({**r, "curtailedGpuSeconds": 0} for r in expected), key=lambda r: (r["assetId"], r["epoch"])
    )


def test_grid_reports_healthy_time_gaps_and_xid_errors(asset_map: AssetMap) -> None:
    # A1 steady at 0..60 with XID 79 at 30 s -> 45 s; A2 scraped at 0, 15, 60 -> 15 s (45 s gap);
    # B1 steady -> 60 s. Energy: A1 4 x E, A2 4 x E across the gap = 84e6 mJ -> 23 Wh.
    series = {
        GPU_A1: steady(QUARTER_MINUTES, xid_at=(30,)),
        GPU_A2: steady([0, 15, 60]),
        GPU_B1: steady(QUARTER_MINUTES, util=80),
    }
    result = aggregate_grid(make_grid([GPU_A1, GPU_A2, GPU_B1], series), asset_map)
    assert result.reports() == [
        Report(asset_id=1, epoch=0, gpu_seconds=60, curtailed_gpu_seconds=0, utilization_bps=5000, energy_wh=23),
        Report(asset_id=2, epoch=0, gpu_seconds=60, curtailed_gpu_seconds=0, utilization_bps=8000, energy_wh=11),
    ]
    assert result.epochs[0].assets[0].unhealthy_ms == 15_000 + 45_000


def test_grid_rejects_invalid_values_unknown_gpus_and_disorder(asset_map: AssetMap) -> None:
    series = {GPU_A1: steady(QUARTER_MINUTES), GPU_B1: steady(QUARTER_MINUTES), GPU_STRAY: steady([0, 15])}
    grid = make_grid([GPU_A1, GPU_B1, GPU_STRAY], series)
    grid.util_pct[0, 2] = np.nan  # A1 at 30 s: NaN utilisation
    grid.energy_mj[1, 1] = -1  # B1 at 15 s: negative energy
    grid.power_w[1, 3] = np.inf  # B1 at 45 s: infinite power
    grid.ts_ms[0, 4] = grid.ts_ms[0, 3]  # A1's last scrape repeats the time of the one before
    result = aggregate_grid(grid, asset_map)

    assert result.rejected_by_reason == {
        RejectReason.NOT_FINITE: 2,
        RejectReason.NEGATIVE: 1,
        RejectReason.INCOMPLETE_SCRAPE: 9,
        RejectReason.UNKNOWN_GPU: 8,
        RejectReason.DUPLICATE_TIMESTAMP: 4,
    }
    assert result.readings_total == result.readings_accepted + result.readings_rejected == 4 * 12
    nan = next(r for r in result.rejections if r.reason is RejectReason.NOT_FINITE and r.labels["UUID"] == GPU_A1)
    assert (nan.labels["__name__"], nan.value, nan.timestamp_ms) == (
        "DCGM_FI_DEV_GPU_UTIL",
        "nan",
        (GENESIS + 30) * 1000,
    )
    # A1 keeps 0, 15, 45: (0,15] + (15,45] = 45 s; B1 keeps 0, 30, 60: two 30 s intervals = 60 s.
    assert [r.gpu_seconds for r in result.reports()] == [45, 60]


def test_grid_out_of_order_scrape_is_rejected(asset_map: AssetMap) -> None:
    scrapes = steady([0, 15, 30, 45, 60])
    scrapes[2] = RefScrape(scrapes[0].t_ms + 5_000, 50, scrapes[2].energy, 0)  # after 15 s comes a 5 s time
    result = aggregate_grid(make_grid([GPU_A1], {GPU_A1: scrapes}), asset_map)
    assert result.rejected_by_reason == {RejectReason.OUT_OF_ORDER: 4}


def test_scrape_grid_rejects_inconsistent_shapes() -> None:
    grid = make_grid([GPU_A1], {GPU_A1: steady([0, 15])})
    with pytest.raises(ValueError, match="util_pct has shape"):
        ScrapeGrid(
            uuids=[GPU_A1],
            ts_ms=grid.ts_ms,
            util_pct=grid.util_pct[:, :1],
            power_w=grid.power_w,
            energy_mj=grid.energy_mj,
            xid=grid.xid,
        )
    with pytest.raises(ValueError, match="energy_mj has dtype"):
        ScrapeGrid(
            uuids=[GPU_A1],
            ts_ms=grid.ts_ms,
            util_pct=grid.util_pct,
            power_w=grid.power_w,
            energy_mj=grid.energy_mj.astype(np.float64),
            xid=grid.xid,
        )
    with pytest.raises(ValueError, match="unique"):
        ScrapeGrid(
            uuids=[GPU_A1, GPU_A1],
            ts_ms=np.zeros((2, 1), np.int64),
            util_pct=np.zeros((2, 1)),
            power_w=np.zeros((2, 1)),
            energy_mj=np.zeros((2, 1), np.int64),
            xid=np.zeros((2, 1), np.int64),
        )


def test_small_chunks_give_the_same_result_as_one_chunk(asset_map: AssetMap) -> None:
    series = {
        GPU_A1: steady([7.5 * i for i in range(40)]),
        GPU_A2: steady([15 * i + 3 for i in range(20)]),
        GPU_B1: steady([0, 100, 130, 200]),
    }
    grid = make_grid([GPU_A1, GPU_A2, GPU_B1], series)
    whole = aggregate_grid(grid, asset_map)
    chunked = aggregate_grid(grid, asset_map, config=AggregationConfig(chunk_scrapes=7))
    assert chunked.epochs == whole.epochs


# --- differential: grid path == text path == plain-Python reference -------------------------------------

_GPUS = [GPU_A1, GPU_A2, GPU_B1]


@st.composite
def fleets(draw: st.DrawFn) -> dict[str, list[RefScrape]]:
    """1-3 GPUs, each with up to 25 scrapes: steps of 1 ms to 150 s (most near 15 s), counters that grow
    or reset, utilisation 0-100 %, occasional XID errors."""
    fleet: dict[str, list[RefScrape]] = {}
    for uuid in draw(st.lists(st.sampled_from(_GPUS), min_size=1, max_size=3, unique=True)):
        t = (GENESIS + draw(st.integers(0, 90))) * 1000 + draw(st.integers(0, 999))
        energy = draw(st.integers(0, 10**12))
        scrapes: list[RefScrape] = []
        for _ in range(draw(st.integers(1, 25))):
            scrapes.append(RefScrape(t, draw(st.integers(0, 100)), energy, draw(st.sampled_from([0, 0, 0, 0, 79, 48]))))
            t += draw(st.one_of(st.integers(14_000, 16_000), st.integers(1, 150_000)))
            energy = draw(st.one_of(st.integers(energy, energy + 10**8), st.integers(0, 10**7)))
        fleet[uuid] = scrapes
    return fleet


windows_strategy = st.lists(
    st.tuples(st.sampled_from([1, 2]), st.integers(0, 400), st.integers(1, 200)).map(
        lambda w: (w[0], GENESIS + w[1], GENESIS + w[1] + w[2])
    ),
    max_size=3,
)


def _as_text(fleet: dict[str, list[RefScrape]]) -> str:
    rec = Recording()
    for uuid, scrapes in fleet.items():
        for s in scrapes:
            rec.scrape(uuid, (s.t_ms - GENESIS * 1000) / 1000, util=s.util, energy=s.energy, xid=s.xid)
    return rec.text()


def assert_matches_reference(
    result: AggregationResult, reference: dict[tuple[int, int], tuple[int, int, int, int, int]]
) -> None:
    """Every (asset, epoch) of the reference, with the same exact counters and the figures derived from them."""
    got = {(stats.report.asset_id, epoch.epoch): stats for epoch in result.epochs for stats in epoch.assets}
    assert set(got) == set(reference)
    for key, (delivered, curtailed, util_num, energy, unhealthy) in reference.items():
        stats = got[key]
        assert (stats.delivered_ms, stats.curtailed_ms, stats.energy_mj, stats.unhealthy_ms) == (
            delivered,
            curtailed,
            energy,
            unhealthy,
        ), key
        gpu_seconds = delivered // 1000
        assert stats.report.gpu_seconds == gpu_seconds
        assert stats.report.curtailed_gpu_seconds == curtailed // 1000
        assert stats.report.utilization_bps == (util_num // delivered if gpu_seconds else 0)
        assert stats.report.energy_wh == energy // 3_600_000


def two_assets() -> AssetMap:
    return AssetMap.model_validate(
        {
            "genesis": GENESIS,
            "epochLength": 60,
            "assets": {
                "1": {"hostname": "a", "gpus": [GPU_A1, GPU_A2]},
                "2": {"hostname": "b", "gpus": [GPU_B1]},
            },
        }
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fleet=fleets(), windows=windows_strategy)
def test_grid_text_and_reference_aggregations_agree(
    fleet: dict[str, list[RefScrape]], windows: list[tuple[int, int, int]]
) -> None:
    assets = two_assets()
    curtailments = [CurtailmentWindow(asset_id=a, start=s, end=e) for a, s, e in windows]
    owners = assets.gpu_owners()
    reference = reference_aggregate(
        fleet, {u: owners[u] for u in _GPUS}, genesis_s=GENESIS, epoch_s=60, scrape_ms=15_000, windows=windows
    )
    grid_result = aggregate_grid(make_grid(list(fleet), fleet), assets, curtailments=curtailments)
    text_result = aggregate(parse_exposition(_as_text(fleet)), assets, curtailments=curtailments)

    assert text_result.epochs == grid_result.epochs
    assert text_result.rejected_by_reason == grid_result.rejected_by_reason == {}
    assert_matches_reference(grid_result, reference)


def test_grid_text_and_reference_agree_on_a_concrete_fleet() -> None:
    """The concrete twin of the property above: a reset, a gap across two boundaries, an XID, a window."""
    t0 = GENESIS * 1000
    fleet = {
        GPU_A1: [
            RefScrape(t0 + 10_000, 40, 5_000_000, 0),
            RefScrape(t0 + 25_000, 0, 15_000_000, 0),
            RefScrape(t0 + 40_000, 0, 1_000_000, 0),  # reset
            RefScrape(t0 + 160_000, 70, 900_000_000, 0),  # 120 s gap across 60 s and 120 s
            RefScrape(t0 + 175_000, 80, 910_000_000, 79),
            RefScrape(t0 + 190_000, 90, 920_000_000, 0),
        ],
        GPU_B1: [RefScrape(t0 + k * 15_000, 100, k * 7_000_000, 0) for k in range(14)],
    }
    windows = [(1, GENESIS + 20, GENESIS + 35)]
    reference = reference_aggregate(
        fleet, {GPU_A1: 1, GPU_A2: 1, GPU_B1: 2}, genesis_s=GENESIS, epoch_s=60, scrape_ms=15_000, windows=windows
    )
    curtailments = [CurtailmentWindow(asset_id=1, start=GENESIS + 20, end=GENESIS + 35)]
    grid_result = aggregate_grid(make_grid(list(fleet), fleet), two_assets(), curtailments=curtailments)
    text_result = aggregate(parse_exposition(_as_text(fleet)), two_assets(), curtailments=curtailments)

    assert text_result.epochs == grid_result.epochs
    assert_matches_reference(grid_result, reference)
    # The recording ends at 195 s: epochs 0, 1 and 2 (ending at 180 s) are complete.
    assert [e.epoch for e in grid_result.epochs] == [0, 1, 2]
    # Epoch 0 of asset 1: (10,25] 15 s at 0 % with 5 s inside the window [20,35) -> 10 s delivered + 5 s
    # curtailed; (25,40] at 0 % with 10 s inside -> 5 + 10; then 20 s of the 120 s gap (40,160].
    # Energy: 10e6, the reset's new value 1e6, and 20/120 of 899e6 rounded down = 149_833_333
    # -> 160_833_333 mJ.
    a1 = grid_result.epochs[0].assets[0]
    assert (a1.delivered_ms, a1.curtailed_ms, a1.unhealthy_ms, a1.energy_mj) == (15_000, 15_000, 20_000, 160_833_333)
    # Epoch 1: 60 s of the gap, 60/120 of 899e6 = 449_500_000 mJ (cumulative: 599_333_333 - 149_833_333).
    a1 = grid_result.epochs[1].assets[0]
    assert (a1.delivered_ms, a1.unhealthy_ms, a1.energy_mj) == (0, 60_000, 449_500_000)
