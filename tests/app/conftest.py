"""The investor app's browser tests: the demo world on brownie's Anvil, the real server and indexer in this
process, and Debian's Chromium driven by Playwright with an injected EIP-1193 wallet.

The wallet is a provider object injected before the page's scripts run. Each `request` goes to Python (a
Playwright binding), which forwards it to the real Anvil, where the dev accounts are unlocked: Anvil itself
signs `eth_signTypedData_v4` and `eth_sendTransaction`. The Python side can also play the user: report
another chain, reject a request with EIP-1193 error 4001, and it records every call the page made.

The world is built once per module and the tests of a module run in order on the same chain (no snapshot
between them): a browser test's state lives in the chain, the index and the page at once.
"""

from __future__ import annotations

import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytest

from scripts.localnode import free_port

ROOT = Path(__file__).resolve().parents[2]
REPORTS = ROOT / "reports"

INJECTED_WALLET = """
(() => {
  const listeners = {};
  const provider = {
    isWellheadTestWallet: true,
    async request({ method, params }) {
      const reply = await window.__wellheadWallet({ method, params: params || [] });
      if (reply.error) {
        const err = new Error(reply.error.message);
        err.code = reply.error.code;
        if (reply.error.data !== undefined) err.data = reply.error.data;
        throw err;
      }
      if (method === 'wallet_switchEthereumChain') (listeners.chainChanged || []).forEach((f) => f(params[0].chainId));
      return reply.result;
    },
    on(event, fn) { (listeners[event] ||= []).push(fn); },
    removeListener(event, fn) { listeners[event] = (listeners[event] || []).filter((f) => f !== fn); },
  };
  window.ethereum = provider;
  const info = { uuid: '6f3c7f7e-0d5e-4b1a-9a3e-7d2b9c1e5a40', name: 'Test Wallet', rdns: 'org.wellhead.testwallet',
    icon: 'data:image/svg+xml,%3Csvg xmlns=%22http://www.w3.org/2000/svg%22/%3E' };
  const announce = () => window.dispatchEvent(new CustomEvent('eip6963:announceProvider', { detail: Object.freeze({ info, provider }) }));
  window.addEventListener('eip6963:requestProvider', announce);
  announce();
})();
"""


@dataclass
class TestWallet:
    """The Python half of the injected wallet: one account, a chain it claims to be on, a user who may say no."""

    rpc: Any  # brownie's web3 provider
    account: str
    chain_id: int
    reject: set[str] = field(default_factory=set)  # methods the "user" rejects with 4001
    calls: list[str] = field(default_factory=list)

    def handle(self, source: Any, payload: dict[str, Any]) -> dict[str, Any]:
        method, params = payload["method"], payload.get("params") or []
        self.calls.append(method)
        if method in self.reject:
            return {"error": {"code": 4001, "message": "User rejected the request."}}
        if method in ("eth_accounts", "eth_requestAccounts"):
            return {"result": [self.account]}
        if method == "eth_chainId":
            return {"result": hex(self.chain_id)}
        if method == "wallet_switchEthereumChain":
            self.chain_id = int(params[0]["chainId"], 16)
            return {"result": None}
        if method in ("eth_sendTransaction", "eth_signTypedData_v4") and self.chain_id != self._real_chain():
            return {"error": {"code": 4100, "message": "wallet is on another chain"}}
        reply = self.rpc.make_request(method, params)
        if "error" in reply:
            return {"error": dict(reply["error"])}
        return {"result": reply["result"]}

    def _real_chain(self) -> int:
        return int(self.rpc.make_request("eth_chainId", [])["result"], 16)

    def sent(self) -> list[str]:
        """The calls that would have needed the user's confirmation."""
        return [c for c in self.calls if c in ("eth_sendTransaction", "eth_signTypedData_v4")]


@dataclass
class AppServer:
    """The app's server and indexer running in this process against brownie's Anvil."""

    url: str
    indexer: Any
    thread: Any
    server: Any

    def catch_up(self) -> None:
        """Indexes to the head now (the browser then reads an up-to-date API)."""
        self.indexer.run_once()


@pytest.fixture(scope="module")
def world(accounts):
    from app.world import build_world

    return build_world(accounts)


@pytest.fixture(scope="module")
def app_server(world, tmp_path_factory) -> Iterator[AppServer]:
    import uvicorn
    from brownie import web3

    from app.bundle import build_bundle
    from app.indexer import Indexer, connect
    from app.manifest import load_manifest
    from app.server import IndexerThread, create_app
    from app.settings import AppSettings

    build_bundle()
    directory = tmp_path_factory.mktemp("app")
    manifest_path = world.manifest(directory)
    rpc_url = web3.provider.endpoint_uri
    settings = AppSettings(rpc_url=rpc_url, manifest=manifest_path, database=directory / "index.sqlite",
                           port=free_port(), poll_seconds=0.3)
    manifest = load_manifest(manifest_path, settings.build_dir)
    db = connect(settings.database)
    from web3 import HTTPProvider, Web3

    indexer = Indexer(Web3(HTTPProvider(rpc_url)), manifest, db)
    indexer.run_once()
    thread = IndexerThread(indexer, settings.poll_seconds)
    thread.start()
    config = uvicorn.Config(create_app(settings, manifest, db), host="127.0.0.1", port=settings.port, log_level="warning")
    server = uvicorn.Server(config)
    serving = threading.Thread(target=server.run, daemon=True)
    serving.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the app server did not start")
        time.sleep(0.05)
    yield AppServer(f"http://127.0.0.1:{settings.port}", indexer, thread, server)
    server.should_exit = True
    serving.join(timeout=10)
    thread.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.fail("Debian's chromium is not installed: run `make setup` (apt-get install chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=["--no-sandbox", "--disable-gpu"])
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def open_page(browser, app_server):
    """open_page(account, chain_id=None) -> (page, wallet): a fresh browser context with the wallet injected."""
    from brownie import chain, web3

    contexts = []

    def opener(account: Any, chain_id: int | None = None, path: str = "#/markets"):
        wallet = TestWallet(web3.provider, str(account), chain_id or chain.id)
        context = browser.new_context(viewport={"width": 1360, "height": 900})
        contexts.append(context)
        context.expose_binding("__wellheadWallet", wallet.handle)
        context.add_init_script(INJECTED_WALLET)
        page = context.new_page()
        page.set_default_timeout(30_000)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("dialog", lambda dialog: errors.append(f"dialog: {dialog.message}") or dialog.dismiss())
        page.errors = errors  # type: ignore[attr-defined]
        page.goto(app_server.url + "/" + path)
        return page, wallet

    yield opener
    for context in contexts:
        context.close()


def screenshot(page: Any, name: str) -> Path:
    """Writes reports/app-<name>.png (full page)."""
    REPORTS.mkdir(exist_ok=True)
    path = REPORTS / f"app-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def wait_ready(page: Any, which: str) -> None:
    """Waits until the page says its data is rendered (`<body data-ready=...>`)."""
    page.wait_for_selector(f"body[data-ready='{which}']")


def wait_status(page: Any, testid: str) -> str:
    """Waits until the action whose status line is `<testid>-status` settles; returns done, failed or refused."""
    handle = page.wait_for_function(
        """(id) => { const v = document.body.dataset.lastAction || '';
                     const [who, st] = [v.slice(0, v.lastIndexOf(':')), v.slice(v.lastIndexOf(':') + 1)];
                     return who === id && ['done', 'failed', 'refused'].includes(st) ? st : false; }""",
        arg=f"{testid}-status")
    return str(handle.json_value())


def status_text(page: Any, testid: str) -> str:
    """The text of an action's status line."""
    return page.locator(f"[data-testid='{testid}-status']").first.inner_text()
