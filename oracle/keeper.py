"""The settlement keeper: every published epoch of every asset settled with range proofs, in batches under a gas
cap, idempotently (``python -m oracle keep``).

A run (:meth:`Keeper.run_once`):

1. **read** the published epochs (:mod:`oracle.publication`, a directory or a daemon's HTTP server), each
   verified against its own root before use;
2. **cursors**: every listed asset's next epoch to settle (and the oracle's next epoch to report), from
   ``LeaseMarketLens.cursorsOf`` in chunks of ``cursor_chunk`` assets per ``eth_call`` (O(1) calls per run);
3. **plan** (:func:`plan_runs`): per epoch, in epoch order, the contiguous runs of leaves whose asset's next
   epoch to settle is that epoch. A leaf already settled (its asset's cursor is past the epoch) may sit inside
   a run, since ``settleRange`` skips it, as long as at most ``max_gap_leaves`` of them stand in a row; a leaf
   that would make ``settleRange`` revert ends the run: an asset not enrolled or not listed, one with an
   earlier epoch still open (not published yet, or to be settled void), or one whose report the oracle stores
   (``submit``/``proveReports``: settled with ``settle`` instead, never with a proof);
4. **send** ``LeaseMarket.settleRange(reports, firstLeaf, proof)`` per run, runs cut into batches of leaves
   sized from one gas estimate to fit under ``gas_cap``, each batch with its own range proof (at most two
   hashes per tree layer, :meth:`oracle.eip712.MerkleTree.range_proof`), with consecutive nonces and at most
   ``max_in_flight`` transactions unconfirmed at once; an epoch's batches go before the next epoch's.

Idempotence: ``settleRange`` skips an (asset, epoch) already settled, and every run plans from the chain's
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
from oracle.chain import LENS_CURSORS_OF, SETTLE_RANGE, decode_error, sign_transaction
from oracle.eip712 import MerkleTree
from oracle.errors import ConfigError, MerkleError, SubmissionError, WellheadError
from oracle.models import Report
from oracle.publication import DirectorySource, EpochPublication, HttpSource, PublicationSource
from oracle.roots import EpochTree, build_epoch_tree
from oracle.signer import LocalKeySigner, Signer

__all__ = ["Cursor", "KeepResult", "Keeper", "KeepSettings", "LeafRun", "plan_runs", "register_keep"]

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
    max_gap_leaves: int = Field(
        default=4, ge=0, le=1_000,
        description="settled leaves kept inside a run; a longer gap splits it (a skipped leaf still costs its "
                    "calldata and the oracle's checks, about 10k gas; a new run costs a transaction and a proof)",
    )
    receipt_timeout_s: float = Field(default=120.0, gt=0)
    max_fee_per_gas: int | None = Field(default=None, ge=0)


@dataclass(frozen=True)
class Cursor:
    """An asset's cursors (from the lens): the market's next epoch to settle, and the oracle's next epoch to
    report (epochs below it have a stored report, which governs: they settle with ``settle``, not a proof)."""

    next_settle_epoch: int
    enrolled: bool
    next_report_epoch: int = 0


@dataclass(frozen=True)
class LeafRun:
    """Leaves ``[first, first + len(reports))`` of one epoch's tree, settled by one ``settleRange``."""

    epoch: int
    first: int
    reports: tuple[Report, ...]
    due_at: frozenset[int]
    """The leaf indexes in the run that settle (the others are settled already and skipped on chain)."""
    tree: MerkleTree = field(repr=False, compare=False)

    @property
    def due(self) -> int:
        """How many of the run's reports settle."""
        return len(self.due_at)

    def proof(self) -> list[bytes]:
        """The run's range proof (what ``settleRange`` takes)."""
        return self.tree.range_proof(self.first, len(self.reports))

    def batches(self, size: int) -> list[LeafRun]:
        """The run cut into runs of at most ``size`` leaves. Settled leaves at a cut are dropped, so that every
        batch starts and ends with a leaf that settles."""
        cut: list[LeafRun] = []
        start = self.first
        end = self.first + len(self.reports)
        while start < end:
            while start < end and start not in self.due_at:
                start += 1
            if start == end:
                break
            stop = min(start + size, end)
            while stop - 1 not in self.due_at:
                stop -= 1
            reports = self.reports[start - self.first : stop - self.first]
            due_at = frozenset(i for i in self.due_at if start <= i < stop)
            cut.append(LeafRun(self.epoch, start, reports, due_at, self.tree))
            start = stop
        return cut


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


def plan_runs(
    publications: Sequence[EpochPublication], cursors: dict[int, Cursor], max_gap_leaves: int = 4
) -> tuple[list[LeafRun], dict[int, int]]:
    """The runs to settle, in epoch order, and the assets waiting for a publication (see the module docstring
    for what starts, extends and ends a run).

    For each enrolled asset the settled epochs run from its next epoch to settle, contiguously, through the
    publications; an asset with a gap (an epoch not published, e.g. one to be settled void) stops there.
    """
    by_epoch = sorted(publications, key=lambda p: p.epoch)
    expected = {asset: cursor.next_settle_epoch for asset, cursor in cursors.items() if cursor.enrolled}
    stored_below = {asset: cursor.next_report_epoch for asset, cursor in cursors.items()}
    runs: list[LeafRun] = []
    for publication in by_epoch:
        epoch = publication.epoch
        tree = build_epoch_tree(publication.reports)  # the committed leaf order (ascending assetId)
        due_at: list[int] = []
        gap = 0
        for index, report in enumerate(tree.reports):
            asset = report.asset_id
            settle_next = expected.get(asset)
            if settle_next is None or settle_next < epoch or stored_below.get(asset, 0) > epoch:
                # Would revert: not enrolled or listed, an earlier epoch open, or a stored report.
                _close_run(runs, tree, due_at)
            elif settle_next == epoch:
                if gap > max_gap_leaves:
                    _close_run(runs, tree, due_at)
                due_at.append(index)
                expected[asset] = epoch + 1
                gap = 0
            else:
                gap += 1  # settled already: skipped on chain
        _close_run(runs, tree, due_at)
    last = by_epoch[-1].epoch if by_epoch else -1
    # Waiting for a publication; an asset held by a stored report (settled with `settle`) is not missing one.
    waiting = {
        asset: epoch for asset, epoch in expected.items() if epoch <= last and stored_below.get(asset, 0) <= epoch
    }
    return runs, waiting


def _close_run(runs: list[LeafRun], tree: EpochTree, due_at: list[int]) -> None:
    """Appends the run from the first to the last of ``due_at`` (if any) to ``runs``, and empties ``due_at``."""
    if due_at:
        first, last = due_at[0], due_at[-1]
        runs.append(LeafRun(tree.epoch, first, tree.reports[first : last + 1], frozenset(due_at), tree.tree))
    due_at.clear()


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
            for asset_id, (next_report, _, next_settle, enrolled) in zip(ids, rows, strict=True):
                result[asset_id] = Cursor(int(next_settle), bool(enrolled), int(next_report))
        return result

    # --- one run ------------------------------------------------------------------------------------

    def run_once(self) -> KeepResult:
        """Settle everything published and not yet settled (see the module docstring)."""
        publications = self.publications()
        result = KeepResult()
        if not publications:
            return result
        asset_ids = sorted({r.asset_id for p in publications for r in p.reports})
        runs, result.waiting = plan_runs(publications, self.cursors(asset_ids), self.settings.max_gap_leaves)
        result.planned = sum(run.due for run in runs)
        for asset_id, epoch in result.waiting.items():
            logger.warning("asset %d waits at epoch %d, which is not published", asset_id, epoch)
        if not runs:
            return result
        batch_size, per_leaf = self._batch_size(runs[0])
        batches = [batch for run in runs for batch in run.batches(batch_size)]
        logger.info("settling %d reports in %d runs, %d batches of up to %d leaves (budgeting %d gas a leaf, "
                    "twice the estimate)", result.planned, len(runs), len(batches), batch_size, per_leaf)
        self._send_all(batches, per_leaf, result)
        return result

    @staticmethod
    def _calldata(run: LeafRun) -> bytes:
        return SETTLE_RANGE.encode([r.as_abi_tuple() for r in run.reports], run.first, run.proof())

    def _estimate(self, data: bytes) -> int:
        try:
            return int(self.w3.eth.estimate_gas({"from": self.sender.address, "to": self.market, "data": data}))
        except Web3Exception as exc:
            decoded = decode_error(getattr(exc, "data", None))
            name, args = decoded if decoded else (None, ())
            raise SubmissionError(f"settleRange would revert: {exc}", name, args) from None

    def _batch_size(self, run: LeafRun) -> tuple[int, int]:
        """(leaves per batch, gas per leaf) from one estimate of the first run's first ``probe_size`` leaves
        (the transaction's and the proof's fixed cost spread over them), with 100% headroom for leaves that
        cost more than those (a lease boundary, a share deposit)."""
        probe = LeafRun(run.epoch, run.first, run.reports[: self.settings.probe_size], frozenset(), run.tree)
        gas = self._estimate(self._calldata(probe))
        per_leaf = math.ceil(gas * 2 / len(probe.reports))
        return max(1, (self.settings.gas_cap - 50_000) // per_leaf), per_leaf

    def _send_all(self, batches: list[LeafRun], per_leaf: int, result: KeepResult) -> None:
        nonce = self.w3.eth.get_transaction_count(self.sender.address, "pending")
        in_flight: list[tuple[str, int]] = []
        for batch in batches:
            if self.stop.is_set():
                break
            while len(in_flight) >= self.settings.max_in_flight:
                self._confirm(in_flight.pop(0), result)
            # Batches are sized under the cap from the estimate; the limit is the cap itself (only gas used is
            # paid), since an epoch where leases start or end costs more than the probed one. A single leaf
            # over the cap cannot be split and is sent with what it needs.
            gas = max(self.settings.gas_cap, per_leaf + 50_000)
            tx_hash = self._send(self._calldata(batch), gas, nonce)
            in_flight.append((tx_hash, batch.due))
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
                logger.error("settleRange %s: no receipt after %.0fs", tx_hash, self.settings.receipt_timeout_s)
                return
        result.gas_used += int(receipt["gasUsed"])
        if int(receipt["status"]) != 1:
            result.failed.append(f"{tx_hash}: reverted")
            logger.error("settleRange %s of %d reports reverted; the next run plans again", tx_hash, size)
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
        help="settle every published epoch with range proofs (LeaseMarket.settleRange), in batches under a gas cap",
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
