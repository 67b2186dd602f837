"""The ``batches`` table: signed batches (``submit``) and proof batches (``prove``), each a group of reports one
transaction carries."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from typing import Any

from oracle.errors import OutboxError, TransitionError

from oracle.outbox.reports import ReportTable
from oracle.outbox.rows import BatchRow, ReportRow, batch_row
from oracle.outbox.schema import BATCH_KINDS, BATCH_TRANSITIONS, TERMINAL_REPORT_STATES

__all__ = ["BatchTable"]


class BatchTable(ReportTable):
    """The ``batches`` table."""

    # --- batches ------------------------------------------------------------------------------------

    def add_batch(
        self,
        keys: Sequence[tuple[int, int]],
        *,
        config_version: int,
        digest: str,
        signer_set: Sequence[str],
        signatures: Sequence[dict[str, Any]],
        kind: str = "submit",
    ) -> int:
        """Store a batch and move its reports to ``signed`` (those already further stay there).

        ``kind="submit"``: a quorum-signed batch for ``submit``; none of its reports may be in a live root.
        ``kind="prove"``: reports of committed roots for ``proveReports`` (no signatures).

        Raises:
            TransitionError: a report is missing, already on chain, still in another live batch, in a live root
                (submit), or not in a committed root (prove).
        """
        if kind not in BATCH_KINDS:
            raise OutboxError(f"unknown batch kind {kind!r}")
        now = time.time()
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO batches (config_version, digest, reports, signer_set, signatures, state, created_at, "
                "updated_at, kind) VALUES (?, ?, ?, ?, ?, 'signed', ?, ?, ?)",
                (
                    config_version,
                    digest,
                    json.dumps([list(k) for k in keys]),
                    json.dumps(list(signer_set)),
                    json.dumps(list(signatures)),
                    now,
                    now,
                    kind,
                ),
            )
            batch_id = int(cursor.lastrowid or 0)
            for asset_id, epoch in keys:
                row = db.execute(
                    "SELECT r.state, r.batch_id, b.state AS batch_state, r.root_id, t.state AS root_state "
                    "FROM reports r LEFT JOIN batches b ON b.id = r.batch_id LEFT JOIN roots t ON t.id = r.root_id "
                    "WHERE r.asset_id = ? AND r.epoch = ?",
                    (asset_id, epoch),
                ).fetchone()
                record = f"report {asset_id}/{epoch}"
                if row is None:
                    raise TransitionError(record, None, "signed")
                if row["state"] in TERMINAL_REPORT_STATES:
                    raise TransitionError(record, row["state"], "signed")
                if row["batch_id"] is not None and row["batch_state"] != "void":
                    raise TransitionError(f"{record} (in live batch {row['batch_id']})", row["state"], "signed")
                if kind == "submit" and row["root_id"] is not None and row["root_state"] not in ("void", "conflict"):
                    raise TransitionError(
                        f"{record} (in {row['root_state']} root {row['root_id']})", row["state"], "signed"
                    )
                if kind == "prove" and row["root_state"] != "committed":
                    raise TransitionError(f"{record} (its root is not committed)", row["state"], "submitted")
                if row["state"] == "aggregated":
                    self._move_report(db, asset_id, epoch, "signed")
                db.execute(
                    "UPDATE reports SET batch_id = ? WHERE asset_id = ? AND epoch = ?", (batch_id, asset_id, epoch)
                )
        return batch_id

    def batch(self, batch_id: int) -> BatchRow:
        """One batch.

        Raises:
            OutboxError: no such batch.
        """
        row = self._db.execute("SELECT * FROM batches WHERE id = ?", (batch_id,)).fetchone()
        if row is None:
            raise OutboxError(f"no batch {batch_id}")
        return batch_row(row)

    def batches(self, states: Sequence[str]) -> list[BatchRow]:
        """Batches in some states, oldest first."""
        rows = self._db.execute(
            f"SELECT * FROM batches WHERE state IN ({', '.join('?' for _ in states)}) ORDER BY id", list(states)
        )
        return [batch_row(row) for row in rows]

    def batch_reports(self, batch_id: int) -> list[ReportRow]:
        """The reports of a batch, in batch order."""
        batch = self.batch(batch_id)
        rows = {r.key: r for r in (self.report(a, e) for a, e in batch.keys) if r is not None}
        return [rows[key] for key in batch.keys if key in rows]

    def void_batch(self, batch_id: int, reason: str) -> None:
        """The batch can never land (split, stale signer set, partly posted elsewhere): free its reports.

        Raises:
            TransitionError: the batch is already confirmed, done or void.
        """
        with self._write() as db:
            self._move_batch(db, batch_id, "void")
            db.execute("UPDATE batches SET void_reason = ? WHERE id = ?", (reason, batch_id))

    def _move_batch(self, db: sqlite3.Connection, batch_id: int, to: str) -> sqlite3.Row:
        row = db.execute("SELECT * FROM batches WHERE id = ?", (batch_id,)).fetchone()
        record = f"batch {batch_id}"
        if row is None:
            raise TransitionError(record, None, to)
        if to not in BATCH_TRANSITIONS[row["state"]]:
            raise TransitionError(record, row["state"], to)
        db.execute("UPDATE batches SET state = ?, updated_at = ? WHERE id = ?", (to, time.time(), batch_id))
        return row

    def finish_batch_elsewhere(self, batch_id: int) -> None:
        """Every report of the batch is on chain through someone else's transaction.

        Raises:
            TransitionError: the batch is not live.
        """
        with self._write() as db:
            self._move_batch(db, batch_id, "done_elsewhere")
