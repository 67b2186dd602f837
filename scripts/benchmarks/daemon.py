"""`make bench` section: the oracle daemon end to end on Anvil.

Figures:

- seconds from an epoch's end (the first block past it) to the receipt of the transaction that posts its
  reports, for the daemon's own loop (oracle.daemon.Daemon: refresh, aggregate from a simulated fleet, sign with
  a quorum of 2 keystores, commit to the SQLite outbox, estimate, send, reconcile the receipt), on a fresh Anvil
  of its own (the bench's node keeps serving the other sections) with the suite deployed by
  tests/oracle/chain_setup.py (scripts/deploy.py underneath). Steps run back to back: a deployed daemon adds up
  to its poll interval (``poll_interval_s``) on top.
- catch-up throughput after downtime: a backlog of ``BACKLOG_EPOCHS`` epochs of both assets, one report per
  transaction (``max_reports_per_tx = 1``, so that the figure counts transactions), posted by a fresh daemon on
  the same node mining a block every ``BLOCK_TIME_S`` seconds, with ``submission.max_in_flight`` 1 (one
  transaction at a time) and 16, each from the same chain snapshot; steps every ``POLL_S``. Reports per second
  from the first step to the last receipt (aggregation and signing included, the same work in both runs).
"""

from __future__ import annotations

import json
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from scripts.benchmarks.core import Bench

ROOT = Path(__file__).resolve().parents[2]
GENESIS = 1_760_000_000
EPOCH = 60
EPOCHS = 8
BACKLOG_EPOCHS = 10
"""Epochs of backlog in the catch-up figure (two reports each)."""
IN_FLIGHT = (1, 16)
BLOCK_TIME_S = 1
POLL_S = 0.1
MNEMONIC = "test test test test test test test test test test test junk"

log = logging.getLogger(__name__)


def run(bench: Bench) -> None:
    """Deploys a suite on a fresh Anvil and times the daemon from epoch end to receipt."""
    from eth_account import Account

    from oracle.daemon import Daemon
    from oracle.settings import load_settings
    from oracle.sources.simulator import make_asset_map
    from scripts.localnode import rpc_call, start_anvil

    Account.enable_unaudited_hdwallet_features()
    keys = [Account.from_mnemonic(MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}") for i in (10, 11, 12)]
    work = Path(tempfile.mkdtemp(prefix="wellhead-daemon-bench-"))
    node = start_anvil(base_fee=None, timestamp=GENESIS + 1, log_dir=work)
    try:
        done = subprocess.run(
            [
                sys.executable,
                str(ROOT / "tests" / "oracle" / "chain_setup.py"),
                "--rpc-url",
                node.url,
                "--out",
                str(work),
                "--genesis",
                str(GENESIS),
                "--epoch-length",
                str(EPOCH),
                "--signers",
                ",".join(k.address for k in keys),
                "--threshold",
                "2",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        if done.returncode != 0:
            raise RuntimeError(f"deployment for the daemon bench failed: {done.stderr[-2000:]}")
        assets = make_asset_map(seed=7, genesis=GENESIS, epoch_length=EPOCH, gpus_per_asset={1: 8, 2: 4})
        (work / "assets.json").write_text(json.dumps(assets.model_dump(mode="json")))
        keystores = []
        for i, key in enumerate(keys[:2]):
            (work / f"k{i}.json").write_text(json.dumps(Account.encrypt(key.key, "pw", kdf="pbkdf2", iterations=1024)))
            (work / f"k{i}.pass").write_text("pw\n")
            (work / f"k{i}.json").chmod(0o600)
            (work / f"k{i}.pass").chmod(0o600)
            keystores.append({"path": str(work / f"k{i}.json"), "password_file": str(work / f"k{i}.pass")})
        base: dict[str, Any] = {
            "chain": {"rpc_url": node.url, "chain_id": 31337, "deployment": str(work / "31337.json")},
            "signers": {"keystores": keystores},
            "source": {
                "kind": "simulator",
                "scrape_interval_s": "15",
                "simulator": {
                    "seed": 7,
                    "start": GENESIS - 600,
                    "end": GENESIS + (EPOCHS + BACKLOG_EPOCHS + 2) * EPOCH,
                    "power_w": {1: 700, 2: 350},
                },
            },
            "assets": {"map": str(work / "assets.json")},
            "outbox": {"path": str(work / "outbox.sqlite")},
            "ops": {"port": None, "log_level": "WARNING"},
        }
        settings = load_settings(None, base)
        quiet = logging.getLogger("oracle")
        level = quiet.level
        quiet.setLevel(logging.WARNING)
        daemon = Daemon.from_settings(settings)
        try:
            daemon.startup_checks()
            latencies, steps = [], []
            for epoch in range(EPOCHS):
                rpc_call(node.url, "evm_setNextBlockTimestamp", [GENESIS + (epoch + 1) * EPOCH + 1])
                rpc_call(node.url, "evm_mine")
                started = time.perf_counter()
                for steps_taken in range(1, 20):  # noqa: B007 - read after the loop
                    daemon.step()
                    if daemon.done_through(epoch):
                        break
                else:
                    raise RuntimeError(f"epoch {epoch} was not posted in 20 steps")
                latencies.append(time.perf_counter() - started)
                steps.append(steps_taken)
        finally:
            daemon.close()
        try:
            catch_up = _catch_up(node.url, base, work)
        finally:
            quiet.setLevel(level)
    finally:
        node.stop()
    note = (
        f"{EPOCHS} epochs, 2 assets (12 simulated GPUs), 2-of-3 quorum from keystores, automining Anvil; "
        f"{statistics.median(steps):.0f} steps per epoch; add the poll interval for a running daemon"
    )
    bench.record("daemon.epoch_end_to_receipt_s.median", statistics.median(latencies), "s", note=note)
    bench.record("daemon.epoch_end_to_receipt_s.max", max(latencies), "s")
    one, many = (catch_up[n] for n in IN_FLIGHT)
    reports = 2 * BACKLOG_EPOCHS
    note = (
        f"{reports} reports ({BACKLOG_EPOCHS} epochs x 2 assets) one per transaction, a block every {BLOCK_TIME_S} s, "
        f"a step every {POLL_S} s; {one[1]} vs {many[1]} transactions"
    )
    baseline = f"daemon.catch_up_reports_per_s.in_flight_{IN_FLIGHT[0]}"
    bench.record(baseline, reports / one[0], "reports/s", note=note)
    bench.compare(
        f"daemon.catch_up_reports_per_s.in_flight_{IN_FLIGHT[1]}",
        reports / many[0],
        baseline,
        reports / one[0],
        "reports/s",
        note=f"submission.max_in_flight = {IN_FLIGHT[1]} (the default), ratio against {IN_FLIGHT[0]}",
    )


def _catch_up(url: str, base: dict[str, Any], work: Path) -> dict[int, tuple[float, int]]:
    """Seconds to post the backlog and transactions sent, for each ``IN_FLIGHT``, from the same chain snapshot."""
    from oracle.daemon import Daemon
    from oracle.settings import load_settings
    from scripts.localnode import rpc_call

    through = EPOCHS + BACKLOG_EPOCHS - 1
    rpc_call(url, "evm_setNextBlockTimestamp", [GENESIS + (through + 1) * EPOCH + 1])
    rpc_call(url, "evm_mine")
    rpc_call(url, "evm_setAutomine", [False])
    rpc_call(url, "evm_setIntervalMining", [BLOCK_TIME_S])
    results: dict[int, tuple[float, int]] = {}
    snapshot = rpc_call(url, "evm_snapshot")
    for index, in_flight in enumerate(IN_FLIGHT):
        if index:
            rpc_call(url, "evm_revert", [snapshot])
            snapshot = rpc_call(url, "evm_snapshot")
        submission = {**base.get("submission", {}), "max_in_flight": in_flight, "max_reports_per_tx": 1}
        settings = load_settings(
            None, {**base, "outbox": {"path": str(work / f"catch-up-{in_flight}.sqlite")}, "submission": submission}
        )
        daemon = Daemon.from_settings(settings)
        try:
            daemon.startup_checks()
            started = time.perf_counter()
            deadline = started + 600
            while not daemon.done_through(through):
                if time.perf_counter() > deadline:
                    raise RuntimeError(f"the backlog was not posted in 600 s with max_in_flight {in_flight}")
                daemon.step()
                if not daemon.done_through(through):
                    time.sleep(POLL_S)
            results[in_flight] = (time.perf_counter() - started, len(daemon.outbox.transactions()))
        finally:
            daemon.close()
    return results
