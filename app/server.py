"""The investor app's HTTP server (Starlette on uvicorn): the static bundle, and a read-only JSON API over
the indexer's SQLite database. It holds no key and signs nothing: every write is signed in the wallet.

Every response carries a strict Content-Security-Policy (scripts, styles and data only from this origin, no
inline script, no frames); the page renders every chain string as text, and the API serves chain strings
as JSON data, never as markup.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_utils import is_address, to_checksum_address
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from app.errors import AppError, BadRequest
from app.indexer import Indexer
from app.manifest import Manifest
from app.settings import AppSettings

log = logging.getLogger("wellhead.app.server")

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}
#: ABIs the browser needs (the wallet writes to these and decodes their errors).
BROWSER_ABIS = ("AssetShares", "LeaseMarket", "LendingMarket", "PortfolioLens", "SettlementToken",
                "InvestorRegistry", "LeasePositions", "YieldValuation", "MeteringOracle", "ShareVenue", "LeaseListings")
TRADES_LIMIT = 200
HISTORY_LIMIT = 500


class SecurityHeaders(BaseHTTPMiddleware):
    """Adds the CSP and its companions to every response, API and errors included."""

    async def dispatch(self, request: Request, call_next: Any) -> Response:
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response


@dataclass
class Api:
    """The JSON API's handlers over one database and one manifest."""

    settings: AppSettings
    manifest: Manifest
    db: sqlite3.Connection

    def _rows(self, sql: str, *params: Any) -> list[tuple]:
        return self.db.execute(sql, params).fetchall()

    async def config(self, request: Request) -> JSONResponse:
        """Chain, addresses and ABIs for the bundle (cached by the browser for the session)."""
        return JSONResponse({
            "chainId": self.manifest.chain_id,
            "chainName": self.settings.chain_name,
            "rpcUrl": self.settings.public_rpc_url or self.settings.rpc_url,
            "addresses": self.manifest.addresses,
            "abis": {name: self.manifest.abis[name] for name in BROWSER_ABIS},
            "yieldWindowEpochs": self.settings.yield_window_epochs,
        })

    async def status(self, request: Request) -> JSONResponse:
        row = self.db.execute("SELECT value FROM meta WHERE key='last_block'").fetchone()
        count = self.db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        token = self.db.execute("SELECT value FROM meta WHERE key='token'").fetchone()
        epoch = self.db.execute("SELECT value FROM meta WHERE key='epoch_length'").fetchone()
        return JSONResponse({"indexedBlock": int(row[0]) if row else None, "events": count,
                             "chainId": self.manifest.chain_id, "token": json.loads(token[0]) if token else None,
                             "epochLength": int(epoch[0]) if epoch else None})

    async def assets(self, request: Request) -> JSONResponse:
        """Every asset with its offering, lease offers, lending markets and latest KPIs (the markets page)."""
        offers: dict[int, list[Any]] = {}
        for asset_id, snapshot in self._rows("SELECT asset_id, snapshot FROM offers ORDER BY offer_id"):
            offers.setdefault(asset_id, []).append(json.loads(snapshot))
        markets: dict[int, list[Any]] = {}
        for asset_id, snapshot in self._rows("SELECT asset_id, snapshot FROM lending_markets ORDER BY address"):
            markets.setdefault(asset_id, []).append(json.loads(snapshot))
        latest: dict[int, list[Any]] = {}
        # The last 12 settled epochs of each asset, for the sparkline and the latest KPIs.
        for asset_id, snapshot in self._rows(
            "SELECT asset_id, snapshot FROM (SELECT asset_id, epoch, snapshot, ROW_NUMBER() OVER "
            "(PARTITION BY asset_id ORDER BY epoch DESC) AS n FROM epochs) WHERE n <= 12 ORDER BY asset_id, epoch"
        ):
            latest.setdefault(asset_id, []).append(json.loads(snapshot))
        result = []
        for asset_id, snapshot in self._rows("SELECT asset_id, snapshot FROM assets ORDER BY asset_id"):
            item = json.loads(snapshot)
            item["offers"] = offers.get(asset_id, [])
            item["lendingMarkets"] = markets.get(asset_id, [])
            item["recentEpochs"] = latest.get(asset_id, [])
            result.append(item)
        return JSONResponse({"assets": result})

    async def asset(self, request: Request) -> JSONResponse:
        """One asset and its whole settled-epoch series (the asset page's charts)."""
        asset_id = _int_param(request, "asset_id")
        row = self.db.execute("SELECT snapshot FROM assets WHERE asset_id=?", (asset_id,)).fetchone()
        if row is None:
            return JSONResponse({"error": f"no asset {asset_id}"}, status_code=404)
        item = json.loads(row[0])
        item["epochs"] = [json.loads(s) for (s,) in self._rows(
            "SELECT snapshot FROM epochs WHERE asset_id=? ORDER BY epoch", asset_id)]
        item["offers"] = [json.loads(s) for (s,) in self._rows(
            "SELECT snapshot FROM offers WHERE asset_id=? ORDER BY offer_id", asset_id)]
        item["lendingMarkets"] = [json.loads(s) for (s,) in self._rows(
            "SELECT snapshot FROM lending_markets WHERE asset_id=?", asset_id)]
        return JSONResponse(item)

    async def history(self, request: Request) -> JSONResponse:
        """Every indexed event that names the account, newest first."""
        account = _address_param(request)
        rows = self._rows(
            "SELECT e.block, e.log_index, e.tx, e.timestamp, e.address, e.kind, e.name, e.asset_id, e.args "
            "FROM event_accounts a JOIN events e ON e.block=a.block AND e.log_index=a.log_index "
            "WHERE a.account=? ORDER BY e.block DESC, e.log_index DESC LIMIT ?", account.lower(), HISTORY_LIMIT)
        return JSONResponse({"account": account, "events": [
            {"block": b, "logIndex": i, "tx": tx, "timestamp": ts, "address": to_checksum_address(addr),
             "contract": kind, "name": name, "assetId": asset_id, "args": json.loads(args)}
            for b, i, tx, ts, addr, kind, name, asset_id, args in rows
        ]})

    async def leases(self, request: Request) -> JSONResponse:
        """Lease ids the account owns according to the index (the lens re-checks ownership on-chain)."""
        account = _address_param(request)
        ids = [lease_id for (lease_id,) in self._rows(
            "SELECT lease_id FROM lease_owners WHERE owner=? ORDER BY lease_id", account.lower())]
        return JSONResponse({"account": account, "leaseIds": ids})


    async def book(self, request: Request) -> JSONResponse:
        """One asset's order book on the share venue, replayed from the venue's events: resting orders (the
        browser drops the expired ones against the chain's clock) and the latest fills, newest first."""
        asset_id = _int_param(request, "asset_id")
        orders: dict[int, dict[str, Any]] = {}
        trades: list[dict[str, Any]] = []
        for block, tx, ts, name, args in self._rows(
            "SELECT block, tx, timestamp, name, args FROM events WHERE kind='ShareVenue' AND asset_id=? "
            "ORDER BY block, log_index", asset_id):
            a = json.loads(args)
            order_id = int(a.get("orderId", 0))
            if name == "OrderPlaced":
                orders[order_id] = {"orderId": order_id, "maker": a["maker"], "side": int(a["side"]),
                                    "pricePerShare": a["pricePerShare"], "remaining": a["amount"],
                                    "expiresAt": int(a["expiresAt"])}
            elif name == "OrderFilled":
                trades.append({"block": block, "tx": tx, "timestamp": ts, "orderId": order_id, "side": int(a["side"]),
                               "maker": a["maker"], "taker": a["taker"], "pricePerShare": a["pricePerShare"],
                               "amount": a["amount"], "value": a["value"]})
                if a["remaining"] == "0":
                    orders.pop(order_id, None)
                elif order_id in orders:
                    orders[order_id]["remaining"] = a["remaining"]
            elif name == "OrderCancelled":
                orders.pop(order_id, None)
        return JSONResponse({"assetId": asset_id, "orders": list(orders.values()),
                             "trades": trades[::-1][:TRADES_LIMIT]})

    async def listings(self, request: Request) -> JSONResponse:
        """Lease positions listed for sale and not yet sold or cancelled (the browser asks the chain whether each
        is still buyable: a transfer or the lease's end cancels a listing without an event)."""
        listed: dict[int, dict[str, Any]] = {}
        for name, args in self._rows(
            "SELECT name, args FROM events WHERE kind='LeaseListings' ORDER BY block, log_index"):
            a = json.loads(args)
            lease_id = int(a["leaseId"])
            if name == "Listed":
                listed[lease_id] = {"leaseId": lease_id, "seller": a["seller"], "price": a["price"],
                                    "expiresAt": int(a["expiresAt"])}
            elif name in ("PositionSold", "ListingCancelled"):
                listed.pop(lease_id, None)
        return JSONResponse({"listings": list(listed.values())})


def _address_param(request: Request) -> str:
    value = request.path_params["address"]
    if not is_address(value):
        raise BadRequest("address", value, "a 20-byte hex address")
    return to_checksum_address(value)


def _int_param(request: Request, name: str) -> int:
    value = request.path_params[name]
    if not str(value).isdigit():
        raise BadRequest(name, str(value), "a non-negative integer")
    return int(value)


async def _bad_request(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"error": str(exc)}, status_code=400)


def create_app(settings: AppSettings, manifest: Manifest, db: sqlite3.Connection) -> Starlette:
    """The ASGI app: `/` the page, `/assets/*` the bundle and stylesheet, `/api/*` the JSON API."""
    api = Api(settings, manifest, db)
    index = settings.static_dir / "index.html"
    if not (settings.bundle_dir / "app.js").exists():
        raise AppError(f"{settings.bundle_dir / 'app.js'} is missing: build the bundle with `make app-bundle`")

    async def page(request: Request) -> FileResponse:
        return FileResponse(index, media_type="text/html; charset=utf-8")

    routes = [
        Route("/", page),
        Route("/api/config", api.config),
        Route("/api/status", api.status),
        Route("/api/assets", api.assets),
        Route("/api/assets/{asset_id}", api.asset),
        Route("/api/assets/{asset_id}/book", api.book),
        Route("/api/listings", api.listings),
        Route("/api/accounts/{address}/history", api.history),
        Route("/api/accounts/{address}/leases", api.leases),
        Mount("/assets", StaticFiles(directory=str(settings.bundle_dir)), name="bundle"),
        Mount("/static", StaticFiles(directory=str(settings.static_dir)), name="static"),
    ]
    return Starlette(routes=routes, middleware=[Middleware(SecurityHeaders)],
                     exception_handlers={BadRequest: _bad_request})


class IndexerThread(threading.Thread):
    """Runs `indexer.run_once` every `poll_seconds` until stopped; a failed pass is logged and retried."""

    def __init__(self, indexer: Indexer, poll_seconds: float) -> None:
        super().__init__(name="wellhead-indexer", daemon=True)
        self.indexer = indexer
        self.poll_seconds = poll_seconds
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.indexer.run_once()
            except AppError as exc:
                log.warning("indexer pass failed, retrying: %s", exc)
            self.stopping.wait(self.poll_seconds)

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=10)


def bundle_path(settings: AppSettings) -> Path:
    """Where the built bundle is expected."""
    return settings.bundle_dir / "app.js"
