"""Root mode in the outbox: the roots table's forward-only states, which reports each kind of posting may take,
proof batches, and the in-place migration of a schema-1 file."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from oracle.errors import OutboxError, TransitionError
from oracle.models import Report
from oracle.outbox import ROOT_TRANSITIONS, SCHEMA_VERSION, Outbox

ORACLE = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def report(asset_id: int, epoch: int, gpu_seconds: int = 100) -> Report:
    return Report(
        asset_id=asset_id,
        epoch=epoch,
        gpu_seconds=gpu_seconds,
        curtailed_gpu_seconds=0,
        utilization_bps=5_000,
        energy_wh=10,
    )


@pytest.fixture
def box(tmp_path: Path) -> Outbox:
    outbox = Outbox(tmp_path / "outbox.sqlite")
    outbox.bind(31337, ORACLE)
    outbox.add_aggregated([(report(a, e), f"0xh{a}{e}") for a in (1, 2, 3) for e in (0, 1)])
    return outbox


def _root(box: Outbox, epoch: int, assets: tuple[int, ...] = (1, 2, 3), signatures: int = 2) -> int:
    return box.add_root(
        epoch,
        [(a, epoch) for a in assets],
        root="0x" + f"{epoch:02x}" * 32,
        config_version=1,
        digest="0xd" + str(epoch),
        signer_set=["0xA", "0xB"],
        signatures=[{"signer": f"0x{i}"} for i in range(signatures)],
    )


def _tx(box: Outbox, kind: str, *, batch_id: int | None = None, root_id: int | None = None, nonce: int = 0) -> int:
    return box.add_transaction(
        kind=kind,
        batch_id=batch_id,
        root_id=root_id,
        sender="0xS",
        nonce=nonce,
        tx_hash=f"0x{kind}{nonce}",
        raw="0x02",
        to_address=ORACLE,
        data="0x",
        gas_limit=100_000,
        max_fee_per_gas=10**10,
        max_priority_fee_per_gas=10**9,
        sent_block=7,
    )


def test_a_root_moves_signed_submitted_committed_proven_with_its_reports(box: Outbox) -> None:
    root_id = _root(box, 0)
    root = box.root(root_id)
    assert (root.state, root.epoch, root.report_count, root.keys) == ("signed", 0, 3, [(1, 0), (2, 0), (3, 0)])
    rows = box.root_reports(root_id)
    assert [(r.key, r.state, r.root_id) for r in rows] == [((a, 0), "signed", root_id) for a in (1, 2, 3)]
    assert box.reports_needing_root() == [r for r in box.reports() if r.report.epoch == 1]
    assert box.reports_needing_proof() == []

    commit = _tx(box, "commit", root_id=root_id)
    assert box.root(root_id).state == "submitted"
    assert box.transaction(commit).root_id == root_id
    box.mark_mined(commit, block=9, status=1)
    root = box.root(root_id)
    assert (root.state, root.committed_by, root.tx_hash, root.block) == ("committed", "self", "0xcommit0", 9)
    assert [r.key for r in box.reports_needing_proof()] == [(1, 0), (2, 0), (3, 0)]

    batch = box.add_batch([(1, 0), (2, 0)], config_version=0, digest="0xl", signer_set=[], signatures=[], kind="prove")
    assert box.batch(batch).kind == "prove"
    assert [r.key for r in box.reports_needing_proof()] == [(3, 0)]
    prove = _tx(box, "prove", batch_id=batch, nonce=1)
    states = {r.key: r.state for r in box.root_reports(root_id)}
    assert states == {(1, 0): "submitted", (2, 0): "submitted", (3, 0): "signed"}
    box.mark_mined(prove, block=10, status=1)
    assert box.finish_roots() == []  # (3, 0) is not on chain yet
    box.mark_done_elsewhere(3, 0, "0xh30")
    assert box.finish_roots() == [root_id]
    assert box.root(root_id).state == "proven"
    assert [r.state for r in box.root_reports(root_id)] == ["confirmed", "confirmed", "done_elsewhere"]


def test_root_states_only_move_forward(box: Outbox) -> None:
    assert ROOT_TRANSITIONS["committed"] == {"proven"}
    assert all(not ROOT_TRANSITIONS[s] for s in ("proven", "void", "conflict"))
    root_id = _root(box, 0)
    box.mark_root_committed(root_id, by="elsewhere")
    assert (box.root(root_id).committed_by, box.root(root_id).tx_hash) == ("elsewhere", None)
    for move in (
        lambda: box.void_root(root_id, "late"),
        lambda: box.mark_root_conflict(root_id, "0x" + "ee" * 32, "late"),
        lambda: box.mark_root_committed(root_id, by="self"),
        lambda: _tx(box, "commit", root_id=root_id),
    ):
        with pytest.raises(TransitionError, match="states only move forward"):
            move()
    other = _root(box, 1)
    box.void_root(other, "signer set changed")
    with pytest.raises(TransitionError):
        box.mark_root_committed(other, by="self")
    with pytest.raises(TransitionError, match="does not exist"):
        box.void_root(99, "no such root")
    with pytest.raises(OutboxError):
        box.mark_root_committed(root_id, by="somebody")


def test_one_root_per_epoch_unless_void_and_each_report_in_one_live_root(box: Outbox) -> None:
    first = _root(box, 0, assets=(1, 2))
    with pytest.raises(TransitionError, match="epoch 0"):
        _root(box, 0, assets=(3,))  # the epoch is taken: report 3/0 goes to a signed batch instead
    box.void_root(first, "signed for configVersion 1, the oracle is at 2")
    assert box.root(first).reason.startswith("signed for configVersion 1")
    assert [r.key for r in box.reports_needing_root() if r.report.epoch == 0] == [(1, 0), (2, 0), (3, 0)]
    second = _root(box, 0)
    assert [r.root_id for r in box.root_reports(second)] == [second] * 3
    assert box.root_of_epoch(0).id == second  # type: ignore[union-attr]
    with pytest.raises(TransitionError, match=r"report 1/0 \(root of epoch 1\)"):
        box.add_root(1, [(1, 0)], root="0x00", config_version=1, digest="0x", signer_set=[], signatures=[])
    with pytest.raises(TransitionError, match="report 9/1"):
        _root(box, 1, assets=(9,))


def test_signed_batches_never_take_a_report_of_a_live_root_and_proof_batches_only_committed_ones(
    box: Outbox,
) -> None:
    root_id = _root(box, 0)
    assert [r.key for r in box.reports_needing_batch()] == [(1, 1), (2, 1), (3, 1)]
    with pytest.raises(TransitionError, match="in signed root"):
        box.add_batch([(1, 0)], config_version=1, digest="0x", signer_set=["0xA"], signatures=[{}])
    with pytest.raises(TransitionError, match="root is not committed"):
        box.add_batch([(1, 0)], config_version=0, digest="0x", signer_set=[], signatures=[], kind="prove")
    with pytest.raises(TransitionError, match="root is not committed"):
        box.add_batch([(1, 1)], config_version=0, digest="0x", signer_set=[], signatures=[], kind="prove")
    # A batch in flight keeps its reports out of a root.
    box.add_batch([(1, 1)], config_version=1, digest="0x", signer_set=["0xA"], signatures=[{}])
    with pytest.raises(TransitionError, match="in live batch"):
        _root(box, 1)
    with pytest.raises(OutboxError, match="unknown batch kind"):
        box.add_batch([(2, 1)], config_version=1, digest="0x", signer_set=[], signatures=[], kind="other")


def test_a_conflict_is_recorded_and_hands_the_reports_to_signed_batches(box: Outbox) -> None:
    root_id = _root(box, 0)
    commit = _tx(box, "commit", root_id=root_id)
    box.mark_mined(commit, block=9, status=0)  # reverted: RootAlreadyCommitted with another root
    assert box.root(root_id).state == "submitted"
    box.mark_root_conflict(root_id, "0x" + "ee" * 32, "rootOf(epoch) holds another root")
    root = box.root(root_id)
    assert (root.state, root.onchain_root) == ("conflict", "0x" + "ee" * 32)
    (event,) = box.events("root_conflict")
    assert (event["epoch"], event["detail"]["ours"], event["detail"]["onchain"]) == (0, root.root, "0x" + "ee" * 32)
    assert {r.key for r in box.reports_needing_batch()} == {(a, e) for a in (1, 2, 3) for e in (0, 1)}
    assert [r.key for r in box.reports_needing_root()] == [(1, 1), (2, 1), (3, 1)]  # a conflict is not void
    batch = box.add_batch([(1, 0), (2, 0)], config_version=1, digest="0x", signer_set=["0xA"], signatures=[{}])
    assert [r.root_id for r in box.batch_reports(batch)] == [root_id, root_id]


def test_a_schema_1_outbox_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "v1.sqlite"
    db = sqlite3.connect(path)
    db.executescript(SCHEMA_1)
    db.execute("INSERT INTO meta VALUES ('schema_version', '1'), ('chain_id', '31337'), ('oracle', ?)", (ORACLE,))
    db.execute(
        "INSERT INTO batches (config_version, digest, reports, signer_set, signatures, state, created_at, updated_at) "
        "VALUES (1, '0xd', '[[1, 0]]', '[\"0xA\"]', '[]', 'submitted', 1, 1)"
    )
    db.execute(
        "INSERT INTO reports (asset_id, epoch, gpu_seconds, curtailed_gpu_seconds, utilization_bps, energy_wh, "
        "report_hash, state, batch_id, created_at, updated_at) VALUES (1, 0, 5, 0, 10, 1, '0xh', 'submitted', 1, 1, 1)"
    )
    db.execute(
        "INSERT INTO transactions (kind, batch_id, sender, nonce, tx_hash, raw, to_address, data, gas_limit, "
        "max_fee_per_gas, max_priority_fee_per_gas, state, created_at, updated_at) "
        "VALUES ('submit', 1, '0xS', 4, '0xt', '0xr', ?, '0x', 1, '7', '1', 'pending', 1, 1)",
        (ORACLE,),
    )
    db.commit()
    db.close()

    box = Outbox(path)
    box.bind(31337, ORACLE)
    assert box._meta("schema_version") == str(SCHEMA_VERSION)  # noqa: SLF001
    (tx,) = box.pending_transactions()
    assert (tx.kind, tx.batch_id, tx.nonce, tx.max_fee_per_gas, tx.root_id) == ("submit", 1, 4, 7, None)
    assert box.batch(1).kind == "submit"
    assert box.report(1, 0).root_id is None  # type: ignore[union-attr]
    box.mark_mined(tx.id, block=3, status=1)
    assert box.report(1, 0).state == "confirmed"  # type: ignore[union-attr]
    box.add_aggregated([(report(2, 0), "0xh20")])
    root_id = _root(box, 0, assets=(2,))
    _tx(box, "commit", root_id=root_id, nonce=5)  # the rebuilt table takes the new kinds
    box.close()
    again = Outbox(path, read_only=True)
    assert [t.kind for t in again.transactions()] == ["submit", "commit"]
    again.close()
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA foreign_key_check").fetchall() == []
    assert "commit" in raw.execute("SELECT sql FROM sqlite_master WHERE name = 'transactions'").fetchone()[0]
    raw.close()


def test_a_future_schema_is_refused(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    box._db.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")  # noqa: SLF001
    box.close()
    with pytest.raises(OutboxError, match="schema version 3"):
        Outbox(tmp_path / "o.sqlite")


SCHEMA_1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT, config_version INTEGER NOT NULL, digest TEXT NOT NULL,
    reports TEXT NOT NULL, signer_set TEXT NOT NULL, signatures TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('signed', 'submitted', 'confirmed', 'void', 'done_elsewhere')),
    void_reason TEXT, tx_hash TEXT, block INTEGER, created_at REAL NOT NULL, updated_at REAL NOT NULL
);
CREATE TABLE reports (
    asset_id INTEGER NOT NULL, epoch INTEGER NOT NULL, gpu_seconds INTEGER NOT NULL,
    curtailed_gpu_seconds INTEGER NOT NULL, utilization_bps INTEGER NOT NULL, energy_wh INTEGER NOT NULL,
    report_hash TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('aggregated', 'signed', 'submitted', 'confirmed', 'done_elsewhere')),
    batch_id INTEGER REFERENCES batches(id), tx_hash TEXT, block INTEGER, onchain_hash TEXT,
    mismatch INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL, updated_at REAL NOT NULL,
    PRIMARY KEY (asset_id, epoch)
);
CREATE INDEX reports_by_state ON reports (state, asset_id, epoch);
CREATE TABLE transactions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL CHECK (kind IN ('submit', 'keeper')),
    batch_id INTEGER REFERENCES batches(id), sender TEXT NOT NULL, nonce INTEGER NOT NULL,
    tx_hash TEXT NOT NULL UNIQUE, raw TEXT NOT NULL, to_address TEXT NOT NULL, data TEXT NOT NULL,
    gas_limit INTEGER NOT NULL, max_fee_per_gas TEXT NOT NULL, max_priority_fee_per_gas TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'mined', 'replaced', 'dropped')),
    replaces INTEGER REFERENCES transactions(id), sent_block INTEGER, mined_block INTEGER, status INTEGER,
    broadcasts INTEGER NOT NULL DEFAULT 0, last_error TEXT, created_at REAL NOT NULL, updated_at REAL NOT NULL
);
CREATE INDEX transactions_by_state ON transactions (state, sender, nonce);
"""
"""The version-1 tables this migration starts from (as the first release of the daemon created them)."""


def test_root_rows_round_trip_their_leaf_order_and_signatures(box: Outbox) -> None:
    root_id = box.add_root(
        1,
        [(3, 1), (1, 1)],
        root="0x" + "ab" * 32,
        config_version=4,
        digest="0xdd",
        signer_set=["0xA"],
        signatures=[{"signer": "0xA", "v": 27, "r": "0x1", "s": "0x2"}],
    )
    root = box.root(root_id)
    assert root.keys == [(3, 1), (1, 1)] and root.root_bytes == bytes.fromhex("ab" * 32)
    assert [r.key for r in box.root_reports(root_id)] == [(3, 1), (1, 1)]
    assert json.loads(json.dumps(root.signatures)) == [{"signer": "0xA", "v": 27, "r": "0x1", "s": "0x2"}]
    assert [r.id for r in box.roots(("signed",))] == [root_id]
