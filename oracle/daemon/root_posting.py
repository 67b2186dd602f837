"""Root posting: per ended epoch, one quorum-signed Merkle root, then the reports proven against it.

The tree of all an epoch's reports (leaves: their EIP-712 struct hashes, ascending assetId) is built and the
quorum signs its ``ReportRoot`` digest (co-signing peers rebuild the tree from their own meters); the root and
its leaf order are committed to the outbox, then ``commitRoot`` is sent. Once the root is committed (by us, or
by anyone: ``rootOf`` holds the same root), the reports follow with ``proveReports``, which needs no
signatures, in batches halved under the gas cap, each asset's epochs in order from its cursor. A *different*
root already on chain for the epoch is a conflict (logged, counted, recorded in ``events``): that epoch's
reports go to signed batches instead (each is still valid on its own).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any, Literal

from oracle.cosign import signature_from_json, signature_to_json
from oracle.eip712 import root_digest
from oracle.errors import QuorumMissing, SubmissionError, WellheadError
from oracle.models import Report
from oracle.outbox import BatchRow, RootRow
from oracle.publication import EpochPublication, publication_path, write_publication
from oracle.roots import EpochTree, build_epoch_tree, leaves_digest, rebuild_tree
from oracle.submitter import fit_first_group

from oracle.daemon.context import SIGNATURE_ERRORS, ZERO_ROOT, Blocked, ChainView, StageContext
from oracle.daemon.posting import PostingStrategy, estimate_failed, plan_contiguous
from oracle.daemon.signing import sign_root

__all__ = ["RootPosting"]

logger = logging.getLogger(__name__)

RootOutcome = Literal["sent", "resolved", "waiting"]


class RootPosting(PostingStrategy):
    """Roots committed with ``commitRoot``, reports proven with ``proveReports`` (see the module docstring).

    Args:
        ctx: the parts every stage shares.
    """

    kind = "prove"

    def __init__(self, ctx: StageContext) -> None:
        super().__init__(ctx)
        self.trees: dict[int, EpochTree] = {}
        """Trees of the roots at work, by root id (rebuilt from the outbox after a restart)."""
        self.blocked: dict[int, Blocked] = {}
        """Roots whose commit failed, by root id (retried with back-off)."""
        self.published: set[int] = set()
        """Roots whose leaves and proofs are published."""

    # --- the strategy -------------------------------------------------------------------------------

    def calldata(self, batch: BatchRow, reports: Sequence[Report]) -> bytes:
        """``proveReports(reports, proofs)`` of a proof batch."""
        return self.prove_calldata(reports)

    def resume(self, view: ChainView) -> bool:
        """Commit the live roots (signed, or sent and dropped; not those whose commit is pending); outside root
        mode, also prove the reports of roots committed before a switch of mode. True when a transaction was
        sent."""
        now = time.monotonic()
        in_flight = {tx.root_id for tx in self.ctx.tx.pending() if tx.root_id is not None}
        for root in self.ctx.outbox.roots(("signed", "submitted")):
            if root.id in in_flight:
                continue  # its commitRoot is pending: reconciliation follows it
            blocked = self.blocked.get(root.id)
            if blocked is not None and blocked.retry_at > now:
                continue
            if self.advance(root, view) == "sent":
                return True
        if self.ctx.settings.submission.mode == "batch":
            return self.post_proofs(view)
        return False

    def post(self, view: ChainView) -> bool:
        """A new root, else (root mode) the next proofs; root-only mode posts roots alone. True when a
        transaction was sent."""
        if self.post_new_root(view):
            return True
        return self.ctx.settings.submission.mode == "root" and self.post_proofs(view)

    # --- publication --------------------------------------------------------------------------------

    def publish_committed(self) -> list[int]:
        """Write the leaves and proofs of every committed root not yet published (``publish_dir``), so that
        keepers and auditors can prove its reports; returns the epochs written. Idempotent: an epoch whose
        document exists is left alone (documents are written atomically)."""
        directory = self.ctx.settings.submission.publish_dir
        if directory is None:
            return []
        written = []
        for root in self.ctx.outbox.roots(("committed", "proven")):
            if root.id in self.published or publication_path(directory, root.epoch).exists():
                self.published.add(root.id)
                continue
            write_publication(directory, EpochPublication.from_tree(self.tree(root.id)))
            self.published.add(root.id)
            written.append(root.epoch)
        return written

    # --- roots --------------------------------------------------------------------------------------

    def post_new_root(self, view: ChainView) -> bool:
        """Sign and commit the root of the oldest ended epoch whose reports have none (one transaction at
        most). Reports of an epoch that already has a root (a report aggregated after it, or a conflict) are
        left to signed batches."""
        ctx = self.ctx
        by_epoch: dict[int, list[Report]] = {}
        for row in ctx.outbox.reports_needing_root():
            by_epoch.setdefault(row.report.epoch, []).append(row.report)
        taken = ctx.outbox.root_epochs() if by_epoch else set()
        for epoch in sorted(by_epoch):
            if ctx.aggregator.epoch_end_s(epoch) > view.block.timestamp:
                break
            if epoch in taken:
                continue
            tree = build_epoch_tree(by_epoch[epoch])
            digest = root_digest(ctx.domain, view.config_version, epoch, tree.count, tree.root)
            onchain, _count = ctx.chain.root_of(epoch)
            if onchain != ZERO_ROOT:  # no signing round for an epoch whose root is already decided
                root_id = self._store_root(tree, view, digest, [])
                self._root_found(ctx.outbox.root(root_id), onchain)
                continue
            try:
                signatures = sign_root(ctx, tree, digest, view)
            except QuorumMissing as exc:
                ctx.metrics.quorum_failures.inc()
                ctx.health.update(quorum_error=str(exc))
                logger.error("quorum not reached: %s", exc, extra={"event": "quorum_not_reached", "epoch": epoch})
                return False
            ctx.health.update(quorum_error=None)
            root_id = self._store_root(tree, view, digest, [signature_to_json(s) for s in signatures])
            self.trees[root_id] = tree
            logger.info(
                "signed the root of epoch %d: %d reports, %d signatures",
                epoch,
                tree.count,
                len(signatures),
                extra={
                    "event": "root_signed",
                    "root_id": root_id,
                    "epoch": epoch,
                    "root": "0x" + tree.root.hex(),
                    "reports": tree.count,
                    "digest": "0x" + digest.hex(),
                },
            )
            ctx.crash("root_signed")
            outcome = self.advance(ctx.outbox.root(root_id), view)
            if outcome == "sent":
                return True
            if outcome == "waiting":
                return False
        return False

    def advance(self, root: RootRow, view: ChainView) -> RootOutcome:
        """Commit a signed root, unless the chain already decided: ``sent`` (a commit transaction is out),
        ``resolved`` (found committed, in conflict, or void: nothing to send) or ``waiting``."""
        ctx = self.ctx
        onchain, _count = ctx.chain.root_of(root.epoch)
        if onchain != ZERO_ROOT:
            self._root_found(root, onchain)
            return "resolved"
        posted, total = ctx.outbox.root_progress(root.id)
        if posted == total:
            self._void_root(root, "every report of the root is already on chain")
            return "resolved"
        problem = self._root_problem(root, view)
        if problem is not None:
            self._void_root(root, problem)
            return "resolved"
        if ctx.aggregator.epoch_end_s(root.epoch) > view.block.timestamp:
            return "waiting"
        data = ctx.chain.encode_commit_root(
            root.config_version,
            root.epoch,
            root.report_count,
            root.root_bytes,
            root.signer_set,
            [signature_from_json(s) for s in root.signatures],
        )
        cap = ctx.settings.submission.gas_cap_per_tx
        try:
            gas = ctx.chain.estimate_gas(ctx.tx.address, ctx.deployment.oracle, data)
        except SubmissionError as exc:
            name = exc.error_name
            if name == "RootAlreadyCommitted" and len(exc.error_args) > 1:
                self._root_found(root, bytes(exc.error_args[1]))
                return "resolved"
            if name == "RootEpochNotEnded":
                return "waiting"
            if name in SIGNATURE_ERRORS:
                self._void_root(root, f"estimate failed: {exc.reason}")
                return "resolved"
            self._root_failed(root, exc.reason)
            return "waiting"
        if gas > cap:
            self._root_failed(root, f"commitRoot needs {gas} gas, over the cap of {cap}")
            return "waiting"
        self.blocked.pop(root.id, None)
        ctx.tx.send(
            kind="commit",
            batch_id=None,
            root_id=root.id,
            to=ctx.deployment.oracle,
            data=data,
            gas_limit=ctx.tx.gas_limit(gas),
            head=view.block,
        )
        return "sent"

    def finish_proven(self) -> None:
        """Mark the committed roots whose every report is on chain as proven (and forget their trees)."""
        outbox = self.ctx.outbox
        for root_id in outbox.finish_roots():
            self.trees.pop(root_id, None)
            root = outbox.root(root_id)
            logger.info(
                "every report of epoch %d's root is on chain",
                root.epoch,
                extra={"event": "root_proven", "root_id": root_id, "epoch": root.epoch, "reports": root.report_count},
            )

    def _store_root(self, tree: EpochTree, view: ChainView, digest: bytes, signatures: list[dict[str, Any]]) -> int:
        return self.ctx.outbox.add_root(
            tree.epoch,
            tree.keys,
            root="0x" + tree.root.hex(),
            config_version=view.config_version,
            digest="0x" + digest.hex(),
            signer_set=view.signer_set,
            signatures=signatures,
        )

    def _root_problem(self, root: RootRow, view: ChainView) -> str | None:
        """Why a stored root can no longer be committed as signed (None when it still can)."""
        if root.config_version != view.config_version or [a.lower() for a in root.signer_set] != [
            a.lower() for a in view.signer_set
        ]:
            return f"signed for configVersion {root.config_version}, the oracle is at {view.config_version}"
        if len(root.signatures) < view.threshold:
            return f"{len(root.signatures)} signatures, the threshold is {view.threshold}"
        return None

    def _root_found(self, root: RootRow, onchain: bytes) -> None:
        """``rootOf(epoch)`` is set: ours (committed, by whoever sent it) or another (a conflict)."""
        ctx = self.ctx
        self.blocked.pop(root.id, None)
        if onchain == root.root_bytes:
            ctx.outbox.mark_root_committed(root.id, by="elsewhere")
            ctx.metrics.roots_found_committed.inc()
            logger.info(
                "the root of epoch %d is already committed (the same root): its reports are proven next",
                root.epoch,
                extra={"event": "root_found_committed", "root_id": root.id, "epoch": root.epoch, "root": root.root},
            )
            ctx.crash("root_committed")
            return
        theirs = "0x" + onchain.hex()
        ctx.outbox.mark_root_conflict(root.id, theirs, "rootOf(epoch) holds another root")
        self.trees.pop(root.id, None)
        ctx.metrics.root_conflicts.inc()
        logger.error(
            "the root of epoch %d on chain (%s) differs from ours (%s): its %d reports fall back to signed batches",
            root.epoch,
            theirs,
            root.root,
            root.report_count,
            extra={
                "event": "root_conflict",
                "root_id": root.id,
                "epoch": root.epoch,
                "ours": root.root,
                "onchain": theirs,
                "reports": root.report_count,
            },
        )

    def _void_root(self, root: RootRow, reason: str) -> None:
        self.blocked.pop(root.id, None)
        self.trees.pop(root.id, None)
        self.ctx.outbox.void_root(root.id, reason)
        logger.info(
            "root %d (epoch %d) void: %s",
            root.id,
            root.epoch,
            reason,
            extra={"event": "root_void", "root_id": root.id, "epoch": root.epoch},
        )

    def _root_failed(self, root: RootRow, reason: str) -> None:
        previous = self.blocked.get(root.id)
        failures = (previous.failures if previous else 0) + 1
        delay = self.ctx.retry_delay_s(failures)
        self.blocked[root.id] = Blocked(root.epoch, reason, failures, time.monotonic() + delay)
        logger.error(
            "the root of epoch %d cannot be committed: %s (retry in %.0fs)",
            root.epoch,
            reason,
            delay,
            extra={"event": "root_commit_failed", "root_id": root.id, "epoch": root.epoch},
        )

    # --- proofs -------------------------------------------------------------------------------------

    def tree(self, root_id: int) -> EpochTree:
        """A stored root's tree, rebuilt from its leaf order and reports (checked against the stored root)."""
        tree = self.trees.get(root_id)
        if tree is None:
            outbox = self.ctx.outbox
            root = outbox.root(root_id)
            tree = rebuild_tree(root.root, [r.report for r in outbox.root_reports(root_id)])
            self.trees[root_id] = tree
        return tree

    def prove_calldata(self, reports: Sequence[Report]) -> bytes:
        """``proveReports`` of ``reports``, each with its proof against its epoch's stored root.

        Raises:
            WellheadError: a report is in no stored root.
        """
        proofs = []
        for report in reports:
            row = self.ctx.outbox.report(report.asset_id, report.epoch)
            if row is None or row.root_id is None:
                raise WellheadError(f"report {report.asset_id}/{report.epoch} is in no root")
            proofs.append(self.tree(row.root_id).proof(report.asset_id, report.epoch))
        return self.ctx.chain.encode_prove_reports(list(reports), proofs)

    def post_proofs(self, view: ChainView) -> bool:
        """Post the next reports of committed roots (each asset's epochs contiguous from its cursor), halved
        until the estimate fits under the gas cap. True when a transaction was sent."""
        ctx = self.ctx
        group = plan_contiguous(ctx, view, ctx.outbox.reports_needing_proof(), self.hint)
        if not group:
            return False
        cap = ctx.settings.submission.gas_cap_per_tx

        def estimate(candidate: list[Report]) -> int:
            return ctx.chain.estimate_gas(ctx.tx.address, ctx.deployment.oracle, self.prove_calldata(candidate))

        def reject(candidate: list[Report], reason: str) -> None:
            if "over the cap" in reason:
                ctx.metrics.batch_splits.inc()

        fit = fit_first_group(group, estimate, cap, on_reject=reject)
        if fit.group is None:
            if fit.error is not None and fit.error.error_name == "EpochNotEnded":
                return False
            if fit.error is not None:
                estimate_failed(ctx, None, fit.error, group[: fit.tried[-1][0]] if fit.tried else group)
            return False
        chosen: list[Report] = list(fit.group)  # type: ignore[arg-type]
        self.learn(len(group), len(chosen), fit.gas)
        batch_id = ctx.outbox.add_batch(
            [(r.asset_id, r.epoch) for r in chosen],
            config_version=0,
            digest=leaves_digest(chosen),
            signer_set=[],
            signatures=[],
            kind="prove",
        )
        logger.info(
            "proof batch %d: %d reports of epochs %s",
            batch_id,
            len(chosen),
            sorted({r.epoch for r in chosen}),
            extra={"event": "proof_batch", "batch": batch_id, "reports": [[r.asset_id, r.epoch] for r in chosen]},
        )
        self.send(ctx.outbox.batch(batch_id), chosen, fit.gas or 0, view)
        return True
