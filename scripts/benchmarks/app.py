"""`make bench` section: the investor app in headless Chromium at scale (the GOALS table's app rows).

World: the app's demo world (app/world.py) plus 97 more assets (100 in all, each with an open offering and
a valuation), 1,000 verified holders who each received shares of nine assets, so that the index holds more
than 10,000 events. The holders only receive shares (raw transactions from compliance, and Carol's
transfers batched 100 to a `multicall`, to keep the set-up fast). The indexer indexes everything before the
pages load; the server runs in this process.

Figures (median of RUNS page loads, each in a fresh browser context with the scripted wallet of one holder):
- app.markets_ready_ms: navigation start to the markets table rendered with all 100 assets (and not before
  the first contentful paint);
- app.portfolio_ready_ms: navigation start to a holder's portfolio rendered (nine positions and history);
- app.portfolio_rpc_calls: JSON-RPC calls the page made through the wallet for that portfolio
  (eth_chainId, eth_accounts and the lens's one eth_call);
- app.index_events: events in the index, and app.index_seconds: the indexer's first pass over them.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from eth_utils import keccak, to_checksum_address

from scripts.benchmarks.core import Bench, quiet

EXTRA_ASSETS = 97
HOLDERS = 1_000
ASSETS_PER_HOLDER = 9
RUNS = 5
GOAL_READY_MS = "<= 1500"
GOAL_RPC_CALLS = "<= 3"


def run(bench: Bench) -> None:
    with quiet():
        world, holder = _world()
    figures = _measure(world, holder)
    bench.record("app.index_events", figures["events"], "events",
                 note=f"{EXTRA_ASSETS + 3} assets, {HOLDERS:,} holders")
    bench.record("app.index_seconds", figures["index_seconds"], "s",
                 note="the indexer's first pass, snapshots included")
    bench.record("app.markets_ready_ms", figures["markets"], "ms", goal=GOAL_READY_MS,
                 note=f"median of {RUNS} loads, headless Chromium")
    bench.record("app.portfolio_ready_ms", figures["portfolio"], "ms", goal=GOAL_READY_MS,
                 note=f"a holder of {ASSETS_PER_HOLDER} assets; median of {RUNS} loads")
    bench.record("app.portfolio_rpc_calls", figures["rpc_calls"], "calls", goal=GOAL_RPC_CALLS,
                 note="through the wallet: chain id, accounts, one lens eth_call")


def _world() -> tuple[Any, str]:
    from brownie import accounts

    from app.world import build_world, valuation_params
    from scripts.samples import H100_CLUSTER, AssetSpec, register_asset, shares, usd

    world = build_world(accounts, epochs=2)
    suite, who = world.suite, world.who
    closes = world.genesis + 60 * 86_400
    carol = {"from": who["carol"]}
    suite.stablecoin.mint(who["carol"], 100_000_000 * 10**6, {"from": who["admin"]})
    for index in range(EXTRA_ASSETS):
        spec = AssetSpec(**{**H100_CLUSTER.__dict__, "shares_name": f"Wellhead Bench Node {index + 4:03d}",
                            "shares_symbol": f"WH-B{index + 4:03d}", "region": f"bench-{index % 7}"})
        asset = register_asset(suite, who["admin"], who["operator"], spec)
        world.assets.append(asset)
        asset.shares.openOffering(spec.share_price, shares(spec.share_cap), closes, {"from": who["operator"]})
        suite.valuation.configure(asset.asset_id, valuation_params(usd(2)), spec.share_price, {"from": who["admin"]})
        if index < ASSETS_PER_HOLDER:
            suite.stablecoin.approve(asset.shares, 2**256 - 1, carol)
            asset.shares.subscribe(shares(2_000), spec.share_price * 2_000, carol)
    holders = [to_checksum_address(keccak(text=f"wellhead-app-bench-holder-{i}")[-20:]) for i in range(HOLDERS)]
    expiry = world.genesis + 365 * 86_400
    registry = suite.investor_registry
    _send(registry, [registry.addInvestor.encode_input(h, expiry, 756) for h in holders], who["compliance"])
    # Carol hands each holder one share of nine assets: 100 transfers per `multicall`, one event each.
    for asset in world.assets[3:3 + ASSETS_PER_HOLDER]:
        batches = [[asset.shares.transfer.encode_input(h, shares(1)) for h in holders[i:i + 100]]
                   for i in range(0, HOLDERS, 100)]
        _send(asset.shares, [asset.shares.multicall.encode_input(batch) for batch in batches], who["carol"],
              gas=6_000_000)
    return world, holders[0]


def _send(contract: Any, calldata: list[str], sender: Any, gas: int = 300_000) -> None:
    """Sends raw transactions from an unlocked node account (no brownie bookkeeping), then checks each receipt."""
    from brownie import web3

    hashes = [web3.eth.send_transaction({"from": sender.address, "to": contract.address, "data": data, "gas": gas,
                                         "gasPrice": 0}) for data in calldata]
    failed = [h for h in hashes if web3.eth.wait_for_transaction_receipt(h, timeout=120)["status"] != 1]
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(hashes)} transactions to {contract.address} failed")


def _measure(world: Any, holder: str) -> dict[str, float]:
    import uvicorn
    from brownie import web3
    from playwright.sync_api import sync_playwright
    from web3 import HTTPProvider, Web3

    from app.bundle import build_bundle
    from app.indexer import Indexer, connect
    from app.manifest import load_manifest
    from app.server import create_app
    from app.settings import ROOT, AppSettings
    from app.testwallet import TestWallet
    from scripts.localnode import free_port

    build_bundle()
    directory = Path(tempfile.mkdtemp(prefix="wellhead-app-bench-"))
    rpc_url = web3.provider.endpoint_uri
    settings = AppSettings(rpc_url=rpc_url, manifest=world.manifest(directory), database=directory / "index.sqlite",
                           port=free_port())
    manifest = load_manifest(settings.manifest, ROOT / "build" / "contracts")
    db = connect(settings.database)
    indexer = Indexer(Web3(HTTPProvider(rpc_url)), manifest, db)
    started = time.monotonic()
    indexer.run_once()
    index_seconds = time.monotonic() - started
    events = db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    server = uvicorn.Server(uvicorn.Config(create_app(settings, manifest, db), host="127.0.0.1", port=settings.port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{settings.port}/"
    markets: list[float] = []
    portfolio: list[float] = []
    rpc_calls: list[int] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
            for run_index in range(RUNS + 1):  # the first load warms the HTTP cache of nothing: it is dropped
                for page_name, samples in (("markets", markets), ("portfolio", portfolio)):
                    wallet = TestWallet(web3.provider, holder, web3.eth.chain_id)
                    context = browser.new_context()
                    wallet.install(context)
                    page = context.new_page()
                    page.goto(url + f"#/{page_name}")
                    page.wait_for_selector(f"body[data-ready='{page_name}']", timeout=60_000)
                    ready_ms = page.evaluate(
                        """(name) => {
                             const ready = performance.getEntriesByName(`wellhead-ready-${name}`)[0].startTime;
                             const fcp = performance.getEntriesByName('first-contentful-paint')[0];
                             return Math.max(ready, fcp ? fcp.startTime : 0);
                           }""", page_name)
                    if page_name == "markets":
                        rows = page.locator("[data-testid^='asset-row-']").count()
                        if rows != len(world.assets):
                            raise RuntimeError(f"markets page shows {rows} assets, not {len(world.assets)}")
                    else:
                        positions = page.locator("[data-testid^='holding-']").count()
                        if positions != ASSETS_PER_HOLDER:
                            raise RuntimeError(f"portfolio shows {positions} positions, not {ASSETS_PER_HOLDER}")
                        rpc_calls.append(len(wallet.calls))
                    if run_index:
                        samples.append(ready_ms)
                    context.close()
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        shutil.rmtree(directory, ignore_errors=True)
    return {"events": events, "index_seconds": round(index_seconds, 2), "markets": round(statistics.median(markets)),
            "portfolio": round(statistics.median(portfolio)), "rpc_calls": max(rpc_calls)}
