"""The durable outbox: forward-only state machines, quarantine with a cap, one deployment per file, and
durability across a SIGKILL."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from oracle.errors import OutboxError, OutboxMismatchError, TransitionError
from oracle.models import Rejection, RejectReason, Report
from oracle.outbox import BATCH_TRANSITIONS, REPORT_TRANSITIONS, TX_TRANSITIONS, Outbox
from oracle_testkit import REPO_ROOT

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


def rejection(ts_ms: int | None, reason: RejectReason = RejectReason.NOT_FINITE, uuid: str = "GPU-1") -> Rejection:
    return Rejection(
        labels={"__name__": "DCGM_FI_DEV_GPU_UTIL", "UUID": uuid},
        timestamp_ms=ts_ms,
        value="NaN",
        reason=reason,
        detail=f"{uuid} @ {ts_ms}: value NaN is not finite",
    )


@pytest.fixture
def box(tmp_path: Path) -> Outbox:
    outbox = Outbox(tmp_path / "outbox.sqlite", quarantine_cap_per_epoch=2)
    outbox.bind(31337, ORACLE)
    return outbox


def _batch(box: Outbox, keys: list[tuple[int, int]]) -> int:
    return box.add_batch(keys, config_version=1, digest="0xd1", signer_set=["0xA"], signatures=[{"signer": "0xA"}])


def _tx(box: Outbox, batch_id: int | None, nonce: int = 0, tx_hash: str = "0x01", replaces: int | None = None) -> int:
    return box.add_transaction(
        kind="submit" if batch_id is not None else "keeper",
        batch_id=batch_id,
        sender="0xS",
        nonce=nonce,
        tx_hash=tx_hash,
        raw="0x02",
        to_address=ORACLE,
        data="0x",
        gas_limit=100_000,
        max_fee_per_gas=2 * 10**30,
        max_priority_fee_per_gas=10**9,
        sent_block=7,
        replaces=replaces,
    )


def test_the_file_uses_wal_and_full_sync(box: Outbox) -> None:
    db = sqlite3.connect(box.path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


def test_report_moves_aggregated_signed_submitted_confirmed(box: Outbox) -> None:
    box.add_aggregated([(report(1, 0), "0xh0"), (report(1, 1), "0xh1")])
    assert [r.state for r in box.reports()] == ["aggregated", "aggregated"]
    batch = _batch(box, [(1, 0), (1, 1)])
    assert [r.state for r in box.reports()] == ["signed", "signed"]
    tx = _tx(box, batch)
    assert box.batch(batch).state == "submitted"
    assert [r.state for r in box.reports()] == ["submitted", "submitted"]
    box.mark_mined(tx, block=9, status=1)
    rows = box.reports()
    assert [(r.state, r.tx_hash, r.block) for r in rows] == [("confirmed", "0x01", 9)] * 2
    assert box.batch(batch).state == "confirmed"
    assert box.transaction(tx).max_fee_per_gas == 2 * 10**30  # wei beyond SQLite's int64, exact
    assert box.backlog() == 0


def test_backward_and_skipping_transitions_are_refused_with_a_clear_error(box: Outbox) -> None:
    box.add_aggregated([(report(1, 0), "0xh0")])
    with pytest.raises(TransitionError, match=r"report 1/0 is 'aggregated': cannot move it to 'confirmed'") as caught:
        with box._write() as db:  # noqa: SLF001
            box._move_report(db, 1, 0, "confirmed")  # noqa: SLF001
    assert (caught.value.record, caught.value.current, caught.value.requested) == (
        "report 1/0",
        "aggregated",
        "confirmed",
    )
    batch = _batch(box, [(1, 0)])
    tx = _tx(box, batch)
    box.mark_mined(tx, block=3, status=1)
    with pytest.raises(TransitionError, match="report 1/0 is 'confirmed': cannot move it to 'done_elsewhere'"):
        box.mark_done_elsewhere(1, 0, "0xh0")
    with pytest.raises(TransitionError, match="batch 1 is 'confirmed': cannot move it to 'void'"):
        box.void_batch(batch, "too late")
    with pytest.raises(TransitionError, match=r"transaction #1 \(0x01\) is 'mined': cannot move it to 'dropped'"):
        box.mark_dropped(tx, "too late")
    with pytest.raises(TransitionError, match="report 9/9 does not exist"):
        box.mark_done_elsewhere(9, 9, "0x")
    assert box.reports()[0].state == "confirmed"


def test_state_tables_only_ever_point_forward() -> None:
    order = {"aggregated": 0, "signed": 1, "submitted": 2, "confirmed": 3, "done_elsewhere": 3}
    for state, targets in REPORT_TRANSITIONS.items():
        assert all(order[t] > order[state] for t in targets)
    assert not BATCH_TRANSITIONS["confirmed"] and not BATCH_TRANSITIONS["void"]
    assert TX_TRANSITIONS["pending"] == {"mined", "replaced", "dropped"}


def test_a_report_in_a_live_batch_cannot_be_batched_again_but_a_void_batch_frees_it(box: Outbox) -> None:
    box.add_aggregated([(report(1, 0), "0xh0"), (report(1, 1), "0xh1")])
    first = _batch(box, [(1, 0), (1, 1)])
    with pytest.raises(TransitionError, match="in live batch 1"):
        _batch(box, [(1, 0)])
    assert box.reports_needing_batch() == []
    box.void_batch(first, "over the gas cap")
    assert [r.key for r in box.reports_needing_batch()] == [(1, 0), (1, 1)]
    second = _batch(box, [(1, 0)])
    assert box.report(1, 0).batch_id == second  # type: ignore[union-attr]
    assert box.report(1, 0).state == "signed"  # type: ignore[union-attr]
    assert box.batch(first).void_reason == "over the gas cap"


def test_reports_are_immutable_once_aggregated(box: Outbox) -> None:
    box.add_aggregated([(report(1, 0), "0xh0")])
    differing, _ = box.add_aggregated([(report(1, 0, gpu_seconds=1), "0xother"), (report(1, 1), "0xh1")])
    assert [r.key for r in (box.report(1, 0), box.report(1, 1))] == [(1, 0), (1, 1)]  # type: ignore[union-attr]
    assert differing == [report(1, 0, gpu_seconds=1)]
    assert box.report(1, 0).report == report(1, 0)  # type: ignore[union-attr]


def test_replacement_then_mining_marks_the_others_replaced(box: Outbox) -> None:
    box.add_aggregated([(report(1, 0), "0xh0")])
    batch = _batch(box, [(1, 0)])
    first = _tx(box, batch, nonce=4, tx_hash="0xaa")
    second = _tx(box, batch, nonce=4, tx_hash="0xbb", replaces=first)
    assert [t.id for t in box.pending_transactions()] == [first, second]
    box.mark_mined(second, block=12, status=1)
    assert (box.transaction(first).state, box.transaction(second).state) == ("replaced", "mined")
    with pytest.raises(TransitionError, match="transaction #1"):
        _tx(box, batch, nonce=4, tx_hash="0xcc", replaces=first)


def test_a_dropped_transaction_leaves_its_batch_submitted_for_a_new_one(box: Outbox) -> None:
    box.add_aggregated([(report(1, 0), "0xh0")])
    batch = _batch(box, [(1, 0)])
    tx = _tx(box, batch, nonce=1, tx_hash="0xaa")
    box.mark_dropped(tx, "nonce used by another transaction")
    assert box.batch(batch).state == "submitted"
    again = _tx(box, batch, nonce=2, tx_hash="0xbb")
    box.mark_mined(again, block=5, status=1)
    assert box.report(1, 0).state == "confirmed"  # type: ignore[union-attr]


def test_done_elsewhere_records_a_mismatch_and_an_event(box: Outbox) -> None:
    box.add_aggregated([(report(1, 0), "0xh0"), (report(1, 1), "0xh1")])
    same = box.mark_done_elsewhere(1, 0, "0xH0")
    other = box.mark_done_elsewhere(1, 1, "0xdead")
    assert (same.state, same.mismatch, other.state, other.mismatch) == ("done_elsewhere", False, "done_elsewhere", True)
    (event,) = box.events("report_mismatch")
    assert (event["asset_id"], event["epoch"], event["detail"]) == (1, 1, {"ours": "0xh1", "onchain": "0xdead"})


def test_quarantine_keeps_each_reading_once_up_to_the_cap_per_epoch(box: Outbox) -> None:
    readings = [(0, rejection(1000 + i)) for i in range(4)] + [(None, rejection(None))]
    _, fresh = box.add_aggregated([], readings)
    assert len(fresh) == 5
    _, again = box.add_aggregated([], readings[:2])
    assert again == []  # already quarantined: not counted twice
    kept = box.quarantined(0)
    assert [(r["series"], r["ts_ms"], r["value"], r["reason"]) for r in kept] == [
        ('DCGM_FI_DEV_GPU_UTIL{UUID="GPU-1"}', 1000, "NaN", "not_finite"),
        ('DCGM_FI_DEV_GPU_UTIL{UUID="GPU-1"}', 1001, "NaN", "not_finite"),
    ]
    assert box.quarantine_overflow() == {(0, "not_finite"): 2}
    assert len(box.quarantined()) == 3


def test_an_outbox_belongs_to_one_deployment(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    box.bind(31337, ORACLE)
    box.bind(31337, ORACLE.lower())
    with pytest.raises(OutboxMismatchError, match=f"belongs to chain 31337 oracle {ORACLE}, not chain 1"):
        box.bind(1, ORACLE)
    box.close()


def test_read_only_opening_sees_the_writers_commits_and_cannot_write(box: Outbox) -> None:
    box.add_aggregated([(report(2, 5), "0xh")])
    reader = Outbox(box.path, read_only=True)
    assert reader.last_epoch(2) == 5 and reader.backlog() == 1
    with pytest.raises(OutboxError, match="opened read-only"):
        reader.add_aggregated([(report(2, 6), "0xh")])
    reader.close()
    with pytest.raises(OutboxError, match="no outbox here yet"):
        Outbox(box.path.parent / "absent.sqlite", read_only=True)


def test_committed_steps_survive_a_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    script = textwrap.dedent(
        f"""
        import os, signal
        from oracle.outbox import Outbox
        from oracle.models import Report
        box = Outbox({str(path)!r})
        box.bind(31337, {ORACLE!r})
        r = Report(asset_id=1, epoch=0, gpu_seconds=1, curtailed_gpu_seconds=0, utilization_bps=1, energy_wh=1)
        box.add_aggregated([(r, "0xh")])
        batch = box.add_batch([(1, 0)], config_version=1, digest="0xd", signer_set=[], signatures=[])
        box.add_transaction(kind="submit", batch_id=batch, sender="0xS", nonce=0, tx_hash="0xt", raw="0x",
                            to_address="0xO", data="0x", gas_limit=1, max_fee_per_gas=1,
                            max_priority_fee_per_gas=1, sent_block=1)
        box._db.execute("BEGIN IMMEDIATE")
        box._db.execute("UPDATE reports SET state = 'confirmed'")  # a step cut short: never committed
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == -9, done.stderr
    box = Outbox(path)
    assert [(r.key, r.state) for r in box.reports()] == [((1, 0), "submitted")]
    assert [(t.tx_hash, t.state) for t in box.pending_transactions()] == [("0xt", "pending")]
    assert box.batch(1).state == "submitted"
    box.close()
