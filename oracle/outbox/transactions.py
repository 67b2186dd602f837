"""The ``transactions`` table: every raw transaction, stored before it is broadcast, until mined, replaced or
dropped."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from typing import Any

from oracle.errors import OutboxError, TransitionError

from oracle.outbox.roots import RootTable
from oracle.outbox.rows import ReportRow, TxRow, report_row, tx_row
from oracle.outbox.schema import TX_KINDS, TX_TRANSITIONS

__all__ = ["TransactionTable"]


class TransactionTable(RootTable):
    """The ``transactions`` table."""

    # --- transactions -------------------------------------------------------------------------------

    def add_transaction(
        self,
        *,
        kind: str,
        batch_id: int | None,
        sender: str,
        nonce: int,
        tx_hash: str,
        raw: str,
        to_address: str,
        data: str,
        gas_limit: int,
        max_fee_per_gas: int,
        max_priority_fee_per_gas: int,
        sent_block: int | None,
        replaces: int | None = None,
        root_id: int | None = None,
    ) -> int:
        """Store a signed transaction (state ``pending``) before it is broadcast; a submit or prove transaction
        moves its batch and reports to ``submitted``, a commit transaction its root.

        Raises:
            TransitionError: the batch or root is not live, or the replaced transaction is no longer pending.
        """
        if kind not in TX_KINDS:
            raise OutboxError(f"unknown transaction kind {kind!r}")
        now = time.time()
        with self._write() as db:
            if replaces is not None:
                old = db.execute("SELECT state FROM transactions WHERE id = ?", (replaces,)).fetchone()
                if old is None or old["state"] != "pending":
                    raise TransitionError(f"transaction #{replaces}", None if old is None else old["state"], "replaced")
            cursor = db.execute(
                "INSERT INTO transactions (kind, batch_id, sender, nonce, tx_hash, raw, to_address, data, gas_limit, "
                "max_fee_per_gas, max_priority_fee_per_gas, state, replaces, sent_block, created_at, updated_at, "
                "root_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?)",
                (
                    kind,
                    batch_id,
                    sender,
                    nonce,
                    tx_hash,
                    raw,
                    to_address,
                    data,
                    gas_limit,
                    str(max_fee_per_gas),
                    str(max_priority_fee_per_gas),
                    replaces,
                    sent_block,
                    now,
                    now,
                    root_id,
                ),
            )
            if kind == "commit":
                root = db.execute("SELECT state FROM roots WHERE id = ?", (root_id,)).fetchone()
                if root is None or root["state"] not in ("signed", "submitted"):
                    raise TransitionError(f"root {root_id}", None if root is None else root["state"], "submitted")
                if root["state"] == "signed":
                    self._move_root(db, int(root_id or 0), "submitted")
            if kind in ("submit", "prove") and batch_id is not None:
                batch = db.execute("SELECT state, reports FROM batches WHERE id = ?", (batch_id,)).fetchone()
                if batch is None:
                    raise TransitionError(f"batch {batch_id}", None, "submitted")
                if batch["state"] == "signed":
                    self._move_batch(db, batch_id, "submitted")
                elif batch["state"] != "submitted":
                    raise TransitionError(f"batch {batch_id}", batch["state"], "submitted")
                for asset_id, epoch in json.loads(batch["reports"]):
                    state = db.execute(
                        "SELECT state FROM reports WHERE asset_id = ? AND epoch = ?", (asset_id, epoch)
                    ).fetchone()
                    if state is not None and state[0] == "signed":
                        self._move_report(db, asset_id, epoch, "submitted")
            return int(cursor.lastrowid or 0)

    def note_broadcast(self, tx_id: int, error: str | None = None) -> None:
        """Count one broadcast attempt of a transaction (and its error, if the node refused it)."""
        with self._write() as db:
            db.execute(
                "UPDATE transactions SET broadcasts = broadcasts + 1, last_error = ?, updated_at = ? WHERE id = ?",
                (error, time.time(), tx_id),
            )

    def pending_transactions(self, sender: str | None = None) -> list[TxRow]:
        """Transactions not yet mined, replaced or dropped, by (nonce, id)."""
        query = "SELECT * FROM transactions WHERE state = 'pending'"
        params: tuple[Any, ...] = ()
        if sender is not None:
            query += " AND sender = ?"
            params = (sender,)
        return [tx_row(row) for row in self._db.execute(query + " ORDER BY nonce, id", params)]

    def transactions(self, batch_id: int | None = None) -> list[TxRow]:
        """Every transaction (of one batch), by id."""
        if batch_id is None:
            rows = self._db.execute("SELECT * FROM transactions ORDER BY id")
        else:
            rows = self._db.execute("SELECT * FROM transactions WHERE batch_id = ? ORDER BY id", (batch_id,))
        return [tx_row(row) for row in rows]

    def transaction(self, tx_id: int) -> TxRow:
        """One transaction.

        Raises:
            OutboxError: no such transaction.
        """
        row = self._db.execute("SELECT * FROM transactions WHERE id = ?", (tx_id,)).fetchone()
        if row is None:
            raise OutboxError(f"no transaction #{tx_id}")
        return tx_row(row)

    def mark_mined(self, tx_id: int, *, block: int, status: int, block_time: int | None = None) -> None:
        """A transaction is mined: the others with its nonce become ``replaced``; a successful submit or prove
        confirms its batch and reports, a successful commit its root.

        Raises:
            TransitionError: the transaction is not pending (or the batch or a report cannot be confirmed).
        """
        with self._write() as db:
            tx = self._move_tx(db, tx_id, "mined")
            db.execute("UPDATE transactions SET mined_block = ?, status = ? WHERE id = ?", (block, status, tx_id))
            for other in db.execute(
                "SELECT id FROM transactions WHERE sender = ? AND nonce = ? AND state = 'pending' AND id != ?",
                (tx["sender"], tx["nonce"], tx_id),
            ).fetchall():
                self._move_tx(db, int(other[0]), "replaced")
            if tx["kind"] == "commit" and tx["root_id"] is not None and status == 1:
                self._move_root(db, int(tx["root_id"]), "committed")
                db.execute(
                    "UPDATE roots SET committed_by = 'self', tx_hash = ?, block = ? WHERE id = ?",
                    (tx["tx_hash"], block, tx["root_id"]),
                )
                return
            if tx["kind"] not in ("submit", "prove") or tx["batch_id"] is None or status != 1:
                return
            batch_id = int(tx["batch_id"])
            self._move_batch(db, batch_id, "confirmed")
            db.execute("UPDATE batches SET tx_hash = ?, block = ? WHERE id = ?", (tx["tx_hash"], block, batch_id))
            keys = json.loads(db.execute("SELECT reports FROM batches WHERE id = ?", (batch_id,)).fetchone()[0])
            for asset_id, epoch in keys:
                self._move_report(db, asset_id, epoch, "confirmed")
                db.execute(
                    "UPDATE reports SET tx_hash = ?, block = ?, batch_id = ? WHERE asset_id = ? AND epoch = ?",
                    (tx["tx_hash"], block, batch_id, asset_id, epoch),
                )

    def mark_dropped(self, tx_id: int, reason: str) -> None:
        """The transaction's nonce was used by another transaction (or the node refused it for good).

        Raises:
            TransitionError: the transaction is not pending.
        """
        with self._write() as db:
            self._move_tx(db, tx_id, "dropped")
            db.execute("UPDATE transactions SET last_error = ? WHERE id = ?", (reason, tx_id))

    # --- chain rollback -------------------------------------------------------------------------------

    def last_settled_epochs(self) -> dict[int, int]:
        """assetId -> its latest epoch the outbox holds as on chain (confirmed or done elsewhere)."""
        rows = self._db.execute(
            "SELECT asset_id, MAX(epoch) FROM reports WHERE state IN ('confirmed', 'done_elsewhere') GROUP BY asset_id"
        )
        return {int(r[0]): int(r[1]) for r in rows}

    def settled_at_or_after(self, asset_id: int, epoch: int) -> list[ReportRow]:
        """``asset_id``'s reports from ``epoch`` on that the outbox holds as on chain (confirmed or done
        elsewhere)."""
        rows = self._db.execute(
            "SELECT * FROM reports WHERE asset_id = ? AND epoch >= ? AND state IN ('confirmed', 'done_elsewhere') "
            "ORDER BY epoch",
            (asset_id, epoch),
        )
        return [report_row(row) for row in rows]

    def reopen_reports(self, keys: Sequence[tuple[int, int]], reason: str) -> dict[str, list[int]]:
        """The chain rolled back (a reorg, ``evm_revert``) and no longer holds these reports: rewind them, the one
        backward move of the state machines, so that they land again. A report our transaction landed goes back
        to ``submitted`` with its whole batch and that transaction back to ``pending`` (its signatures are still
        valid: the transaction is rebroadcast as it was, or replaced or re-batched by the usual rules); a root it
        was proven against goes back from ``proven`` to ``committed``. A report someone else landed goes back to
        ``aggregated``, out of any root. Recorded in ``events``.

        Returns:
            ``{"transactions": [...], "batches": [...], "roots": [...]}``: the ids rewound.
        """
        now = time.time()
        rewound: dict[str, set[int]] = {"transactions": set(), "batches": set(), "roots": set()}
        with self._write() as db:
            found = [
                db.execute(
                    "SELECT * FROM reports WHERE asset_id = ? AND epoch = ? AND state IN ('confirmed', 'done_elsewhere')",
                    key,
                ).fetchone()
                for key in keys
            ]
            for row in found:
                if row is None:
                    continue
                asset_id, epoch = int(row["asset_id"]), int(row["epoch"])
                batch_id = None if row["batch_id"] is None else int(row["batch_id"])
                if (
                    batch_id is not None
                    and row["state"] == "confirmed"
                    and (batch_id in rewound["batches"] or self._rewind_batch(db, batch_id, now, rewound))
                ):
                    if row["root_id"] is not None:
                        rewound["roots"].add(int(row["root_id"]))
                        db.execute(
                            "UPDATE roots SET state = 'committed', updated_at = ? WHERE id = ? AND state = 'proven'",
                            (now, row["root_id"]),
                        )
                else:
                    db.execute(
                        "UPDATE reports SET state = 'aggregated', batch_id = NULL, root_id = NULL, tx_hash = NULL, "
                        "block = NULL, mismatch = 0, updated_at = ? WHERE asset_id = ? AND epoch = ?",
                        (now, asset_id, epoch),
                    )
                self._event(
                    db,
                    "report_reopened",
                    asset_id,
                    epoch,
                    {"reason": reason, "was": row["state"], "tx": row["tx_hash"], "block": row["block"]},
                )
        return {name: sorted(ids) for name, ids in rewound.items()}

    def rewind_root_commit(self, root_id: int, reason: str) -> bool:
        """The chain rolled back our ``commitRoot`` too (``rootOf(epoch)`` is empty again): the root goes back to
        ``submitted`` and its commit transaction to ``pending`` (rebroadcast as signed, before the proofs that
        follow it in nonce order). False when no mined commit transaction of ours landed it."""
        now = time.time()
        with self._write() as db:
            tx = db.execute(
                "SELECT id FROM transactions WHERE kind = 'commit' AND root_id = ? AND state = 'mined' AND status = 1",
                (root_id,),
            ).fetchone()
            if tx is None:
                return False
            db.execute(
                "UPDATE transactions SET state = 'pending', mined_block = NULL, status = NULL, updated_at = ? "
                "WHERE id = ?",
                (now, tx["id"]),
            )
            db.execute(
                "UPDATE roots SET state = 'submitted', committed_by = NULL, block = NULL, updated_at = ? WHERE id = ?",
                (now, root_id),
            )
            self._event(db, "root_reopened", None, None, {"root_id": root_id, "reason": reason, "tx": int(tx["id"])})
        return True

    @staticmethod
    def _rewind_batch(db: sqlite3.Connection, batch_id: int, now: float, rewound: dict[str, set[int]]) -> bool:
        """Put a confirmed batch, its reports and the transaction that landed it back to submitted / pending.
        False when no mined transaction of ours landed it."""
        tx = db.execute(
            "SELECT id FROM transactions WHERE batch_id = ? AND state = 'mined' AND status = 1", (batch_id,)
        ).fetchone()
        if tx is None:
            return False
        db.execute(
            "UPDATE transactions SET state = 'pending', mined_block = NULL, status = NULL, updated_at = ? WHERE id = ?",
            (now, tx["id"]),
        )
        db.execute("UPDATE batches SET state = 'submitted', block = NULL, updated_at = ? WHERE id = ?", (now, batch_id))
        for asset_id, epoch in json.loads(db.execute("SELECT reports FROM batches WHERE id = ?", (batch_id,)).fetchone()[0]):
            db.execute(
                "UPDATE reports SET state = 'submitted', block = NULL, updated_at = ? "
                "WHERE asset_id = ? AND epoch = ? AND state = 'confirmed'",
                (now, asset_id, epoch),
            )
        rewound["transactions"].add(int(tx["id"]))
        rewound["batches"].add(batch_id)
        return True

    def _move_tx(self, db: sqlite3.Connection, tx_id: int, to: str) -> sqlite3.Row:
        row = db.execute("SELECT * FROM transactions WHERE id = ?", (tx_id,)).fetchone()
        record = f"transaction #{tx_id}" + (f" ({row['tx_hash']})" if row is not None else "")
        if row is None:
            raise TransitionError(record, None, to)
        if to not in TX_TRANSITIONS[row["state"]]:
            raise TransitionError(record, row["state"], to)
        db.execute("UPDATE transactions SET state = ?, updated_at = ? WHERE id = ?", (to, time.time(), tx_id))
        return row
