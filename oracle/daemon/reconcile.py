"""The reconcile stage: what became of our transactions, and what landed on chain without us.

1. Pending transactions are settled by :class:`oracle.submitter.TxManager` (mined, dropped because their nonce
   was taken, replaced when stuck, rebroadcast when the node forgot them); a mined batch confirms its reports,
   a reverted one is voided so its reports are batched again.
2. Reports below an asset's on-chain cursor that no transaction of ours landed are marked *done elsewhere*;
   the chain's report is compared with ours (a mismatch is logged, counted and recorded).
3. Reports the outbox holds as on chain at or above an asset's cursor mean the chain rolled back past them
   (deeper than ``submission.confirmations``, the finality depth): they are re-opened and posted again.
"""

from __future__ import annotations

import logging
import time

from oracle.outbox import ReportRow

from oracle.daemon.context import ZERO_ROOT, ChainView, StageContext

__all__ = ["Reconciler"]

logger = logging.getLogger(__name__)


class Reconciler:
    """Brings the outbox in line with the chain (see the module docstring).

    Args:
        ctx: the parts every stage shares.
    """

    def __init__(self, ctx: StageContext) -> None:
        self.ctx = ctx

    def reconcile(self, view: ChainView) -> bool:
        """Settle pending transactions; True when one was mined or reverted (the cursors may have moved)."""
        ctx = self.ctx
        moved = False
        for outcome in ctx.tx.reconcile(view.block):
            tx = outcome.tx
            if tx.kind == "commit" and tx.root_id is not None:
                moved |= outcome.outcome == "mined"
                self._commit_outcome(tx.root_id, tx.tx_hash, outcome.outcome, outcome.block)
                continue
            if tx.kind not in ("submit", "prove") or tx.batch_id is None:
                moved |= outcome.outcome == "mined"
                continue
            batch = ctx.outbox.batch(tx.batch_id)
            if outcome.outcome == "mined":
                moved = True
                ctx.metrics.reports_posted.inc(len(batch.keys))
                if tx.kind == "prove":
                    ctx.metrics.proofs_posted.inc(len(batch.keys))
                ctx.metrics.last_report_timestamp.set(time.time())
                for asset_id, epoch in batch.keys:
                    ctx.blocked.pop(asset_id, None)
                    logger.info(
                        "report %d/%d posted in block %s",
                        asset_id,
                        epoch,
                        outcome.block,
                        extra={
                            "event": "report_posted",
                            "asset": asset_id,
                            "epoch": epoch,
                            "tx": tx.tx_hash,
                            "block": outcome.block,
                            "via": tx.kind,
                        },
                    )
            elif outcome.outcome == "reverted" and batch.state in ("signed", "submitted"):
                moved = True
                ctx.void_batch(batch, f"transaction {tx.tx_hash} reverted")
        return moved

    def _commit_outcome(self, root_id: int, tx_hash: str, outcome: str, block: int | None) -> None:
        ctx = self.ctx
        root = ctx.outbox.root(root_id)
        if outcome == "mined":
            ctx.metrics.roots_committed.inc()
            logger.info(
                "root of epoch %d committed in block %s (%d reports)",
                root.epoch,
                block,
                root.report_count,
                extra={
                    "event": "root_committed",
                    "root_id": root.id,
                    "epoch": root.epoch,
                    "root": root.root,
                    "reports": root.report_count,
                    "tx": tx_hash,
                    "block": block,
                },
            )
            ctx.crash("root_committed")
        elif outcome == "reverted":
            logger.warning(
                "commitRoot of epoch %d reverted (transaction %s): checked again next step",
                root.epoch,
                tx_hash,
                extra={"event": "root_commit_reverted", "root_id": root.id, "epoch": root.epoch, "tx": tx_hash},
            )

    def detect_rollback(self, view: ChainView) -> int:
        """Reports the outbox holds as on chain at or above an asset's cursor: the chain rolled back (a reorg
        deeper than ``submission.confirmations``, an ``evm_revert``). They are re-opened (our transactions go
        back to pending and are rebroadcast as signed; others' reports are batched again) and it is logged
        loudly. Returns how many."""
        ctx = self.ctx
        behind: dict[int, list[ReportRow]] = {}
        for asset_id, last in sorted(ctx.outbox.last_settled_epochs().items()):
            if asset_id in view.cursors and last >= view.next_epoch(asset_id):
                behind[asset_id] = ctx.outbox.settled_at_or_after(asset_id, view.next_epoch(asset_id))
        if not behind:
            return 0
        reason = f"the oracle's cursors at block {view.block.number} are behind the outbox"
        rewound = ctx.outbox.reopen_reports([row.key for rows in behind.values() for row in rows], reason)
        reopened = sum(len(rows) for rows in behind.values())
        ctx.metrics.reports_reopened.inc(reopened)
        for root_id in rewound["roots"]:
            root = ctx.outbox.root(root_id)
            if ctx.chain.root_of(root.epoch)[0] == ZERO_ROOT and not ctx.outbox.rewind_root_commit(root_id, reason):
                logger.error(
                    "the root of epoch %d is no longer on chain and was not committed by us: its reports cannot be "
                    "proven (known limit; see docs/operators.md)",
                    root.epoch,
                    extra={"event": "rolled_back_root_lost", "root_id": root_id, "epoch": root.epoch},
                )
        for asset_id, rows in behind.items():
            logger.error(
                "CHAIN ROLLBACK: the oracle's cursor of asset %d is at epoch %d (block %d) but the outbox held epochs "
                "%d..%d as on chain: re-opened, they are posted again",
                asset_id,
                view.next_epoch(asset_id),
                view.block.number,
                rows[0].report.epoch,
                rows[-1].report.epoch,
                extra={
                    "event": "chain_rollback",
                    "asset": asset_id,
                    "cursor": view.next_epoch(asset_id),
                    "epochs": [row.report.epoch for row in rows],
                    "txs": sorted({row.tx_hash for row in rows if row.tx_hash}),
                    "rewound": rewound,
                },
            )
        return reopened

    def settle_done(self, view: ChainView) -> None:
        """Reports below the cursor that no transaction of ours landed: done elsewhere (checked against ours)."""
        ctx = self.ctx
        outbox = ctx.outbox
        busy = {tx.batch_id for tx in outbox.pending_transactions() if tx.batch_id is not None}
        touched: set[int] = set()
        for asset_id in ctx.asset_ids:
            next_epoch = view.next_epoch(asset_id)
            for row in outbox.reports(states=("aggregated", "signed", "submitted"), asset_id=asset_id):
                if row.report.epoch >= next_epoch:
                    break
                if row.batch_id is not None and row.batch_id in busy:
                    continue  # our own transaction may be the one that landed it: reconcile decides
                onchain = ctx.chain.report_hash(asset_id, row.report.epoch) or "0x" + "00" * 32
                marked = outbox.mark_done_elsewhere(asset_id, row.report.epoch, onchain)
                if row.batch_id is not None:
                    touched.add(row.batch_id)
                if marked.mismatch:
                    ctx.metrics.report_mismatches.labels(asset=str(asset_id)).inc()
                    onchain_report = ctx.chain.get_report(asset_id, row.report.epoch)
                    logger.error(
                        "report %d/%d on chain differs from ours",
                        asset_id,
                        row.report.epoch,
                        extra={
                            "event": "report_mismatch",
                            "asset": asset_id,
                            "epoch": row.report.epoch,
                            "ours": row.report.model_dump(),
                            "onchain": onchain_report.model_dump() if onchain_report else None,
                        },
                    )
                else:
                    ctx.metrics.reports_done_elsewhere.inc()
                    logger.warning(
                        "report %d/%d was already on chain (posted by someone else)",
                        asset_id,
                        row.report.epoch,
                        extra={"event": "report_done_elsewhere", "asset": asset_id, "epoch": row.report.epoch},
                    )
        for batch_id in touched:
            batch = outbox.batch(batch_id)
            if batch.state not in ("signed", "submitted"):
                continue
            rows = outbox.batch_reports(batch_id)
            if all(r.state in ("confirmed", "done_elsewhere") for r in rows):
                outbox.finish_batch_elsewhere(batch_id)
            else:
                ctx.void_batch(batch, "part of it is already on chain")
