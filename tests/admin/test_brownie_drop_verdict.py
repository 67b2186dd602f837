"""Why `make bench` failed with `TransactionError: Tx dropped without known replacement`, and that it no longer
can: brownie calls a transaction dropped when the sender's nonce has moved past it while the node has no receipt
for it. A busy Anvil shows exactly that for a moment after mining. Here a real Anvil sits behind a proxy that
holds each receipt back for a second after the transaction is mined (the nonce is already visible), and
brownie's own confirmation logic is run on a transaction that was mined with status 1."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from eth_utils import to_checksum_address

from scripts.localnode import free_port, rpc_call, settle_before_judging_drops, start_anvil

LAG_S = 1.0


class _LaggingReceipts(BaseHTTPRequestHandler):
    """Forwards JSON-RPC to Anvil, answering `eth_getTransactionReceipt` with null for LAG_S after the node first
    returned the receipt: a node whose account state runs ahead of its receipts."""

    upstream = ""
    first_seen: dict[str, float] = {}

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        request = urllib.request.Request(self.upstream, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            reply = json.loads(response.read())
        call = json.loads(body)
        if isinstance(call, dict) and call.get("method") == "eth_getTransactionReceipt" and reply.get("result"):
            seen = self.first_seen.setdefault(call["params"][0], time.monotonic())
            if time.monotonic() - seen < LAG_S:
                reply["result"] = None
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def lagging_node(tmp_path) -> Iterator[str]:
    """Anvil behind the lagging proxy; brownie's web3 pointed at the proxy for the test, then restored."""
    from brownie import web3

    node = start_anvil(log_dir=tmp_path / "logs")
    handler = type("Handler", (_LaggingReceipts,), {"upstream": node.url, "first_seen": {}})
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    saved = web3.provider
    url = f"http://127.0.0.1:{server.server_address[1]}"
    web3.connect(url)
    try:
        yield url
    finally:
        web3.provider = saved
        server.shutdown()
        node.stop()


def _mined_transaction(url: str) -> tuple[str, str]:
    """A plain transfer, mined (status 1), whose receipt the proxy still hides."""
    sender = rpc_call(url, "eth_accounts")[0]
    tx_hash = rpc_call(url, "eth_sendTransaction", [{"from": sender, "to": sender, "value": "0x1"}])
    deadline = time.monotonic() + 10
    while int(str(rpc_call(url, "eth_getTransactionCount", [sender, "latest"])), 16) == 0:
        assert time.monotonic() < deadline, "the transfer was not mined"
        time.sleep(0.05)
    return str(tx_hash), to_checksum_address(sender)


def _confirm(tx_hash: str, sender: str, method: Any) -> Any:
    """brownie's TransactionReceipt for a mined transaction, confirmed with `method`."""
    from brownie.network.transaction import TransactionReceipt

    settle_before_judging_drops()
    receipt_class = TransactionReceipt
    installed = receipt_class._await_confirmation
    receipt_class._await_confirmation = method
    try:
        return TransactionReceipt(tx_hash, sender, silent=True, required_confs=1, is_blocking=True)
    finally:
        receipt_class._await_confirmation = installed


def test_brownie_alone_calls_a_mined_transaction_dropped_on_a_node_whose_receipts_lag(lagging_node) -> None:
    from brownie.network.transaction import TransactionReceipt

    settle_before_judging_drops()
    tx_hash, sender = _mined_transaction(lagging_node)

    receipt = _confirm(tx_hash, sender, TransactionReceipt._wellhead_unsettled)

    assert receipt.status == -2  # "dropped": what made brownie raise "Tx dropped without known replacement"
    time.sleep(LAG_S)
    assert int(rpc_call(lagging_node, "eth_getTransactionReceipt", [tx_hash])["status"], 16) == 1  # it was mined


def test_settled_confirmation_waits_for_the_receipt_and_reports_the_mined_transaction(lagging_node) -> None:
    from brownie.network.transaction import TransactionReceipt

    settle_before_judging_drops()
    tx_hash, sender = _mined_transaction(lagging_node)

    receipt = _confirm(tx_hash, sender, TransactionReceipt._await_confirmation)

    assert receipt.status == 1
    assert receipt.block_number == int(rpc_call(lagging_node, "eth_blockNumber"), 16)
