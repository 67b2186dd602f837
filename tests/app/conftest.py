"""The investor app's browser tests: the demo world on brownie's Anvil, the real server and indexer in this
process, and Debian's Chromium driven by Playwright with an injected EIP-1193 wallet.

The wallet (app/testwallet.py) is a provider injected before the page's scripts run; its requests go to
Python, which forwards them to the real Anvil, where the dev accounts are unlocked and Anvil itself signs.

The world is built once per module and the tests of a module run in order on the same chain (no snapshot
between them): a browser test's state lives in the chain, the index and the page at once.
"""

from __future__ import annotations

import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

from app.testwallet import TestWallet
from scripts.localnode import free_port

ROOT = Path(__file__).resolve().parents[2]
REPORTS = ROOT / "reports"

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
        wallet.install(context)
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
