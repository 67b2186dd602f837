"""Deploys the fleet bench's chain: the suite on an already running node, N assets of 8 H100s each (reporting
from epoch 0, one offer of all 8 GPUs, one lease of all 8 GPUs for the bench's epochs), and K twin assets for
today's path (submit-in-batch + settle), leased alike but left out of the daemon's asset map.

Run in a subprocess (it imports brownie; the daemon and the keeper under test must not):

    python scripts/benchmarks/fleet_setup.py --rpc-url URL --out DIR --genesis G --epoch-length 3600 \
        --signers 0xA,0xB,0xC --threshold 2 --assets N --twins K --term 4

Brownie deploys the suite (a few dozen transactions). The mass part (4 transactions per asset: register, start
reporting, offer, lease) bypasses brownie: plain JSON-RPC ``eth_sendTransaction`` from the node's unlocked
accounts with explicit nonces, sent in pipelined JSON-RPC batches while automining is off, then mined
``CHUNK`` at a time into one block each under a raised block gas limit; every receipt is checked. The node's
block gas limit and automining are restored before the script returns, so what the bench measures afterwards
runs under the same limit as before (a 12,500-asset fleet is ready in minutes instead of an hour of one
block per transaction). The last line of stdout is a JSON summary:
{"deployment": path, "fleet": [ids], "twins": [ids], "operator": address, "lens": address, "market": address,
"setup_s": {"suite": s, "assets": s}}.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

GPUS = 8
PRICE = 2_000_000  # $2 per GPU-hour (6-decimal stablecoin)
#: gas declared on each mass transaction (far above what any of them uses; unused gas is not charged)
TX_GAS = 8_000_000
#: transactions mined into one block during the mass part
CHUNK = 2_500
#: JSON-RPC requests per HTTP round trip
RPC_BATCH = 500
#: the block gas limit while the mass part is mined: CHUNK transactions at their declared gas fit one block
SETUP_BLOCK_GAS_LIMIT = CHUNK * TX_GAS

log = logging.getLogger("fleet_setup")


class SetupError(RuntimeError):
    """The fleet's set-up failed; the message says which transaction or call."""


class BatchRpc:
    """A minimal JSON-RPC client over one keep-alive HTTP session that sends requests in batches."""

    def __init__(self, url: str, timeout_s: float = 600.0) -> None:
        import requests

        self._url = url
        self._timeout_s = timeout_s
        self._session = requests.Session()
        self._next_id = 0

    def call(self, method: str, params: Sequence[Any] = ()) -> Any:
        """One request; its result (raises :class:`SetupError` on a JSON-RPC error)."""
        return self.batch([(method, params)])[0]

    def batch(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        """The results of ``calls`` in order, sent ``RPC_BATCH`` to an HTTP request."""
        results: list[Any] = []
        for start in range(0, len(calls), RPC_BATCH):
            chunk = calls[start : start + RPC_BATCH]
            payload = []
            for method, params in chunk:
                self._next_id += 1
                payload.append({"jsonrpc": "2.0", "id": self._next_id, "method": method, "params": list(params)})
            response = self._session.post(self._url, json=payload, timeout=self._timeout_s)
            response.raise_for_status()
            replies = {reply["id"]: reply for reply in response.json()}
            for request, (method, _params) in zip(payload, chunk, strict=True):
                reply = replies.get(request["id"])
                if reply is None or "error" in reply:
                    error = reply["error"] if reply else "no reply"
                    raise SetupError(f"{method} failed: {error}")
                results.append(reply["result"])
        return results


def send_mined(rpc: BatchRpc, txs: Sequence[dict[str, str]], what: str) -> None:
    """Sends ``txs`` (each with ``from``, ``to``, ``data``; automining off) with explicit per-sender nonces,
    mines them ``CHUNK`` to a block, and checks that each was mined in order and succeeded."""
    nonces: dict[str, int] = {}
    for sender in {tx["from"] for tx in txs}:
        nonces[sender] = int(rpc.call("eth_getTransactionCount", [sender, "pending"]), 16)
    for start in range(0, len(txs), CHUNK):
        requests_: list[tuple[str, Sequence[Any]]] = []
        for tx in txs[start : start + CHUNK]:
            nonce = nonces[tx["from"]]
            nonces[tx["from"]] = nonce + 1
            requests_.append(("eth_sendTransaction", [{**tx, "gas": hex(TX_GAS), "nonce": hex(nonce)}]))
        hashes = rpc.batch(requests_)
        rpc.call("evm_mine")
        receipts = rpc.batch([("eth_getTransactionReceipt", [h]) for h in hashes])
        for index, receipt in enumerate(receipts):
            if receipt is None or int(receipt["status"], 16) != 1:
                state = "not mined" if receipt is None else "reverted"
                raise SetupError(f"{what}: transaction {start + index} ({hashes[index]}) {state}")
        log.info("%s: %d of %d mined", what, min(start + CHUNK, len(txs)), len(txs))


def mass_setup(rpc: BatchRpc, build: dict[str, Callable[[int], str]], addresses: dict[str, str],
               ids: list[int]) -> None:
    """Registers, starts reporting, offers and leases every asset in ``ids`` (offer id = position + 1), with
    the node's block gas limit raised and automining off for the duration, both restored afterwards."""
    gas_limit = rpc.call("eth_getBlockByNumber", ["latest", False])["gasLimit"]
    rpc.call("evm_setAutomine", [False])
    rpc.call("evm_setBlockGasLimit", [hex(SETUP_BLOCK_GAS_LIMIT)])
    try:
        admin, operator, lessee = addresses["admin"], addresses["operator"], addresses["lessee"]
        send_mined(rpc, [{"from": admin, "to": addresses["registry"], "data": build["register"](asset_id)}
                         for asset_id in ids], "registerAsset")
        send_mined(rpc, [tx for asset_id in ids for tx in (
            {"from": admin, "to": addresses["oracle"], "data": build["start"](asset_id)},
            {"from": operator, "to": addresses["market"], "data": build["offer"](asset_id)},
        )], "startReporting + createOffer")
        send_mined(rpc, [{"from": lessee, "to": addresses["market"], "data": build["lease"](offer_id)}
                         for offer_id in range(1, len(ids) + 1)], "openLease")
    finally:
        rpc.call("evm_setBlockGasLimit", [gas_limit])
        rpc.call("evm_setAutomine", [True])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rpc-url", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--genesis", type=int, required=True)
    parser.add_argument("--epoch-length", type=int, default=3600)
    parser.add_argument("--signers", required=True)
    parser.add_argument("--threshold", type=int, default=2)
    parser.add_argument("--assets", type=int, required=True)
    parser.add_argument("--twins", type=int, default=0)
    parser.add_argument("--term", type=int, default=4)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s fleet_setup: %(message)s", stream=sys.stderr)

    import dataclasses

    from brownie import accounts, web3

    from scripts.deploy import SuiteConfig, deploy_suite, write_deployment
    from scripts.localnode import attach_brownie, load_project
    from scripts.samples import H100_CLUSTER

    started = time.perf_counter()
    load_project()
    attach_brownie(args.rpc_url)
    admin, operator, lessee = accounts[0], accounts[1], accounts[2]
    suite = deploy_suite(admin, SuiteConfig(
        oracle_genesis=args.genesis,
        epoch_length=args.epoch_length,
        oracle_signers=[s for s in args.signers.split(",") if s],
        oracle_threshold=args.threshold,
        grace_period=6 * args.epoch_length,
    ))
    registry, oracle, market, coin = suite.asset_registry, suite.oracle, suite.lease_market, suite.stablecoin
    total = args.assets + args.twins
    coin.mint(lessee, total * GPUS * PRICE * (args.term + 1), {"from": admin})
    coin.approve(market, 2**256 - 1, {"from": lessee})
    spec = dataclasses.replace(H100_CLUSTER, gpu_count=GPUS)
    params = spec.params(operator, web3.eth.get_block("latest")["timestamp"])
    first = registry.assetCount() + 1
    ids = list(range(first, first + total))
    suite_s = time.perf_counter() - started
    log.info("suite deployed in %.1f s; %d assets to set up", suite_s, total)

    register = registry.registerAsset.encode_input(params)
    build: dict[str, Callable[[int], str]] = {
        "register": lambda _asset_id: register,
        "start": lambda asset_id: oracle.startReporting.encode_input(asset_id, 0),
        "offer": lambda asset_id: market.createOffer.encode_input(
            (asset_id, GPUS, PRICE, 1, 100, 0, 9_900, 1_000, 500, 0, (False, 0, 0, 0, 0))),
        "lease": lambda offer_id: market.openLease.encode_input(offer_id, GPUS, args.term, PRICE),
    }
    addresses = {"admin": admin.address, "operator": operator.address, "lessee": lessee.address,
                 "registry": registry.address, "oracle": oracle.address, "market": market.address}
    mass_started = time.perf_counter()
    mass_setup(BatchRpc(args.rpc_url), build, addresses, ids)
    if registry.assetCount() != ids[-1] or not market.isEnrolled(ids[-1]) or market.offersOf(ids[-1])[0] != len(ids):
        raise SystemExit("fleet setup failed: the last asset is not registered, enrolled and offered")
    assets_s = time.perf_counter() - mass_started
    log.info("%d assets registered, reporting, offered and leased in %.1f s", total, assets_s)
    path = write_deployment(suite, args.out)
    print(json.dumps({
        "deployment": str(path),
        "fleet": ids[: args.assets],
        "twins": ids[args.assets :],
        "operator": operator.address,
        "lens": suite.lease_lens.address,
        "market": market.address,
        "setup_s": {"suite": round(suite_s, 1), "assets": round(assets_s, 1)},
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
