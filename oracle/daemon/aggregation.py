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
from oracle.daemon.epochs import EpochResults, source_coverage_ms

__all__ = ["OUTAGE_EVENT", "Aggregation"]

logger = logging.getLogger(__name__)

OUTAGE_EVENT = "outage_declared"
"""The outbox event an operator's ``wellhead-oracle outage`` records (detail: asset, throughEpoch, note)."""
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
        self.held: dict[int, tuple[int, list[str]]] = {}
        """assetId -> (its held epoch, the GPUs silent since before its end)."""

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
            coverage = source_coverage_ms(ctx.aggregator.source)
            self.source_up()
            ready = ctx.aggregator.ready_through(chain_time, coverage)
            if ready is None:
                return  # nothing due
            hi = min(ready, lo + ctx.settings.submission.max_epochs_per_step - 1)
            if ctx.settings.until_epoch is not None:
                hi = min(hi, ctx.settings.until_epoch)
            if hi < lo:
                return
            results = ctx.aggregator.compute(lo, hi, coverage_ms=coverage)
        except SourceError as exc:
            self.source_down(exc)
            return
        ctx.metrics.aggregation_duration.observe(time.monotonic() - started)
        self._store(results, need, self._hold(results, need, hi))

    def _hold(self, results: EpochResults, need: dict[int, int], hi: int) -> dict[int, int]:
        """Per asset, the epochs to store: from ``need`` up to (not including) its first held epoch.

        An epoch in which a GPU of the asset has not scraped since before the epoch's end may still change: it
        is held unless the source covers its end plus the outage horizon, or an operator declared the outage
        (``wellhead-oracle outage``). Returns assetId -> the first epoch *not* stored."""
        ctx = self.ctx
        declared = self.declared_outages()
        stop: dict[int, int] = {}
        held: dict[int, tuple[int, list[str]]] = {}
        for asset_id in ctx.asset_ids:
            stop[asset_id] = hi + 1
            for epoch in range(need[asset_id], hi + 1):
                gpus = results.open_gpus.get((asset_id, epoch))
                if not gpus:
                    continue
                why = (
                    "horizon"
                    if ctx.aggregator.past_horizon(epoch, results.coverage_ms)
                    else "operator" if declared.get(asset_id, -1) >= epoch else None
                )
                if why is None:
                    stop[asset_id] = epoch
                    held[asset_id] = (epoch, gpus)
                    break
                ctx.metrics.outages_posted.labels(why=why).inc()
                logger.warning(
                    "asset %d epoch %d aggregated as an outage (%s): GPU(s) %s silent since before its end",
                    asset_id,
                    epoch,
                    "the outage horizon passed" if why == "horizon" else "declared by an operator",
                    ", ".join(gpus),
                    extra={"event": "outage_posted", "asset": asset_id, "epoch": epoch, "why": why, "gpus": gpus},
                )
        for asset_id, (epoch, gpus) in held.items():
            if self.held.get(asset_id, (None,))[0] != epoch:
                logger.warning(
                    "asset %d epoch %d held unsigned: GPU(s) %s have not scraped since before its end",
                    asset_id,
                    epoch,
                    ", ".join(gpus),
                    extra={"event": "epoch_held", "asset": asset_id, "epoch": epoch, "gpus": gpus},
                )
        self.held = held
        ctx.metrics.held_assets.set(len(held))
        return stop

    def declared_outages(self) -> dict[int, int]:
        """assetId -> the last epoch an operator declared an outage through (``wellhead-oracle outage``)."""
        out: dict[int, int] = {}
        for event in self.ctx.outbox.events(OUTAGE_EVENT):
            detail = event["detail"]
            asset_id, through = int(detail["asset"]), int(detail["throughEpoch"])
            out[asset_id] = max(out.get(asset_id, -1), through)
        return out

    def held_reasons(self) -> list[str]:
        """One ``/health`` reason per held asset."""
        horizon = self.ctx.settings.source.outage_after_s
        return [
            f"asset {asset_id} epoch {epoch} held unsigned: GPU(s) {', '.join(gpus)} have not scraped since before "
            f"its end (posted as an outage {'after ' + str(horizon) + ' s' if horizon is not None else 'never'} "
            f"without them, or at once with `wellhead-oracle outage --asset {asset_id} --through-epoch {epoch}`)"
            for asset_id, (epoch, gpus) in sorted(self.held.items())
        ]

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

    def _store(self, results: EpochResults, need: dict[int, int], stop: dict[int, int]) -> None:
        ctx = self.ctx
        keep = {key for key in results.stats if need[key[0]] <= key[1] < stop[key[0]]}
        fresh = [
            (stats.report, "0x" + report_struct_hash(stats.report).hex())
            for key, stats in sorted(results.stats.items())
            if key in keep
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
            if (asset_id, epoch) in keep:
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
