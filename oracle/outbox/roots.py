"""The ``roots`` table (root mode): an epoch's Merkle root with its leaf order and signatures, from signed to
proven."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from typing import Any

from oracle.errors import OutboxError, TransitionError

from oracle.outbox.batches import BatchTable
from oracle.outbox.rows import ReportRow, RootRow, report_row, root_row
from oracle.outbox.schema import ROOT_TRANSITIONS, TERMINAL_REPORT_STATES

__all__ = ["RootTable"]


class RootTable(BatchTable):
    """The ``roots`` table (root mode)."""

    # --- roots (root mode) --------------------------------------------------------------------------

    def add_root(
        self,
        epoch: int,
        keys: Sequence[tuple[int, int]],
        *,
        root: str,
        config_version: int,
        digest: str,
        signer_set: Sequence[str],
        signatures: Sequence[dict[str, Any]],
    ) -> int:
        """Store an epoch's Merkle root (leaf order, signatures) and move its reports to ``signed``, pointing at
        it, in one SQLite transaction.

        Raises:
            TransitionError: the epoch already has a root that is not void, or a report is missing, of another
                epoch, already on chain, in a live batch or in a live root.
        """
        now = time.time()
        with self._write() as db:
            taken = db.execute(
                "SELECT id, state FROM roots WHERE epoch = ? AND state != 'void' ORDER BY id", (epoch,)
            ).fetchone()
            if taken is not None:
                raise TransitionError(f"epoch {epoch} (root {taken['id']})", taken["state"], "signed")
            cursor = db.execute(
                "INSERT INTO roots (epoch, config_version, root, report_count, leaves, digest, signer_set, signatures, "
                "state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'signed', ?, ?)",
                (
                    epoch,
                    config_version,
                    root,
                    len(keys),
                    json.dumps([list(k) for k in keys]),
                    digest,
                    json.dumps(list(signer_set)),
                    json.dumps(list(signatures)),
                    now,
                    now,
                ),
            )
            root_id = int(cursor.lastrowid or 0)
            for asset_id, report_epoch in keys:
                record = f"report {asset_id}/{report_epoch}"
                row = db.execute(
                    "SELECT r.state, r.batch_id, b.state AS batch_state, r.root_id, t.state AS root_state "
                    "FROM reports r LEFT JOIN batches b ON b.id = r.batch_id LEFT JOIN roots t ON t.id = r.root_id "
                    "WHERE r.asset_id = ? AND r.epoch = ?",
                    (asset_id, report_epoch),
                ).fetchone()
                if row is None or report_epoch != epoch:
                    current = None if row is None else row["state"]
                    raise TransitionError(f"{record} (root of epoch {epoch})", current, "signed")
                if row["state"] in TERMINAL_REPORT_STATES:
                    raise TransitionError(record, row["state"], "signed")
                if row["batch_id"] is not None and row["batch_state"] != "void":
                    raise TransitionError(f"{record} (in live batch {row['batch_id']})", row["state"], "signed")
                if row["root_id"] is not None and row["root_state"] != "void":
                    raise TransitionError(
                        f"{record} (in {row['root_state']} root {row['root_id']})", row["state"], "signed"
                    )
                if row["state"] == "aggregated":
                    self._move_report(db, asset_id, report_epoch, "signed")
                db.execute(
                    "UPDATE reports SET root_id = ? WHERE asset_id = ? AND epoch = ?", (root_id, asset_id, report_epoch)
                )
        return root_id

    def root(self, root_id: int) -> RootRow:
        """One root.

        Raises:
            OutboxError: no such root.
        """
        row = self._db.execute("SELECT * FROM roots WHERE id = ?", (root_id,)).fetchone()
        if row is None:
            raise OutboxError(f"no root {root_id}")
        return root_row(row)

    def roots(self, states: Sequence[str] | None = None) -> list[RootRow]:
        """Roots (in some states), by epoch then id."""
        if states is None:
            rows = self._db.execute("SELECT * FROM roots ORDER BY epoch, id")
        else:
            rows = self._db.execute(
                f"SELECT * FROM roots WHERE state IN ({', '.join('?' for _ in states)}) ORDER BY epoch, id",
                list(states),
            )
        return [root_row(row) for row in rows]

    def root_of_epoch(self, epoch: int) -> RootRow | None:
        """The epoch's root that is not void (at most one), or None."""
        row = self._db.execute(
            "SELECT * FROM roots WHERE epoch = ? AND state != 'void' ORDER BY id DESC", (epoch,)
        ).fetchone()
        return None if row is None else root_row(row)

    def root_reports(self, root_id: int) -> list[ReportRow]:
        """The reports of a root, in leaf order.

        Raises:
            OutboxError: no such root, or one of its reports is missing.
        """
        root = self.root(root_id)
        leaves = self._db.execute("SELECT * FROM reports WHERE root_id = ?", (root_id,))
        rows = {r.key: r for r in (report_row(row) for row in leaves)}
        if len(rows) != len(root.keys):  # a void root's reports may have moved on to a newer root
            rows = {r.key: r for r in (self.report(a, e) for a, e in root.keys) if r is not None}
        missing = [key for key in root.keys if key not in rows]
        if missing:
            raise OutboxError(f"root {root_id}: reports {missing} are missing from the outbox")
        return [rows[key] for key in root.keys]

    def root_progress(self, root_id: int) -> tuple[int, int]:
        """(reports of the root already on chain, reports still pointing at it)."""
        row = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(state IN ('confirmed', 'done_elsewhere')), 0) FROM reports "
            "WHERE root_id = ?",
            (root_id,),
        ).fetchone()
        return int(row[1]), int(row[0])

    def root_epochs(self) -> set[int]:
        """Epochs that have a root that is not void (their reports can get no other root)."""
        return {int(r[0]) for r in self._db.execute("SELECT DISTINCT epoch FROM roots WHERE state != 'void'")}

    def mark_root_committed(
        self, root_id: int, *, by: str, tx_hash: str | None = None, block: int | None = None
    ) -> None:
        """``rootOf(epoch)`` holds this root: by our commit transaction (``by="self"``) or anyone's.

        Raises:
            TransitionError: the root is not signed or submitted.
        """
        if by not in ("self", "elsewhere"):
            raise OutboxError(f"committed_by must be 'self' or 'elsewhere', not {by!r}")
        with self._write() as db:
            self._move_root(db, root_id, "committed")
            db.execute(
                "UPDATE roots SET committed_by = ?, tx_hash = ?, block = ? WHERE id = ?", (by, tx_hash, block, root_id)
            )

    def mark_root_conflict(self, root_id: int, onchain_root: str, reason: str) -> None:
        """``rootOf(epoch)`` holds another root: this one can never be committed, its reports fall back to
        signed ``submit`` batches. Recorded in ``events`` (``root_conflict``).

        Raises:
            TransitionError: the root is not signed or submitted.
        """
        with self._write() as db:
            row = self._move_root(db, root_id, "conflict")
            db.execute(
                "UPDATE roots SET onchain_root = ?, reason = ? WHERE id = ?", (onchain_root, reason, root_id)
            )
            self._event(
                db,
                "root_conflict",
                None,
                int(row["epoch"]),
                {"root": root_id, "ours": row["root"], "onchain": onchain_root, "reason": reason},
            )

    def void_root(self, root_id: int, reason: str) -> None:
        """The root can never be committed as signed (the signer set changed): its reports need a new root.

        Raises:
            TransitionError: the root is already committed, proven, void or in conflict.
        """
        with self._write() as db:
            self._move_root(db, root_id, "void")
            db.execute("UPDATE roots SET reason = ? WHERE id = ?", (reason, root_id))

    def finish_roots(self) -> list[int]:
        """Committed roots whose every report is on chain become ``proven``; returns their ids."""
        done: list[int] = []
        if self._db.execute("SELECT 1 FROM roots WHERE state = 'committed' LIMIT 1").fetchone() is None:
            return done
        with self._write() as db:
            for row in db.execute("SELECT id FROM roots WHERE state = 'committed' ORDER BY id").fetchall():
                open_count = db.execute(
                    "SELECT COUNT(*) FROM reports WHERE root_id = ? AND state NOT IN ('confirmed', 'done_elsewhere')",
                    (row["id"],),
                ).fetchone()[0]
                if open_count == 0:
                    self._move_root(db, int(row["id"]), "proven")
                    done.append(int(row["id"]))
        return done

    def _move_root(self, db: sqlite3.Connection, root_id: int, to: str) -> sqlite3.Row:
        row = db.execute("SELECT * FROM roots WHERE id = ?", (root_id,)).fetchone()
        record = f"root {root_id}" + (f" (epoch {row['epoch']})" if row is not None else "")
        if row is None:
            raise TransitionError(record, None, to)
        if to not in ROOT_TRANSITIONS[row["state"]]:
            raise TransitionError(record, row["state"], to)
        db.execute("UPDATE roots SET state = ?, updated_at = ? WHERE id = ?", (to, time.time(), root_id))
        return row
