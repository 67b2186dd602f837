"""Local chain nodes for the demo, the benches and the tests: start Anvil or Ganache, wait until they answer,
attach brownie to them, and stop them again.

brownie can launch Anvil by itself (its `development` network), but the daemon, the deploy script run
against "an already running node" and the fault tests need a node whose URL, state file and lifetime the
caller controls, so they use these helpers instead.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NODE_BIN = ROOT / "node_modules" / ".bin"

#: Anvil's and Ganache's well-known development mnemonic; their first accounts are funded.
DEV_MNEMONIC = "test test test test test test test test test test test junk"


class NodeError(RuntimeError):
    """A local node could not be started or did not answer."""


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _binary(name: str) -> str:
    local = NODE_BIN / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if found is None:
        raise NodeError(f"{name} not found: run `make setup` (npm ci) first")
    return found


def rpc_call(url: str, method: str, params: list | None = None, timeout: float = 5.0) -> object:
    """One JSON-RPC call without web3, for health checks and node control."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (loopback URL)
        reply = json.loads(response.read())
    if "error" in reply:
        raise NodeError(f"{method} failed: {reply['error']}")
    return reply["result"]


@dataclass
class LocalNode:
    """A node process started by this module."""

    kind: str
    port: int
    process: subprocess.Popen
    log_path: Path
    state_path: Path | None = None
    args: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Blocks until the node answers `eth_chainId`, or raises NodeError with its log."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise NodeError(f"{self.kind} exited with {self.process.returncode}: {self._log_tail()}")
            try:
                rpc_call(self.url, "eth_chainId", timeout=1.0)
                return
            except (OSError, NodeError):
                time.sleep(0.1)
        raise NodeError(f"{self.kind} on port {self.port} did not answer in {timeout}s: {self._log_tail()}")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (Anvil writes its --dump-state file on the way out), then SIGKILL if it lingers."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def restart(self) -> None:
        """Starts the same node again on the same port (with its saved state, if any)."""
        self.stop()
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(self.args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.wait_ready()

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"


def exit_on_sigterm() -> None:
    """Turns SIGTERM into ``SystemExit(143)``, so that a script stopped with ``kill`` (or by ``timeout``) runs its
    ``finally`` blocks and stops the nodes and processes it started, instead of leaving them behind."""

    def _exit(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _exit)


def start_anvil(
    port: int | None = None,
    *,
    state_path: Path | None = None,
    block_time: float | None = None,
    timestamp: int | None = None,
    chain_id: int = 31337,
    accounts: int = 20,
    gas_limit: int = 30_000_000,
    no_mining: bool = False,
    base_fee: int | None = 0,
    log_dir: Path | None = None,
    extra_args: Sequence[str] = (),
    max_persisted_states: int | None = None,
) -> LocalNode:
    """Starts Anvil on loopback.

    `state_path` makes the node durable across restarts (`--state` loads it if present and dumps it on exit),
    `block_time` mines on an interval instead of on every transaction, `no_mining` leaves transactions pending
    until a block is mined explicitly (to test replacement of stuck transactions). `base_fee` 0 (the default)
    suits brownie, whose development network sends zero-priced transactions; None keeps Anvil's EIP-1559
    base fee, which the daemon's fee tests need. `max_persisted_states` 0 keeps Anvil from writing the states
    of old blocks to ~/.foundry/anvil/tmp (about 4 MB a block once a thousand holders exist: 13 GB per
    `make bench`, never removed when Anvil is stopped); only recent blocks can then be queried by number.
    """
    port = port or free_port()
    log_dir = log_dir or ROOT / ".run"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"anvil-{port}.log"
    args = [
        _binary("anvil"),
        "--host", "127.0.0.1",
        "--port", str(port),
        "--chain-id", str(chain_id),
        "--accounts", str(accounts),
        "--gas-limit", str(gas_limit),
        "--mnemonic", DEV_MNEMONIC,
        "--hardfork", "prague",
    ]
    if state_path is not None:
        args += ["--state", str(state_path)]
    if block_time is not None:
        args += ["--block-time", str(block_time)]
    if timestamp is not None:
        args += ["--timestamp", str(timestamp)]
    if no_mining:
        args += ["--no-mining"]
    if base_fee is not None:
        args += ["--block-base-fee-per-gas", str(base_fee)]
    args += list(extra_args)  # e.g. --prune-history: no state snapshots on disk for long, large runs
    if max_persisted_states is not None:
        args += ["--max-persisted-states", str(max_persisted_states)]
    log = log_path.open("ab")
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    node = LocalNode("anvil", port, process, log_path, state_path, args)
    node.wait_ready()
    return node


def start_ganache(port: int | None = None, *, chain_id: int = 1337, log_dir: Path | None = None) -> LocalNode:
    """Starts Ganache (npm `ganache`) on loopback with the development mnemonic."""
    port = port or free_port()
    log_dir = log_dir or ROOT / ".run"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"ganache-{port}.log"
    args = [
        _binary("ganache"),
        "--server.host", "127.0.0.1",
        "--server.port", str(port),
        "--chain.chainId", str(chain_id),
        "--chain.hardfork", "shanghai",
        "--wallet.mnemonic", DEV_MNEMONIC,
        "--wallet.totalAccounts", "20",
        "--miner.blockGasLimit", "30000000",
        "--logging.quiet",
    ]
    log = log_path.open("ab")
    env = dict(os.environ, NODE_OPTIONS="--max-old-space-size=2048")
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env)
    node = LocalNode("ganache", port, process, log_path, None, args)
    node.wait_ready(timeout=60.0)
    return node


def split_local_url(url: str) -> tuple[str, int]:
    """``("http://127.0.0.1", 8545)`` from ``http://127.0.0.1:8545/`` (a trailing slash or path is fine; the
    port defaults to the scheme's). Raises NodeError for a URL that is not http(s) with a host."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise NodeError(f"{url!r} is not an http(s) URL with a host")
    try:
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
    except ValueError:
        raise NodeError(f"{url!r} has an invalid port") from None
    host = f"[{parsed.hostname}]" if ":" in parsed.hostname else parsed.hostname
    return f"{parsed.scheme}://{host}", port


def attach_brownie(url: str) -> None:
    """Connects brownie's `development` network to an already running local node at `url`.

    brownie attaches (instead of launching Anvil) when something already listens at the network's host;
    the node's unlocked accounts become `brownie.accounts`. Raises NodeError when nothing answers at `url`:
    brownie would otherwise launch a throw-away Anvil of its own on that port and deploy there.
    """
    from brownie import network  # imported here: the daemon side of the project never needs brownie
    from brownie._config import CONFIG

    try:
        rpc_call(url, "eth_chainId", timeout=5.0)
    except (OSError, NodeError) as exc:
        raise NodeError(f"no node answers at {url}: {exc}") from exc
    host, port = split_local_url(url)
    if network.is_connected():
        network.disconnect(kill_rpc=False)
    CONFIG.networks["development"]["host"] = host
    CONFIG.networks["development"]["cmd_settings"]["port"] = port
    network.connect("development")
    settle_before_judging_drops()
    _price_transactions_for_node()


def _price_transactions_for_node() -> None:
    """Makes brownie's transactions acceptable to the attached node.

    brownie's `development` network sends legacy transactions priced at 0, which only a node started with a
    zero base fee accepts (the Anvil that brownie or `start_anvil` launches). A node that keeps its EIP-1559
    base fee (Ganache always does; so does a plain `anvil`) rejects them ("max fee per gas less than block
    base fee") or leaves them pending forever. There, send EIP-1559 transactions priced from the node: the
    priority fee it suggests and a max fee of twice the base fee plus that (brownie's own `priority_fee:
    auto` rule, as on its live networks).
    """
    from brownie import web3
    from brownie._config import CONFIG

    base_fee = web3.eth.get_block("latest").get("baseFeePerGas") or 0
    if base_fee == 0:
        return
    settings = CONFIG.active_network["settings"]
    settings["gas_price"] = None
    settings["max_fee"] = None
    settings["priority_fee"] = "auto"


def settle_before_judging_drops() -> None:
    """Stops brownie from declaring a mined transaction "dropped" (`TransactionError: Tx dropped without known
    replacement`), which made `make bench` fail on a busy machine.

    The cause: brownie's `TransactionReceipt._await_confirmation` reads the sender's nonce, then the receipt,
    and calls the transaction dropped when the nonce has moved past it and there is no receipt. Anvil, under
    load (the share section's 2,000 back-to-back transactions, brownie's own `evm_snapshot` after each one),
    answers `eth_getTransactionCount` with the mined nonce while `eth_getTransactionReceipt` still returns
    null for a moment; the receipt, status 1, is there right after. This waits, before brownie's check, until
    the node has the receipt or no longer knows the transaction at all (then brownie's verdict stands), so the
    check only ever sees a settled node. Installed once per process (brownie 1.22 is pinned in the Makefile).
    """
    import brownie.network.transaction as brownie_transaction
    from brownie import web3
    from web3.exceptions import TransactionNotFound

    receipt_class = brownie_transaction.TransactionReceipt
    if getattr(receipt_class, "_wellhead_settles_first", False):
        return
    original = receipt_class._await_confirmation

    def await_confirmation(self, block_number=None, required_confs=1):  # noqa: ANN001, ANN202 - brownie's own
        if required_confs > 0 and self.nonce is not None:
            while True:
                try:
                    if web3.eth.get_transaction_receipt(self.txid) is not None:
                        break
                except TransactionNotFound:
                    pass
                try:
                    web3.eth.get_transaction(self.txid)  # still pending: keep waiting
                except TransactionNotFound:
                    break  # the node forgot it: replaced or dropped, brownie decides
                time.sleep(0.05)
        return original(self, block_number, required_confs)

    receipt_class._await_confirmation = await_confirmation
    receipt_class._wellhead_settles_first = True
    receipt_class._wellhead_unsettled = original  # brownie's own, for the test that reproduces its verdict


def detach_brownie() -> None:
    """Disconnects brownie from an attached node (before the node stops, so that brownie's background
    block watcher does not fail against a closed port)."""
    from brownie import network

    if network.is_connected():
        network.disconnect(kill_rpc=False)


def load_project() -> object:
    """Loads this brownie project outside `brownie run`/`brownie test` and makes its contract containers
    importable as `from brownie import AssetRegistry, ...`, as they are inside brownie's own commands.

    Returns the loaded project. (brownie 1.22 does the same in `brownie run` with the private
    `_add_to_main_namespace`; the version is pinned in the Makefile.)
    """
    from brownie import project

    loaded = project.get_loaded_projects()
    if loaded:
        return loaded[0]
    active = project.load(ROOT, name="WellheadProject")
    active.load_config()
    active._add_to_main_namespace()
    return active
