"""The settlement keeper: every published epoch of every asset settled with its proof, in batches under a gas
cap, idempotently (``python -m oracle keep``).

A run (:meth:`Keeper.run_once`):

1. **read** the published epochs (:mod:`oracle.publication`, a directory or a daemon's HTTP server), each
   verified against its own root before use;
2. **cursors**: every listed asset's next epoch to settle, from ``LeaseMarketLens.cursorsOf`` in chunks of
   ``cursor_chunk`` assets per ``eth_call`` (O(1) calls per run, not one per asset);
3. **plan**: for each enrolled asset, its published reports from its next epoch on, contiguous, in epoch
   order; the whole plan is ordered by epoch, so an asset's later epoch is never in an earlier batch;
4. **send** ``LeaseMarket.settleMany`` batches sized from one gas estimate to fit under ``gas_cap``, with
   consecutive nonces and at most ``max_in_flight`` transactions unconfirmed at once.

Idempotence: ``settleMany`` skips an (asset, epoch) already settled, and every run plans from the chain's
cursors, so a run after a crash, a second keeper, or a repeated run settles nothing twice. A batch that
fails on chain (another keeper got there first and a gap opened, out of gas) is logged; the next run plans
again from the cursors.
"""

from __future__ import annotations

import argparse
import logging
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_utils import keccak, to_checksum_address
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from web3 import Web3
from web3.exceptions import TransactionNotFound, Web3Exception

from oracle.abi import abi_of, find_entry, signature
from oracle.chain import LENS_CURSORS_OF, SETTLE_MANY, decode_error, sign_transaction
from oracle.errors import ConfigError, MerkleError, SubmissionError, WellheadError
from oracle.models import Report
from oracle.publication import DirectorySource, EpochPublication, HttpSource, PublicationSource
from oracle.signer import LocalKeySigner, Signer

__all__ = ["KeepResult", "Keeper", "KeepSettings", "plan_settlements", "register_keep"]

logger = logging.getLogger(__name__)



class KeepSettings(BaseModel):
    """What a keeper needs; built once from the command line (or a test)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rpc_url: SecretStr
    lease_market: str
    lens: str
    publications: str = Field(description="a directory, or a daemon's base URL (http://...)")
    gas_cap: int = Field(default=15_000_000, ge=200_000)
    max_in_flight: int = Field(default=16, ge=1, le=256)
    cursor_chunk: int = Field(default=2_000, ge=1, le=20_000)
    probe_size: int = Field(default=8, ge=1, le=256)
    receipt_timeout_s: float = Field(default=120.0, gt=0)
    max_fee_per_gas: int | None = Field(default=None, ge=0)


@dataclass(frozen=True)
class Cursor:
    """An asset's settlement cursor (from the lens)."""

    next_settle_epoch: int
    enrolled: bool


@dataclass
class KeepResult:
    """What one run did."""

    planned: int = 0
    transactions: int = 0
    settled: int = 0
    gas_used: int = 0
    failed: list[str] = field(default_factory=list)
    waiting: dict[int, int] = field(default_factory=dict)
    """Enrolled assets whose next epoch has no publication: asset id -> that epoch."""


def plan_settlements(
    publications: Sequence[EpochPublication], cursors: dict[int, Cursor]
) -> tuple[list[tuple[Report, list[bytes]]], dict[int, int]]:
    """The (report, proof) pairs to settle, ordered by epoch, and the assets waiting for a publication.

    For each enrolled asset the reports run from its next epoch to settle, contiguously, through the
    publications; an asset with a gap (an epoch not published, e.g. one to be settled void) stops there.
    """
    by_epoch = sorted(publications, key=lambda p: p.epoch)
    expected = {asset: cursor.next_settle_epoch for asset, cursor in cursors.items() if cursor.enrolled}
    plan: list[tuple[Report, list[bytes]]] = []
    for publication in by_epoch:
        for index, report in enumerate(publication.reports):
            if expected.get(report.asset_id) == report.epoch:
                plan.append((report, publication.proof_bytes(index)))
                expected[report.asset_id] = report.epoch + 1
    last = by_epoch[-1].epoch if by_epoch else -1
    waiting = {asset: epoch for asset, epoch in expected.items() if epoch <= last}
    return plan, waiting


class Keeper:
    """Settles published epochs with proofs (see the module docstring).

    Args:
        w3: a Web3 connected to the node.
        sender: the account that pays for the transactions.
        settings: the keeper's settings.
        source: where publications come from (default: from ``settings.publications``).
        stop: set to stop between batches (SIGTERM).
    """

    def __init__(
        self,
        w3: Web3,
        sender: Signer,
        settings: KeepSettings,
        *,
        source: PublicationSource | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.w3 = w3
        self.sender = sender
        self.settings = settings
        self.market = to_checksum_address(settings.lease_market)
        self.lens = to_checksum_address(settings.lens)
        self.source = source or source_for(settings.publications)
        self.stop = stop or threading.Event()
        self._chain_id: int | None = None

    # --- reading ------------------------------------------------------------------------------------

    def publications(self) -> list[EpochPublication]:
        """Every published epoch, verified (a document that does not verify is skipped and logged)."""
        found = []
        for epoch in self.source.epochs():
            try:
                found.append(self.source.get(epoch).verified())
            except (MerkleError, WellheadError) as exc:
                logger.error("epoch %d's publication is unusable: %s", epoch, exc)
        return found

    def cursors(self, asset_ids: Sequence[int]) -> dict[int, Cursor]:
        """Settlement cursors of ``asset_ids``, ``cursor_chunk`` assets per ``eth_call``."""
        result: dict[int, Cursor] = {}
        chunk = self.settings.cursor_chunk
        for start in range(0, len(asset_ids), chunk):
            ids = list(asset_ids[start : start + chunk])
            raw = bytes(self.w3.eth.call({"to": self.lens, "data": LENS_CURSORS_OF.encode(ids)}))
            (rows,) = LENS_CURSORS_OF.decode(raw)
            for asset_id, (_, _, next_settle, enrolled) in zip(ids, rows, strict=True):
                result[asset_id] = Cursor(int(next_settle), bool(enrolled))
        return result

    # --- one run ------------------------------------------------------------------------------------

    def run_once(self) -> KeepResult:
        """Settle everything published and not yet settled (see the module docstring)."""
        publications = self.publications()
        result = KeepResult()
        if not publications:
            return result
        asset_ids = sorted({r.asset_id for p in publications for r in p.reports})
        plan, result.waiting = plan_settlements(publications, self.cursors(asset_ids))
        result.planned = len(plan)
        for asset_id, epoch in result.waiting.items():
            logger.warning("asset %d waits at epoch %d, which is not published", asset_id, epoch)
        if not plan:
            return result
        batch_size, per_item = self._batch_size(plan)
        batches = [plan[i : i + batch_size] for i in range(0, len(plan), batch_size)]
        logger.info("settling %d reports in %d batches of up to %d (about %d gas each)", len(plan),
                    len(batches), batch_size, per_item)
        self._send_all(batches, per_item, result)
        return result

    def _calldata(self, batch: Sequence[tuple[Report, list[bytes]]]) -> bytes:
        reports = [r.as_abi_tuple() for r, _ in batch]
        proofs = [proof for _, proof in batch]
        return SETTLE_MANY.encode(reports, proofs)

    def _estimate(self, data: bytes) -> int:
        try:
            return int(self.w3.eth.estimate_gas({"from": self.sender.address, "to": self.market, "data": data}))
        except Web3Exception as exc:
            decoded = decode_error(getattr(exc, "data", None))
            name, args = decoded if decoded else (None, ())
            raise SubmissionError(f"settleMany would revert: {exc}", name, args) from None

    def _batch_size(self, plan: Sequence[tuple[Report, list[bytes]]]) -> tuple[int, int]:
        """(reports per batch, gas per report) from one estimate of the plan's first ``probe_size`` reports,
        with 100% headroom for reports that cost more than those (a lease boundary, a share deposit)."""
        probe = list(plan[: self.settings.probe_size])
        gas = self._estimate(self._calldata(probe))
        per_item = math.ceil(gas * 2 / len(probe))
        return max(1, min(len(plan), (self.settings.gas_cap - 50_000) // per_item)), per_item

    def _send_all(self, batches: list[list[tuple[Report, list[bytes]]]], per_item: int, result: KeepResult) -> None:
        nonce = self.w3.eth.get_transaction_count(self.sender.address, "pending")
        in_flight: list[tuple[str, int]] = []
        for batch in batches:
            if self.stop.is_set():
                break
            while len(in_flight) >= self.settings.max_in_flight:
                self._confirm(in_flight.pop(0), result)
            # Batches are sized under the cap from the estimate; the limit is the cap itself (only gas used is
            # paid), since an epoch where leases start or end costs more than the probed one. A single report
            # over the cap cannot be split and is sent with what it needs.
            gas = max(self.settings.gas_cap, per_item + 50_000)
            tx_hash = self._send(self._calldata(batch), gas, nonce)
            in_flight.append((tx_hash, len(batch)))
            result.transactions += 1
            nonce += 1
        while in_flight:
            self._confirm(in_flight.pop(0), result)

    def _send(self, data: bytes, gas: int, nonce: int) -> str:
        if self._chain_id is None:
            self._chain_id = int(self.w3.eth.chain_id)
        base_fee = int(self.w3.eth.get_block("latest").get("baseFeePerGas", 0))
        max_fee = self.settings.max_fee_per_gas if self.settings.max_fee_per_gas is not None else 2 * base_fee + 10**9
        tx: dict[str, Any] = {
            "type": 2,
            "chainId": self._chain_id,
            "nonce": nonce,
            "to": self.market,
            "value": 0,
            "data": data,
            "gas": gas,
            "maxFeePerGas": max_fee,
            "maxPriorityFeePerGas": min(10**9, max_fee),
        }
        raw, tx_hash = sign_transaction(self.sender, tx)
        self.w3.eth.send_raw_transaction(raw)
        return tx_hash

    def _confirm(self, sent: tuple[str, int], result: KeepResult) -> None:
        tx_hash, size = sent
        deadline = time.monotonic() + self.settings.receipt_timeout_s
        while True:
            try:
                receipt = self.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
                if receipt is not None and receipt.get("blockNumber") is not None:
                    break
            except TransactionNotFound:
                pass
            if time.monotonic() > deadline or self.stop.wait(0.2):
                result.failed.append(f"{tx_hash}: no receipt")
                logger.error("settleMany %s: no receipt after %.0fs", tx_hash, self.settings.receipt_timeout_s)
                return
        result.gas_used += int(receipt["gasUsed"])
        if int(receipt["status"]) != 1:
            result.failed.append(f"{tx_hash}: reverted")
            logger.error("settleMany %s of %d reports reverted; the next run plans again", tx_hash, size)
            return
        settled = sum(1 for log in receipt["logs"] if log["topics"] and bytes(log["topics"][0]) == _EPOCH_SETTLED)
        result.settled += settled


_EPOCH_SETTLED = keccak(text=signature(find_entry(abi_of("LeaseMarket"), "EpochSettled", "event")))


def source_for(where: str) -> PublicationSource:
    """A directory path or an ``http(s)://`` base URL."""
    if where.startswith(("http://", "https://")):
        return HttpSource(where)
    return DirectorySource(Path(where))


# --- command line -----------------------------------------------------------------------------------------


def register_keep(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``python -m oracle keep``: settle every published epoch with proofs."""
    parser = subparsers.add_parser(
        "keep",
        help="settle every published epoch with proofs (LeaseMarket.settleMany), in batches under a gas cap",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rpc-url", required=True)
    parser.add_argument("--lease-market", required=True, help="the LeaseMarket's address")
    parser.add_argument("--lens", required=True, help="the LeaseMarketLens's address (cursors in one call)")
    parser.add_argument("--publications", required=True, help="the daemon's publish directory or HTTP base URL")
    parser.add_argument("--key-env", required=True, help="environment variable holding the sender's private key")
    parser.add_argument("--gas-cap", type=int, default=15_000_000)
    parser.add_argument("--max-in-flight", type=int, default=16)
    parser.add_argument("--interval-s", type=float, default=0.0, help="repeat every N seconds (0: run once)")
    parser.set_defaults(handler=_run_keep)


def _run_keep(args: argparse.Namespace) -> int:
    import os

    key = os.environ.get(args.key_env)
    if not key:
        raise ConfigError(f"the environment variable {args.key_env} holding the keeper's key is not set")
    settings = KeepSettings(
        rpc_url=SecretStr(args.rpc_url),
        lease_market=args.lease_market,
        lens=args.lens,
        publications=args.publications,
        gas_cap=args.gas_cap,
        max_in_flight=args.max_in_flight,
    )
    w3 = Web3(Web3.HTTPProvider(settings.rpc_url.get_secret_value(), request_kwargs={"timeout": 60}))
    sender = LocalKeySigner(bytes.fromhex(key.removeprefix("0x")))
    stop = threading.Event()
    keeper = Keeper(w3, sender, settings, stop=stop)
    while True:
        result = keeper.run_once()
        logger.info("keep: planned %d, settled %d in %d transactions (%d gas), %d failed, %d waiting",
                    result.planned, result.settled, result.transactions, result.gas_used, len(result.failed),
                    len(result.waiting))
        if args.interval_s <= 0:
            return 1 if result.failed else 0
        if stop.wait(args.interval_s):
            return 0
