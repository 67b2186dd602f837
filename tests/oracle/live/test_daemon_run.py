"""The daemon end to end: ``python -m oracle run`` from Prometheus to the chain, ``status``, graceful SIGTERM, a
quorum completed by a co-signing peer (``python -m oracle cosign``), and the keeper duty."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from live_kit import (
    EPOCH,
    GENESIS,
    REPO,
    A,
    B,
    ChainTemplate,
    DaemonProcess,
    PrometheusServer,
    assert_posted_exactly_once,
    daemon_settings,
    free_port,
    http_get,
    start_chain,
    wait_for,
    write_settings,
)

from oracle.chain import ChainClient
from oracle.daemon import Daemon
from oracle.models import Report
from oracle.settings import load_settings

pytestmark = pytest.mark.usefixtures("max_in_flight")


def _status(config: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "oracle", "status", "--config", str(config), *flags],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_run_posts_every_epoch_from_prometheus_and_status_shows_it(
    tmp_path: Path, template: ChainTemplate, prometheus: PrometheusServer, reference: dict[tuple[int, int], Report]
) -> None:
    chain = start_chain(template, tmp_path / "chain", timestamp=GENESIS + 5 * EPOCH + 5)
    settings = daemon_settings(
        tmp_path, chain=chain, source={"kind": "prometheus", "prometheus": {"url": prometheus.url}}
    )
    config = write_settings(tmp_path, settings)
    try:
        daemon = DaemonProcess(config, tmp_path / "daemon.log", ["--until-epoch", "4"]).start()
        assert daemon.wait(60) == 0, daemon.tail()
        assert_posted_exactly_once(chain, reference, 4, outbox=tmp_path / "outbox.sqlite")
        events = daemon.events()
        assert all({"ts", "level", "logger", "msg"} <= set(e) for e in events)  # every line a JSON object
        posted = [(e["asset"], e["epoch"]) for e in events if e.get("event") == "report_posted"]
        assert sorted(posted) == [(a, e) for a in (1, 2) for e in range(5)]

        done = _status(config)
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert lines[0].startswith(f"oracle {chain.oracle} on chain 31337 (block ")
        assert lines[1].split() == ["asset", "last", "posted", "backlog", "last", "aggregated"]
        assert lines[2].split() == ["1", "4", "0", "4"] and lines[3].split() == ["2", "4", "0", "4"]
        assert lines[4] == "pending transactions: 0"
        as_json = json.loads(_status(config, "--json").stdout)
        assert [(r["assetId"], r["lastPostedEpoch"], r["backlog"]) for r in as_json["assets"]] == [(1, 4, 0), (2, 4, 0)]
    finally:
        chain.stop()


def test_status_shows_the_backlog_and_pending_transactions_while_the_chain_waits(
    tmp_path: Path, template: ChainTemplate, recording: Path
) -> None:
    chain = start_chain(template, tmp_path / "chain", timestamp=GENESIS + 3 * EPOCH + 5, no_mining=True)
    settings = daemon_settings(
        tmp_path, chain=chain, source={"kind": "recording", "recording": {"path": str(recording)}}
    )
    config = write_settings(tmp_path, settings)
    daemon = Daemon.from_settings(load_settings(config))
    try:
        daemon.startup_checks()
        daemon.step()  # aggregated and sent; the node mines nothing
        (pending,) = daemon.outbox.pending_transactions()
        as_json = json.loads(_status(config, "--json").stdout)
        assert [
            (r["assetId"], r["lastPostedEpoch"], r["backlog"], r["lastAggregatedEpoch"]) for r in as_json["assets"]
        ] == [(1, -1, 3, 2), (2, -1, 3, 2)]
        (tx,) = as_json["pendingTransactions"]
        assert (tx["hash"], tx["kind"], tx["nonce"]) == (pending.tx_hash, "submit", pending.nonce)
        assert f"  {pending.tx_hash} submit batch 1 nonce {pending.nonce}" in _status(config).stdout
    finally:
        daemon.close()
        chain.stop()


def test_sigterm_finishes_the_step_closes_the_outbox_and_exits_0(
    tmp_path: Path, template: ChainTemplate, recording: Path
) -> None:
    chain = start_chain(template, tmp_path / "chain", timestamp=GENESIS + 2 * EPOCH + 5)
    settings = daemon_settings(
        tmp_path, chain=chain, source={"kind": "recording", "recording": {"path": str(recording)}}
    )
    port = settings["ops"]["port"]
    daemon = DaemonProcess(write_settings(tmp_path, settings), tmp_path / "daemon.log").start()
    try:
        wait_for(lambda: chain.cursor(1) == chain.cursor(2) == 2, timeout=60, what="epochs 0-1 posted")
        status, body = http_get(f"http://127.0.0.1:{port}/health")
        assert status == 200 and json.loads(body)["status"] == "ok"
        daemon.process.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
        assert daemon.wait(20) == 0, daemon.tail()
        assert [e.get("event") for e in daemon.events()][-1] == "stopped"
        wal = tmp_path / "outbox.sqlite-wal"
        assert not wal.exists() or wal.stat().st_size == 0  # checkpointed and closed
    finally:
        daemon.kill()
        chain.stop()


def test_a_cosigning_peer_completes_the_quorum(
    tmp_path: Path, template: ChainTemplate, recording: Path, reference: dict[tuple[int, int], Report]
) -> None:
    chain = start_chain(template, tmp_path / "chain", timestamp=GENESIS + 3 * EPOCH + 5)
    peer_dir = tmp_path / "peer"
    peer_dir.mkdir()
    peer_port = free_port()
    peer_settings = daemon_settings(
        peer_dir,
        chain=chain,
        source={"kind": "recording", "recording": {"path": str(recording)}},
        signers=[B],
        cosign={"listen_port": peer_port, "auth_token": "peer-token"},
    )
    peer = subprocess.Popen(
        [sys.executable, "-m", "oracle", "cosign", "--config", str(write_settings(peer_dir, peer_settings))],
        cwd=REPO,
        stdout=(peer_dir / "peer.log").open("w"),
        stderr=subprocess.STDOUT,
    )
    settings = daemon_settings(
        tmp_path,
        chain=chain,
        source={"kind": "recording", "recording": {"path": str(recording)}},
        signers=[A],
        cosign={"peers": [{"name": "auditor", "url": f"http://127.0.0.1:{peer_port}", "token": "peer-token"}]},
    )
    try:
        wait_for(
            lambda: http_get(f"http://127.0.0.1:{peer_port}/health")[0] == 200 if _listening(peer_port) else False,
            timeout=30,
            what="the co-signer",
        )
        daemon = DaemonProcess(
            write_settings(tmp_path, settings), tmp_path / "daemon.log", ["--until-epoch", "2"]
        ).start()
        assert daemon.wait(60) == 0, daemon.tail()
        assert_posted_exactly_once(chain, reference, 2, outbox=tmp_path / "outbox.sqlite")
        peer_log = (peer_dir / "peer.log").read_text()
        assert '"event": "cosigned"' in peer_log
        signed = [e for e in daemon.events() if e.get("event") == "batch_signed"]
        assert signed and "peer-token" not in (tmp_path / "daemon.log").read_text()
    finally:
        peer.send_signal(signal.SIGTERM)
        assert peer.wait(20) == 0
        chain.stop()


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_keeper_duty_settles_the_posted_epochs(
    tmp_path: Path, template: ChainTemplate, recording: Path, reference: dict[tuple[int, int], Report]
) -> None:
    chain = start_chain(template, tmp_path / "chain", timestamp=GENESIS + 3 * EPOCH + 5)
    settings = daemon_settings(
        tmp_path,
        chain=chain,
        source={"kind": "recording", "recording": {"path": str(recording)}},
        keeper={"enabled": True},
        until_epoch=2,
    )
    daemon = Daemon.from_settings(load_settings(write_settings(tmp_path, settings)))
    try:
        daemon.startup_checks()
        for _ in range(10):
            daemon.step()
            if daemon.done_through(2):
                break
        assert daemon.done_through(2)
        market = daemon.deployment.lease_market
        client = ChainClient(chain.url, chain.oracle)
        assert client.call("nextSettleEpoch", 1, to=market)[0] == 3  # asset 1 has an offer: enrolled, settled
        assert client.call("isEnrolled", 2, to=market)[0] is False  # asset 2 has none: nothing to settle
        assert [t.kind for t in daemon.outbox.transactions()] == ["submit", "keeper"]
        assert daemon.metrics.keeper_settled._value.get() == 1  # noqa: SLF001
        assert_posted_exactly_once(chain, reference, 2)
    finally:
        daemon.close()
        chain.stop()


def test_batches_are_halved_to_stay_under_the_gas_cap(
    tmp_path: Path, template: ChainTemplate, recording: Path, reference: dict[tuple[int, int], Report]
) -> None:
    chain = start_chain(template, tmp_path / "chain", timestamp=GENESIS + 6 * EPOCH + 5)
    settings = daemon_settings(
        tmp_path,
        chain=chain,
        source={"kind": "recording", "recording": {"path": str(recording)}},
        submission={"gas_cap_per_tx": 200_000, "max_reports_per_tx": 12},
        until_epoch=5,
    )
    daemon = Daemon.from_settings(load_settings(write_settings(tmp_path, settings)))
    try:
        daemon.startup_checks()
        for _ in range(30):
            daemon.step()
            if daemon.done_through(5):
                break
        assert daemon.done_through(5)
        sent = [t for t in daemon.outbox.transactions() if t.kind == "submit"]
        assert len(sent) > 1 and all(t.gas_limit <= 200_000 and t.status == 1 for t in sent)
        assert daemon.metrics.batch_splits._value.get() >= 1  # noqa: SLF001
        voided = daemon.outbox.batches(("void",))
        assert voided and all("over the cap" in (b.void_reason or "") for b in voided)
        assert_posted_exactly_once(chain, reference, 5, outbox=tmp_path / "outbox.sqlite")
    finally:
        daemon.close()
        chain.stop()


def test_epochs_another_party_posted_first_are_done_and_a_differing_one_is_flagged(
    tmp_path: Path, template: ChainTemplate, recording: Path, reference: dict[tuple[int, int], Report]
) -> None:
    from eth_account import Account
    from live_kit import C

    from oracle.eip712 import Eip712Domain, batch_digest
    from oracle.signer import LocalKeySigner, sign_sorted

    chain = start_chain(template, tmp_path / "chain", timestamp=GENESIS + EPOCH + 5, no_mining=True)
    client = ChainClient(chain.url, chain.oracle)
    settings = daemon_settings(
        tmp_path, chain=chain, source={"kind": "recording", "recording": {"path": str(recording)}}, until_epoch=2
    )
    daemon = Daemon.from_settings(load_settings(write_settings(tmp_path, settings)))
    try:
        daemon.startup_checks()
        daemon.step()  # epoch 0 aggregated, signed, sent: waiting in the pool
        (ours,) = daemon.outbox.pending_transactions()
        # Another member of the quorum (B and C) posts epoch 0 of both assets with a higher tip, so it is mined
        # first; its asset-2 report has other numbers.
        theirs = [
            reference[(1, 0)],
            reference[(2, 0)].model_copy(update={"energy_wh": reference[(2, 0)].energy_wh + 1}),
        ]
        digest = batch_digest(Eip712Domain(31337, chain.oracle), 1, theirs)
        signatures = sign_sorted(digest, [LocalKeySigner(B.key), LocalKeySigner(C.key)])
        data = client.encode_submit(1, theirs, client.signers(), signatures)
        tx = {
            "type": 2,
            "chainId": 31337,
            "nonce": chain.w3.eth.get_transaction_count(C.address),
            "to": chain.oracle,
            "value": 0,
            "gas": 1_000_000,
            "maxFeePerGas": 10**12,
            "maxPriorityFeePerGas": 5 * 10**11,
            "data": data,
        }
        theirs_hash = chain.w3.eth.send_raw_transaction(Account.sign_transaction(tx, C.key).raw_transaction)
        chain.mine()
        assert chain.w3.eth.get_transaction_receipt(theirs_hash)["status"] == 1
        assert chain.w3.eth.get_transaction_receipt(ours.tx_hash)["status"] == 0  # EpochAlreadyReported
        chain.set_time(chain.end_of(2))
        for _ in range(10):
            daemon.step()
            chain.mine()
            if daemon.done_through(2):
                break
        assert daemon.done_through(2)
        rows = {r.key: r for r in daemon.outbox.reports()}
        assert (rows[(1, 0)].state, rows[(1, 0)].mismatch) == ("done_elsewhere", False)
        assert (rows[(2, 0)].state, rows[(2, 0)].mismatch) == ("done_elsewhere", True)
        assert all(rows[(a, e)].state == "confirmed" for a in (1, 2) for e in (1, 2))
        assert daemon.outbox.batch(ours.batch_id).state == "void"  # type: ignore[arg-type]
        assert daemon.metrics.tx_reverted._value.get() == 1  # noqa: SLF001
        assert daemon.metrics.report_mismatches.labels(asset="2")._value.get() == 1  # noqa: SLF001
        assert daemon.metrics.reports_done_elsewhere._value.get() == 1  # noqa: SLF001
        (event,) = daemon.outbox.events("report_mismatch")
        assert (event["asset_id"], event["epoch"]) == (2, 0)
        assert client.get_report(2, 0) == theirs[1]
        assert [client.get_report(a, e) for a in (1, 2) for e in (1, 2)] == [
            reference[(a, e)] for a in (1, 2) for e in (1, 2)
        ]
        assert chain.accepted_counts() == {(a, e): 1 for a in (1, 2) for e in range(3)}
    finally:
        daemon.close()
        chain.stop()


def test_the_shared_dcgm_sample_posts_exactly_its_expected_reports(tmp_path: Path) -> None:
    """The two-hour DCGM sample (8x H100 and 4x L40S, exporter gap, driver reload, XID, vanished GPU) through
    the daemon to a chain whose oracle uses the sample's epoch clock: the expected figures land, nothing else."""
    from live_kit import SIGNERS, THRESHOLD, Chain

    from scripts.localnode import start_anvil

    sample = REPO / "tests" / "data"
    clock = json.loads((sample / "dcgm-sample-assets.json").read_text())
    genesis, length = clock["genesis"], clock["epochLength"]
    node = start_anvil(base_fee=None, timestamp=genesis + 1, log_dir=tmp_path)
    try:
        done = subprocess.run(
            [
                sys.executable,
                str(REPO / "tests" / "oracle" / "chain_setup.py"),
                "--rpc-url",
                node.url,
                "--out",
                str(tmp_path),
                "--genesis",
                str(genesis),
                "--epoch-length",
                str(length),
                "--signers",
                ",".join(s.address for s in SIGNERS),
                "--threshold",
                str(THRESHOLD),
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        chain = Chain(node, tmp_path / "31337.json")
        chain.set_time(genesis + 2 * length + 5)
        settings = daemon_settings(
            tmp_path,
            chain=chain,
            assets={"map": str(sample / "dcgm-sample-assets.json")},
            # The recording ends exactly at the end of epoch 1: no grace beyond it.
            source={"kind": "recording", "recording": {"path": str(sample / "dcgm-sample.om.gz")}, "grace_s": "0"},
        )
        daemon = DaemonProcess(write_settings(tmp_path, settings), tmp_path / "daemon.log", ["--until-epoch", "1"])
        assert daemon.start().wait(60) == 0, daemon.tail()
        expected = json.loads((sample / "dcgm-sample-expected.json").read_text())["reports"]
        onchain = chain.onchain_reports([(r["assetId"], r["epoch"]) for r in expected])
        assert {k: v.model_dump() if v else None for k, v in onchain.items()} == {
            (r["assetId"], r["epoch"]): {**r, "curtailedGpuSeconds": 0} for r in expected
        }
        assert chain.accepted_counts() == {(r["assetId"], r["epoch"]): 1 for r in expected}
    finally:
        node.stop()


def test_a_mined_transaction_is_final_only_after_the_configured_confirmations(
    tmp_path: Path, template: ChainTemplate, recording: Path, reference: dict[tuple[int, int], Report]
) -> None:
    chain = start_chain(template, tmp_path / "chain", timestamp=GENESIS + 2 * EPOCH + 5, no_mining=True)
    settings = daemon_settings(
        tmp_path,
        chain=chain,
        source={"kind": "recording", "recording": {"path": str(recording)}},
        submission={"confirmations": 3, "replace_after_blocks": 2},
    )
    daemon = Daemon.from_settings(load_settings(write_settings(tmp_path, settings)))
    try:
        daemon.startup_checks()
        daemon.step()
        (tx,) = daemon.outbox.pending_transactions()
        for depth in (1, 2):
            chain.mine()  # first the inclusion block, then one more
            daemon.step()
            assert daemon.outbox.transaction(tx.id).state == "pending", depth  # mined, not final, not replaced
        chain.mine()
        daemon.step()
        assert daemon.outbox.transaction(tx.id).state == "mined"
        assert [t.id for t in daemon.outbox.transactions()] == [tx.id]
        assert_posted_exactly_once(chain, reference, 1, outbox=tmp_path / "outbox.sqlite")
    finally:
        daemon.close()
        chain.stop()
