"""The durable outbox: one SQLite file (WAL) holding every report from the moment it is aggregated until the
chain holds it, every signed batch, every transaction sent, and the quarantined readings.

Nothing measured is lost while the chain is unreachable and nothing is sent twice after a crash: every
report and every signed batch is committed here *before* any network call that depends on it, every raw
transaction is committed before it is broadcast, and each step commits in one SQLite transaction
(``synchronous=FULL``), so a SIGKILL leaves either the old or the new state, never half of one.

State machines (each record only moves forward; anything else raises :class:`~oracle.errors.TransitionError`)::

    report       aggregated -> signed -> submitted -> confirmed
                 aggregated | signed | submitted -> done_elsewhere
    batch        signed -> submitted -> confirmed
                 signed | submitted -> void | done_elsewhere
    root         signed -> submitted -> committed -> proven
                 signed | submitted -> committed          (rootOf(epoch) already holds this very root)
                 signed | submitted -> void | conflict
    transaction  pending -> mined | replaced | dropped

A report's state is the furthest step it reached. A report whose batch became ``void`` (split to fit the gas
cap, signed for a signer set that changed, partly posted by someone else) keeps its state and is put in a new
batch; a batch whose transaction was dropped (its nonce taken by another transaction) stays ``submitted`` and
gets a new transaction. ``done_elsewhere``: the chain holds the epoch and not through a transaction of ours;
``mismatch`` records whether the chain's report differs from ours.

Root mode (``submission.mode = "root"``): a *root* is the Merkle tree of one epoch's reports (leaves: their
EIP-712 struct hashes, ascending assetId), stored with its leaf order and the quorum's signatures over its
``ReportRoot`` digest before anything is sent; its reports move to ``signed`` and point at it (``root_id``).
The tree is rebuilt from the leaf order and the stored reports (which never change once aggregated) and
checked against the stored root, so proofs need no storage. ``committed``: ``rootOf(epoch)`` holds it (by
our ``commit`` transaction, or by anyone's: ``committed_by``); its reports are then posted in batches of kind
``prove`` (no signatures: a proof batch is only the group of reports one ``proveReports`` transaction
carries), and once every one of them is on chain the root is ``proven``. ``void``: signed for a signer set
that changed before it was committed (its reports get a new root). ``conflict``: ``rootOf(epoch)`` holds
another root; its reports fall back to signed ``submit`` batches. A report belongs to at most one live root
and one live batch.

Tables: ``meta`` (schema version, chain id, oracle address), ``reports``, ``batches``, ``roots``, ``transactions``,
``quarantine`` (rejected readings: series, time, value, reason; at most ``cap`` per epoch) and
``quarantine_overflow`` (how many more were only counted), ``events`` (an audit trail of anomalies).

Schema version 2 added ``roots``, ``batches.kind``, ``reports.root_id``, ``transactions.root_id`` and the
``commit`` and ``prove`` transaction kinds; a version-1 file is migrated in place when the daemon opens it.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oracle.errors import OutboxError, OutboxMismatchError, TransitionError
from oracle.models import Rejection, Report

__all__ = [
    "BATCH_TRANSITIONS",
    "LIVE_ROOT_STATES",
    "REPORT_TRANSITIONS",
    "ROOT_TRANSITIONS",
    "SCHEMA_VERSION",
    "TX_TRANSITIONS",
    "BatchRow",
    "Outbox",
    "ReportRow",
    "RootRow",
    "TxRow",
]

SCHEMA_VERSION = 2

REPORT_TRANSITIONS: dict[str, frozenset[str]] = {
    "aggregated": frozenset({"signed", "done_elsewhere"}),
    "signed": frozenset({"submitted", "done_elsewhere"}),
    "submitted": frozenset({"confirmed", "done_elsewhere"}),
    "confirmed": frozenset(),
    "done_elsewhere": frozenset(),
}
BATCH_TRANSITIONS: dict[str, frozenset[str]] = {
    "signed": frozenset({"submitted", "void", "done_elsewhere"}),
    "submitted": frozenset({"confirmed", "void", "done_elsewhere"}),
    "confirmed": frozenset(),
    "void": frozenset(),
    "done_elsewhere": frozenset(),
}
ROOT_TRANSITIONS: dict[str, frozenset[str]] = {
    "signed": frozenset({"submitted", "committed", "void", "conflict"}),
    "submitted": frozenset({"committed", "void", "conflict"}),
    "committed": frozenset({"proven"}),
    "proven": frozenset(),
    "void": frozenset(),
    "conflict": frozenset(),
}
TX_TRANSITIONS: dict[str, frozenset[str]] = {
    "pending": frozenset({"mined", "replaced", "dropped"}),
    "mined": frozenset(),
    "replaced": frozenset(),
    "dropped": frozenset(),
}
TERMINAL_REPORT_STATES = ("confirmed", "done_elsewhere")
LIVE_ROOT_STATES = ("signed", "submitted", "committed")
"""A root in these states still has work to do (commit, or prove its reports)."""
BATCH_KINDS = ("submit", "prove")
TX_KINDS = ("submit", "keeper", "commit", "prove")


def _transactions_ddl(name: str) -> str:
    return f"""
CREATE TABLE IF NOT EXISTS {name} (
    id                       INTEGER PRIMARY KEY AUTOINCREMENT,
    kind                     TEXT    NOT NULL CHECK (kind IN ({", ".join(repr(k) for k in TX_KINDS)})),
    batch_id                 INTEGER REFERENCES batches(id),   -- submit, prove
    sender                   TEXT    NOT NULL,
    nonce                    INTEGER NOT NULL,
    tx_hash                  TEXT    NOT NULL UNIQUE,
    raw                      TEXT    NOT NULL,
    to_address               TEXT    NOT NULL,
    data                     TEXT    NOT NULL,
    gas_limit                INTEGER NOT NULL,
    max_fee_per_gas          TEXT    NOT NULL,   -- decimal wei (uint256 does not fit SQLite's INTEGER)
    max_priority_fee_per_gas TEXT    NOT NULL,
    state                    TEXT    NOT NULL CHECK (state IN ({", ".join(repr(s) for s in TX_TRANSITIONS)})),
    replaces                 INTEGER REFERENCES transactions(id),
    sent_block               INTEGER,
    mined_block              INTEGER,
    status                   INTEGER,
    broadcasts               INTEGER NOT NULL DEFAULT 0,
    last_error               TEXT,
    created_at               REAL    NOT NULL,
    updated_at               REAL    NOT NULL,
    root_id                  INTEGER REFERENCES roots(id)     -- commit
);
"""


_ROOTS_DDL = f"""
CREATE TABLE IF NOT EXISTS roots (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    epoch          INTEGER NOT NULL,
    config_version INTEGER NOT NULL,
    root           TEXT    NOT NULL,   -- the Merkle root (0x...)
    report_count   INTEGER NOT NULL,
    leaves         TEXT    NOT NULL,   -- JSON [[assetId, epoch], ...] in leaf order (ascending assetId)
    digest         TEXT    NOT NULL,   -- the ReportRoot EIP-712 digest the signatures are over
    signer_set     TEXT    NOT NULL,   -- JSON addresses (the on-chain set the root is committed with)
    signatures     TEXT    NOT NULL,   -- JSON [{{signer, v, r, s}}], or [] when found already committed
    state          TEXT    NOT NULL CHECK (state IN ({", ".join(repr(s) for s in ROOT_TRANSITIONS)})),
    reason         TEXT,               -- why void or conflict
    onchain_root   TEXT,               -- conflict: the root rootOf(epoch) holds
    committed_by   TEXT CHECK (committed_by IN ('self', 'elsewhere')),
    tx_hash        TEXT,               -- our commit transaction that landed it
    block          INTEGER,
    created_at     REAL    NOT NULL,
    updated_at     REAL    NOT NULL
);
CREATE INDEX IF NOT EXISTS roots_by_epoch ON roots (epoch, state);
"""

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS batches (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    config_version INTEGER NOT NULL,
    digest         TEXT    NOT NULL,
    reports        TEXT    NOT NULL,   -- JSON [[assetId, epoch], ...] in batch order
    signer_set     TEXT    NOT NULL,   -- JSON addresses (the on-chain set the batch is posted with)
    signatures     TEXT    NOT NULL,   -- JSON [{{signer, v, r, s}}], strictly ascending signers
    state          TEXT    NOT NULL CHECK (state IN ({", ".join(repr(s) for s in BATCH_TRANSITIONS)})),
    void_reason    TEXT,
    tx_hash        TEXT,               -- the transaction that landed it
    block          INTEGER,
    created_at     REAL    NOT NULL,
    updated_at     REAL    NOT NULL,
    kind           TEXT    NOT NULL DEFAULT 'submit' CHECK (kind IN ('submit', 'prove'))
    -- prove: reports proven against committed roots (config_version 0, digest = keccak of the leaves, no
    -- signer set or signatures)
);
CREATE TABLE IF NOT EXISTS reports (
    asset_id              INTEGER NOT NULL,
    epoch                 INTEGER NOT NULL,
    gpu_seconds           INTEGER NOT NULL,
    curtailed_gpu_seconds INTEGER NOT NULL,
    utilization_bps       INTEGER NOT NULL,
    energy_wh             INTEGER NOT NULL,
    report_hash           TEXT    NOT NULL,   -- EIP-712 struct hash (0x...)
    state                 TEXT    NOT NULL CHECK (state IN ({", ".join(repr(s) for s in REPORT_TRANSITIONS)})),
    batch_id              INTEGER REFERENCES batches(id),
    tx_hash               TEXT,
    block                 INTEGER,
    onchain_hash          TEXT,
    mismatch              INTEGER NOT NULL DEFAULT 0,
    created_at            REAL    NOT NULL,
    updated_at            REAL    NOT NULL,
    root_id               INTEGER REFERENCES roots(id),   -- root mode: the Merkle root it is a leaf of
    PRIMARY KEY (asset_id, epoch)
);
CREATE INDEX IF NOT EXISTS reports_by_state ON reports (state, asset_id, epoch);
CREATE INDEX IF NOT EXISTS reports_by_root ON reports (root_id);
{_ROOTS_DDL}
{_transactions_ddl("transactions")}
CREATE INDEX IF NOT EXISTS transactions_by_state ON transactions (state, sender, nonce);
CREATE TABLE IF NOT EXISTS quarantine (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    epoch       INTEGER,
    series      TEXT NOT NULL,
    ts_ms       INTEGER,
    value       TEXT,
    reason      TEXT NOT NULL,
    detail      TEXT NOT NULL,
    fingerprint TEXT NOT NULL UNIQUE,
    created_at  REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS quarantine_overflow (
    epoch   INTEGER NOT NULL,
    reason  TEXT    NOT NULL,
    dropped INTEGER NOT NULL,
    PRIMARY KEY (epoch, reason)
);
CREATE TABLE IF NOT EXISTS events (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    ts       REAL NOT NULL,
    kind     TEXT NOT NULL,
    asset_id INTEGER,
    epoch    INTEGER,
    detail   TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class ReportRow:
    """A report in the outbox."""

    report: Report
    report_hash: str
    state: str
    batch_id: int | None
    tx_hash: str | None
    block: int | None
    mismatch: bool
    root_id: int | None = None

    @property
    def key(self) -> tuple[int, int]:
        """(assetId, epoch)."""
        return (self.report.asset_id, self.report.epoch)


@dataclass(frozen=True)
class BatchRow:
    """A signed batch in the outbox."""

    id: int
    config_version: int
    digest: str
    keys: list[tuple[int, int]]
    signer_set: list[str]
    signatures: list[dict[str, Any]]
    state: str
    void_reason: str | None
    tx_hash: str | None
    block: int | None
    kind: str = "submit"
    """``submit`` (signed reports for ``submit``) or ``prove`` (reports of committed roots for ``proveReports``)."""


@dataclass(frozen=True)
class RootRow:
    """A Merkle root of one epoch's reports (root mode)."""

    id: int
    epoch: int
    config_version: int
    root: str
    report_count: int
    keys: list[tuple[int, int]]
    """The leaves' (assetId, epoch), in leaf order."""
    digest: str
    signer_set: list[str]
    signatures: list[dict[str, Any]]
    state: str
    reason: str | None
    onchain_root: str | None
    committed_by: str | None
    tx_hash: str | None
    block: int | None

    @property
    def root_bytes(self) -> bytes:
        """The root as 32 bytes."""
        return bytes.fromhex(self.root[2:])


@dataclass(frozen=True)
class TxRow:
    """A transaction the daemon signed (and, unless it crashed first, broadcast)."""

    id: int
    kind: str
    batch_id: int | None
    sender: str
    nonce: int
    tx_hash: str
    raw: str
    to_address: str
    data: str
    gas_limit: int
    max_fee_per_gas: int
    max_priority_fee_per_gas: int
    state: str
    replaces: int | None
    sent_block: int | None
    mined_block: int | None
    status: int | None
    broadcasts: int
    last_error: str | None
    created_at: float
    root_id: int | None = None


class Outbox:
    """The outbox file. One writer (the daemon); ``status`` opens it read-only while the daemon runs.

    Args:
        path: the SQLite file (created with its folder when missing, unless ``read_only``).
        read_only: open without writing (``status``); raises if the file does not exist.
        quarantine_cap_per_epoch: rejected readings kept per epoch.

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
                self._db.executescript(_SCHEMA)
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
            for statement in _ROOTS_DDL.split(";"):
                if statement.strip():
                    self._db.execute(statement)
            self._db.execute(
                "ALTER TABLE batches ADD COLUMN kind TEXT NOT NULL DEFAULT 'submit' CHECK (kind IN ('submit', 'prove'))"
            )
            self._db.execute("ALTER TABLE reports ADD COLUMN root_id INTEGER REFERENCES roots(id)")
            self._db.execute(_transactions_ddl("transactions_v2"))
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
        series = _render(rejection.labels)
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
        return None if row is None else _report_row(row)

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
        return [_report_row(row) for row in self._db.execute(query, params)]

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
        return [_report_row(row) for row in rows]

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
        return _batch_row(row)

    def batches(self, states: Sequence[str]) -> list[BatchRow]:
        """Batches in some states, oldest first."""
        rows = self._db.execute(
            f"SELECT * FROM batches WHERE state IN ({', '.join('?' for _ in states)}) ORDER BY id", list(states)
        )
        return [_batch_row(row) for row in rows]

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
        return _root_row(row)

    def roots(self, states: Sequence[str] | None = None) -> list[RootRow]:
        """Roots (in some states), by epoch then id."""
        if states is None:
            rows = self._db.execute("SELECT * FROM roots ORDER BY epoch, id")
        else:
            rows = self._db.execute(
                f"SELECT * FROM roots WHERE state IN ({', '.join('?' for _ in states)}) ORDER BY epoch, id",
                list(states),
            )
        return [_root_row(row) for row in rows]

    def root_of_epoch(self, epoch: int) -> RootRow | None:
        """The epoch's root that is not void (at most one), or None."""
        row = self._db.execute(
            "SELECT * FROM roots WHERE epoch = ? AND state != 'void' ORDER BY id DESC", (epoch,)
        ).fetchone()
        return None if row is None else _root_row(row)

    def root_reports(self, root_id: int) -> list[ReportRow]:
        """The reports of a root, in leaf order.

        Raises:
            OutboxError: no such root, or one of its reports is missing.
        """
        root = self.root(root_id)
        leaves = self._db.execute("SELECT * FROM reports WHERE root_id = ?", (root_id,))
        rows = {r.key: r for r in (_report_row(row) for row in leaves)}
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
        return [_tx_row(row) for row in self._db.execute(query + " ORDER BY nonce, id", params)]

    def transactions(self, batch_id: int | None = None) -> list[TxRow]:
        """Every transaction (of one batch), by id."""
        if batch_id is None:
            rows = self._db.execute("SELECT * FROM transactions ORDER BY id")
        else:
            rows = self._db.execute("SELECT * FROM transactions WHERE batch_id = ? ORDER BY id", (batch_id,))
        return [_tx_row(row) for row in rows]

    def transaction(self, tx_id: int) -> TxRow:
        """One transaction.

        Raises:
            OutboxError: no such transaction.
        """
        row = self._db.execute("SELECT * FROM transactions WHERE id = ?", (tx_id,)).fetchone()
        if row is None:
            raise OutboxError(f"no transaction #{tx_id}")
        return _tx_row(row)

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

    def _move_tx(self, db: sqlite3.Connection, tx_id: int, to: str) -> sqlite3.Row:
        row = db.execute("SELECT * FROM transactions WHERE id = ?", (tx_id,)).fetchone()
        record = f"transaction #{tx_id}" + (f" ({row['tx_hash']})" if row is not None else "")
        if row is None:
            raise TransitionError(record, None, to)
        if to not in TX_TRANSITIONS[row["state"]]:
            raise TransitionError(record, row["state"], to)
        db.execute("UPDATE transactions SET state = ?, updated_at = ? WHERE id = ?", (to, time.time(), tx_id))
        return row

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


# --- rows ------------------------------------------------------------------------------------------


def _report_row(row: sqlite3.Row) -> ReportRow:
    report = Report(
        asset_id=int(row["asset_id"]),
        epoch=int(row["epoch"]),
        gpu_seconds=int(row["gpu_seconds"]),
        curtailed_gpu_seconds=int(row["curtailed_gpu_seconds"]),
        utilization_bps=int(row["utilization_bps"]),
        energy_wh=int(row["energy_wh"]),
    )
    return ReportRow(
        report=report,
        report_hash=str(row["report_hash"]),
        state=str(row["state"]),
        batch_id=row["batch_id"],
        tx_hash=row["tx_hash"],
        block=row["block"],
        mismatch=bool(row["mismatch"]),
        root_id=row["root_id"],
    )


def _batch_row(row: sqlite3.Row) -> BatchRow:
    return BatchRow(
        id=int(row["id"]),
        config_version=int(row["config_version"]),
        digest=str(row["digest"]),
        keys=[(int(a), int(e)) for a, e in json.loads(row["reports"])],
        signer_set=list(json.loads(row["signer_set"])),
        signatures=list(json.loads(row["signatures"])),
        state=str(row["state"]),
        void_reason=row["void_reason"],
        tx_hash=row["tx_hash"],
        block=row["block"],
        kind=str(row["kind"]),
    )


def _root_row(row: sqlite3.Row) -> RootRow:
    return RootRow(
        id=int(row["id"]),
        epoch=int(row["epoch"]),
        config_version=int(row["config_version"]),
        root=str(row["root"]),
        report_count=int(row["report_count"]),
        keys=[(int(a), int(e)) for a, e in json.loads(row["leaves"])],
        digest=str(row["digest"]),
        signer_set=list(json.loads(row["signer_set"])),
        signatures=list(json.loads(row["signatures"])),
        state=str(row["state"]),
        reason=row["reason"],
        onchain_root=row["onchain_root"],
        committed_by=row["committed_by"],
        tx_hash=row["tx_hash"],
        block=row["block"],
    )


def _tx_row(row: sqlite3.Row) -> TxRow:
    return TxRow(
        id=int(row["id"]),
        kind=str(row["kind"]),
        batch_id=row["batch_id"],
        sender=str(row["sender"]),
        nonce=int(row["nonce"]),
        tx_hash=str(row["tx_hash"]),
        raw=str(row["raw"]),
        to_address=str(row["to_address"]),
        data=str(row["data"]),
        gas_limit=int(row["gas_limit"]),
        max_fee_per_gas=int(row["max_fee_per_gas"]),
        max_priority_fee_per_gas=int(row["max_priority_fee_per_gas"]),
        state=str(row["state"]),
        replaces=row["replaces"],
        sent_block=row["sent_block"],
        mined_block=row["mined_block"],
        status=row["status"],
        broadcasts=int(row["broadcasts"]),
        last_error=row["last_error"],
        created_at=float(row["created_at"]),
        root_id=row["root_id"],
    )


def _render(labels: dict[str, str]) -> str:
    name = labels.get("__name__", "")
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    return f"{name}{{{inner}}}"
