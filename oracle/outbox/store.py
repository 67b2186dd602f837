"""The outbox file itself: opening (WAL, ``synchronous=FULL``), schema migration, binding to one deployment,
one-transaction writes, and the audit trail (quarantined readings, events). The tables are added on top of it,
one class per table (:mod:`oracle.outbox.reports`, ``batches``, ``roots``, ``transactions``)."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from oracle.errors import OutboxError, OutboxMismatchError

from oracle.outbox.schema import ROOTS_DDL, SCHEMA, SCHEMA_VERSION, transactions_ddl

__all__ = ["OutboxStore"]


class OutboxStore:
    """The SQLite connection and what every table uses (see :class:`oracle.outbox.Outbox` for the arguments).

    Raises:
        OutboxError: the file cannot be opened or is not an outbox of this schema version.
    """


    def __init__(self, path: str | Path, *, read_only: bool = False, quarantine_cap_per_epoch: int = 1_000) -> None:
        self.path = Path(path)
        self.cap = quarantine_cap_per_epoch
        self.read_only = read_only
        try:
            if read_only:
                if not self.path.exists():
                    raise OutboxError(f"{self.path}: no outbox here yet")
                self._db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, isolation_level=None, timeout=30)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=FULL")
                if self._stored_version() == "1":
                    self._migrate_from_v1()
                self._db.execute("PRAGMA foreign_keys=ON")
                self._db.executescript(SCHEMA)
                self._db.execute(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
                )
            self._db.row_factory = sqlite3.Row
            version = self._meta("schema_version")
        except sqlite3.DatabaseError as exc:
            raise OutboxError(f"{self.path}: not a usable outbox ({exc})") from None
        if version is not None and int(version) != SCHEMA_VERSION:
            raise OutboxError(f"{self.path}: schema version {version}, this daemon uses {SCHEMA_VERSION}")

    # --- housekeeping -------------------------------------------------------------------------------

    def _stored_version(self) -> str | None:
        if self._db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone() is None:
            return None
        row = self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return None if row is None else str(row[0])

    def _migrate_from_v1(self) -> None:
        """Schema 1 -> 2 in one SQLite transaction (foreign keys are still off on this connection): the roots
        table, ``batches.kind``, ``reports.root_id``, and the transactions table rebuilt for its new kinds
        and ``root_id`` (SQLite cannot change a CHECK constraint in place)."""
        columns = ", ".join(
            str(row[1]) for row in self._db.execute("PRAGMA table_info(transactions)").fetchall()
        )
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for statement in ROOTS_DDL.split(";"):
                if statement.strip():
                    self._db.execute(statement)
            self._db.execute(
                "ALTER TABLE batches ADD COLUMN kind TEXT NOT NULL DEFAULT 'submit' CHECK (kind IN ('submit', 'prove'))"
            )
            self._db.execute("ALTER TABLE reports ADD COLUMN root_id INTEGER REFERENCES roots(id)")
            self._db.execute(transactions_ddl("transactions_v2"))
            self._db.execute(f"INSERT INTO transactions_v2 ({columns}) SELECT {columns} FROM transactions")
            self._db.execute("DROP TABLE transactions")
            self._db.execute("ALTER TABLE transactions_v2 RENAME TO transactions")
            self._db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
            problems = self._db.execute("PRAGMA foreign_key_check").fetchall()
            if problems:
                raise OutboxError(f"{self.path}: migration to schema {SCHEMA_VERSION} broke references: {problems}")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def close(self) -> None:
        """Checkpoint the WAL into the main file (when writable) and close."""
        try:
            if not self.read_only:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            self._db.close()

    def bind(self, chain_id: int, oracle: str) -> None:
        """Tie the outbox to one deployment, or check that it already is.

        Raises:
            OutboxMismatchError: the outbox belongs to another chain or oracle.
        """
        expected = f"chain {chain_id} oracle {oracle}"
        found_chain, found_oracle = self._meta("chain_id"), self._meta("oracle")
        if found_chain is None:
            with self._write() as db:
                db.execute(
                    "INSERT INTO meta (key, value) VALUES ('chain_id', ?), ('oracle', ?)", (str(chain_id), oracle)
                )
            return
        if int(found_chain) != chain_id or (found_oracle or "").lower() != oracle.lower():
            raise OutboxMismatchError(self.path, expected, f"chain {found_chain} oracle {found_oracle}")

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One SQLite transaction: committed on success, rolled back on any exception."""
        if self.read_only:
            raise OutboxError(f"{self.path}: opened read-only")
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        else:
            self._db.execute("COMMIT")

    # --- quarantine and events ----------------------------------------------------------------------

    def quarantined(self, epoch: int | None = None) -> list[dict[str, Any]]:
        """Quarantined readings (of one epoch), oldest first."""
        if epoch is None:
            rows = self._db.execute("SELECT * FROM quarantine ORDER BY id")
        else:
            rows = self._db.execute("SELECT * FROM quarantine WHERE epoch = ? ORDER BY id", (epoch,))
        return [dict(row) for row in rows]

    def quarantine_overflow(self) -> dict[tuple[int, str], int]:
        """(epoch, reason) -> readings counted but not kept (over the cap)."""
        return {(int(r[0]), str(r[1])): int(r[2]) for r in self._db.execute("SELECT * FROM quarantine_overflow")}

    def record_event(
        self, kind: str, detail: dict[str, Any], asset_id: int | None = None, epoch: int | None = None
    ) -> None:
        """Append to the audit trail of anomalies."""
        with self._write() as db:
            self._event(db, kind, asset_id, epoch, detail)

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        """The audit trail (of one kind)."""
        if kind is None:
            rows = self._db.execute("SELECT * FROM events ORDER BY id")
        else:
            rows = self._db.execute("SELECT * FROM events WHERE kind = ? ORDER BY id", (kind,))
        return [{**dict(row), "detail": json.loads(row["detail"])} for row in rows]

    @staticmethod
    def _event(
        db: sqlite3.Connection, kind: str, asset_id: int | None, epoch: int | None, detail: dict[str, Any]
    ) -> None:
        db.execute(
            "INSERT INTO events (ts, kind, asset_id, epoch, detail) VALUES (?, ?, ?, ?, ?)",
            (time.time(), kind, asset_id, epoch, json.dumps(detail, default=str)),
        )
