"""The outbox's records as frozen dataclasses, and their conversion from SQLite rows."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from oracle.models import Report

__all__ = ["BatchRow", "ReportRow", "RootRow", "TxRow", "batch_row", "render_labels", "report_row", "root_row", "tx_row"]


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


# --- rows ------------------------------------------------------------------------------------------


def report_row(row: sqlite3.Row) -> ReportRow:
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


def batch_row(row: sqlite3.Row) -> BatchRow:
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


def root_row(row: sqlite3.Row) -> RootRow:
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


def tx_row(row: sqlite3.Row) -> TxRow:
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


def render_labels(labels: dict[str, str]) -> str:
    """A series as Prometheus text: ``name{label="value",...}`` (labels sorted)."""
    name = labels.get("__name__", "")
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    return f"{name}{{{inner}}}"

