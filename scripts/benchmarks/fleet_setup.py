"""Deploys the fleet bench's chain: the suite on an already running node, N assets of 8 H100s each (reporting
from epoch 0, one offer of all 8 GPUs, one lease of all 8 GPUs for the bench's epochs), and K twin assets for
today's path (submit-in-batch + settle), leased alike but left out of the daemon's asset map.

Run in a subprocess (it imports brownie; the daemon and the keeper under test must not):

    python scripts/benchmarks/fleet_setup.py --rpc-url URL --out DIR --genesis G --epoch-length 3600 \
        --signers 0xA,0xB,0xC --threshold 2 --assets N --twins K --term 4

Mass transactions go out with ``eth_sendTransaction`` from the node's unlocked accounts without waiting for
each receipt (asset ids are sequential); the last one's receipt is awaited. The last line of stdout is a JSON
summary: {"deployment": path, "fleet": [ids], "twins": [ids], "operator": address}.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

GPUS = 8
PRICE = 2_000_000  # $2 per GPU-hour (6-decimal stablecoin)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
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

    import dataclasses

    from brownie import accounts, web3

    from scripts.deploy import SuiteConfig, deploy_suite, write_deployment
    from scripts.localnode import attach_brownie, load_project
    from scripts.samples import H100_CLUSTER

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

    def send(sender: str, target: object, data: str) -> str:
        return web3.eth.send_transaction({"from": sender, "to": str(target), "data": data, "gas": 8_000_000}).hex()

    last = ""
    register = registry.registerAsset.encode_input(params)
    for _ in ids:
        last = send(admin.address, registry, register)
    web3.eth.wait_for_transaction_receipt(last)
    for asset_id in ids:
        last = send(admin.address, oracle, oracle.startReporting.encode_input(asset_id, 0))
        terms = (asset_id, GPUS, PRICE, 1, 100, 0, 9_900, 1_000, 500, 0, (False, 0, 0, 0, 0))
        last = send(operator.address, market, market.createOffer.encode_input(terms))
    web3.eth.wait_for_transaction_receipt(last)
    for offer_id, _asset_id in enumerate(ids, start=1):
        last = send(lessee.address, market, market.openLease.encode_input(offer_id, GPUS, args.term, PRICE))
    receipt = web3.eth.wait_for_transaction_receipt(last)
    if receipt["status"] != 1 or not market.isEnrolled(ids[-1]) or market.offersOf(ids[-1])[0] != len(ids):
        raise SystemExit("fleet setup failed: the last lease did not open")
    path = write_deployment(suite, args.out)
    print(json.dumps({
        "deployment": str(path),
        "fleet": ids[: args.assets],
        "twins": ids[args.assets :],
        "operator": operator.address,
        "lens": suite.lease_lens.address,
        "market": market.address,
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
