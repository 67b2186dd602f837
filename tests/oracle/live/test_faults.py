"""The daemon's faults (the daemon issue), each ending with every epoch posted exactly once with the values the
aggregator computes from the same data: a real Anvil, the compiled contracts, a real Prometheus, a real
SQLite outbox, and the daemon as a subprocess (or in-process where the fault needs step-by-step control)."""

from __future__ import annotations

import json
import logging
import shutil
import signal
from pathlib import Path

import pytest
from eth_account import Account
from live_kit import (
    EPOCH,
    GENESIS,
    A,
    Chain,
    ChainTemplate,
    DaemonProcess,
    Malformed,
    PrometheusServer,
    assert_posted_exactly_once,
    asset_map,
    daemon_settings,
    free_port,
    http_get,
    outbox_rows,
    reference_reports,
    simulator,
    start_chain,
    wait_for,
    write_settings,
)

from oracle.daemon import Daemon
from oracle.errors import ChainUnavailable
from oracle.metrics import OpsServer
from oracle.models import Report
from oracle.settings import load_settings
from oracle.sources.base import Metric

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("max_in_flight")]


def _health(port: int) -> tuple[int, dict[str, object]]:
    status, body = http_get(f"http://127.0.0.1:{port}/health")
    return status, json.loads(body)


def _in_process(directory: Path, settings: dict[str, object]) -> Daemon:
    config = write_settings(directory, settings)
    daemon = Daemon.from_settings(load_settings(config))
    daemon.startup_checks()
    return daemon


# --- 1. the chain node stops for several epochs and comes back --------------------------------------------


def test_chain_node_down_for_several_epochs_then_every_epoch_posted_once(
    tmp_path: Path, template: ChainTemplate, prometheus: PrometheusServer, reference: dict[tuple[int, int], Report]
) -> None:
    chain = start_chain(template, tmp_path / "chain", timestamp=GENESIS + 2 * EPOCH + 5)
    settings = daemon_settings(
        tmp_path, chain=chain, source={"kind": "prometheus", "prometheus": {"url": prometheus.url}}, until_epoch=7
    )
    port = settings["ops"]["port"]  # type: ignore[index]
    daemon = DaemonProcess(write_settings(tmp_path, settings), tmp_path / "daemon.log").start()
    try:
        wait_for(lambda: chain.cursor(1) == chain.cursor(2) == 2, timeout=60, what="epochs 0-1 posted")
        chain.stop()  # SIGTERM: Anvil saves its state on the way out
        status, body = wait_for(lambda: (h := _health(port))[0] == 503 and h, timeout=30, what="degraded health")
        assert any(str(r).startswith("chain unreachable") for r in body["reasons"])  # type: ignore[union-attr]
        wait_for(
            lambda: sum(e.get("event") == "step_failed" or e.get("event") == "chain_down" for e in daemon.events()),
            what="the daemon noticing",
        )
        assert daemon.alive()
        # Six epochs pass while the node is down; it comes back from its saved state.
        chain.restart_at(GENESIS + 8 * EPOCH + 5)
        assert daemon.wait(90) == 0, daemon.tail()
        events = [e.get("event") for e in daemon.events()]
        assert "chain_down" in events and "chain_up" in events
        assert_posted_exactly_once(chain, reference, 7, outbox=tmp_path / "outbox.sqlite")
    finally:
        daemon.kill()
        chain.stop()


# --- 2. SIGKILL between signing and the receipt --------------------------------------------------------------


def test_sigkill_after_signing_and_after_sending_posts_each_epoch_once(
    tmp_path: Path, template: ChainTemplate, recording: Path, reference: dict[tuple[int, int], Report]
) -> None:
    chain = start_chain(template, tmp_path / "chain", timestamp=GENESIS + 3 * EPOCH + 5)
    settings = daemon_settings(
        tmp_path, chain=chain, source={"kind": "recording", "recording": {"path": str(recording)}}
    )
    config = write_settings(tmp_path, settings)
    outbox = tmp_path / "outbox.sqlite"
    try:
        # Killed right after the signed batch is committed, before any transaction.
        crashed = DaemonProcess(
            config, tmp_path / "d1.log", ["--until-epoch", "2"], {"WELLHEAD_TEST_CRASH_AFTER": "signed"}
        ).start()
        assert crashed.wait(60) == -signal.SIGKILL, crashed.tail()
        assert outbox_rows(outbox, "SELECT id, state FROM batches") == [(1, "signed")]
        assert outbox_rows(outbox, "SELECT COUNT(*) FROM transactions") == [(0,)]
        assert {s for (s,) in outbox_rows(outbox, "SELECT state FROM reports")} == {"signed"}
        assert chain.cursor(1) == 0

        # Restarted: it sends the batch it had signed (no second batch, no second signature round).
        again = DaemonProcess(config, tmp_path / "d2.log", ["--until-epoch", "2"]).start()
        assert again.wait(60) == 0, again.tail()
        assert outbox_rows(outbox, "SELECT id, state FROM batches") == [(1, "confirmed")]
        assert [e["batch"] for e in again.events() if e.get("event") == "tx_sent"] == [1]
        assert [e for e in again.events() if e.get("event") == "batch_signed"] == []

        # Killed right after the transaction is broadcast, before its receipt was read.
        chain.set_time(chain.end_of(5))
        crashed = DaemonProcess(
            config, tmp_path / "d3.log", ["--until-epoch", "5"], {"WELLHEAD_TEST_CRASH_AFTER": "submitted"}
        ).start()
        assert crashed.wait(60) == -signal.SIGKILL, crashed.tail()
        assert outbox_rows(outbox, "SELECT state FROM transactions ORDER BY id") == [("mined",), ("pending",)]
        assert outbox_rows(outbox, "SELECT state FROM batches WHERE id = 2") == [("submitted",)]

        # Restarted: it finds the receipt of what it had sent and sends nothing more.
        again = DaemonProcess(config, tmp_path / "d4.log", ["--until-epoch", "5"]).start()
        assert again.wait(60) == 0, again.tail()
        assert [e for e in again.events() if e.get("event") == "tx_sent"] == []
        assert outbox_rows(outbox, "SELECT state FROM transactions ORDER BY id") == [("mined",), ("mined",)]
        assert_posted_exactly_once(chain, reference, 5, outbox=outbox)
        assert {s for (s,) in outbox_rows(outbox, "SELECT state FROM reports")} == {"confirmed"}
    finally:
        chain.stop()


# --- 3. the signer's nonce taken by another transaction -----------------------------------------------------


def _plain_transfer(chain: Chain, nonce: int, max_fee: int, priority: int) -> str:
    tx = {
        "type": 2,
        "chainId": 31337,
        "nonce": nonce,
        "to": "0x" + "11" * 20,
        "value": 1,
        "gas": 21_000,
        "maxFeePerGas": max_fee,
        "maxPriorityFeePerGas": priority,
    }
    signed = Account.sign_transaction(tx, A.key)
    return "0x" + bytes(chain.w3.eth.send_raw_transaction(signed.raw_transaction)).hex()


def test_nonce_taken_by_another_transaction_from_the_same_key(
    tmp_path: Path,
    template: ChainTemplate,
    recording: Path,
    reference: dict[tuple[int, int], Report],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    chain = start_chain(template, tmp_path / "chain", timestamp=GENESIS + 2 * EPOCH + 5, no_mining=True)
    daemon = _in_process(
        tmp_path,
        daemon_settings(tmp_path, chain=chain, source={"kind": "recording", "recording": {"path": str(recording)}}),
    )
    try:
        # The daemon's transaction waits in the pool; the operator's wallet sends a transfer with the same
        # nonce and higher fees from the same key, which replaces it there and is mined.
        daemon.step()
        (first,) = daemon.outbox.pending_transactions()
        taker = _plain_transfer(chain, first.nonce, 3 * first.max_fee_per_gas, 3 * first.max_priority_fee_per_gas)
        chain.mine()
        assert chain.w3.eth.get_transaction_receipt(taker)["status"] == 1
        daemon.step()  # sees the nonce used: drops its transaction, sends the same batch at the next nonce
        assert daemon.outbox.transaction(first.id).state == "dropped"
        (second,) = daemon.outbox.pending_transactions()
        assert (second.batch_id, second.nonce) == (first.batch_id, first.nonce + 1)
        chain.mine()
        daemon.step()
        assert daemon.outbox.transaction(second.id).state == "mined"
        assert chain.cursor(1) == 2

        # Now the nonce goes before the broadcast: the daemon commits its transaction, the broadcast is
        # lost, and another transaction from the key takes that very nonce.
        chain.set_time(chain.end_of(3))
        real_send = daemon.chain.send_raw
        calls = []

        def lost(raw: bytes, tx_hash: str) -> None:
            calls.append(tx_hash)
            if len(calls) == 1:
                raise ChainUnavailable("eth_sendRawTransaction", "connection reset")
            real_send(raw, tx_hash)

        monkeypatch.setattr(daemon.chain, "send_raw", lost)
        daemon.step()
        (third,) = daemon.outbox.pending_transactions()
        assert third.broadcasts == 0
        _plain_transfer(chain, third.nonce, 2 * third.max_fee_per_gas, 2 * third.max_priority_fee_per_gas)
        chain.mine()
        daemon.step()
        assert daemon.outbox.transaction(third.id).state == "dropped"
        (fourth,) = daemon.outbox.pending_transactions()
        assert fourth.nonce == third.nonce + 1
        chain.mine()
        daemon.step()
        assert daemon.metrics.tx_dropped._value.get() == 2  # noqa: SLF001 - prometheus_client's value
        assert_posted_exactly_once(chain, reference, 3, outbox=tmp_path / "outbox.sqlite")
    finally:
        daemon.close()
        chain.stop()


# --- 4. a transaction unmined until it is replaced -----------------------------------------------------------


def test_stuck_transaction_is_replaced_with_bumped_fees_and_only_the_replacement_lands(
    tmp_path: Path, template: ChainTemplate, recording: Path, reference: dict[tuple[int, int], Report]
) -> None:
    chain = start_chain(template, tmp_path / "chain", timestamp=GENESIS + 3 * EPOCH + 5, no_mining=True)
    daemon = _in_process(
        tmp_path,
        daemon_settings(tmp_path, chain=chain, source={"kind": "recording", "recording": {"path": str(recording)}}),
    )
    try:
        daemon.step()
        (stuck,) = daemon.outbox.pending_transactions()
        # Blocks keep coming but this transaction does not fit in them (the block gas limit dropped).
        chain.rpc("evm_setBlockGasLimit", [hex(50_000)])
        for _ in range(2):
            chain.mine()
            daemon.step()
            assert [t.id for t in daemon.outbox.pending_transactions()] == [stuck.id]
        chain.mine()
        # The limit is back for the blocks to come (none is mined before the daemon's next step).
        chain.rpc("evm_setBlockGasLimit", [hex(30_000_000)])
        daemon.step()  # three blocks without it: replaced, same nonce, fees up by at least 12.5 %
        replacement = daemon.outbox.pending_transactions()[-1]
        assert replacement.id != stuck.id
        assert (replacement.nonce, replacement.replaces, replacement.batch_id) == (
            stuck.nonce,
            stuck.id,
            stuck.batch_id,
        )
        assert replacement.max_fee_per_gas * 8 >= stuck.max_fee_per_gas * 9
        assert replacement.max_priority_fee_per_gas * 8 >= stuck.max_priority_fee_per_gas * 9
        assert replacement.broadcasts == 1 and replacement.last_error is None
        chain.mine()
        daemon.step()
        assert chain.w3.eth.get_transaction_receipt(replacement.tx_hash)["status"] == 1
        with pytest.raises(Exception, match="not found"):
            chain.w3.eth.get_transaction_receipt(stuck.tx_hash)
        assert daemon.outbox.transaction(stuck.id).state == "replaced"
        assert daemon.outbox.transaction(replacement.id).state == "mined"
        assert daemon.metrics.tx_replacements._value.get() == 1  # noqa: SLF001
        assert_posted_exactly_once(chain, reference, 2, outbox=tmp_path / "outbox.sqlite")
    finally:
        daemon.close()
        chain.stop()


# --- 5. Prometheus unreachable for a while --------------------------------------------------------------------


def test_prometheus_unreachable_posts_no_zeros_and_catches_up_when_it_returns(
    tmp_path: Path, template: ChainTemplate, tsdb: Path, reference: dict[tuple[int, int], Report]
) -> None:
    data = tmp_path / "prometheus" / "data"
    shutil.copytree(tsdb, data)
    prometheus = PrometheusServer(data, free_port(), tmp_path / "prometheus" / "log")
    prometheus.start()
    chain = start_chain(template, tmp_path / "chain", timestamp=GENESIS + 2 * EPOCH + 5)
    settings = daemon_settings(
        tmp_path,
        chain=chain,
        source={"kind": "prometheus", "prometheus": {"url": prometheus.url, "timeout_s": 2}},
        until_epoch=6,
    )
    port = settings["ops"]["port"]  # type: ignore[index]
    daemon = DaemonProcess(write_settings(tmp_path, settings), tmp_path / "daemon.log").start()
    try:
        wait_for(lambda: chain.cursor(1) == chain.cursor(2) == 2, timeout=60, what="epochs 0-1 posted")
        prometheus.stop()
        chain.set_time(chain.end_of(6))  # five more epochs end while Prometheus is away
        status, body = wait_for(lambda: (h := _health(port))[0] == 503 and h, timeout=30, what="degraded health")
        assert any(str(r).startswith("source unreachable") for r in body["reasons"])  # type: ignore[union-attr]
        _, metrics = http_get(f"http://127.0.0.1:{port}/metrics")
        assert b"oracle_source_up 0.0" in metrics
        wait_for(
            lambda: sum(e.get("event") == "step_failed" or "source" in str(e.get("msg")) for e in daemon.events()) >= 1,
            what="source errors logged",
        )
        # Nothing is aggregated or posted for epochs the source cannot cover: no zero report.
        assert chain.cursor(1) == chain.cursor(2) == 2
        assert outbox_rows(tmp_path / "outbox.sqlite", "SELECT MAX(epoch) FROM reports") == [(1,)]
        assert daemon.alive()
        prometheus.start()
        assert daemon.wait(90) == 0, daemon.tail()
        events = [e.get("event") for e in daemon.events()]
        assert "source_down" in events and "source_up" in events
        assert_posted_exactly_once(chain, reference, 6, outbox=tmp_path / "outbox.sqlite")
        assert all(reference[(a, e)].gpu_seconds > 0 for a in (1, 2) for e in range(7))
    finally:
        daemon.kill()
        prometheus.stop()
        chain.stop()


# --- 6. malformed readings ---------------------------------------------------------------------------------------


def test_malformed_readings_are_quarantined_counted_and_never_block_later_epochs(
    tmp_path: Path, template: ChainTemplate, caplog: pytest.LogCaptureFixture
) -> None:
    assets = asset_map()
    a1, a2 = assets.assets[1].gpus, assets.assets[2].gpus
    g = GENESIS
    malformed = [
        Malformed("nan", a1[0], g + EPOCH + 30),  # utilisation NaN in epoch 1
        Malformed("negative", a2[0], g + 2 * EPOCH + 15, Metric.POWER_USAGE),  # negative power in epoch 2
        Malformed("duplicate", a1[2], g + 2 * EPOCH + 45, Metric.TOTAL_ENERGY),  # duplicate timestamp in epoch 2
    ]
    recording = simulator(assets).write_openmetrics(tmp_path / "malformed.om", malformed=malformed)
    reference = reference_reports(recording, assets)
    chain = start_chain(template, tmp_path / "chain", timestamp=GENESIS + 7 * EPOCH + 5)
    settings = daemon_settings(
        tmp_path, chain=chain, source={"kind": "recording", "recording": {"path": str(recording)}}, until_epoch=6
    )
    daemon = _in_process(tmp_path, settings)
    ops = OpsServer(daemon.metrics, daemon.health, port=0)
    ops.start()
    caplog.set_level(logging.WARNING, logger="oracle.daemon")
    try:
        for _ in range(20):
            daemon.step()
            if daemon.done_through(6):
                break
        assert daemon.done_through(6)
        _, text = http_get(f"http://127.0.0.1:{ops.port}/metrics")
        metrics = text.decode()
        assert 'oracle_readings_rejected_total{reason="not_finite"} 1.0' in metrics
        assert 'oracle_readings_rejected_total{reason="negative"} 1.0' in metrics
        assert 'oracle_readings_rejected_total{reason="duplicate_timestamp"} 1.0' in metrics
        # The other readings of the NaN and negative scrapes are rejected with them (the scrape is incomplete).
        assert 'oracle_readings_rejected_total{reason="incomplete_scrape"} 6.0' in metrics
        quarantined = daemon.outbox.quarantined()
        by_reason = {}
        for row in quarantined:
            by_reason.setdefault(row["reason"], []).append(row)
        assert [(r["epoch"], r["value"], r["series"].split("{")[0]) for r in by_reason["not_finite"]] == [
            (1, "NaN", "DCGM_FI_DEV_GPU_UTIL")
        ]
        assert [(r["epoch"], r["series"].split("{")[0]) for r in by_reason["negative"]] == [
            (2, "DCGM_FI_DEV_POWER_USAGE")
        ]
        assert [(r["epoch"], r["series"].split("{")[0]) for r in by_reason["duplicate_timestamp"]] == [
            (2, "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION")
        ]
        assert a1[0] in by_reason["not_finite"][0]["series"]
        logged = [r for r in caplog.records if getattr(r, "event", None) == "reading_rejected"]
        assert {r.reason for r in logged} == {"not_finite", "negative", "duplicate_timestamp", "incomplete_scrape"}
        # The counter reset (epoch 5) and the vanished GPU (epoch 3) are handled as the meter issue defines.
        assert reference[(2, 3)].gpu_seconds < 4 * EPOCH
        assert reference[(1, 5)].energy_wh > 0
        assert_posted_exactly_once(chain, reference, 6, outbox=tmp_path / "outbox.sqlite")
    finally:
        ops.stop()
        daemon.close()
        chain.stop()
