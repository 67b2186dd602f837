"""The aggregate stage's rules: which epochs are ready, and each epoch's report exactly as ``oracle aggregate``
computes it over the whole data.

An epoch is *ready* once the chain's time is past its end and the source covers its end plus the grace
period. Its report counts every interval that overlaps it, however long (an exporter gap straddling its start
or end included): the readings are fetched around the epoch and the window is widened until every GPU's
straddling intervals are in it. An interval that is still open (a GPU silent since before the epoch's end) may
still add to the epoch: the aggregate stage holds such an epoch until the GPU scrapes again or the outage
horizon passes (see docs/metering.md). The numbers do not depend on how the fetches were cut: the daemon
catching up a day later, a co-signing peer (:mod:`oracle.cosign`) and an auditor all get the same reports.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from oracle.aggregate import AggregationConfig, aggregate
from oracle.cosign import NotReady
from oracle.models import AssetEpochStats, AssetMap, CurtailmentWindow, Rejection, Report
from oracle.sources.base import MetricBatch, MetricSource, ReadingColumns

__all__ = ["EpochAggregator", "EpochResults", "gpus_seen", "source_coverage_ms"]


def source_coverage_ms(source: MetricSource) -> int | None:
    """The latest time (Unix ms) the source can vouch for: live sources say so (``covered_until_ms``); a
    recording's is its last reading (data-determined)."""
    covered = getattr(source, "covered_until_ms", None)
    if callable(covered):
        return covered()  # type: ignore[no-any-return]
    return source.fetch().covered_until_ms


def gpus_seen(batch: MetricBatch) -> set[str]:
    """The GPU UUIDs with at least one reading in ``batch`` (valid or not: a series exists)."""
    data = batch.data
    if isinstance(data, ReadingColumns):
        ids = np.unique(data.series_id)
        return {data.series_labels[int(i)].get("UUID", "") for i in ids} - {""}
    present = data.present
    if present is None:
        return set(data.uuids) if data.ts_ms.shape[1] else set()
    return {uuid for uuid, row in zip(data.uuids, present.any(axis=1), strict=True) if row}


@dataclass
class EpochResults:
    """What :meth:`EpochAggregator.compute` produced."""

    stats: dict[tuple[int, int], AssetEpochStats] = field(default_factory=dict)
    rejections: list[tuple[int | None, Rejection]] = field(default_factory=list)
    readings: int = 0
    open_gpus: dict[tuple[int, int], list[str]] = field(default_factory=dict)
    """(assetId, epoch) -> the asset's GPUs with no valid scrape at or after the epoch's end yet (an interval
    that may still add to the epoch is open); only epochs with at least one."""
    coverage_ms: int | None = None
    """The source's coverage when the epochs were computed (Unix ms)."""

    def reports(self) -> dict[tuple[int, int], Report]:
        """(assetId, epoch) -> report."""
        return {key: stats.report for key, stats in self.stats.items()}


class EpochAggregator:
    """Aggregates epochs from a source exactly as ``oracle aggregate`` does over the whole data.

    An epoch's report depends on every interval that overlaps it, and an interval straddling the epoch's start
    or end can be as long as the exporter gap it spans. The readings are fetched from ``[start - lookback,
    end + grace]`` and the window is widened (doubling) while a GPU's interval straddling the range's end is
    not closed yet within what the source covers (up to the outage horizon: a later scrape adds nothing), and
    while a GPU's first scrape in the window comes after the range's start (up to ``max_lookback_ms``). The
    numbers therefore do not depend on how the fetches were cut: the daemon catching up a day later, a
    co-signer and an auditor with the same data all get the CLI's numbers.

    Args:
        source: the metric source.
        assets: the asset map (the epoch clock and which GPUs make which asset).
        config: the aggregation rules (scrape interval, outage horizon).
        curtailments: grid demand-response windows.
        lookback_ms: readings this long before an epoch's start are fetched first.
        grace_ms: readings this long after its end are fetched first, and must be covered before it is ready.
        max_lookback_ms: how far before the range's start a GPU's previous scrape is looked for (a gap longer
            than this that straddles an epoch's start loses the part before the limit).
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
        max_lookback_ms: int = 86_400_000,
        chunk_gpus: int = 20_000,
    ) -> None:
        self.source = source
        self.assets = assets
        self.config = config
        self.curtailments = list(curtailments)
        self.lookback_ms = lookback_ms
        self.grace_ms = config.scrape_interval_ms if grace_ms is None else grace_ms
        self.max_lookback_ms = max(max_lookback_ms, lookback_ms)
        self.chunk_gpus = chunk_gpus
        self._genesis_ms = assets.genesis * 1000
        self._epoch_ms = assets.epoch_length * 1000

    @property
    def outage_after_ms(self) -> int | None:
        """The outage horizon (see :attr:`oracle.aggregate.AggregationConfig.outage_after_ms`)."""
        return self.config.outage_after_ms

    def epoch_end_s(self, epoch: int) -> int:
        """Unix time (s) at which ``epoch`` ends."""
        return self.assets.genesis + (epoch + 1) * self.assets.epoch_length

    def window_ms(self, epoch: int) -> tuple[int, int]:
        """The first window fetched for ``epoch``: ``[start - lookback, end + grace]`` in Unix ms."""
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

    def past_horizon(self, epoch: int, coverage_ms: int | None) -> bool:
        """Whether the source covers ``epoch``'s end plus the outage horizon (an interval still open then adds
        nothing to it: the epoch can be posted as measured)."""
        horizon = self.outage_after_ms
        if horizon is None or coverage_ms is None:
            return False
        return coverage_ms >= self._genesis_ms + (epoch + 1) * self._epoch_ms + horizon

    def compute(self, first: int, last: int, *, coverage_ms: int | None = None) -> EpochResults:
        """Every asset's report for epochs ``first..last`` (inclusive), with the GPUs still open per epoch.

        Args:
            coverage_ms: the source's coverage, when the caller has just read it.

        Raises:
            SourceError: the source could not deliver (never turned into zeros).
        """
        coverage = source_coverage_ms(self.source) if coverage_ms is None else coverage_ms
        results = EpochResults(coverage_ms=coverage)
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
                self._compute_group(
                    lambda lo, hi, rows=rows: fetch_rows(rows, lo, hi), sub, first, last, coverage, results
                )
        else:
            self._compute_group(self.source.fetch, self.assets, first, last, coverage, results)
        return results

    def reports_for(self, keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], Report]:
        """Reports for (assetId, epoch) keys (the co-signer's view).

        Raises:
            NotReady: the source does not cover the last epoch's end plus grace yet, or one of the reports may
                still change (a GPU's interval is open and the outage horizon has not passed).
            SourceError: the source could not deliver.
        """
        keys = list(keys)
        epochs = sorted({e for _, e in keys})
        coverage = source_coverage_ms(self.source)
        needed = self.window_ms(epochs[-1])[1]
        if coverage is None or coverage < needed:
            raise NotReady(f"the source covers until {coverage} ms, epoch {epochs[-1]} needs {needed} ms")
        out: dict[tuple[int, int], Report] = {}
        wanted = set(keys)
        for epoch in epochs:
            results = self.compute(epoch, epoch, coverage_ms=coverage)
            for key, gpus in results.open_gpus.items():
                if key in wanted and not self.past_horizon(epoch, coverage):
                    raise NotReady(
                        f"report {key[0]}/{epoch} may still change: GPU(s) {', '.join(gpus)} have no scrape after "
                        "the epoch's end yet"
                    )
            out.update(results.reports())
        return {key: out[key] for key in keys if key in out}

    def gpus_seen(self, start_ms: int, end_ms: int) -> set[str]:
        """The GPU UUIDs with a series in ``[start_ms, end_ms]`` (the start-up check's question). A fleet
        larger than ``chunk_gpus`` is read in groups of whole assets when the source can (as :meth:`compute`
        does), so the check holds one group's readings at a time: one read of 100,000 simulated GPUs' 10
        minutes peaked at 1.2 GiB.

        Raises:
            SourceError: the source could not deliver.
        """
        fetch_rows = getattr(self.source, "fetch_rows", None)
        total_gpus = sum(len(spec.gpus) for spec in self.assets.assets.values())
        if not callable(fetch_rows) or total_gpus <= self.chunk_gpus:
            return gpus_seen(self.source.fetch(start_ms, end_ms))
        row_of = {uuid: i for i, uuid in enumerate(getattr(self.source, "uuids", []))}
        seen: set[str] = set()
        for group in self._asset_groups():
            # a GPU the source does not know has no series: it is left out, not looked up
            rows = [row_of[u] for a in group for u in self.assets.assets[a].gpus if u in row_of]
            if rows:
                seen |= gpus_seen(fetch_rows(np.array(rows, dtype=np.int64), start_ms, end_ms))
        return seen

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

    def _compute_group(
        self,
        fetch: Callable[[int, int], MetricBatch],
        assets: AssetMap,
        first: int,
        last: int,
        coverage: int | None,
        results: EpochResults,
    ) -> None:
        start_ms = self._genesis_ms + first * self._epoch_ms
        end_ms = self._genesis_ms + (last + 1) * self._epoch_ms
        lo, hi = start_ms - self.lookback_ms, end_ms + self.grace_ms
        floor = start_ms - self.max_lookback_ms
        ceiling = max(hi, coverage) if coverage is not None else hi
        if self.outage_after_ms is not None:
            ceiling = min(ceiling, max(hi, end_ms + self.outage_after_ms))  # later scrapes add nothing
        windows = [w for w in self.curtailments if w.asset_id in assets.assets]
        gpus = [uuid for spec in assets.assets.values() for uuid in spec.gpus]
        while True:
            batch = fetch(lo, hi)
            result = aggregate(
                batch, assets, config=self.config, curtailments=windows, first_epoch=first, covered_until_ms=end_ms
            )
            spans = result.gpu_span_ms
            forward = hi < ceiling and any(u not in spans or spans[u][1] < end_ms for u in gpus)
            backward = lo > floor and any(u in spans and spans[u][0] > start_ms for u in gpus)
            if not forward and not backward:
                break
            if forward:
                hi = min(ceiling, end_ms + 2 * max(hi - end_ms, self._epoch_ms))
            if backward:
                lo = max(floor, start_ms - 2 * max(start_ms - lo, self._epoch_ms))
        results.readings += result.readings_total
        for aggregate_epoch in result.epochs:
            epoch_end = self._genesis_ms + (aggregate_epoch.epoch + 1) * self._epoch_ms
            for stats in aggregate_epoch.assets:
                key = (stats.report.asset_id, aggregate_epoch.epoch)
                results.stats[key] = stats
                silent = [
                    u for u in assets.assets[key[0]].gpus if u not in spans or spans[u][1] < epoch_end
                ]
                if silent:
                    results.open_gpus[key] = silent
        for rejection in result.rejections:
            ts = rejection.timestamp_ms
            if ts is None:
                results.rejections.append((None, rejection))  # the source's own: once per group
            elif start_ms <= ts < end_ms:
                results.rejections.append(((ts - self._genesis_ms) // self._epoch_ms, rejection))
