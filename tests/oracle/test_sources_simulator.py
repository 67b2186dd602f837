"""The deterministic simulated fleet: same seed, same readings, whatever the window or the process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from oracle.aggregate import aggregate
from oracle.models import RejectReason
from oracle.sources.base import Metric, MetricSource, ScrapeGrid
from oracle.sources.recording import RecordingSource
from oracle.sources.simulator import (
    AssetWindow,
    CounterReset,
    FleetSimulator,
    GpuWindow,
    Malformed,
    make_asset_map,
    simulated_uuid,
)
from oracle_testkit import REPO_ROOT

G = 1_760_000_000


@pytest.fixture
def assets():  # noqa: ANN201
    return make_asset_map(seed=3, genesis=G, epoch_length=60, gpus_per_asset={1: 3, 2: 2})


def sim(assets, **kw) -> FleetSimulator:  # noqa: ANN001
    return FleetSimulator(assets, start_s=G - 60, end_s=G + 600, seed=3, power_w={2: 350}, **kw)


def test_it_is_a_metric_source_delivering_scrape_grids(assets) -> None:  # noqa: ANN001
    source = sim(assets)
    assert isinstance(source, MetricSource)
    batch = source.fetch()
    assert isinstance(batch.data, ScrapeGrid)
    assert batch.data.n_gpus == 5 and batch.data.n_slots == 45
    assert (batch.covered_from_ms, batch.covered_until_ms) == ((G - 60) * 1000, (G + 600) * 1000)


def test_same_seed_same_readings_in_any_window(assets) -> None:  # noqa: ANN001
    a, b = sim(assets), sim(assets)
    whole = a.grid((G - 60) * 1000, (G + 600) * 1000)
    part = b.grid(G * 1000, (G + 300) * 1000)
    cols = slice(4, 4 + part.n_slots)
    for name in ("ts_ms", "util_pct", "power_w", "energy_mj", "xid"):
        assert np.array_equal(getattr(whole, name)[:, cols], getattr(part, name)), name


def test_same_seed_same_readings_in_another_process(assets, tmp_path: Path) -> None:  # noqa: ANN001
    script = (
        "import json; from oracle.sources.simulator import FleetSimulator, make_asset_map\n"
        f"a = make_asset_map(seed=3, genesis={G}, epoch_length=60, gpus_per_asset={{1: 3, 2: 2}})\n"
        f"s = FleetSimulator(a, start_s={G - 60}, end_s={G + 600}, seed=3, power_w={{2: 350}})\n"
        f"g = s.grid({G * 1000}, {G * 1000 + 120_000})\n"
        "print(json.dumps(g.energy_mj.tolist()))"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    here = sim(assets).grid(G * 1000, G * 1000 + 120_000)
    assert json.loads(done.stdout) == here.energy_mj.tolist()


def test_another_seed_gives_other_readings(assets) -> None:  # noqa: ANN001
    other = FleetSimulator(assets, start_s=G - 60, end_s=G + 600, seed=4)
    assert not np.array_equal(sim(assets).fetch().data.util_pct, other.fetch().data.util_pct)  # type: ignore[union-attr]
    assert simulated_uuid(3, 1, 0) != simulated_uuid(4, 1, 0)


def test_energy_counter_grows_with_power_and_resets_near_zero(assets) -> None:  # noqa: ANN001
    gpu = assets.assets[1].gpus[0]
    grid = sim(assets, resets=[CounterReset(gpu, G + 300)]).fetch().data
    energy = grid.energy_mj[0]
    steps = np.diff(energy)
    reset_at = int(np.flatnonzero(grid.ts_ms[0] == (G + 300) * 1000)[0])
    assert (np.delete(steps, reset_at - 1) > 0).all()
    assert energy[reset_at] == 1_000  # restarted near zero
    # mJ drawn over a 15 s interval = mean power (W) x 15 s x 1000
    assert 15 * 1000 * 50 < steps[0] < 15 * 1000 * 700


def test_scheduled_outages_vanished_gpus_and_xid_windows(assets) -> None:  # noqa: ANN001
    a1, a2 = assets.assets[1].gpus, assets.assets[2].gpus
    grid = (
        sim(
            assets,
            outages=[AssetWindow(1, G + 60, G + 90)],
            vanished=[GpuWindow(a2[0], G + 120, G + 150)],
            xid=[GpuWindow(a1[1], G + 180, G + 195, code=48)],
        )
        .fetch()
        .data
    )
    t = grid.ts_ms[0]
    in_outage = (t >= (G + 60) * 1000) & (t < (G + 90) * 1000)
    assert not grid.present[:3, in_outage].any() and grid.present[3:, in_outage].all()  # type: ignore[index]
    assert not grid.present[3, (t >= (G + 120) * 1000) & (t < (G + 150) * 1000)].any()  # type: ignore[index]
    assert grid.xid[1, np.flatnonzero(t == (G + 180) * 1000)[0]] == 48
    assert int((grid.xid != 0).sum()) == 1


def test_the_text_it_writes_aggregates_exactly_like_its_grid(assets, tmp_path: Path) -> None:  # noqa: ANN001
    source = sim(
        assets, outages=[AssetWindow(1, G + 70, G + 100)], resets=[CounterReset(assets.assets[1].gpus[2], G + 200)]
    )
    from_grid = aggregate(source.fetch(), assets).reports()
    path = source.write_openmetrics(tmp_path / "fleet.om.gz")
    from_text = aggregate(RecordingSource(path).fetch(), assets).reports()
    assert from_grid == from_text
    assert len(from_grid) == 2 * 10


def test_malformed_readings_can_be_injected_into_the_text(assets, tmp_path: Path) -> None:  # noqa: ANN001
    a1 = assets.assets[1].gpus
    path = sim(assets).write_openmetrics(
        tmp_path / "bad.om",
        malformed=[
            Malformed("nan", a1[0], G + 30),
            Malformed("negative", a1[1], G + 30, Metric.POWER_USAGE),
            Malformed("duplicate", a1[2], G + 45, Metric.TOTAL_ENERGY),
            Malformed("out_of_order", a1[0], G + 90),
        ],
    )
    result = aggregate(RecordingSource(path).fetch(), assets)
    assert result.rejected_by_reason == {
        RejectReason.NOT_FINITE: 1,
        RejectReason.NEGATIVE: 1,
        RejectReason.DUPLICATE_TIMESTAMP: 1,
        RejectReason.OUT_OF_ORDER: 1,
        RejectReason.INCOMPLETE_SCRAPE: 6,
    }


def test_fetch_rows_serves_a_subset_for_fleet_scale_chunks(assets) -> None:  # noqa: ANN001
    source = sim(assets)
    part = source.fetch_rows(np.array([3, 4]), G * 1000, (G + 120) * 1000).data
    assert list(part.uuids) == assets.assets[2].gpus  # type: ignore[union-attr]
    whole = source.grid(G * 1000, (G + 120) * 1000)
    assert np.array_equal(part.energy_mj, whole.energy_mj[3:])  # type: ignore[union-attr]


def test_simulate_command_writes_an_asset_map_and_a_recording_that_aggregate(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "oracle",
            "simulate",
            "--gpus",
            "2,1",
            "--power",
            "700,350",
            "--seed",
            "5",
            "--genesis",
            str(G),
            "--epoch-length",
            "60",
            "--end",
            str(G + 190),
            "--assets-out",
            str(tmp_path / "a.json"),
            "--metrics-out",
            str(tmp_path / "m.om.gz"),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    aggregated = subprocess.run(
        [
            sys.executable,
            "-m",
            "oracle",
            "aggregate",
            "--metrics",
            str(tmp_path / "m.om.gz"),
            "--assets",
            str(tmp_path / "a.json"),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    lines = [json.loads(line) for line in aggregated.stdout.splitlines()]
    assert [(r["assetId"], r["epoch"], r["gpuSeconds"]) for r in lines] == [
        (1, 0, 120),
        (1, 1, 120),
        (1, 2, 120),
        (2, 0, 60),
        (2, 1, 60),
        (2, 2, 60),
    ]
