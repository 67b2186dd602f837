"""``EpochAggregator.gpus_seen`` (the start-up check's "which GPUs have a series"): a fleet larger than
``chunk_gpus`` is read in groups of whole assets, with the same answer as one read of the whole fleet."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from oracle.aggregate import AggregationConfig
from oracle.daemon import EpochAggregator
from oracle.daemon.epochs import gpus_seen
from oracle.models import AssetMap
from oracle.sources.base import MetricBatch
from oracle.sources.simulator import FleetSimulator, make_asset_map

GENESIS = 1_760_000_000
EPOCH = 3_600
SCRAPE_MS = 15_000
WINDOW = ((GENESIS + EPOCH) * 1000 - 600_000, (GENESIS + EPOCH) * 1000 + SCRAPE_MS)


class CountingSimulator(FleetSimulator):
    """The simulator, recording how many GPUs each ``fetch_rows`` read asked for."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.reads: list[int] = []

    def fetch_rows(self, rows: npt.NDArray[np.int64] | slice, start_ms: int, end_ms: int) -> MetricBatch:
        self.reads.append(len(np.arange(len(self.uuids))[rows]))
        return super().fetch_rows(rows, start_ms, end_ms)


def _fleet(assets: int) -> AssetMap:
    return make_asset_map(seed=3, genesis=GENESIS, epoch_length=EPOCH,
                          gpus_per_asset=dict.fromkeys(range(1, assets + 1), 8))


def _simulator(assets: AssetMap) -> CountingSimulator:
    return CountingSimulator(assets, start_s=GENESIS - 600, end_s=GENESIS + 2 * EPOCH, scrape_interval_ms=SCRAPE_MS,
                             seed=3, power_w=dict.fromkeys(assets.assets, 700))


def _aggregator(source: FleetSimulator, assets: AssetMap, chunk_gpus: int) -> EpochAggregator:
    return EpochAggregator(source, assets, config=AggregationConfig(scrape_interval_ms=SCRAPE_MS),
                           lookback_ms=600_000, grace_ms=SCRAPE_MS, chunk_gpus=chunk_gpus)


def test_gpus_seen_reads_a_large_fleet_in_groups_of_whole_assets_with_the_same_answer() -> None:
    assets = _fleet(6)
    source = _simulator(assets)
    whole = gpus_seen(source.fetch(*WINDOW))
    seen = _aggregator(source, assets, chunk_gpus=16).gpus_seen(*WINDOW)
    assert seen == whole
    assert len(seen) == 48
    assert source.reads == [16, 16, 16]


def test_gpus_seen_reads_a_fleet_within_the_chunk_at_once() -> None:
    assets = _fleet(2)
    source = _simulator(assets)
    assert _aggregator(source, assets, chunk_gpus=16).gpus_seen(*WINDOW) == set(source.uuids)
    assert source.reads == []  # one plain fetch, no grouped reads


def test_gpus_seen_leaves_out_gpus_the_source_does_not_know() -> None:
    known = _fleet(3)
    source = _simulator(known)
    document = known.model_dump(mode="json", by_alias=True)
    document["assets"]["9"] = {"hostname": "ghost", "gpus": [f"GPU-ghost-{i}" for i in range(8)]}
    wider = AssetMap.model_validate(document)
    seen = _aggregator(source, wider, chunk_gpus=8).gpus_seen(*WINDOW)
    assert seen == set(source.uuids)
    assert not any(uuid.startswith("GPU-ghost") for uuid in seen)
    assert source.reads == [8, 8, 8]
