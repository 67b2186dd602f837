"""Deploys the suite for the daemon's tests on an already running node, with the oracle genesis, epoch length
and signer set the tests need (SuiteConfig is only reachable from Python), registers the two sample assets and
starts their reporting; writes <out>/<chainId>.json.

Run in a subprocess (it imports brownie; the daemon under test must not):

    python tests/oracle/chain_setup.py --rpc-url URL --out DIR --genesis G --epoch-length 60 \
        --signers 0xA,0xB,0xC --threshold 2 [--unstarted-asset] [--offer]

The last line of stdout is a JSON summary: {"assets": {...}, "deployment": path}.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rpc-url", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--genesis", type=int, required=True)
    parser.add_argument("--epoch-length", type=int, default=60)
    parser.add_argument("--signers", required=True, help="comma-separated addresses")
    parser.add_argument("--threshold", type=int, default=1)
    parser.add_argument("--first-epoch", type=int, default=0)
    parser.add_argument("--unstarted-asset", action="store_true", help="register a third asset, never started")
    parser.add_argument("--offer", action="store_true", help="create an offer on asset 1 (enrols it for settling)")
    args = parser.parse_args(argv)

    from brownie import accounts

    from scripts.deploy import SuiteConfig, deploy_suite, write_deployment
    from scripts.localnode import attach_brownie, load_project
    from scripts.samples import H100_CLUSTER, L40S_EDGE, register_asset

    load_project()
    attach_brownie(args.rpc_url)
    admin = accounts[0]
    config = SuiteConfig(
        oracle_genesis=args.genesis,
        epoch_length=args.epoch_length,
        oracle_signers=[s for s in args.signers.split(",") if s],
        oracle_threshold=args.threshold,
    )
    suite = deploy_suite(admin, config)
    h100 = register_asset(suite, admin, accounts[1], H100_CLUSTER)
    l40s = register_asset(suite, admin, accounts[2], L40S_EDGE)
    assets = {"h100": h100.asset_id, "l40s": l40s.asset_id}
    for asset in (h100, l40s):
        suite.oracle.startReporting(asset.asset_id, args.first_epoch, {"from": admin})
    if args.unstarted_asset:
        assets["unstarted"] = register_asset(suite, admin, accounts[3], L40S_EDGE).asset_id
    if args.offer:
        terms = (h100.asset_id, 4, 2_000_000, 1, 100, 0, 9_000, 5_000, 0, 0, (False, 0, 0, 0, 0))
        suite.lease_market.createOffer(terms, {"from": accounts[1]})
    path = write_deployment(suite, args.out)
    print(json.dumps({"assets": assets, "deployment": str(path), "chainId": suite.chain_id}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
