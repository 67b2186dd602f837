"""Batch posting: the next reports, signed by the quorum as one ``ReportBatch`` and sent with ``submit``.

A group is planned (each asset's epochs contiguous from its cursor, ended by chain time, at most the learned
batch size), signed and committed to the outbox, estimated, and halved until it fits under the gas cap (each
tried size is signed and stored; the ones that did not fit are voided).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from oracle.cosign import signature_from_json
from oracle.errors import QuorumMissing
from oracle.models import Report
from oracle.outbox import BatchRow
from oracle.submitter import fit_first_group

from oracle.daemon.context import ChainView
from oracle.daemon.posting import PostingStrategy, estimate_failed, plan_contiguous
from oracle.daemon.signing import sign_batch

__all__ = ["BatchPosting"]

logger = logging.getLogger(__name__)


class BatchPosting(PostingStrategy):
    """Signed batches sent with ``submit`` (see the module docstring)."""

    kind = "submit"

    def calldata(self, batch: BatchRow, reports: Sequence[Report]) -> bytes:
        """``submit(configVersion, reports, signers, signatures)`` of a signed batch."""
        return self.ctx.chain.encode_submit(
            batch.config_version,
            list(reports),
            batch.signer_set,
            [signature_from_json(s) for s in batch.signatures],
        )

    def plan(self, view: ChainView) -> list[Report]:
        """The next reports to sign: each asset's epochs contiguous from its cursor, ended by chain time,
        assets in order, at most the batch size hint. In root mode only the reports of epochs whose root is
        taken (in conflict with the chain's, or aggregated after it was signed) go into signed batches."""
        outbox = self.ctx.outbox
        rows = outbox.reports_needing_batch()
        if self.ctx.settings.submission.mode in ("root", "root_only"):
            taken = outbox.root_epochs()
            rows = [row for row in rows if row.report.epoch in taken]
        return plan_contiguous(self.ctx, view, rows, self.hint)

    def post(self, view: ChainView) -> bool:
        """Sign and send the next batch (halved under the gas cap). True when a transaction was sent."""
        ctx = self.ctx
        group = self.plan(view)
        if not group:
            return False
        stored: dict[int, BatchRow] = {}

        def estimate(candidate: list[Report]) -> int:
            batch = sign_batch(ctx, candidate, view)
            stored[len(candidate)] = batch
            return self.estimate(batch, candidate)

        def reject(candidate: list[Report], reason: str) -> None:
            batch = stored.get(len(candidate))
            if batch is not None:
                ctx.void_batch(batch, reason)
            if "over the cap" in reason:
                ctx.metrics.batch_splits.inc()

        try:
            fit = fit_first_group(group, estimate, ctx.settings.submission.gas_cap_per_tx, on_reject=reject)
        except QuorumMissing as exc:
            ctx.metrics.quorum_failures.inc()
            ctx.health.update(quorum_error=str(exc))
            logger.error("quorum not reached: %s", exc, extra={"event": "quorum_not_reached"})
            return False
        ctx.health.update(quorum_error=None)
        if fit.group is None:
            if fit.error is not None and fit.error.error_name == "EpochNotEnded":
                return False
            if fit.error is not None:
                estimate_failed(ctx, None, fit.error, group[: fit.tried[-1][0]] if fit.tried else group)
            return False
        batch = stored[len(fit.group)]
        self.learn(len(group), len(fit.group), fit.gas)
        self.send(batch, list(fit.group), fit.gas or 0, view)  # type: ignore[arg-type]
        return True
