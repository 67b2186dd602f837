"""The outbox's schema: state machines (allowed transitions), kinds, and the SQLite DDL (version 2)."""

from __future__ import annotations

__all__ = [
    "BATCH_KINDS",
    "BATCH_TRANSITIONS",
    "LIVE_ROOT_STATES",
    "REPORT_TRANSITIONS",
    "ROOT_TRANSITIONS",
    "SCHEMA",
    "SCHEMA_VERSION",
    "TERMINAL_REPORT_STATES",
    "TX_KINDS",
    "TX_TRANSITIONS",
    "ROOTS_DDL",
    "transactions_ddl",
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



def transactions_ddl(name: str) -> str:
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


ROOTS_DDL = f"""
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

SCHEMA = f"""
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
{ROOTS_DDL}
{transactions_ddl("transactions")}
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


