"""Several transactions in flight (``submission.max_in_flight``): signed batches sent back to back with consecutive
nonces, without waiting for receipts, and every exactly-once guarantee kept - a real Anvil that mines only when
told (so transactions really wait in its pool), the compiled contracts, a real SQLite outbox, and the daemon
in-process (step by step) or as a subprocess (SIGKILLed with three transactions in flight).

Each batch-mode test posts epochs 0-5 of both assets (12 reports) in batches of two, three at most in flight:
asset 1's epochs 0-1, 2-3 and 4-5 go out together, each batch depending on the one before it in nonce order.
The faults: a revert in the middle of the pipeline, SIGKILL with three in flight (and a node that forgot one),
a nonce taken by another sender of the key, every nonce stuck and replaced, a rollback of six landed batches;
and root-only mode committing three epochs' roots together while catching up.
"""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from live_kit import (
    EPOCH,
    GENESIS,
    REPO,
    A,
    B,
    C,
    Chain,
    ChainTemplate,
    DaemonProcess,
    assert_posted_exactly_once,
    daemon_settings,
    outbox_rows,
    start_chain,
    write_settings,
)
from web3.exceptions import TransactionNotFound

from oracle.chain import ChainClient
from oracle.daemon import Daemon, status_report
from oracle.eip712 import Eip712Domain, batch_digest
from oracle.models import Report
from oracle.outbox import TxRow
from oracle.roots import build_epoch_tree
from oracle.settings import load_settings
from oracle.signer import LocalKeySigner, sign_sorted

pytestmark = pytest.mark.slow

IN_FLIGHT = 3
THROUGH = 5
KEYS = [(a, e) for a in (1, 2) for e in range(THROUGH + 1)]


def _settings(tmp_path: Path, chain: Chain, recording: Path) -> dict[str, Any]:
    return daemon_settings(
        tmp_path,
        chain=chain,
        source={"kind": "recording", "recording": {"path": str(recording)}},
        submission={"max_in_flight": IN_FLIGHT, "max_reports_per_tx": 2},
    )


def _in_process(tmp_path: Path, settings: dict[str, Any]) -> Daemon:
    daemon = Daemon.from_settings(load_settings(write_settings(tmp_path, settings)))
    daemon.startup_checks()
    return daemon


def _pool_size(chain: Chain, sender: str) -> int:
    """How many of ``sender``'s transactions the node holds unmined."""
    return int(chain.w3.eth.get_transaction_count(sender, "pending")) - int(chain.w3.eth.get_transaction_count(sender))


def _batch_keys(daemon: Daemon, tx: TxRow) -> list[tuple[int, int]]:
    assert tx.batch_id is not None
    return [tuple(k) for k in daemon.outbox.batch(tx.batch_id).keys]  # type: ignore[misc]


def _run_to_the_end(daemon: Daemon, chain: Chain, steps: int = 20) -> list[int]:
    """Step and mine until every epoch through THROUGH is posted; the transactions in flight after each step."""
    seen = []
    for _ in range(steps):
        daemon.step()
        seen.append(daemon.txm.in_flight())  # type: ignore[union-attr]
        if daemon.done_through(THROUGH):
            break
        chain.mine()
    assert daemon.done_through(THROUGH)
    return seen


def _receipt_status(chain: Chain, tx_hash: str) -> int | None:
    try:
        return int(chain.w3.eth.get_transaction_receipt(tx_hash)["status"])  # type: ignore[arg-type]
    except TransactionNotFound:
        return None


def _confirmed_keys(daemon: Daemon) -> list[tuple[int, int]]:
    """Every report key of the confirmed batches, with repetitions (a report in two would show twice)."""
    return sorted(tuple(k) for b in daemon.outbox.batches(("confirmed",)) for k in b.keys)  # type: ignore[misc]


def test_batches_are_in_flight_together_up_to_the_bound_and_each_epoch_lands_once(
    tmp_path: Path, template: ChainTemplate, recording: Path, reference: dict[tuple[int, int], Report]
) -> None:
    chain = start_chain(template, tmp_path / "chain", timestamp=GENESIS + (THROUGH + 1) * EPOCH + 5, no_mining=True)
    settings = _settings(tmp_path, chain, recording)
    daemon = _in_process(tmp_path, settings)
    try:
        daemon.step()
        pending = daemon.outbox.pending_transactions()
        sender = daemon.txm.address  # type: ignore[union-attr]
        # Three transactions wait in the node's pool at once, consecutive nonces, each with its own batch:
        # asset 1's epochs 0-1, 2-3 and 4-5 (each one follows the one before it in nonce order).
        assert [t.nonce for t in pending] == [pending[0].nonce + i for i in range(IN_FLIGHT)]
        assert _pool_size(chain, sender) == IN_FLIGHT
        assert [_batch_keys(daemon, t) for t in pending] == [[(1, 0), (1, 1)], [(1, 2), (1, 3)], [(1, 4), (1, 5)]]
        assert daemon.metrics.transactions_in_flight._value.get() == IN_FLIGHT  # noqa: SLF001
        status = status_report(daemon.settings)
        assert (status["inFlight"], status["maxInFlight"]) == (IN_FLIGHT, IN_FLIGHT)
        assert [t["nonce"] for t in status["pendingTransactions"]] == [t.nonce for t in pending]
        shown = subprocess.run(
            [sys.executable, "-m", "oracle", "status", "--config", str(tmp_path / "oracle.toml")],
            capture_output=True,
            text=True,
            check=True,
            cwd=REPO,
        ).stdout
        assert f"in flight: {IN_FLIGHT} of {IN_FLIGHT} nonces" in shown.splitlines()

        # The bound holds: nothing new while three are in flight.
        daemon.step()
        assert [t.id for t in daemon.outbox.pending_transactions()] == [t.id for t in pending]
        assert _pool_size(chain, sender) == IN_FLIGHT

        # One block lands all three, in nonce order.
        chain.mine()
        assert [_receipt_status(chain, t.tx_hash) for t in pending] == [1, 1, 1]
        assert chain.cursor(1) == THROUGH + 1
        seen = _run_to_the_end(daemon, chain)
        assert max(seen) <= IN_FLIGHT
        assert len(daemon.outbox.transactions()) == len(KEYS) // 2  # six batches of two, no retry
        assert _confirmed_keys(daemon) == sorted(KEYS)
        assert_posted_exactly_once(chain, reference, THROUGH, outbox=tmp_path / "outbox.sqlite")
    finally:
        daemon.close()
        chain.stop()


def test_a_revert_in_the_middle_of_the_pipeline_loses_no_report_and_posts_none_twice(
    tmp_path: Path, template: ChainTemplate, recording: Path, reference: dict[tuple[int, int], Report]
) -> None:
    chain = start_chain(template, tmp_path / "chain", timestamp=GENESIS + (THROUGH + 1) * EPOCH + 5, no_mining=True)
    daemon = _in_process(tmp_path, _settings(tmp_path, chain, recording))
    client = ChainClient(chain.url, chain.oracle)
    try:
        daemon.step()
        first, middle, last = daemon.outbox.pending_transactions()
        # A block with room for the first transaction only: epochs 0-1 land, 2-3 and 4-5 wait.
        chain.rpc("evm_setBlockGasLimit", [hex(first.gas_limit + 10_000)])
        chain.mine()
        chain.rpc("evm_setBlockGasLimit", [hex(30_000_000)])
        assert [_receipt_status(chain, t.tx_hash) for t in (first, middle, last)] == [1, None, None]
        # Another member of the quorum (B and C) posts asset 1's epoch 2 first, with a higher tip: the middle
        # transaction then reverts (EpochAlreadyReported) and the last one, which depended on it, too (EpochGap).
        theirs = [reference[(1, 2)]]
        digest = batch_digest(Eip712Domain(31337, chain.oracle), 1, theirs)
        signatures = sign_sorted(digest, [LocalKeySigner(B.key), LocalKeySigner(C.key)])
        tx = {
            "type": 2,
            "chainId": 31337,
            "nonce": chain.w3.eth.get_transaction_count(C.address),
            "to": chain.oracle,
            "value": 0,
            "gas": 1_000_000,
            "maxFeePerGas": 10**12,
            "maxPriorityFeePerGas": 5 * 10**11,
            "data": client.encode_submit(1, theirs, client.signers(), signatures),
        }
        theirs_hash = chain.w3.eth.send_raw_transaction(Account.sign_transaction(tx, C.key).raw_transaction)
        chain.mine()
        assert _receipt_status(chain, "0x" + bytes(theirs_hash).hex()) == 1
        assert [_receipt_status(chain, t.tx_hash) for t in (middle, last)] == [0, 0]

        seen = _run_to_the_end(daemon, chain)
        assert max(seen) <= IN_FLIGHT
        assert daemon.metrics.tx_reverted._value.get() == 2  # noqa: SLF001
        assert [daemon.outbox.batch(t.batch_id).state for t in (first, middle, last)] == [  # type: ignore[arg-type]
            "confirmed",
            "void",
            "void",
        ]
        rows = {r.key: r for r in daemon.outbox.reports()}
        assert (rows[(1, 2)].state, rows[(1, 2)].mismatch) == ("done_elsewhere", False)
        # Every other report landed once, by exactly one confirmed batch of ours.
        assert _confirmed_keys(daemon) == sorted(k for k in KEYS if k != (1, 2))
        assert_posted_exactly_once(chain, reference, THROUGH)
    finally:
        daemon.close()
        chain.stop()


def test_sigkill_with_three_in_flight_then_a_restart_posts_each_epoch_once(
    tmp_path: Path, template: ChainTemplate, recording: Path, reference: dict[tuple[int, int], Report]
) -> None:
    chain = start_chain(template, tmp_path / "chain", timestamp=GENESIS + (THROUGH + 1) * EPOCH + 5, no_mining=True)
    settings = _settings(tmp_path, chain, recording)
    config = write_settings(tmp_path, settings)
    outbox = tmp_path / "outbox.sqlite"
    try:
        crashed = DaemonProcess(
            config, tmp_path / "d1.log", ["--until-epoch", str(THROUGH)], {"WELLHEAD_TEST_CRASH_AFTER": "submitted:3"}
        ).start()
        assert crashed.wait(90) == -signal.SIGKILL, crashed.tail()
        sent = outbox_rows(outbox, "SELECT id, nonce, tx_hash, batch_id FROM transactions WHERE state = 'pending'")
        assert len(sent) == IN_FLIGHT and [n for _, n, _, _ in sent] == [sent[0][1] + i for i in range(IN_FLIGHT)]
        assert _pool_size(chain, A.address) == IN_FLIGHT
        # The node loses the middle one (a restart that emptied its pool, say): the daemon must rebroadcast it
        # as signed, at its own nonce, not sign or send its epochs again.
        chain.rpc("anvil_dropTransaction", [sent[1][2]])
        assert not ChainClient(chain.url, chain.oracle).knows(sent[1][2])

        daemon = _in_process(tmp_path, settings)
        try:
            _run_to_the_end(daemon, chain)
            for tx_id, _nonce, _hash, batch_id in sent:
                tx = daemon.outbox.transaction(tx_id)
                assert (tx.state, tx.status) == ("mined", 1)
                assert [t.id for t in daemon.outbox.transactions(batch_id)] == [tx_id]  # no second transaction
            assert daemon.outbox.transaction(sent[1][0]).broadcasts == 2
            assert len(daemon.outbox.transactions()) == len(KEYS) // 2
            assert _confirmed_keys(daemon) == sorted(KEYS)
        finally:
            daemon.close()
        signed = [e for e in map(json.loads, _json_lines(tmp_path / "d1.log")) if e.get("event") == "batch_signed"]
        assert len(signed) == IN_FLIGHT  # the crashed run signed three batches; the restart signed the other three
        assert_posted_exactly_once(chain, reference, THROUGH, outbox=outbox)
    finally:
        chain.stop()


def _json_lines(path: Path) -> list[str]:
    return [line for line in path.read_text(errors="replace").splitlines() if line.startswith("{")]


def test_a_nonce_taken_under_the_pipeline_drops_one_reverts_its_dependents_and_loses_nothing(
    tmp_path: Path, template: ChainTemplate, recording: Path, reference: dict[tuple[int, int], Report]
) -> None:
    chain = start_chain(template, tmp_path / "chain", timestamp=GENESIS + (THROUGH + 1) * EPOCH + 5, no_mining=True)
    daemon = _in_process(tmp_path, _settings(tmp_path, chain, recording))
    try:
        daemon.step()
        first, middle, last = daemon.outbox.pending_transactions()
        # The operator's wallet sends a transfer at the first transaction's nonce with higher fees, from the same
        # key: it replaces ours in the pool, and the two batches behind it can no longer follow their epochs.
        transfer = {
            "type": 2,
            "chainId": 31337,
            "nonce": first.nonce,
            "to": "0x" + "11" * 20,
            "value": 1,
            "gas": 21_000,
            "maxFeePerGas": 3 * first.max_fee_per_gas,
            "maxPriorityFeePerGas": 3 * first.max_priority_fee_per_gas,
        }
        chain.w3.eth.send_raw_transaction(Account.sign_transaction(transfer, A.key).raw_transaction)
        chain.mine()
        assert [_receipt_status(chain, t.tx_hash) for t in (first, middle, last)] == [None, 0, 0]  # EpochGap

        seen = _run_to_the_end(daemon, chain)
        assert max(seen) <= IN_FLIGHT
        assert daemon.outbox.transaction(first.id).state == "dropped"
        assert daemon.metrics.tx_reverted._value.get() == 2  # noqa: SLF001
        # The first batch was sent again as signed (at a later nonce); the two that reverted were voided and
        # their reports batched again.
        resent = [t for t in daemon.outbox.transactions(first.batch_id) if t.id != first.id]
        assert [(t.state, t.status) for t in resent] == [("mined", 1)] and resent[0].nonce > last.nonce
        voided = [daemon.outbox.batch(t.batch_id).state for t in (middle, last)]  # type: ignore[arg-type]
        assert voided == ["void", "void"]
        assert _confirmed_keys(daemon) == sorted(KEYS)
        assert_posted_exactly_once(chain, reference, THROUGH)
    finally:
        daemon.close()
        chain.stop()


def test_stuck_nonces_in_flight_are_each_replaced_and_land_in_nonce_order(
    tmp_path: Path, template: ChainTemplate, recording: Path, reference: dict[tuple[int, int], Report]
) -> None:
    chain = start_chain(template, tmp_path / "chain", timestamp=GENESIS + (THROUGH + 1) * EPOCH + 5, no_mining=True)
    daemon = _in_process(tmp_path, _settings(tmp_path, chain, recording))
    try:
        daemon.step()
        stuck = daemon.outbox.pending_transactions()
        # Blocks keep coming but none of the three fits in them (the block gas limit dropped).
        chain.rpc("evm_setBlockGasLimit", [hex(50_000)])
        for _ in range(2):
            chain.mine()
            daemon.step()
            assert [t.id for t in daemon.outbox.pending_transactions()] == [t.id for t in stuck]
        chain.mine()
        # The limit is back for the blocks to come (none is mined before the daemon's next step).
        chain.rpc("evm_setBlockGasLimit", [hex(30_000_000)])
        daemon.step()  # three blocks without them: each nonce replaced, later nonces waiting behind earlier ones
        # Each nonce was replaced once, same batch, bumped fees; nothing new was sent behind them.
        pending = daemon.outbox.pending_transactions()
        replacements = [t for t in pending if t.replaces is not None]
        assert [(t.nonce, t.replaces, t.batch_id) for t in replacements] == [(s.nonce, s.id, s.batch_id) for s in stuck]
        assert all(r.max_fee_per_gas * 8 >= s.max_fee_per_gas * 9 for r, s in zip(replacements, stuck, strict=True))
        assert daemon.txm.in_flight() == IN_FLIGHT  # type: ignore[union-attr]
        chain.mine()
        assert [_receipt_status(chain, r.tx_hash) for r in replacements] == [1, 1, 1]
        _run_to_the_end(daemon, chain)
        assert [daemon.outbox.transaction(s.id).state for s in stuck] == ["replaced"] * IN_FLIGHT
        assert _confirmed_keys(daemon) == sorted(KEYS)
        assert_posted_exactly_once(chain, reference, THROUGH, outbox=tmp_path / "outbox.sqlite")
    finally:
        daemon.close()
        chain.stop()


def test_root_only_mode_catches_up_with_several_epochs_roots_in_flight(
    tmp_path: Path, template: ChainTemplate, recording: Path, reference: dict[tuple[int, int], Report]
) -> None:
    chain = start_chain(template, tmp_path / "chain", timestamp=GENESIS + (THROUGH + 1) * EPOCH + 5, no_mining=True)
    settings = daemon_settings(
        tmp_path,
        chain=chain,
        source={"kind": "recording", "recording": {"path": str(recording)}},
        submission={"mode": "root_only", "publish_dir": str(tmp_path / "epochs"), "max_in_flight": IN_FLIGHT},
    )
    daemon = _in_process(tmp_path, settings)
    client = ChainClient(chain.url, chain.oracle)
    try:
        daemon.step()  # six epochs ended while the daemon was down: the first three roots go out together
        pending = daemon.outbox.pending_transactions()
        assert [(t.kind, t.nonce) for t in pending] == [("commit", pending[0].nonce + i) for i in range(IN_FLIGHT)]
        assert [daemon.outbox.root(t.root_id).epoch for t in pending] == [0, 1, 2]  # type: ignore[arg-type]
        assert _pool_size(chain, daemon.txm.address) == IN_FLIGHT  # type: ignore[union-attr]
        daemon.step()
        assert len(daemon.outbox.pending_transactions()) == IN_FLIGHT  # the bound holds
        chain.mine()
        seen = _run_to_the_end(daemon, chain)
        assert max(seen) <= IN_FLIGHT
        # One commit per epoch, each landed once, nothing stored per asset.
        transactions = [(t.kind, t.status) for t in daemon.outbox.transactions()]
        assert transactions == [("commit", 1)] * (THROUGH + 1)
        for epoch in range(THROUGH + 1):
            expected = build_epoch_tree([reference[(a, epoch)] for a in (1, 2)])
            assert client.root_of(epoch) == (expected.root, 2), epoch
        assert [chain.cursor(a) for a in (1, 2)] == [0, 0]
    finally:
        daemon.close()
        chain.stop()


def test_a_rollback_of_several_landed_batches_rebroadcasts_them_as_signed_and_posts_each_epoch_once(
    tmp_path: Path,
    template: ChainTemplate,
    recording: Path,
    reference: dict[tuple[int, int], Report],
    caplog: pytest.LogCaptureFixture,
) -> None:
    chain = start_chain(template, tmp_path / "chain", timestamp=GENESIS + (THROUGH + 1) * EPOCH + 5, no_mining=True)
    daemon = _in_process(tmp_path, _settings(tmp_path, chain, recording))
    snapshot = chain.rpc("evm_snapshot")
    try:
        _run_to_the_end(daemon, chain)
        landed = [(t.id, t.nonce, t.batch_id) for t in daemon.outbox.transactions()]
        assert len(landed) == len(KEYS) // 2

        assert chain.rpc("evm_revert", [snapshot]) is True  # the blocks holding all six batches are gone
        assert chain.cursor(1) == chain.cursor(2) == 0
        caplog.set_level(logging.ERROR, logger="oracle.daemon")
        chain.mine()
        _run_to_the_end(daemon, chain)

        rollbacks = [r for r in caplog.records if getattr(r, "event", None) == "chain_rollback"]
        reopened = sorted((r.asset, r.epochs) for r in rollbacks)  # type: ignore[attr-defined]
        assert reopened == [(a, list(range(THROUGH + 1))) for a in (1, 2)]
        assert daemon.metrics.reports_reopened._value.get() == len(KEYS)  # noqa: SLF001
        # The same six transactions, at their own nonces, landed again: rebroadcast as signed, nothing re-signed.
        assert [(t.id, t.nonce, t.batch_id) for t in daemon.outbox.transactions()] == landed
        assert [t.state for t in daemon.outbox.transactions()] == ["mined"] * len(landed)
        assert _confirmed_keys(daemon) == sorted(KEYS)
        assert_posted_exactly_once(chain, reference, THROUGH, outbox=tmp_path / "outbox.sqlite")
    finally:
        daemon.close()
        chain.stop()
