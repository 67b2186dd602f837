"""`python -m app`: the investor app on a local demo chain, or attached to a running node.

    python -m app                          # start Anvil, deploy and populate the demo world, index, serve
    python -m app --rpc-url URL            # attach: read deployments/<chainId>.json, index, serve

It prints the page's URL and runs until interrupted (Ctrl-C stops the server, the indexer and any Anvil
it started).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from web3 import HTTPProvider, Web3

from app.errors import AppError
from app.indexer import Indexer, connect
from app.manifest import load_manifest
from app.server import IndexerThread, create_app
from app.settings import ROOT, AppSettings

log = logging.getLogger("wellhead.app")


def _demo_chain(run_dir: Path) -> tuple[object, str, Path]:
    """Starts Anvil, builds the demo world on it and writes its manifest; returns (node, url, manifest)."""
    sys.path.insert(0, str(ROOT))
    from scripts.localnode import attach_brownie, load_project, start_anvil

    from app.world import build_world

    node = start_anvil(log_dir=run_dir)
    load_project()
    attach_brownie(node.url)
    from brownie import accounts

    log.info("building the demo world on %s (a minute on a slow machine)", node.url)
    world = build_world(accounts)
    manifest = world.manifest(run_dir / "deployments")
    return node, node.url, manifest


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rpc-url", help="attach to this node instead of starting a demo Anvil")
    parser.add_argument("--manifest", type=Path, help="deployment manifest (default deployments/<chainId>.json)")
    parser.add_argument("--port", type=int, default=8700)
    parser.add_argument("--database", type=Path, help="SQLite index (default .run/app/index-<chainId>.sqlite)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    run_dir = ROOT / ".run" / "app"
    run_dir.mkdir(parents=True, exist_ok=True)
    node = None
    try:
        if args.rpc_url:
            rpc_url, manifest_path = args.rpc_url, args.manifest
        else:
            node, rpc_url, manifest_path = _demo_chain(run_dir)
        w3 = Web3(HTTPProvider(rpc_url))
        chain_id = w3.eth.chain_id
        manifest_path = manifest_path or ROOT / "deployments" / f"{chain_id}.json"
        database = args.database or run_dir / f"index-{chain_id}{'' if args.rpc_url else '-demo'}.sqlite"
        if not args.rpc_url and database.exists():
            database.unlink()  # a fresh demo chain: a fresh index
        settings = AppSettings(rpc_url=rpc_url, manifest=manifest_path, database=database, port=args.port)
        manifest = load_manifest(manifest_path, settings.build_dir)
        db = connect(settings.database)
        indexer = Indexer(w3, manifest, db, chunk_blocks=settings.chunk_blocks,
                          yield_window_epochs=settings.yield_window_epochs)
        indexer.run_once()
        thread = IndexerThread(indexer, settings.poll_seconds)
        thread.start()
        app = create_app(settings, manifest, db)
    except AppError as exc:
        log.error("%s", exc)
        if node is not None:
            node.stop()
        return 2

    import signal

    import uvicorn

    # uvicorn shuts down gracefully on SIGTERM and then re-raises it with the handler it found: make that
    # handler unwind (SystemExit), so that the `finally` below still stops the indexer and the demo Anvil.
    signal.signal(signal.SIGTERM, _exit_on_signal)

    print(f"\n  Wellhead investor app: http://{settings.host}:{settings.port}/   (chain {chain_id} at {rpc_url})\n"
          "  Connect a wallet to that chain; on the demo chain import Anvil's dev mnemonic (alice is account 4).\n",
          flush=True)
    try:
        uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
    finally:
        thread.stop()
        if node is not None:
            node.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
