"""The app's event indexer: the suite's logs into SQLite, resumable from the last block it committed.

Each pass reads `eth_getLogs` in chunks from the block after the cursor to the head, filtered by the suite's
addresses: the singletons of the manifest (less the stablecoin, whose transfers are not the suite's history)
and the share tokens and lending markets discovered on-chain. A chunk whose logs create contracts
(`AssetRegistered`, `MarketCreated`) is read again for the new addresses over the same blocks, so that their
logs in the same chunk are not missed. The logs of known contracts are decoded in log order and the chunk's
events, the snapshots they touched and the new cursor are committed in ONE SQLite transaction. A crash or a
restart mid-way therefore resumes from the last committed chunk (the contracts discovered so far are in the
same database), and a log is keyed by (block, logIndex) with INSERT OR IGNORE, so replaying a chunk never
duplicates it. A contract outside the suite that emits the same event signatures is never even fetched.

Snapshots (assets, offers, lending markets, settled epochs) are read from the chain when an event touches
them, so the API answers from SQLite alone: the markets page costs the browser no JSON-RPC call. A settled
epoch's meter figures that the settlement record does not keep (curtailment) come from the report itself:
`MeteringOracle.getReport` when it was stored (`submit`, `proveReports`), else the calldata of the settling
transaction (`settleWithProof`, `settleMany`, `settleRange`: root-only posting), matched by the EIP-712 struct
hash that `EpochSettled` carries.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_utils import event_abi_to_log_topic, to_checksum_address
from web3 import Web3
from web3._utils.events import get_event_data
from web3.exceptions import ContractLogicError, Web3Exception

from app.errors import IndexerError
from app.manifest import Manifest
from oracle.eip712 import report_struct_hash
from oracle.models import Report

log = logging.getLogger("wellhead.app.indexer")

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS contracts (address TEXT PRIMARY KEY, kind TEXT NOT NULL, asset_id INTEGER);
CREATE TABLE IF NOT EXISTS events (
    block INTEGER NOT NULL, log_index INTEGER NOT NULL, tx TEXT NOT NULL, timestamp INTEGER NOT NULL,
    address TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL, asset_id INTEGER, args TEXT NOT NULL,
    PRIMARY KEY (block, log_index));
CREATE TABLE IF NOT EXISTS event_accounts (
    account TEXT NOT NULL, block INTEGER NOT NULL, log_index INTEGER NOT NULL,
    PRIMARY KEY (account, block, log_index));
CREATE TABLE IF NOT EXISTS assets (asset_id INTEGER PRIMARY KEY, snapshot TEXT NOT NULL, block INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS offers (
    offer_id INTEGER PRIMARY KEY, asset_id INTEGER NOT NULL, snapshot TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS lending_markets (
    address TEXT PRIMARY KEY, asset_id INTEGER NOT NULL, snapshot TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS epochs (
    asset_id INTEGER NOT NULL, epoch INTEGER NOT NULL, snapshot TEXT NOT NULL, PRIMARY KEY (asset_id, epoch));
CREATE TABLE IF NOT EXISTS lease_owners (lease_id INTEGER PRIMARY KEY, owner TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS lease_owner ON lease_owners (owner);
"""

_ZERO = "0x0000000000000000000000000000000000000000"

#: Addresses per `eth_getLogs` request: well under what public nodes accept for an address list.
ADDRESSES_PER_QUERY = 500
#: The contracts whose events create the suite's other contracts (the indexer reads those back at once).
_CREATORS = {("AssetRegistry", "AssetRegistered"): "shares", ("LendingFactory", "MarketCreated"): "market"}


def _jsonable(value: Any) -> Any:
    """Event arguments as JSON: integers as decimal strings (amounts are bigint in the browser), bytes as hex."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def _addresses_in(args: dict[str, Any]) -> set[str]:
    found: set[str] = set()
    for value in args.values():
        if isinstance(value, str) and value.startswith("0x") and len(value) == 42 and value != _ZERO:
            found.add(value.lower())
    return found


def connect(path: Path) -> sqlite3.Connection:
    """Opens (creating) the index database; WAL so that the API reads while the indexer writes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(SCHEMA)
    return db


@dataclass
class Indexer:
    """Indexes one deployment into one database. `run_once` is safe to call again after any failure."""

    w3: Web3
    manifest: Manifest
    db: sqlite3.Connection
    chunk_blocks: int = 2_000
    yield_window_epochs: int = 24
    _topics: dict[str, dict[bytes, dict[str, Any]]] = field(default_factory=dict)
    _kinds: dict[str, tuple[str, int | None]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        for kind, abi in self.manifest.abis.items():
            events = [item for item in abi if item.get("type") == "event" and not item.get("anonymous")]
            self._topics[kind] = {event_abi_to_log_topic(item): item for item in events}
        stored = self.db.execute("SELECT value FROM meta WHERE key='chain_id'").fetchone()
        if stored is not None and int(stored[0]) != self.manifest.chain_id:
            raise IndexerError(0, f"database belongs to chain {stored[0]}, manifest to {self.manifest.chain_id}")
        self.db.execute("INSERT OR REPLACE INTO meta VALUES ('chain_id', ?)", (str(self.manifest.chain_id),))
        for name, address in self.manifest.addresses.items():
            self.db.execute("INSERT OR IGNORE INTO contracts VALUES (?, ?, NULL)", (address.lower(), name))
        for address, kind, asset_id in self.db.execute("SELECT address, kind, asset_id FROM contracts"):
            self._kinds[address] = (kind, asset_id)
        self._c = {
            name: self.w3.eth.contract(address=to_checksum_address(address), abi=self.manifest.abis[name])
            for name, address in self.manifest.addresses.items()
        }
        if self.db.execute("SELECT 1 FROM meta WHERE key='token'").fetchone() is None:
            token = self._c["SettlementToken"].functions
            try:
                info = {"name": token.name().call(), "symbol": token.symbol().call(),
                        "decimals": token.decimals().call(), "address": self.manifest.address("SettlementToken")}
            except (Web3Exception, OSError) as exc:
                raise IndexerError(0, f"cannot read the settlement token ({exc})") from exc
            self.db.execute("INSERT OR REPLACE INTO meta VALUES ('token', ?)", (json.dumps(info),))
            epoch_length = self._c["MeteringOracle"].functions.epochLength().call()
            self.db.execute("INSERT OR REPLACE INTO meta VALUES ('epoch_length', ?)", (str(epoch_length),))

    # ------------------------------------------------------------------------------------------ cursor

    @property
    def last_block(self) -> int:
        """The last block whose logs are committed (deployment block - 1 before the first pass)."""
        row = self.db.execute("SELECT value FROM meta WHERE key='last_block'").fetchone()
        return int(row[0]) if row else self.manifest.deployed_at_block - 1

    def run_once(self, to_block: int | None = None, max_chunks: int | None = None) -> int:
        """Indexes from the cursor to `to_block` (default: the head); returns the logs stored this pass."""
        with self._lock:
            try:
                head = self.w3.eth.block_number if to_block is None else to_block
            except (Web3Exception, OSError) as exc:
                raise IndexerError(self.last_block + 1, f"node unreachable ({exc})") from exc
            stored = 0
            chunks = 0
            while self.last_block < head and (max_chunks is None or chunks < max_chunks):
                start = self.last_block + 1
                end = min(head, start + self.chunk_blocks - 1)
                stored += self._index_range(start, end)
                chunks += 1
            return stored

    # ------------------------------------------------------------------------------------------ one chunk

    def _watched(self) -> list[str]:
        """The addresses whose logs are the suite's history: every known contract but the stablecoin."""
        return sorted(a for a, (kind, _) in self._kinds.items() if kind != "SettlementToken")

    def _get_logs(self, start: int, end: int, addresses: list[str]) -> list[Any]:
        """`eth_getLogs` over [start, end] for `addresses`, in requests of at most ADDRESSES_PER_QUERY."""
        logs: list[Any] = []
        for i in range(0, len(addresses), ADDRESSES_PER_QUERY):
            batch = [to_checksum_address(a) for a in addresses[i:i + ADDRESSES_PER_QUERY]]
            try:
                logs.extend(self.w3.eth.get_logs({"fromBlock": start, "toBlock": end, "address": batch}))
            except (Web3Exception, OSError, ValueError) as exc:
                raise IndexerError(start, f"eth_getLogs failed ({exc})") from exc
        return logs

    def _created_by(self, logs: list[Any]) -> set[str]:
        """The addresses of contracts created by the creation events among `logs` (known ones included)."""
        created: set[str] = set()
        for entry in logs:
            kind = self._kinds.get(entry["address"].lower(), ("", None))[0]
            abi = self._topics.get(kind, {}).get(bytes(entry["topics"][0])) if entry["topics"] else None
            field_name = _CREATORS.get((kind, abi["name"])) if abi is not None else None
            if field_name is not None:
                created.add(str(get_event_data(self.w3.codec, abi, entry)["args"][field_name]).lower())
        return created

    def _fetch_chunk(self, start: int, end: int) -> list[Any]:
        """The suite's logs of [start, end] in log order, including those of contracts created in the chunk."""
        watched = self._watched()
        logs = self._get_logs(start, end, watched)
        fetched = set(watched)
        new = sorted(self._created_by(logs) - fetched)
        while new:  # creators are singletons, so this runs at most twice; the loop keeps it true if not
            more = self._get_logs(start, end, new)
            fetched.update(new)
            logs.extend(more)
            new = sorted(self._created_by(more) - fetched)
        logs.sort(key=lambda entry: (int(entry["blockNumber"]), int(entry["logIndex"])))
        return logs

    def _index_range(self, start: int, end: int) -> int:
        logs = self._fetch_chunk(start, end)
        timestamps: dict[int, int] = {}
        touched_assets: set[int] = set()
        touched_offers: set[int] = set()
        touched_markets: set[str] = set()
        settled: list[tuple[int, int, str]] = []
        rows: list[tuple] = []
        account_rows: list[tuple] = []
        lease_owners: list[tuple[int, str]] = []
        new_contracts: list[tuple[str, str, int | None]] = []
        for entry in logs:
            address = entry["address"].lower()
            known = self._kinds.get(address)
            # The stablecoin's own transfers are not the suite's history (and would swamp it).
            if known is None or known[0] == "SettlementToken" or not entry["topics"]:
                continue
            kind, contract_asset = known
            abi = self._topics.get(kind, {}).get(bytes(entry["topics"][0]))
            if abi is None:
                continue
            decoded = get_event_data(self.w3.codec, abi, entry)
            args = dict(decoded["args"])
            name = decoded["event"]
            block = int(entry["blockNumber"])
            if block not in timestamps:
                # Nodes that follow the 2025 JSON-RPC spec (Anvil, geth) put the block's time in each log;
                # others cost one eth_getBlockByNumber per block with logs.
                stamp = entry.get("blockTimestamp")
                if stamp is None:
                    stamp = self.w3.eth.get_block(block)["timestamp"]
                timestamps[block] = int(stamp, 16) if isinstance(stamp, str) else int(stamp)
            asset_id = args.get("assetId", contract_asset)
            if kind == "ShareVenue" and "shares" in args:  # the venue's events name the share token, not the asset
                asset_id = self._kinds.get(str(args["shares"]).lower(), ("", None))[1]
            asset_id = int(asset_id) if asset_id is not None else None
            rows.append((
                block, int(entry["logIndex"]), "0x" + bytes(entry["transactionHash"]).hex().removeprefix("0x"),
                timestamps[block], address, kind, name, asset_id, json.dumps(_jsonable(args)),
            ))
            for account in _addresses_in(args):
                account_rows.append((account, block, int(entry["logIndex"])))
            # Contracts created on the way: later logs of this same chunk are decoded with them.
            if kind == "AssetRegistry" and name == "AssetRegistered":
                shares = args["shares"].lower()
                self._kinds[shares] = ("AssetShares", int(args["assetId"]))
                new_contracts.append((shares, "AssetShares", int(args["assetId"])))
            if kind == "LendingFactory" and name == "MarketCreated":
                market = args["market"].lower()
                params = args["params"]
                collateral = params["collateralToken"] if isinstance(params, Mapping) else params[1]
                market_asset = self._kinds.get(str(collateral).lower(), ("", None))[1]
                self._kinds[market] = ("LendingMarket", market_asset)
                new_contracts.append((market, "LendingMarket", market_asset))
                touched_markets.add(market)
            if kind == "LendingMarket":
                touched_markets.add(address)
            if kind == "LeasePositions" and name == "Transfer":
                lease_owners.append((int(args["tokenId"]), args["to"].lower()))
            if kind == "LeaseMarket" and name == "EpochSettled":
                settled.append((int(args["assetId"]), int(args["epoch"]), rows[-1][2]))
            if kind == "LeaseMarket" and "offerId" in args and name.startswith("Offer"):
                touched_offers.add(int(args["offerId"]))
            if asset_id is not None and kind in ("AssetRegistry", "AssetShares", "LeaseMarket", "YieldValuation"):
                touched_assets.add(asset_id)
        # Reads for the snapshots happen before the write transaction, so that it stays short. A node failure
        # here is the chunk's failure: nothing is committed and the next pass reads the chunk again.
        try:
            assets = {a: self._asset_snapshot(a, end) for a in sorted(touched_assets)}
            offers = {o: self._offer_snapshot(o) for o in sorted(touched_offers)}
            markets = {m: self._market_snapshot(m) for m in sorted(touched_markets)}
            transactions: dict[str, Any] = {}  # settleMany settles many epochs in one transaction: read it once
            epochs = [(a, e, self._epoch_snapshot(a, e, tx, transactions)) for a, e, tx in settled]
        except (Web3Exception, OSError) as exc:
            raise IndexerError(start, f"reading the snapshots of blocks {start}..{end} failed ({exc})") from exc
        db = self.db
        try:
            db.execute("BEGIN IMMEDIATE")
            db.executemany("INSERT OR IGNORE INTO contracts VALUES (?, ?, ?)", new_contracts)
            db.executemany("INSERT OR IGNORE INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            db.executemany("INSERT OR IGNORE INTO event_accounts VALUES (?, ?, ?)", account_rows)
            db.executemany("INSERT OR REPLACE INTO lease_owners VALUES (?, ?)", lease_owners)
            for asset_id, snapshot in assets.items():
                db.execute("INSERT OR REPLACE INTO assets VALUES (?, ?, ?)", (asset_id, json.dumps(snapshot), end))
            for offer_id, snapshot in offers.items():
                db.execute("INSERT OR REPLACE INTO offers VALUES (?, ?, ?)",
                           (offer_id, int(snapshot["assetId"]), json.dumps(snapshot)))
            for market, snapshot in markets.items():
                db.execute("INSERT OR REPLACE INTO lending_markets VALUES (?, ?, ?)",
                           (market, int(snapshot["assetId"]), json.dumps(snapshot)))
            for asset_id, epoch, snapshot in epochs:
                db.execute("INSERT OR REPLACE INTO epochs VALUES (?, ?, ?)", (asset_id, epoch, json.dumps(snapshot)))
            db.execute("INSERT OR REPLACE INTO meta VALUES ('last_block', ?)", (str(end),))
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            db.execute("ROLLBACK")
            raise IndexerError(start, f"database write failed ({exc})") from exc
        log.info("indexed blocks %d..%d: %d events", start, end, len(rows))
        return len(rows)

    # ------------------------------------------------------------------------------------------ snapshots

    def _asset_snapshot(self, asset_id: int, block: int) -> dict[str, Any]:
        registry, market, lens, valuation = (
            self._c["AssetRegistry"], self._c["LeaseMarket"], self._c["LeaseMarketLens"], self._c["YieldValuation"])
        a = registry.functions.getAsset(asset_id).call()
        shares = self.w3.eth.contract(address=a[6], abi=self.manifest.abis["AssetShares"])
        round_, offering = shares.functions.currentOffering().call()
        window = self.yield_window_epochs
        try:
            price, frozen = valuation.functions.quote(asset_id).call()
            breakdown = valuation.functions.breakdown(asset_id).call()
        except ContractLogicError:  # not configured for valuation (yet): no price, no lending
            price, frozen, breakdown = 0, False, None
        offers = market.functions.offersOf(asset_id).call() if market.functions.isEnrolled(asset_id).call() else []
        reference_price = offering[0] or price
        snapshot = {
            "assetId": asset_id,
            "operator": a[0],
            "status": int(a[1]),
            "tier": int(a[2]),
            "gpuCount": int(a[3]),
            "powerPerGpuW": int(a[4]),
            "pueBps": int(a[5]),
            "shares": a[6],
            "commissionedAt": int(a[7]),
            "operatorFeeBps": int(a[8]),
            "energyTariffPerKWh": str(a[9]),
            "metadataHash": "0x" + bytes(a[11]).hex(),
            "gpuModel": a[12],
            "region": a[13],
            "metadataURI": a[14],
            "name": shares.functions.name().call(),
            "symbol": shares.functions.symbol().call(),
            "totalSupply": str(shares.functions.totalSupply().call()),
            "totalDeposited": str(shares.functions.totalDeposited().call()),
            "round": round_,
            "offering": {"pricePerShare": str(offering[0]), "cap": str(offering[1]), "sold": str(offering[2]),
                         "closesAt": offering[3], "open": bool(offering[4])},
            "valuation": None if breakdown is None else {
                "price": str(price), "frozen": bool(frozen), "windowNet": str(breakdown[0]),
                "windowEpochs": breakdown[1], "annualNetPerShare": str(breakdown[2]),
                "capitalised": str(breakdown[3]), "decayFactorBps": breakdown[4], "silentEpochs": breakdown[5],
                "silent": breakdown[6], "suspended": breakdown[7], "retired": breakdown[8],
                "target": str(breakdown[9])},
            "yieldBps": lens.functions.annualizedYieldBps(asset_id, window, reference_price).call(),
            "leasedFractionBps": lens.functions.leasedFractionBps(asset_id).call(),
            "utilizationBps": lens.functions.trailingUtilizationBps(asset_id, window).call(),
            "gpuHoursPerMWh": lens.functions.gpuHoursPerMWh(asset_id, window).call(),
            "offerIds": [int(o) for o in offers],
            "block": block,
        }
        return snapshot

    def _offer_snapshot(self, offer_id: int) -> dict[str, Any]:
        market = self._c["LeaseMarket"]
        t = market.functions.offerTerms(offer_id).call()
        s = market.functions.offerState(offer_id).call()
        return {
            "offerId": offer_id, "assetId": int(t[0]), "gpus": t[1], "pricePerGpuHour": str(t[2]),
            "minTermEpochs": t[3], "maxTermEpochs": t[4], "noticeEpochs": t[5], "slaUptimeBps": t[6],
            "slaCreditBps": t[7], "cancelPenaltyBps": t[8], "leaseClass": t[9], "dynamic": bool(t[10][0]),
            "activeGpus": s[1], "active": bool(s[2]), "retired": bool(s[3]),
        }

    def _market_snapshot(self, address: str) -> dict[str, Any]:
        m = self.w3.eth.contract(address=to_checksum_address(address), abi=self.manifest.abis["LendingMarket"])
        return {
            "market": to_checksum_address(address),
            "assetId": int(m.functions.assetId().call()),
            "collateralToken": m.functions.collateralToken().call(),
            "lltv": str(m.functions.lltv().call()),
            "borrowLtv": str(m.functions.borrowLtv().call()),
            "totalAssets": str(m.functions.totalAssets().call()),
            "totalBorrowAssets": str(m.functions.totalBorrowAssets().call()),
            "totalCollateral": str(m.functions.totalCollateral().call()),
            "liquidity": str(m.functions.liquidity().call()),
            "utilization": str(m.functions.utilization().call()),
            "borrowRatePerSecond": str(m.functions.borrowRatePerSecond().call()),
        }

    def _epoch_snapshot(self, asset_id: int, epoch: int, tx_hash: str,
                        transactions: dict[str, Any]) -> dict[str, Any]:
        market = self._c["LeaseMarket"]
        s = market.functions.settlementOf(asset_id, epoch).call()
        first = market.functions.firstEpochOf(asset_id).call()
        before = market.functions.settlementOf(asset_id, epoch - 1).call() if epoch > first else [0] * 13
        gpu_seconds = s[8] - before[8]
        energy_wh = s[9] - before[9]
        busy = s[10] - before[10]
        return {
            "assetId": asset_id, "epoch": epoch, "reportHash": "0x" + bytes(s[0]).hex(),
            "gross": str(s[1]), "credits": str(s[2]), "energyCost": str(s[3]), "fee": str(s[4]), "net": str(s[5]),
            "addedRevenue": str(s[6]), "cumulativeNet": str(s[7]), "gpuSeconds": gpu_seconds,
            "energyWh": energy_wh, "busyGpuSeconds": busy, "leasedGpus": s[11], "voided": bool(s[12]),
            "curtailedGpuSeconds": self._curtailed_gpu_seconds(asset_id, epoch, bytes(s[0]), tx_hash, transactions),
        }

    def _curtailed_gpu_seconds(self, asset_id: int, epoch: int, report_hash: bytes, tx_hash: str,
                               transactions: dict[str, Any]) -> int | None:
        """The settled report's `curtailedGpuSeconds`: from the oracle's storage when the report stored there
        is the one settled (its hash is the record's `reportHash`), else from the settling transaction's
        calldata (`settleWithProof` / `settleMany` / `settleRange`); None when neither holds it (a settlement made through
        another contract, whose calldata is not the market's)."""
        try:
            (stored, _posted_at) = self._c["MeteringOracle"].functions.getReport(asset_id, epoch).call()
        except ContractLogicError:  # ReportNotFound: only a root was posted for this epoch
            stored = None
        if stored is not None and report_struct_hash(report := _report(stored)) == report_hash:
            return report.curtailed_gpu_seconds
        if tx_hash not in transactions:
            transactions[tx_hash] = self.w3.eth.get_transaction(tx_hash)
        tx = transactions[tx_hash]
        if str(tx.get("to") or "").lower() != self.manifest.address("LeaseMarket").lower():
            log.warning("epoch %d of asset %d settled through %s: its report is not in the calldata",
                        epoch, asset_id, tx.get("to"))
            return None
        try:
            function, params = self._c["LeaseMarket"].decode_function_input(tx["input"])
        except ValueError:  # no LeaseMarket selector: cannot happen for a transaction that emitted EpochSettled
            params, function = {}, None
        if function is not None and function.fn_name == "settleWithProof":
            candidates = [params["report"]]
        elif function is not None and function.fn_name in ("settleMany", "settleRange"):
            candidates = list(params["reports"])
        else:  # settle / settleThrough use the stored report, matched above
            candidates = []
        for raw in candidates:
            report = _report(raw)
            if report_struct_hash(report) == report_hash:
                return report.curtailed_gpu_seconds
        log.warning("epoch %d of asset %d: no report hashing to 0x%s in %s", epoch, asset_id, report_hash.hex(),
                    tx_hash)
        return None


def _report(raw: Any) -> Report:
    """An ABI-decoded `IMeteringOracle.Report` (tuple or mapping) as the oracle package's model."""
    names = ("assetId", "epoch", "gpuSeconds", "curtailedGpuSeconds", "utilizationBps", "energyWh")
    values = [raw[n] for n in names] if isinstance(raw, Mapping) else list(raw)
    return Report(**{name: int(value) for name, value in zip(names, values, strict=True)})
