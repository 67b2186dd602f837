"""The ``reports`` table (and the quarantine of rejected readings that comes with each aggregation): a report from
the moment it is aggregated until the chain holds it."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterable, Sequence
from typing import Any

from oracle.errors import OutboxError, TransitionError
from oracle.models import Rejection, Report

from oracle.outbox.rows import ReportRow, render_labels, report_row
from oracle.outbox.schema import REPORT_TRANSITIONS
from oracle.outbox.store import OutboxStore

__all__ = ["ReportTable"]


class ReportTable(OutboxStore):
    """The ``reports`` table (and the quarantine of rejected readings that comes with each aggregation)."""

    # --- reports ------------------------------------------------------------------------------------

    def add_aggregated(
        self,
        reports: Sequence[tuple[Report, str]],
        rejections: Iterable[tuple[int | None, Rejection]] = (),
    ) -> tuple[list[Report], list[tuple[int | None, Rejection]]]:
        """Store newly aggregated reports (with their struct hashes) and quarantine rejected readings, in one
        SQLite transaction.

        A report already in the outbox is left untouched (reports are immutable once aggregated); the ones
        that differ from what is stored are returned so that the caller can log them.

        Args:
            reports: (report, struct hash) pairs.
            rejections: (epoch, rejection) pairs; the epoch is that of the reading's time (None if unknown).

        Returns:
            (stored reports that differ from the ones given, the rejections not seen before: quarantined, or
            only counted when the epoch's cap is reached).
        """
        now = time.time()
        differing: list[Report] = []
        fresh: list[tuple[int | None, Rejection]] = []
        with self._write() as db:
            for report, report_hash in reports:
                existing = db.execute(
                    "SELECT report_hash FROM reports WHERE asset_id = ? AND epoch = ?", (report.asset_id, report.epoch)
                ).fetchone()
                if existing is not None:
                    if existing[0] != report_hash:
                        differing.append(report)
                    continue
                db.execute(
                    "INSERT INTO reports (asset_id, epoch, gpu_seconds, curtailed_gpu_seconds, utilization_bps, "
                    "energy_wh, report_hash, state, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, 'aggregated', ?, ?)",
                    (
                        report.asset_id,
                        report.epoch,
                        report.gpu_seconds,
                        report.curtailed_gpu_seconds,
                        report.utilization_bps,
                        report.energy_wh,
                        report_hash,
                        now,
                        now,
                    ),
                )
            for epoch, rejection in rejections:
                if self._quarantine(db, epoch, rejection, now):
                    fresh.append((epoch, rejection))
        return differing, fresh

    def _quarantine(self, db: sqlite3.Connection, epoch: int | None, rejection: Rejection, now: float) -> bool:
        """Keep one rejected reading (or count it past the cap); False when it was already there."""
        series = render_labels(rejection.labels)
        fingerprint = hashlib.sha256(
            json.dumps(
                [series, rejection.timestamp_ms, rejection.value, rejection.reason.value, rejection.detail]
            ).encode()
        ).hexdigest()
        if db.execute("SELECT 1 FROM quarantine WHERE fingerprint = ?", (fingerprint,)).fetchone():
            return False
        kept = db.execute("SELECT COUNT(*) FROM quarantine WHERE epoch IS ?", (epoch,)).fetchone()[0]
        if kept >= self.cap:
            db.execute(
                "INSERT INTO quarantine_overflow (epoch, reason, dropped) VALUES (?, ?, 1) "
                "ON CONFLICT (epoch, reason) DO UPDATE SET dropped = dropped + 1",
                (epoch if epoch is not None else -1, rejection.reason.value),
            )
            return True
        db.execute(
            "INSERT INTO quarantine (epoch, series, ts_ms, value, reason, detail, fingerprint, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                epoch,
                series,
                rejection.timestamp_ms,
                rejection.value,
                rejection.reason.value,
                rejection.detail,
                fingerprint,
                now,
            ),
        )
        return True

    def report(self, asset_id: int, epoch: int) -> ReportRow | None:
        """One report, or None."""
        row = self._db.execute("SELECT * FROM reports WHERE asset_id = ? AND epoch = ?", (asset_id, epoch)).fetchone()
        return None if row is None else report_row(row)

    def reports(self, *, states: Sequence[str] | None = None, asset_id: int | None = None) -> list[ReportRow]:
        """Reports (optionally in some states or of one asset), by (asset, epoch)."""
        query = "SELECT * FROM reports"
        clauses: list[str] = []
        params: list[Any] = []
        if states is not None:
            clauses.append(f"state IN ({', '.join('?' for _ in states)})")
            params += list(states)
        if asset_id is not None:
            clauses.append("asset_id = ?")
            params.append(asset_id)
        if clauses:
            query += " WHERE " + " AND ".join(clauses)
        query += " ORDER BY asset_id, epoch"
        return [report_row(row) for row in self._db.execute(query, params)]

    def reports_needing_batch(self) -> list[ReportRow]:
        """Reports not yet on chain, in no live batch (never batched, or their batch is void) and in no live
        root (none, or their root is void or in conflict with the chain's)."""
        return self._free_reports("(r.root_id IS NULL OR t.state IN ('void', 'conflict'))")

    def reports_needing_root(self) -> list[ReportRow]:
        """Reports not yet on chain, in no live batch and in no root (none, or a void one)."""
        return self._free_reports("(r.root_id IS NULL OR t.state = 'void')")

    def reports_needing_proof(self) -> list[ReportRow]:
        """Reports not yet on chain, in no live batch, whose root is committed."""
        return self._free_reports("t.state = 'committed'")

    def _free_reports(self, root_clause: str) -> list[ReportRow]:
        rows = self._db.execute(
            "SELECT r.* FROM reports r LEFT JOIN batches b ON b.id = r.batch_id LEFT JOIN roots t ON t.id = r.root_id "
            "WHERE r.state NOT IN ('confirmed', 'done_elsewhere') AND (r.batch_id IS NULL OR b.state = 'void') "
            f"AND {root_clause} ORDER BY r.asset_id, r.epoch"
        )
        return [report_row(row) for row in rows]

    def last_epoch(self, asset_id: int) -> int | None:
        """The latest epoch of ``asset_id`` in the outbox (any state)."""
        row = self._db.execute("SELECT MAX(epoch) FROM reports WHERE asset_id = ?", (asset_id,)).fetchone()
        return None if row[0] is None else int(row[0])

    def backlog(self, asset_id: int | None = None) -> int:
        """Reports aggregated but not yet on chain."""
        query = "SELECT COUNT(*) FROM reports WHERE state NOT IN ('confirmed', 'done_elsewhere')"
        params: tuple[Any, ...] = ()
        if asset_id is not None:
            query += " AND asset_id = ?"
            params = (asset_id,)
        return int(self._db.execute(query, params).fetchone()[0])

    def mark_done_elsewhere(self, asset_id: int, epoch: int, onchain_hash: str) -> ReportRow:
        """The chain holds this epoch, not through a transaction of ours; record whether it matches.

        Raises:
            TransitionError: the report is already confirmed or done, or does not exist.
        """
        with self._write() as db:
            row = self._move_report(db, asset_id, epoch, "done_elsewhere")
            mismatch = int(onchain_hash.lower() != row["report_hash"].lower())
            db.execute(
                "UPDATE reports SET onchain_hash = ?, mismatch = ? WHERE asset_id = ? AND epoch = ?",
                (onchain_hash, mismatch, asset_id, epoch),
            )
            if mismatch:
                self._event(
                    db, "report_mismatch", asset_id, epoch, {"ours": row["report_hash"], "onchain": onchain_hash}
                )
        result = self.report(asset_id, epoch)
        if result is None:
            raise OutboxError(f"report {asset_id}/{epoch} vanished while being marked")
        return result

    def _move_report(self, db: sqlite3.Connection, asset_id: int, epoch: int, to: str) -> sqlite3.Row:
        row = db.execute("SELECT * FROM reports WHERE asset_id = ? AND epoch = ?", (asset_id, epoch)).fetchone()
        record = f"report {asset_id}/{epoch}"
        if row is None:
            raise TransitionError(record, None, to)
        if to not in REPORT_TRANSITIONS[row["state"]]:
            raise TransitionError(record, row["state"], to)
        db.execute(
            "UPDATE reports SET state = ?, updated_at = ? WHERE asset_id = ? AND epoch = ?",
            (to, time.time(), asset_id, epoch),
        )
        return row
