"""The aggregate stage's rules: which epochs are ready, and each epoch's report over its own fixed window.

An epoch is aggregated from the readings in ``[start - lookback, end + grace]`` and is *ready* once the chain's
time is past its end and the source covers its end plus the grace period. Fixed windows make the numbers
reproducible: the daemon catching up a day later, a co-signing peer (:mod:`oracle.cosign`) and an auditor all
compute an epoch from the same readings, however the fetches were cut.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from oracle.aggregate import AggregationConfig, aggregate
from oracle.cosign import NotReady
from oracle.models import AssetEpochStats, AssetMap, CurtailmentWindow, Rejection, Report
from oracle.sources.base import MetricBatch, MetricSource, ReadingColumns, ScrapeGrid

__all__ = ["EpochAggregator", "EpochResults", "source_coverage_ms"]


def source_coverage_ms(source: MetricSource) -> int | None:
    """The latest time (Unix ms) the source can vouch for: live sources say so (``covered_until_ms``); a
    recording's is its last reading (data-determined)."""
    covered = getattr(source, "covered_until_ms", None)
    if callable(covered):
        return covered()  # type: ignore[no-any-return]
    return source.fetch().covered_until_ms


@dataclass
class EpochResults:
    """What :meth:`EpochAggregator.compute` produced."""

    stats: dict[tuple[int, int], AssetEpochStats] = field(default_factory=dict)
    rejections: list[tuple[int | None, Rejection]] = field(default_factory=list)
    readings: int = 0

    def reports(self) -> dict[tuple[int, int], Report]:
        """(assetId, epoch) -> report."""
        return {key: stats.report for key, stats in self.stats.items()}


class EpochAggregator:
    """Aggregates epochs from a source, each over its own fixed window ``[start - lookback, end + grace]``.

    Fixed windows make the numbers reproducible: the daemon catching up a day later, a co-signer, an auditor
    all compute an epoch from the same readings, however the fetches were cut.

    Args:
        source: the metric source.
        assets: the asset map (the epoch clock and which GPUs make which asset).
        config: the aggregation rules (scrape interval).
        curtailments: grid demand-response windows.
        lookback_ms: readings this long before an epoch's start are used (an interval straddling the start).
        grace_ms: readings this long after its end are used, and must be covered before it is ready.
        chunk_gpus: fleets larger than this are fetched and aggregated in groups of whole assets, when the
            source can fetch a subset (the simulator's ``fetch_rows``).
    """

    def __init__(
        self,
        source: MetricSource,
        assets: AssetMap,
        *,
        config: AggregationConfig,
        curtailments: Sequence[CurtailmentWindow] = (),
        lookback_ms: int = 600_000,
        grace_ms: int | None = None,
        chunk_gpus: int = 20_000,
    ) -> None:
        self.source = source
        self.assets = assets
        self.config = config
        self.curtailments = list(curtailments)
        self.lookback_ms = lookback_ms
        self.grace_ms = config.scrape_interval_ms if grace_ms is None else grace_ms
        self.chunk_gpus = chunk_gpus
        self._genesis_ms = assets.genesis * 1000
        self._epoch_ms = assets.epoch_length * 1000

    def epoch_end_s(self, epoch: int) -> int:
        """Unix time (s) at which ``epoch`` ends."""
        return self.assets.genesis + (epoch + 1) * self.assets.epoch_length

    def window_ms(self, epoch: int) -> tuple[int, int]:
        """``[start - lookback, end + grace]`` of ``epoch`` in Unix ms."""
        start = self._genesis_ms + epoch * self._epoch_ms
        return start - self.lookback_ms, start + self._epoch_ms + self.grace_ms

    def ready_through(self, chain_time_s: int, coverage_ms: int | None = None) -> int | None:
        """The last epoch that has ended by ``chain_time_s`` and whose end plus grace the source covers.

        Raises:
            SourceError: the source's coverage cannot be read.
        """
        ended = (chain_time_s - self.assets.genesis) // self.assets.epoch_length - 1
        coverage = source_coverage_ms(self.source) if coverage_ms is None else coverage_ms
        if coverage is None:
            return None
        covered = (coverage - self.grace_ms - self._genesis_ms) // self._epoch_ms - 1
        last = min(ended, covered)
        return last if last >= 0 else None

    def compute(self, first: int, last: int) -> EpochResults:
        """Every asset's report for epochs ``first..last`` (inclusive).

        Raises:
            SourceError: the source could not deliver (never turned into zeros).
        """
        results = EpochResults()
        lo = self.window_ms(first)[0]
        hi = self.window_ms(last)[1]
        fetch_rows = getattr(self.source, "fetch_rows", None)
        total_gpus = sum(len(spec.gpus) for spec in self.assets.assets.values())
        if callable(fetch_rows) and total_gpus > self.chunk_gpus:
            row_of = {uuid: i for i, uuid in enumerate(getattr(self.source, "uuids", []))}
            for group in self._asset_groups():
                sub = AssetMap.model_validate(
                    {
                        "genesis": self.assets.genesis,
                        "epochLength": self.assets.epoch_length,
                        "assets": {str(a): self.assets.assets[a].model_dump() for a in group},
                    }
                )
                rows = np.array([row_of[u] for a in group for u in self.assets.assets[a].gpus], dtype=np.int64)
                batch = fetch_rows(rows, lo, hi)
                self._aggregate_epochs(batch, sub, first, last, results)
        else:
            batch = self.source.fetch(lo, hi)
            self._aggregate_epochs(batch, self.assets, first, last, results)
        return results

    def reports_for(self, keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], Report]:
        """Reports for (assetId, epoch) keys (the co-signer's view).

        Raises:
            NotReady: the source does not cover the last epoch's end plus grace yet.
            SourceError: the source could not deliver.
        """
        keys = list(keys)
        epochs = sorted({e for _, e in keys})
        coverage = source_coverage_ms(self.source)
        needed = self.window_ms(epochs[-1])[1]
        if coverage is None or coverage < needed:
            raise NotReady(f"the source covers until {coverage} ms, epoch {epochs[-1]} needs {needed} ms")
        out: dict[tuple[int, int], Report] = {}
        for epoch in epochs:
            out.update(self.compute(epoch, epoch).reports())
        return {key: out[key] for key in keys if key in out}

    def _asset_groups(self) -> list[list[int]]:
        groups: list[list[int]] = [[]]
        count = 0
        for asset_id in sorted(self.assets.assets):
            n = len(self.assets.assets[asset_id].gpus)
            if groups[-1] and count + n > self.chunk_gpus:
                groups.append([])
                count = 0
            groups[-1].append(asset_id)
            count += n
        return groups

    def _aggregate_epochs(
        self, batch: MetricBatch, assets: AssetMap, first: int, last: int, results: EpochResults
    ) -> None:
        windows = [w for w in self.curtailments if w.asset_id in assets.assets]
        for epoch in range(first, last + 1):
            lo, hi = self.window_ms(epoch)
            sub = _slice(batch, lo, hi, keep_source_rejections=epoch == first)
            result = aggregate(
                sub,
                assets,
                config=self.config,
                curtailments=windows,
                first_epoch=epoch,
                covered_until_ms=self._genesis_ms + (epoch + 1) * self._epoch_ms,
            )
            results.readings += result.readings_total
            for aggregate_epoch in result.epochs:
                for stats in aggregate_epoch.assets:
                    results.stats[(stats.report.asset_id, aggregate_epoch.epoch)] = stats
            start, end = hi - self.grace_ms - self._epoch_ms, hi - self.grace_ms
            for rejection in result.rejections:
                ts = rejection.timestamp_ms
                if ts is None:
                    if epoch == first:
                        results.rejections.append((None, rejection))
                elif start <= ts < end:
                    results.rejections.append((epoch, rejection))


def _slice(batch: MetricBatch, lo: int, hi: int, *, keep_source_rejections: bool) -> MetricBatch:
    """The readings of ``batch`` with timestamps in ``[lo, hi]``."""
    data = batch.data
    rejections = batch.rejections if keep_source_rejections else ()
    if isinstance(data, ReadingColumns):
        mask = (data.ts_ms >= lo) & (data.ts_ms <= hi)
        return MetricBatch(data=data.select(mask), rejections=rejections, covered_from_ms=lo, covered_until_ms=hi)
    grid: ScrapeGrid = data
    inside = (grid.ts_ms >= lo) & (grid.ts_ms <= hi)
    present = inside if grid.present is None else grid.present & inside
    cols = np.flatnonzero(present.any(axis=0))
    if cols.size == 0:
        a, b = 0, 0
    else:
        a, b = int(cols[0]), int(cols[-1]) + 1
    cropped = ScrapeGrid(
        uuids=grid.uuids,
        ts_ms=grid.ts_ms[:, a:b],
        util_pct=grid.util_pct[:, a:b],
        power_w=grid.power_w[:, a:b],
        energy_mj=grid.energy_mj[:, a:b],
        xid=grid.xid[:, a:b],
        present=present[:, a:b],
        gpu_labels=grid.gpu_labels,
    )
    return MetricBatch(data=cropped, rejections=rejections, covered_from_ms=lo, covered_until_ms=hi)

