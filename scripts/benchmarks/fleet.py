"""`make bench` section: a simulated fleet end to end with root-only posting and proof at settlement.

On a fresh Anvil of its own (``--prune-history``: no state snapshots on disk): the suite and N assets of 8
simulated H100s each (scripts/benchmarks/fleet_setup.py: every asset reporting from epoch 0, all 8 GPUs offered
and leased from epoch 1), one daemon (``python -m oracle run``, ``submission.mode = "root_only"``, simulator
source) holding one signer key of a 2-of-3 quorum and asking one co-signing peer (an in-process
``oracle cosign`` with its own simulator meters) for the second signature, and the keeper
(:class:`oracle.keeper.Keeper`, ``settleRange`` batches with range proofs under a 15 M gas cap). Hourly epochs, 3 of them; the chain
clock is moved to each epoch's end.

Figures (per fleet size N; 10 and 1,000 by default, 12,500 as well with ``WELLHEAD_BENCH_FLEET_FULL=1``, or
the sizes listed in ``WELLHEAD_BENCH_FLEET_SIZES``):
- ``fleet.oracle_txs_per_epoch.<N>``: the daemon's transactions per epoch (goal <= 2);
- ``fleet.oracle_gas_per_epoch.<N>``: their gas per epoch; the larger sizes against the smallest (goal <= 1.05);
- ``fleet.gas_per_asset_epoch.<N>``: the root's gas plus the keeper's ``settleRange`` gas, per asset, in the
  steady epoch (2), beside ``fleet.gas_per_asset_epoch.today.<N>``: 20 twin assets (same leases, same report
  figures) posted today's way in the same run and epoch, one signed ``submit`` batch and one ``settle``
  transaction per asset (goal <= 0.7 from 1,000 assets: below that the epoch's one root weighs on each asset);
- ``fleet.epoch_end_to_root_s.<N>`` and ``fleet.epoch_end_to_all_settled_s.<N>`` (worst epoch; goals 60 s and
  15 min at 12,500 assets), from the block past the epoch's end to the root's receipt in the outbox and to the
  keeper's last receipt;
- ``fleet.daemon_peak_rss_mib.<N>``: the daemon process's peak resident memory (VmHWM);
- ``fleet.setup_s.<N>`` and ``fleet.run_s.<N>``: the set-up's wall time (suite and assets, before the first
  epoch ends) and the whole size's wall time, set-up included (not goals: they show what a run costs).

The daemon logs at INFO to ``daemon.log`` in the run's work directory (named in this section's log).
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from scripts.benchmarks.core import Bench

ROOT = Path(__file__).resolve().parents[2]
GENESIS = 1_760_000_000
EPOCH = 3600
EPOCHS = 3
TWINS = 20
MNEMONIC = "test test test test test test test test test test test junk"
GAS_CAP = 15_000_000
FLEET_GOAL_FROM = 1_000

log = logging.getLogger(__name__)


def sizes() -> list[int]:
    """The fleet sizes to run (see the module docstring)."""
    override = os.environ.get("WELLHEAD_BENCH_FLEET_SIZES")
    if override:
        return sorted(int(s) for s in override.split(",") if s)
    chosen = [10, 1_000]
    if os.environ.get("WELLHEAD_BENCH_FLEET_FULL") == "1":
        chosen.append(12_500)
    return chosen


def run(bench: Bench) -> None:
    """Runs the fleet at each size and records its figures (see the module docstring)."""
    results = {n: run_fleet(n) for n in sizes()}
    record(bench, results)


def record(bench: Bench, results: dict[int, dict[str, float]]) -> None:
    """The figures of :func:`run_fleet` results, by fleet size."""
    base = min(results)
    for n, r in sorted(results.items()):
        bench.record(f"fleet.oracle_txs_per_epoch.{n}", r["txs_per_epoch"], "tx", goal="<= 2",
                     note=f"{n} assets x 8 GPUs, {EPOCHS} hourly epochs, root-only posting, 2-of-3 with a co-signer")
        if n == base:
            bench.record(f"fleet.oracle_gas_per_epoch.{n}", r["oracle_gas"])
        else:
            bench.compare(f"fleet.oracle_gas_per_epoch.{n}", r["oracle_gas"], f"fleet.oracle_gas_per_epoch.{base}",
                          results[base]["oracle_gas"], goal="<= 1.05")
        bench.record(f"fleet.gas_per_asset_epoch.today.{n}", r["today_per_asset"],
                     note=f"{TWINS} twin assets: one signed submit batch + one settle tx per asset")
        # The goal is the fleet's: below FLEET_GOAL_FROM assets the epoch's one root (about 88,000 gas) weighs on
        # each asset (8,800 gas at 10 assets), so the ratio is reported without it.
        fleet_sized = n >= FLEET_GOAL_FROM
        bench.compare(f"fleet.gas_per_asset_epoch.{n}", r["proven_per_asset"],
                      f"fleet.gas_per_asset_epoch.today.{n}", r["today_per_asset"],
                      goal="<= 0.7" if fleet_sized else None,
                      note="" if fleet_sized else f"the root's gas spread over {n} assets; goal from "
                                                  f"{FLEET_GOAL_FROM:,} assets")
        bench.record(f"fleet.epoch_end_to_root_s.{n}", r["to_root_s"], "s", goal="<= 60")
        bench.record(f"fleet.epoch_end_to_all_settled_s.{n}", r["to_settled_s"], "s", goal="<= 900")
        bench.record(f"fleet.daemon_peak_rss_mib.{n}", r["peak_rss_mib"], "MiB")
        bench.record(f"fleet.setup_s.{n}", r["setup_s"], "s",
                     note=f"suite + {n + TWINS} assets (fleet_setup.py); the assets' transactions "
                          f"{r['setup_assets_s']:.0f} s")
        bench.record(f"fleet.run_s.{n}", r["run_s"], "s", note="this size's wall time, set-up included")


def run_fleet(size: int) -> dict[str, float]:
    """One fleet of ``size`` assets end to end; returns its raw figures."""
    from eth_account import Account

    from oracle.aggregate import AggregationConfig
    from oracle.cosign import CosignServer, CosignService
    from oracle.daemon import EpochAggregator
    from oracle.signer import LocalKeySigner
    from oracle.sources.simulator import FleetSimulator, make_asset_map
    from scripts.localnode import rpc_call, start_anvil

    Account.enable_unaudited_hdwallet_features()
    keys = [Account.from_mnemonic(MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}") for i in (10, 11, 12, 13)]
    signer_keys = sorted(keys[:3], key=lambda k: int(k.address, 16))
    daemon_key, peer_key = signer_keys[0], signer_keys[1]
    keeper_signer = LocalKeySigner(bytes(keys[3].key))
    work = Path(tempfile.mkdtemp(prefix=f"wellhead-fleet-{size}-"))
    log.info("fleet of %d assets: work directory %s", size, work)
    run_started = time.perf_counter()
    node = start_anvil(timestamp=GENESIS + 1, log_dir=work, gas_limit=60_000_000, extra_args=["--prune-history"])
    peer_server = None
    try:
        setup_started = time.perf_counter()
        setup = _setup(node.url, work, [k.address for k in signer_keys], size)
        setup_s = time.perf_counter() - setup_started
        fleet_ids = setup["fleet"]
        assets = make_asset_map(seed=11, genesis=GENESIS, epoch_length=EPOCH,
                                gpus_per_asset=dict.fromkeys(fleet_ids, 8))
        (work / "assets.json").write_text(json.dumps(assets.model_dump(mode="json")))
        start, end = GENESIS - 600, GENESIS + (EPOCHS + 1) * EPOCH
        power = dict.fromkeys(fleet_ids, 700)
        peer_source = FleetSimulator(assets, start_s=start, end_s=end, scrape_interval_ms=15_000, seed=11,
                                     power_w=power)
        aggregator = EpochAggregator(peer_source, assets, config=AggregationConfig(scrape_interval_ms=15_000),
                                     lookback_ms=600_000, grace_ms=15_000)
        oracle_address = json.loads(Path(setup["deployment"]).read_text())["contracts"]["MeteringOracle"]["address"]
        peer_server = CosignServer(CosignService(chain_id=31337, oracle=oracle_address,
                                                 signers=[LocalKeySigner(bytes(peer_key.key))],
                                                 recompute=aggregator.reports_for, known_assets=set(fleet_ids)))
        peer_server.start()
        publish = work / "epochs"
        config = _write_settings(work, node.url, setup["deployment"], daemon_key, (start, end, power), publish,
                                 peer_server.url)
        rpc_call(node.url, "anvil_setBalance", [keeper_signer.address, hex(10**24)])
        figures = _drive(node.url, work, config, publish, setup, keeper_signer, [daemon_key, peer_key])
        return {**figures, "setup_s": setup_s, "setup_assets_s": float(setup["setup_s"]["assets"]),
                "run_s": time.perf_counter() - run_started}
    finally:
        if peer_server is not None:
            peer_server.stop()
        node.stop()


def _setup(url: str, work: Path, signers: list[str], size: int) -> dict[str, Any]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "benchmarks" / "fleet_setup.py"), "--rpc-url", url, "--out",
         str(work), "--genesis", str(GENESIS), "--epoch-length", str(EPOCH), "--signers", ",".join(signers),
         "--threshold", "2", "--assets", str(size), "--twins", str(TWINS), "--term", str(EPOCHS + 1)],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=1_800,
    )
    if done.returncode != 0:
        raise RuntimeError(f"fleet setup failed: {done.stderr[-3000:]}")
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    log.info("fleet of %d assets deployed in %.0f s (suite %.0f s, assets %.0f s)", size,
             time.perf_counter() - started, summary["setup_s"]["suite"], summary["setup_s"]["assets"])
    return summary


def _write_settings(work: Path, url: str, deployment: str, key: Any, simulator: tuple[int, int, dict[int, int]],
                    publish: Path, peer_url: str) -> Path:
    from eth_account import Account

    (work / "k0.json").write_text(json.dumps(Account.encrypt(key.key, "pw", kdf="pbkdf2", iterations=1024)))
    (work / "k0.pass").write_text("pw\n")
    for name in ("k0.json", "k0.pass"):
        (work / name).chmod(0o600)
    start, end, power_w = simulator
    power = ", ".join(f'"{a}" = {w}' for a, w in power_w.items())
    text = f"""poll_interval_s = 0.2
[chain]
rpc_url = "{url}"
chain_id = 31337
deployment = "{deployment}"
rpc_timeout_s = 120
[signers]
keystores = [{{ path = "{work / 'k0.json'}", password_file = "{work / 'k0.pass'}" }}]
[source]
kind = "simulator"
scrape_interval_s = "15"
[source.simulator]
seed = 11
start = {start}
end = {end}
power_w = {{ {power} }}
[assets]
map = "{work / 'assets.json'}"
[outbox]
path = "{work / 'outbox.sqlite'}"
[ops]
port = 0
log_level = "INFO"
[submission]
mode = "root_only"
publish_dir = "{publish}"
gas_cap_per_tx = {GAS_CAP}
[cosign]
timeout_s = 900
peers = [{{ name = "auditor", url = "{peer_url}" }}]
"""
    path = work / "oracle.toml"
    path.write_text(text)
    return path


def _drive(url: str, work: Path, config: Path, publish: Path, setup: dict[str, Any], keeper_signer: Any,
           quorum: list[Any]) -> dict[str, float]:
    from pydantic import SecretStr
    from web3 import Web3

    from oracle.keeper import Keeper, KeepSettings
    from scripts.localnode import rpc_call

    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 600}))
    keeper = Keeper(w3, keeper_signer, KeepSettings(
        rpc_url=SecretStr(url), lease_market=setup["market"], lens=setup["lens"], publications=str(publish),
        gas_cap=GAS_CAP))
    outbox = work / "outbox.sqlite"
    with (work / "daemon.log").open("w") as daemon_log:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "oracle", "run", "--config", str(config), "--until-epoch", str(EPOCHS - 1)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=daemon_log,
        )
        peak_kib = 0
        to_root: list[float] = []
        to_settled: list[float] = []
        settle_gas: dict[int, int] = {}
        today: dict[int, float] = {}
        try:
            for epoch in range(EPOCHS):
                rpc_call(url, "evm_setNextBlockTimestamp", [GENESIS + (epoch + 1) * EPOCH + 1])
                rpc_call(url, "evm_mine")
                started = time.monotonic()
                while _root_state(outbox, epoch) not in ("committed", "proven"):
                    peak_kib = max(peak_kib, _vm_hwm_kib(daemon.pid))
                    if daemon.poll() is not None:
                        raise RuntimeError(f"the daemon exited early: {(work / 'daemon.log').read_text()[-3000:]}")
                    time.sleep(0.1)
                to_root.append(time.monotonic() - started)
                while not (publish / f"epoch-{epoch}.json").exists():
                    peak_kib = max(peak_kib, _vm_hwm_kib(daemon.pid))
                    time.sleep(0.05)
                result = keeper.run_once()
                if result.failed or result.settled != len(setup["fleet"]):
                    raise RuntimeError(f"epoch {epoch}: the keeper settled {result.settled}: {result.failed}")
                to_settled.append(time.monotonic() - started)
                settle_gas[epoch] = result.gas_used
                today[epoch] = _today(w3, setup, epoch, publish, quorum)
                log.info("fleet %d, epoch %d: root after %.1f s, all settled after %.1f s", len(setup["fleet"]),
                         epoch, to_root[-1], to_settled[-1])
            while daemon.poll() is None:
                peak_kib = max(peak_kib, _vm_hwm_kib(daemon.pid))
                time.sleep(0.1)
        finally:
            if daemon.poll() is None:
                daemon.terminate()
                daemon.wait(timeout=60)
    commits = _commits(outbox)
    gas = {epoch: int(w3.eth.get_transaction_receipt(h)["gasUsed"]) for epoch, h in commits}
    steady = EPOCHS - 1
    return {
        "txs_per_epoch": _mined_transactions(outbox) / EPOCHS,
        "oracle_gas": sum(gas.values()) / len(gas),
        "proven_per_asset": (gas[steady] + settle_gas[steady]) / len(setup["fleet"]),
        "today_per_asset": today[steady],
        "to_root_s": max(to_root),
        "to_settled_s": max(to_settled),
        "peak_rss_mib": peak_kib / 1024,
    }


def _today(w3: Any, setup: dict[str, Any], epoch: int, publish: Path, quorum: list[Any]) -> float:
    """Today's path on the twins: their reports (the fleet's first reports' figures) in one signed ``submit``,
    then one ``settle`` transaction per asset; gas per asset."""
    from eth_abi import encode as abi_encode
    from eth_utils import keccak

    from oracle.chain import ChainClient
    from oracle.eip712 import Eip712Domain, batch_digest
    from oracle.publication import DirectorySource
    from oracle.signer import LocalKeySigner, sign_sorted

    twins = setup["twins"]
    published = DirectorySource(publish).get(epoch).reports
    reports = [published[i % len(published)].model_copy(update={"asset_id": twin}) for i, twin in enumerate(twins)]
    oracle = json.loads(Path(setup["deployment"]).read_text())["contracts"]["MeteringOracle"]["address"]
    client = ChainClient("http://127.0.0.1:1", oracle, w3=w3)
    version = client.config_version()
    signatures = sign_sorted(batch_digest(Eip712Domain(chain_id=31337, verifying_contract=oracle), version, reports),
                             [LocalKeySigner(bytes(k.key)) for k in quorum])
    sender = w3.eth.accounts[5]
    data = client.encode_submit(version, reports, client.signers(), signatures)
    receipt = w3.eth.wait_for_transaction_receipt(
        w3.eth.send_transaction({"from": sender, "to": oracle, "gas": 20_000_000, "data": data}))
    if receipt["status"] != 1:
        raise RuntimeError("the twins' submit reverted")
    total = int(receipt["gasUsed"])
    selector = keccak(text="settle(uint256,uint64)")[:4]
    for twin in twins:
        call = selector + abi_encode(["uint256", "uint64"], [twin, epoch])
        receipt = w3.eth.wait_for_transaction_receipt(
            w3.eth.send_transaction({"from": sender, "to": setup["market"], "data": call, "gas": 2_000_000}))
        if receipt["status"] != 1:
            raise RuntimeError(f"settle of twin {twin} reverted")
        total += int(receipt["gasUsed"])
    return total / len(twins)


def _query(outbox: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if not outbox.exists():
        return []
    try:
        with sqlite3.connect(f"file:{outbox}?mode=ro", uri=True, timeout=5) as db:
            return db.execute(sql, params).fetchall()
    except sqlite3.OperationalError:
        return []  # the daemon has not created its tables yet


def _root_state(outbox: Path, epoch: int) -> str | None:
    rows = _query(outbox, "SELECT state FROM roots WHERE epoch = ? ORDER BY id DESC LIMIT 1", (epoch,))
    return rows[0][0] if rows else None


def _commits(outbox: Path) -> list[tuple[int, str]]:
    rows = _query(outbox, "SELECT r.epoch, t.tx_hash FROM transactions t JOIN roots r ON r.id = t.root_id "
                          "WHERE t.kind = 'commit' AND t.status = 1 ORDER BY r.epoch")
    return [(int(epoch), str(tx_hash)) for epoch, tx_hash in rows]


def _mined_transactions(outbox: Path) -> int:
    return int(_query(outbox, "SELECT COUNT(*) FROM transactions WHERE status IS NOT NULL")[0][0])


def _vm_hwm_kib(pid: int) -> int:
    """A process's peak resident memory so far (0 once it has exited)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return 0
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    sys.path.insert(0, str(ROOT))
    from scripts.localnode import exit_on_sigterm

    exit_on_sigterm()  # a stopped run stops its daemon, co-signer and Anvil too
    figures = {n: run_fleet(n) for n in sizes()}
    print(json.dumps(figures, indent=1))
