"""The aggregate stage: every ready epoch not yet in the outbox, from each asset's cursor on.

This is how the daemon catches up after downtime: the epochs from the lowest cursor (or the first epoch the
outbox lacks) through the last ready one, at most ``submission.max_epochs_per_step`` per step, are computed by
:class:`oracle.daemon.epochs.EpochAggregator` and committed to the outbox with their rejected readings, before
anything is signed. A source that cannot deliver is never turned into zeros: nothing is stored, ``/health``
degrades and the epochs are aggregated once it is back.
"""

from __future__ import annotations

import logging
import time

from oracle.eip712 import report_struct_hash
from oracle.errors import SourceError

from oracle.daemon.context import ChainView, StageContext
from oracle.daemon.epochs import EpochResults

__all__ = ["Aggregation"]

logger = logging.getLogger(__name__)

_SHOWN_REJECTIONS = 100
"""Rejected readings logged one by one per step; the rest are counted (all are in the quarantine table)."""


class Aggregation:
    """The aggregate stage (see the module docstring).

    Args:
        ctx: the parts every stage shares.
    """

    def __init__(self, ctx: StageContext, source_name: str) -> None:
        self.ctx = ctx
        self.source_name = source_name

    def run(self, view: ChainView | None, known: ChainView | None) -> None:
        """Aggregate every ready epoch not yet in the outbox.

        Args:
            view: this step's view of the chain, or None when the node is down.
            known: the last view read (its clock is extrapolated while the node is down, so that
                measurements still reach the outbox).
        """
        ctx = self.ctx
        known = view or known
        if known is None:
            return
        if view is not None:
            chain_time = view.block.timestamp
        else:  # the node is down: extrapolate its clock, so that measurements still reach the outbox
            chain_time = known.block.timestamp + int(time.monotonic() - known.observed_at)
        need = {}
        for asset_id in ctx.asset_ids:
            last = ctx.outbox.last_epoch(asset_id)
            need[asset_id] = max(known.next_epoch(asset_id), -1 if last is None else last + 1)
        lo = min(need.values())
        started = time.monotonic()
        try:
            ready = ctx.aggregator.ready_through(chain_time)
            if ready is None:
                return  # nothing due: the source's state is whatever the last fetch showed
            hi = min(ready, lo + ctx.settings.submission.max_epochs_per_step - 1)
            if ctx.settings.until_epoch is not None:
                hi = min(hi, ctx.settings.until_epoch)
            if hi < lo:
                return
            results = ctx.aggregator.compute(lo, hi)
        except SourceError as exc:
            self.source_down(exc)
            return
        ctx.metrics.aggregation_duration.observe(time.monotonic() - started)
        self.source_up()
        self._store(results, need)

    def source_down(self, exc: SourceError) -> None:
        """Count and report a source failure (logged once until it is back)."""
        ctx = self.ctx
        ctx.metrics.source_errors.inc()
        ctx.metrics.source_up.set(0)
        if not ctx.health.source_error:
            logger.error(
                "source %s unavailable: %s (nothing is posted for epochs it cannot cover)",
                self.source_name,
                exc,
                extra={"event": "source_down"},
            )
        ctx.health.update(source_error=str(exc))

    def source_up(self) -> None:
        """The source delivered."""
        ctx = self.ctx
        if ctx.health.source_error:
            logger.info("source reachable again", extra={"event": "source_up"})
        ctx.health.update(source_error=None)
        ctx.metrics.source_up.set(1)

    def _store(self, results: EpochResults, need: dict[int, int]) -> None:
        ctx = self.ctx
        fresh = [
            (stats.report, "0x" + report_struct_hash(stats.report).hex())
            for (asset_id, epoch), stats in sorted(results.stats.items())
            if epoch >= need[asset_id]
        ]
        differing, new_rejections = ctx.outbox.add_aggregated(fresh, results.rejections)
        for report in differing:
            logger.warning(
                "recomputed report %d/%d differs from the one already in the outbox (kept)",
                report.asset_id,
                report.epoch,
                extra={"event": "recomputed_report_differs", "asset": report.asset_id, "epoch": report.epoch},
            )
        ctx.metrics.epochs_aggregated.inc(len(fresh))
        for (asset_id, epoch), stats in sorted(results.stats.items()):
            if epoch >= need[asset_id]:
                logger.info(
                    "aggregated report %d/%d",
                    asset_id,
                    epoch,
                    extra={
                        "event": "report_aggregated",
                        "asset": asset_id,
                        "epoch": epoch,
                        **stats.report.model_dump(),
                        "unhealthyMs": stats.unhealthy_ms,
                        "counterResets": stats.counter_resets,
                    },
                )
        for shown, (epoch, rejection) in enumerate(new_rejections):
            ctx.metrics.readings_rejected.labels(reason=rejection.reason.value).inc()
            if shown < _SHOWN_REJECTIONS:
                logger.warning(
                    "rejected reading: %s",
                    rejection.detail,
                    extra={
                        "event": "reading_rejected",
                        "epoch": epoch,
                        "reason": rejection.reason.value,
                        "series": rejection.labels.get("__name__"),
                        "gpu": rejection.labels.get("UUID"),
                        "ts_ms": rejection.timestamp_ms,
                        "value": rejection.value,
                    },
                )
        if len(new_rejections) > _SHOWN_REJECTIONS:
            logger.warning(
                "%d more rejected readings (see the outbox's quarantine table)",
                len(new_rejections) - _SHOWN_REJECTIONS,
                extra={"event": "readings_rejected_more", "count": len(new_rejections) - _SHOWN_REJECTIONS},
            )
