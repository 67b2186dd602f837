"""A bench stopped with SIGTERM (``kill``, ``timeout``) stops the Anvil it started instead of leaving it behind."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from scripts.localnode import NodeError, rpc_call

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {root!r})
    from scripts.localnode import exit_on_sigterm, start_anvil
    exit_on_sigterm()
    node = start_anvil()
    try:
        print(node.url, flush=True)
        while True:
            time.sleep(0.1)
    finally:
        node.stop()
    """
)


def test_exit_on_sigterm_runs_finally_and_stops_the_node() -> None:
    child = subprocess.Popen([sys.executable, "-c", SCRIPT.format(root=str(ROOT))], stdout=subprocess.PIPE, text=True)
    try:
        url = child.stdout.readline().strip()  # type: ignore[union-attr]
        assert url.startswith("http://127.0.0.1:")
        assert int(str(rpc_call(url, "eth_chainId")), 16) == 31337

        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=30) == 128 + signal.SIGTERM

        deadline = time.monotonic() + 10
        while True:
            try:
                rpc_call(url, "eth_chainId", timeout=1)
            except (NodeError, OSError):
                break  # the node is gone
            assert time.monotonic() < deadline, "Anvil still answers after the script was stopped"
            time.sleep(0.2)
    finally:
        if child.poll() is None:
            child.kill()
