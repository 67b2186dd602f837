"""The post stage: from the outbox to the MeteringOracle, up to ``submission.max_in_flight`` transactions in
flight (nonce-ordered, sent without waiting for receipts; 1 is one transaction at a time).

Two strategies implement one small interface (:class:`PostingStrategy`):

- :class:`oracle.daemon.batch_posting.BatchPosting` (``submission.mode = "batch"``): the next reports, each
  asset's epochs contiguous from its cursor, are signed by the quorum and sent with ``submit``.
- :class:`oracle.daemon.root_posting.RootPosting` (``submission.mode = "root"``): per ended epoch, the quorum
  signs the Merkle root of all its reports, ``commitRoot`` is sent, then the reports follow with
  ``proveReports`` (no signatures).

:class:`Poster` runs them in a fixed order, so that whatever the mode, work in flight is finished first. Each
transaction it sends is chosen by these rules, and a step repeats them while the pipeline has room:

1. transactions pending, fewer than ``max_in_flight`` nonces: in batch mode, while every one of them is a
   ``submit``, more signed batches follow them (rules 2 and 5 only, planned from the *pipeline cursors*: each
   asset's on-chain cursor moved past the epochs of its batches in flight, and estimated against the node's
   pending state); in root-only mode, while every one is a ``commitRoot``, the roots of the next epochs follow
   (rules 3 and 4: each epoch's root is independent of the others, e.g. catching up after downtime); in root
   mode (proofs wait for their root) and behind a keeper's settlement: nothing new;
2. a *live* batch (signed or proof, stored but not landed: signed before a crash, or its transaction dropped)
   is estimated again and sent, or voided when it can no longer land;
3. each strategy's :meth:`~PostingStrategy.resume`: a live root is committed; outside root mode, the reports
   of roots committed earlier (a switch of mode) are proven;
4. root mode: a new root, then proofs; root-only mode: a new root alone (reports are proven at settlement);
5. a new signed batch (in root mode only for epochs whose root is taken: a conflict, or reports aggregated
   after the root was signed).

Exactly once with several in flight: every transaction is stored before it is broadcast (reconciliation
re-attaches to it by hash and nonce after a crash, rebroadcasting one the node forgot); an asset's epochs land
only in order, and transactions mine in nonce order. When transaction n reverts its batch is voided; when its
nonce is taken its batch is sent again as signed, at a later nonce. Either way a later transaction carrying
the same asset's next epochs reverts (``EpochGap``) or fails its estimate, its batch is voided and its reports
are batched again from the chain's cursor: none lost, none posted twice. A node whose pending state leaves out
its pool makes the batches that follow their asset's epochs in flight fail estimation: they wait for the
receipts (independent assets still go out together).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence

from oracle.errors import SubmissionError
from oracle.models import Report
from oracle.outbox import BatchRow, ReportRow

from oracle.daemon.context import ASSET_ERRORS, CURSOR_ERRORS, SIGNATURE_ERRORS, Blocked, ChainView, StageContext

__all__ = ["Poster", "PostingStrategy", "pipeline_view", "plan_contiguous"]

logger = logging.getLogger(__name__)


class PostingStrategy(ABC):
    """One way of bringing reports on chain. Each strategy owns one kind of stored batch (``submit`` or
    ``prove``), knows how to encode it, and learns how many reports fit under the gas cap.

    Args:
        ctx: the parts every stage shares.
    """

    kind: str
    """The kind of the batches it stores and sends (``outbox.batches.kind``)."""

    def __init__(self, ctx: StageContext) -> None:
        self.ctx = ctx
        self.hint = ctx.settings.submission.max_reports_per_tx
        """How many reports the next batch tries (halved when one does not fit, doubled while far under)."""

    @abstractmethod
    def calldata(self, batch: BatchRow, reports: Sequence[Report]) -> bytes:
        """The transaction data that lands ``batch`` (its ``reports`` in order)."""

    @abstractmethod
    def post(self, view: ChainView) -> bool:
        """Start new work: send at most one transaction. True when one was sent."""

    def resume(self, view: ChainView) -> bool:
        """Finish this strategy's work in flight other than live batches (which :class:`Poster` resends for
        every strategy), whatever the configured mode. True when a transaction was sent."""
        return False

    def learn(self, tried: int, fitted: int, gas: int | None) -> None:
        """Adjust :attr:`hint` after ``fitted`` of ``tried`` reports fit (estimated at ``gas``)."""
        if gas is None:
            return
        if fitted < tried:
            self.hint = fitted
        elif 2 * gas < self.ctx.settings.submission.gas_cap_per_tx:
            self.hint = min(self.ctx.settings.submission.max_reports_per_tx, self.hint * 2)

    def estimate(self, batch: BatchRow, reports: Sequence[Report]) -> int:
        """Gas for sending ``batch`` now.

        Raises:
            SubmissionError: the estimate reverted (the decoded error is on the exception).
        """
        ctx = self.ctx
        block = "pending" if ctx.tx.pending() else "latest"  # behind transactions in flight: on top of them
        return ctx.chain.estimate_gas(ctx.tx.address, ctx.deployment.oracle, self.calldata(batch, reports), block)

    def send(self, batch: BatchRow, reports: Sequence[Report], gas: int, view: ChainView) -> None:
        """Send ``batch`` (the transaction is stored before it is broadcast)."""
        ctx = self.ctx
        ctx.tx.send(
            kind=batch.kind,
            batch_id=batch.id,
            to=ctx.deployment.oracle,
            data=self.calldata(batch, reports),
            gas_limit=ctx.tx.gas_limit(gas),
            head=view.block,
        )


def pipeline_view(ctx: StageContext, view: ChainView) -> ChainView:
    """``view`` with each asset's cursor moved past the epochs of its batches in flight (a pending ``submit``
    or ``prove`` transaction), contiguously: the epochs a new batch starts from when it follows them in nonce
    order. Without transactions in flight it is ``view`` itself."""
    in_flight: dict[int, set[int]] = {}
    for tx in ctx.tx.pending():
        if tx.kind in ("submit", "prove") and tx.batch_id is not None:
            for asset_id, epoch in ctx.outbox.batch(tx.batch_id).keys:
                in_flight.setdefault(asset_id, set()).add(epoch)
    if not in_flight:
        return view
    cursors = dict(view.cursors)
    for asset_id, epochs in in_flight.items():
        if asset_id not in cursors:
            continue
        epoch, started = cursors[asset_id]
        while epoch in epochs:
            epoch += 1
        cursors[asset_id] = (epoch, started)
    return dataclasses.replace(view, cursors=cursors)


def plan_contiguous(ctx: StageContext, view: ChainView, rows: Sequence[ReportRow], limit: int) -> list[Report]:
    """Of ``rows``: each asset's epochs contiguous from its cursor, ended by chain time, assets in order
    (blocked ones skipped), at most ``limit``."""
    now = time.monotonic()
    by_asset: dict[int, list[ReportRow]] = {}
    for row in rows:
        by_asset.setdefault(row.report.asset_id, []).append(row)
    group: list[Report] = []
    for asset_id in ctx.asset_ids:
        blocked = ctx.blocked.get(asset_id)
        if blocked is not None and blocked.retry_at > now:
            continue
        expected = view.next_epoch(asset_id)
        for row in by_asset.get(asset_id, []):
            if row.report.epoch != expected or ctx.aggregator.epoch_end_s(row.report.epoch) > view.block.timestamp:
                break
            group.append(row.report)
            expected += 1
            if len(group) >= limit:
                return group
    return group


def estimate_failed(
    ctx: StageContext, batch: BatchRow | None, exc: SubmissionError, reports: Sequence[Report] = ()
) -> None:
    """A batch's estimate reverted: void it, and block the asset the contract refused (with back-off) unless
    the batch is merely stale (cursor moved, signer set changed)."""
    name = exc.error_name
    if batch is not None and batch.state in ("signed", "submitted"):
        ctx.void_batch(batch, f"estimate failed: {exc.reason}")
    if name in CURSOR_ERRORS or name in SIGNATURE_ERRORS:
        logger.warning("batch no longer valid: %s", exc.reason, extra={"event": "batch_stale", "error": name})
        return
    asset_id = int(exc.error_args[0]) if name in ASSET_ERRORS and exc.error_args else None
    if asset_id is None:
        keys = batch.keys if batch is not None else [(r.asset_id, r.epoch) for r in reports]
        asset_id = keys[0][0] if keys else None
    if asset_id is None:
        return
    previous = ctx.blocked.get(asset_id)
    failures = (previous.failures if previous else 0) + 1
    delay = ctx.retry_delay_s(failures)
    epoch = int(exc.error_args[1]) if name in ASSET_ERRORS and len(exc.error_args) > 1 else -1
    ctx.blocked[asset_id] = Blocked(epoch, exc.reason, failures, time.monotonic() + delay)
    logger.error(
        "asset %d cannot be posted: %s (retry in %.0fs)",
        asset_id,
        exc.reason,
        delay,
        extra={"event": "asset_blocked", "asset": asset_id, "error": name},
    )


class Poster:
    """Runs the posting strategies in the fixed order of the module docstring.

    Args:
        ctx: the parts every stage shares.
        batches: the signed-batch strategy.
        roots: the root strategy (also finishes roots and proofs left by a switch from root mode).
    """

    def __init__(self, ctx: StageContext, batches: PostingStrategy, roots: PostingStrategy) -> None:
        self.ctx = ctx
        self.batches = batches
        self.roots = roots
        self._by_kind = {batches.kind: batches, roots.kind: roots}

    def post(self, view: ChainView) -> bool:
        """Send transactions while the pipeline has room (see the module docstring). True when one was sent or
        is pending."""
        pending = self.ctx.tx.pending()
        room = self.ctx.settings.submission.max_in_flight - len({tx.nonce for tx in pending})
        sent = 0
        while sent < room:
            if sent and not self.ctx.tx.pending():
                break  # what was sent is no longer pending (its nonce was taken at once): reconcile first
            if not self._post_one(view):
                break
            sent += 1
        if sent > 1:
            logger.info(
                "sent %d transactions without waiting for receipts",
                sent,
                extra={"event": "tx_pipelined", "sent": sent, "in_flight": len(pending) + sent},
            )
        return sent > 0 or bool(pending)

    def _post_one(self, view: ChainView) -> bool:
        """Send the next transaction by the module docstring's rules. True when one was sent."""
        ctx = self.ctx
        pending = ctx.tx.pending()
        if pending:
            mode = ctx.settings.submission.mode
            kinds = {tx.kind for tx in pending}
            if mode == "root_only" and kinds == {"commit"}:
                # Each epoch's root stands alone on chain: the next epochs' roots follow (catching up).
                return self.roots.resume(view) or self.roots.post(view)
            if mode != "batch" or kinds != {"submit"}:
                return False  # proofs wait for their root, settlements for the reports: one at a time
            ahead = pipeline_view(ctx, view)
            resent = self._resend_live(ahead)
            if resent is not None:
                return resent
            return self.batches.post(ahead)
        resent = self._resend_live(view)
        if resent is not None:
            return resent
        if self.roots.resume(view) or self.batches.resume(view):
            return True
        if ctx.settings.submission.mode in ("root", "root_only") and self.roots.post(view):
            return True
        return self.batches.post(view)

    def _resend_live(self, view: ChainView) -> bool | None:
        """Send the first live batch that can still land (voiding those that cannot). True when one was sent,
        False when the step must wait (its epochs have not ended), None when there was none to send. A batch
        whose transaction is pending is in flight, not live."""
        ctx = self.ctx
        in_flight = {tx.batch_id for tx in ctx.tx.pending() if tx.batch_id is not None}
        for batch in ctx.outbox.batches(("signed", "submitted")):
            if batch.id in in_flight:
                continue
            problem = self._batch_problem(batch, view)
            if problem is not None:
                ctx.void_batch(batch, problem)
                continue
            if not ctx.epochs_ended(batch.keys, view):
                return False
            strategy = self._by_kind[batch.kind]
            reports = [r.report for r in ctx.outbox.batch_reports(batch.id)]
            try:
                gas = strategy.estimate(batch, reports)
            except SubmissionError as exc:
                if exc.error_name == "EpochNotEnded":
                    return False
                estimate_failed(ctx, batch, exc)
                continue
            if gas > ctx.settings.submission.gas_cap_per_tx:
                ctx.void_batch(batch, f"estimated {gas} gas, over the cap")
                strategy.hint = max(1, len(batch.keys) // 2)
                ctx.metrics.batch_splits.inc()
                continue
            strategy.send(batch, reports, gas, view)
            return True
        return None

    def _batch_problem(self, batch: BatchRow, view: ChainView) -> str | None:
        """Why a stored batch can no longer land (None when it still can). Proof batches need no signatures:
        only the cursors matter."""
        if batch.kind == "submit" and (
            batch.config_version != view.config_version
            or [a.lower() for a in batch.signer_set] != [a.lower() for a in view.signer_set]
        ):
            return f"signed for configVersion {batch.config_version}, the oracle is at {view.config_version}"
        first: dict[int, int] = {}
        for asset_id, epoch in batch.keys:
            first.setdefault(asset_id, epoch)
        for asset_id, epoch in first.items():
            if asset_id in view.cursors and view.next_epoch(asset_id) != epoch:
                return f"asset {asset_id} expects epoch {view.next_epoch(asset_id)}, the batch starts at {epoch}"
        return None
