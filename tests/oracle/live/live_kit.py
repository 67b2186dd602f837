"""Helpers for the daemon's tests against real parts: Anvil (scripts/localnode), the compiled contracts deployed
by scripts/deploy.py (in a subprocess: tests/oracle/chain_setup.py), a Prometheus server filled with promtool, a
SQLite outbox, and the daemon as a subprocess (``python -m oracle run``) or in-process.

Named actors: signers A, B and C (Anvil's funded accounts 10-12) form the oracle's set with threshold 2; D
(account 13) is not a signer. The simulated fleet: asset 1 = 8 GPUs at 700 W (the H100 sample asset),
asset 2 = 4 GPUs at 350 W (the L40S one); 60 s epochs, 15 s scrapes.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_hash.auto import keccak
from web3 import Web3

from oracle.aggregate import aggregate
from oracle.models import AssetMap, Report
from oracle.outbox import Outbox
from oracle.sources.recording import RecordingSource
from oracle.sources.simulator import AssetWindow, CounterReset, FleetSimulator, GpuWindow, Malformed, make_asset_map

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))

from scripts.localnode import LocalNode, rpc_call, start_anvil  # noqa: E402

GENESIS = 1_760_000_000
"""Oracle genesis of the live tests (Oct 2025: in the past, as Prometheus backfills need)."""
EPOCH = 60
SCRAPE_MS = 15_000
SEED = 7
POWER_W = {1: 700, 2: 350}
LAST_EPOCH = 13
"""The session recording covers epochs 0..LAST_EPOCH completely (plus grace)."""

MNEMONIC = "test test test test test test test test test test test junk"
Account.enable_unaudited_hdwallet_features()


@dataclass(frozen=True)
class Actor:
    name: str
    address: str
    key: bytes


def actor(name: str, index: int) -> Actor:
    acct = Account.from_mnemonic(MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")
    return Actor(name, acct.address, bytes(acct.key))


A, B, C, D = actor("A", 10), actor("B", 11), actor("C", 12), actor("D", 13)
SIGNERS = [A, B, C]
THRESHOLD = 2


def asset_map() -> AssetMap:
    """The simulated fleet's asset map."""
    return make_asset_map(seed=SEED, genesis=GENESIS, epoch_length=EPOCH, gpus_per_asset={1: 8, 2: 4})


def simulator(assets: AssetMap | None = None, *, end_epoch: int = LAST_EPOCH, **events: Any) -> FleetSimulator:
    """The simulated fleet from 10 minutes before genesis to the end of ``end_epoch`` plus 30 s, with the
    session recording's events unless others are given: an exporter outage of asset 1 inside epoch 1, a GPU
    of asset 2 vanishing inside epoch 3, XID 79 on a GPU of asset 1 inside epoch 4 and a counter reset in
    epoch 5 (each inside its epoch, so that per-epoch windows and a whole-file aggregation agree)."""
    assets = assets or asset_map()
    a1, a2 = assets.assets[1].gpus, assets.assets[2].gpus
    g = GENESIS
    defaults: dict[str, Any] = {
        "outages": [AssetWindow(1, g + 65, g + 100)],
        "vanished": [GpuWindow(a2[1], g + 3 * 60 + 10, g + 3 * 60 + 40)],
        "xid": [GpuWindow(a1[3], g + 4 * 60 + 20, g + 4 * 60 + 40)],
        "resets": [CounterReset(a1[5], g + 5 * 60 + 30)],
    }
    defaults.update(events)
    return FleetSimulator(
        assets,
        start_s=g - 600,
        end_s=g + (end_epoch + 1) * EPOCH + 30,
        scrape_interval_ms=SCRAPE_MS,
        seed=SEED,
        power_w=POWER_W,
        **defaults,
    )


def reference_reports(recording: Path, assets: AssetMap | None = None) -> dict[tuple[int, int], Report]:
    """The aggregator's own output on the whole recording: (assetId, epoch) -> report."""
    result = aggregate(RecordingSource(recording).fetch(), assets or asset_map(), first_epoch=0)
    return {(r.asset_id, r.epoch): r for r in result.reports()}


# --- processes and ports -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Any, timeout: float = 30.0, interval: float = 0.1, what: str = "condition") -> Any:
    """Poll ``condition()`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


# --- Prometheus -----------------------------------------------------------------------------------------


@dataclass
class PrometheusServer:
    """A real Prometheus serving a TSDB backfilled with promtool."""

    data_dir: Path
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        config = self.data_dir.parent / f"prometheus-{self.port}.yml"
        config.write_text("global:\n  scrape_interval: 15s\nscrape_configs: []\n")
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                shutil.which("prometheus") or "prometheus",
                f"--config.file={config}",
                f"--storage.tsdb.path={self.data_dir}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--storage.tsdb.retention.time=100y",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(self._ready, timeout=30, what="prometheus ready")

    def _ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"prometheus exited: {self.log_path.read_text()[-2000:]}")
        try:
            status, _ = http_get(self.url + "/-/ready", timeout=1)
        except OSError:
            return False
        return status == 200

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def backfill(recording: Path, data_dir: Path) -> None:
    """``promtool tsdb create-blocks-from openmetrics recording data_dir``."""
    data_dir.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [
            shutil.which("promtool") or "promtool",
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            str(recording),
            str(data_dir),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"promtool failed: {done.stderr}")


# --- chain ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainTemplate:
    """An Anvil state with the suite deployed (genesis GENESIS, 60 s epochs, signers A, B, C, threshold 2;
    assets 1 and 2 started at epoch 0, asset 3 registered but never started; an offer on asset 1)."""

    state: Path
    deployment: Path


def deploy_template(directory: Path) -> ChainTemplate:
    directory.mkdir(parents=True, exist_ok=True)
    state = directory / "template-state.json"
    node = start_anvil(base_fee=None, timestamp=GENESIS + 1, state_path=state, log_dir=directory)
    try:
        done = subprocess.run(
            [
                sys.executable,
                str(REPO / "tests" / "oracle" / "chain_setup.py"),
                "--rpc-url",
                node.url,
                "--out",
                str(directory),
                "--genesis",
                str(GENESIS),
                "--epoch-length",
                str(EPOCH),
                "--signers",
                ",".join(s.address for s in SIGNERS),
                "--threshold",
                str(THRESHOLD),
                "--unstarted-asset",
                "--offer",
            ],
            capture_output=True,
            text=True,
            cwd=REPO,
            check=False,
            timeout=300,
        )
        if done.returncode != 0:
            raise AssertionError(f"deployment failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    finally:
        node.stop()
    return ChainTemplate(state=state, deployment=directory / "31337.json")


@dataclass
class Chain:
    """A running Anvil started from the template, with time control."""

    node: LocalNode
    deployment: Path
    w3: Web3 = field(init=False)

    def __post_init__(self) -> None:
        self.w3 = Web3(Web3.HTTPProvider(self.node.url))

    @property
    def url(self) -> str:
        return self.node.url

    @property
    def oracle(self) -> str:
        return json.loads(self.deployment.read_text())["contracts"]["MeteringOracle"]["address"]

    def rpc(self, method: str, params: list[Any] | None = None) -> Any:
        return rpc_call(self.url, method, params or [])

    def time(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def set_time(self, timestamp: int) -> None:
        """Mine one block at ``timestamp`` (never backwards)."""
        timestamp = max(timestamp, self.time() + 1)
        self.rpc("evm_setNextBlockTimestamp", [timestamp])
        self.rpc("evm_mine")

    def end_of(self, epoch: int, plus: int = 5) -> int:
        return GENESIS + (epoch + 1) * EPOCH + plus

    def mine(self, blocks: int = 1) -> None:
        for _ in range(blocks):
            self.rpc("evm_mine")

    def restart_at(self, timestamp: int) -> None:
        """Start the stopped node again from its saved state, its clock moved to ``timestamp``."""
        args = self.node.args
        if "--timestamp" in args:
            args[args.index("--timestamp") + 1] = str(timestamp)
        else:
            args += ["--timestamp", str(timestamp)]
        log = self.node.log_path.open("ab")
        self.node.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.node.wait_ready()
        self.rpc("evm_mine")

    def cursor(self, asset_id: int) -> int:
        from oracle.chain import ChainClient

        return ChainClient(self.url, self.oracle).cursor(asset_id)[0]

    def onchain_reports(self, keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], Report | None]:
        from oracle.chain import ChainClient

        client = ChainClient(self.url, self.oracle)
        return {key: client.get_report(*key) for key in keys}

    def accepted_counts(self) -> dict[tuple[int, int], int]:
        """ReportAccepted events per (assetId, epoch), from the oracle's logs."""
        topic = "0x" + keccak(b"ReportAccepted(uint256,uint64,bytes32)").hex()
        logs = self.w3.eth.get_logs({"fromBlock": 0, "toBlock": "latest", "address": self.oracle, "topics": [topic]})
        counts: dict[tuple[int, int], int] = {}
        for log in logs:
            key = (int.from_bytes(log["topics"][1], "big"), int.from_bytes(log["topics"][2], "big"))
            counts[key] = counts.get(key, 0) + 1
        return counts

    def stop(self) -> None:
        self.node.stop()


def start_chain(template: ChainTemplate, directory: Path, *, timestamp: int, no_mining: bool = False) -> Chain:
    """A fresh Anvil from a copy of the template state, its first new block at ``timestamp``."""
    directory.mkdir(parents=True, exist_ok=True)
    state = directory / "state.json"
    shutil.copy(template.state, state)
    deployment = directory / "31337.json"
    shutil.copy(template.deployment, deployment)
    node = start_anvil(base_fee=None, timestamp=timestamp, state_path=state, no_mining=no_mining, log_dir=directory)
    chain = Chain(node, deployment)
    chain.rpc("evm_mine")
    return chain


def assert_posted_exactly_once(
    chain: Chain, reference: dict[tuple[int, int], Report], through: int, *, outbox: Path | None = None
) -> None:
    """Every epoch 0..through of assets 1 and 2 is on chain once, equal to the reference; no transaction of
    the daemon reverted."""
    keys = [(a, e) for a in (1, 2) for e in range(through + 1)]
    onchain = chain.onchain_reports(keys)
    wrong = {k: (onchain[k], reference[k]) for k in keys if onchain[k] != reference[k]}
    assert not wrong, f"on-chain reports differ from the aggregator's: {wrong}"
    counts = chain.accepted_counts()
    assert {k: counts.get(k, 0) for k in keys} == dict.fromkeys(keys, 1)
    assert chain.cursor(1) == chain.cursor(2) == through + 1
    if outbox is not None:
        box = Outbox(outbox, read_only=True)
        try:
            assert [t.tx_hash for t in box.transactions() if t.status == 0] == []
            states = {r.key: r.state for r in box.reports()}
            assert all(states.get(k) in ("confirmed", "done_elsewhere") for k in keys), states
        finally:
            box.close()


# --- keystores and settings --------------------------------------------------------------------------------


def write_keystores(directory: Path, actors: Iterable[Actor]) -> list[dict[str, str]]:
    """Encrypted keystores (fast pbkdf2 for tests) and password files (mode 600)."""
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for who in actors:
        path = directory / f"{who.name}.json"
        password = directory / f"{who.name}.pass"
        if not path.exists():
            path.write_text(json.dumps(Account.encrypt(who.key, f"pw-{who.name}", kdf="pbkdf2", iterations=1024)))
            password.write_text(f"pw-{who.name}\n")
            path.chmod(0o600)
            password.chmod(0o600)
        out.append({"path": str(path), "password_file": str(password)})
    return out


def to_toml(data: dict[str, Any]) -> str:
    """A small TOML writer for the test settings (tables, scalars, lists, inline tables)."""

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, (str, Path)):
            return json.dumps(str(v))
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + " }"
        raise TypeError(type(v))

    lines: list[str] = []

    def table(prefix: str, d: dict[str, Any]) -> None:
        scalars = {k: v for k, v in d.items() if not isinstance(v, dict)}
        tables = {k: v for k, v in d.items() if isinstance(v, dict)}
        if prefix and scalars:
            lines.append(f"[{prefix}]")
        for k, v in scalars.items():
            lines.append(f"{k} = {value(v)}")
        for k, v in tables.items():
            table(f"{prefix}.{k}" if prefix else k, v)

    table("", data)
    return "\n".join(lines) + "\n"


def daemon_settings(
    directory: Path,
    *,
    chain: Chain,
    source: dict[str, Any],
    signers: Iterable[Actor] = (A, B),
    ops_port: int | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A settings document for the daemon under test (fast polling, short replacement wait)."""
    assets_file = directory / "assets.json"
    if not assets_file.exists():
        assets_file.write_text(json.dumps(asset_map().model_dump(mode="json")))
    settings: dict[str, Any] = {
        "poll_interval_s": 0.2,
        "chain": {
            "rpc_url": chain.url,
            "chain_id": 31337,
            "deployment": str(chain.deployment),
            "rpc_retries": 1,
            "rpc_timeout_s": 3,
        },
        "signers": {"keystores": write_keystores(directory / "keys", signers)},
        "source": {"scrape_interval_s": "15", **source},
        "assets": {"map": str(assets_file)},
        "outbox": {"path": str(directory / "outbox.sqlite")},
        "ops": {"port": ops_port if ops_port is not None else free_port(), "log_format": "json", "log_level": "INFO"},
        "submission": {"replace_after_blocks": 3, "retry_base_s": 0.2, "retry_max_s": 1.0},
    }
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(settings.get(key), dict):
            settings[key].update(value)
        else:
            settings[key] = value
    return settings


def write_settings(directory: Path, settings: dict[str, Any]) -> Path:
    path = directory / "oracle.toml"
    path.write_text(to_toml(settings))
    return path


# --- the daemon as a process ----------------------------------------------------------------------------


@dataclass
class DaemonProcess:
    """``python -m oracle run --config ...`` with its JSON-lines log in a file."""

    config: Path
    log_path: Path
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> DaemonProcess:
        log = self.log_path.open("ab")
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "oracle", "run", "--config", str(self.config), *self.args],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        return self

    def wait(self, timeout: float = 60.0) -> int:
        assert self.process is not None
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"daemon did not exit in {timeout}s; log tail:\n{self.tail()}") from None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def terminate(self) -> int:
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.wait(30)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def events(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return out

    def tail(self, n: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-n:]


def outbox_rows(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Read the outbox while the daemon runs (SQLite read-only, WAL)."""
    import sqlite3

    if not path.exists():
        return []
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return list(db.execute(sql, params))
    except sqlite3.OperationalError:
        return []
    finally:
        db.close()


__all__ = [
    "A",
    "B",
    "C",
    "D",
    "EPOCH",
    "GENESIS",
    "LAST_EPOCH",
    "SCRAPE_MS",
    "Chain",
    "ChainTemplate",
    "DaemonProcess",
    "Malformed",
    "PrometheusServer",
    "assert_posted_exactly_once",
    "asset_map",
    "backfill",
    "daemon_settings",
    "deploy_template",
    "free_port",
    "http_get",
    "outbox_rows",
    "reference_reports",
    "simulator",
    "start_chain",
    "to_toml",
    "wait_for",
    "write_keystores",
    "write_settings",
]
