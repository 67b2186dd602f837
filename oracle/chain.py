"""The daemon's view of the chain: JSON-RPC through web3.py, the few contract functions it calls, custom-error
decoding, EIP-1559 transaction signing with an oracle :class:`~oracle.signer.Signer`, and retries.

No brownie: each function the daemon calls and every custom error it decodes come from the ABIs the package
ships (:mod:`oracle.abi`, generated from the build by ``make abi`` and checked against it by a test), encoded
with eth-abi, so no signature is ever typed by hand. Every RPC is retried on
connection errors and timeouts with exponential backoff and jitter, then raises
:class:`~oracle.errors.ChainUnavailable`; a node that answers with an error is not retried.
"""

from __future__ import annotations

import json
import logging
import random
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import requests
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_account.typed_transactions import TypedTransaction
from eth_hash.auto import keccak
from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.exceptions import TransactionNotFound, Web3Exception

from oracle.abi import abi_of, canonical_type, error_registry, find_entry, signature
from oracle.errors import ChainUnavailable, ConfigError, InputFileError, SubmissionError, TransactionRejected
from oracle.models import Report
from oracle.redact import scrub
from oracle.signer import Signature, Signer, SignerSignature

__all__ = [
    "ASSET_STATUS",
    "COMMIT_ROOT",
    "ERRORS",
    "FUNCTIONS",
    "LENS_CURSORS_OF",
    "PROVE_REPORTS",
    "SETTLE_MANY",
    "SETTLE_RANGE",
    "SUBMIT",
    "BlockView",
    "ChainClient",
    "Deployment",
    "decode_error",
    "load_deployment",
    "sign_transaction",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

ASSET_STATUS = ("None", "Active", "Suspended", "Retired")
"""IAssetRegistry.AssetStatus by value."""

@dataclass(frozen=True)
class _Fn:
    """One contract function: its signature and output types."""

    signature: str
    outputs: tuple[str, ...] = ()

    @classmethod
    def from_abi(cls, contract: str, name: str) -> _Fn:
        """The function ``name`` of the shipped ABI of ``contract``."""
        entry = find_entry(abi_of(contract), name)
        return cls(signature(entry), tuple(canonical_type(p) for p in entry.get("outputs", ())))

    @property
    def selector(self) -> bytes:
        return keccak(self.signature.encode())[:4]

    @property
    def inputs(self) -> list[str]:
        return _split_types(self.signature[self.signature.index("(") + 1 : -1])

    def encode(self, *args: Any) -> bytes:
        return self.selector + abi_encode(self.inputs, list(args))

    def decode(self, data: bytes) -> tuple[Any, ...]:
        return tuple(abi_decode(list(self.outputs), data))


SUBMIT = _Fn.from_abi("MeteringOracle", "submit")
"""``MeteringOracle.submit``; signatures in EIP-2098's compact form ``(r, vs)``."""
COMMIT_ROOT = _Fn.from_abi("MeteringOracle", "commitRoot")
"""``MeteringOracle.commitRoot``: a quorum-signed Merkle root of one epoch's reports."""
PROVE_REPORTS = _Fn.from_abi("MeteringOracle", "proveReports")
"""``MeteringOracle.proveReports``: reports proven against their epoch's committed root (anyone may call)."""
SETTLE_MANY = _Fn.from_abi("LeaseMarket", "settleMany")
"""``LeaseMarket.settleMany``: reports proven against their epochs' roots, one full proof each, settled across
assets (the keeper sends :data:`SETTLE_RANGE` instead)."""
SETTLE_RANGE = _Fn.from_abi("LeaseMarket", "settleRange")
"""``LeaseMarket.settleRange(reports, firstLeaf, proof)``: a contiguous run of one epoch's leaves with one range
proof (:meth:`oracle.eip712.MerkleTree.range_proof`), settled across assets (the keeper)."""
LENS_CURSORS_OF = _Fn.from_abi("LeaseMarketLens", "cursorsOf")
"""``LeaseMarketLens.cursorsOf``: each asset's next report and settle epoch, in one call (the keeper)."""

_CALLED: dict[str, tuple[str, ...]] = {
    "MeteringOracle": (
        "cursorOf", "cursorsOf", "signers", "configVersion", "threshold", "genesis", "epochLength", "epochEnd", "getReport",
        "reportHashOf", "hasReport", "rootOf", "assetRegistry",
    ),
    "AssetRegistry": ("statusOf",),
    "LeaseMarket": ("settleThrough", "isEnrolled", "nextSettleEpoch"),
}
FUNCTIONS: dict[str, _Fn] = {
    name: _Fn.from_abi(contract, name) for contract, names in _CALLED.items() for name in names
}
"""The contract functions the daemon calls, by name (``submit`` is SUBMIT)."""

ERRORS: dict[bytes, tuple[str, list[str]]] = {
    sel: (error.name, list(error.arg_types)) for sel, error in error_registry().items()
}
"""Every custom error of the suite (and ``Error(string)``, ``Panic(uint256)``), by 4-byte selector."""


def decode_error(data: bytes | str | None) -> tuple[str, tuple[Any, ...]] | None:
    """(name, arguments) of revert data, or None when it is empty or unknown."""
    if isinstance(data, str):
        text = data[2:] if data.startswith("0x") else data
        try:
            data = bytes.fromhex(text)
        except ValueError:
            return None
    if not data or len(data) < 4:
        return None
    known = ERRORS.get(bytes(data[:4]))
    if known is None:
        return None
    name, types = known
    try:
        return name, tuple(abi_decode(types, bytes(data[4:])))
    except Exception:  # malformed revert data: report the name alone
        return name, ()


@dataclass(frozen=True)
class Deployment:
    """The addresses the daemon needs."""

    chain_id: int | None
    oracle: str
    lease_market: str | None
    source: str


def load_deployment(
    path: Path | None, *, oracle_address: str | None = None, lease_market_address: str | None = None
) -> Deployment:
    """Addresses from ``deployments/<chainId>.json`` (as scripts/deploy.py writes it) and/or the settings.

    Raises:
        InputFileError: the file is missing or malformed.
        ConfigError: the file and the settings name different oracles, or nothing names one.
    """
    if path is None:
        if oracle_address is None:
            raise ConfigError("no deployment file and no oracle address")
        return Deployment(None, oracle_address, lease_market_address, "settings")
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
        contracts = document["contracts"]
        oracle = to_checksum_address(contracts["MeteringOracle"]["address"])
        market = contracts.get("LeaseMarket", {}).get("address")
        chain_id = int(document["chainId"])
    except FileNotFoundError:
        raise InputFileError(path, "no such deployment file") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputFileError(path, f"not a deployment file ({type(exc).__name__}: {exc})") from None
    if oracle_address is not None and oracle_address.lower() != oracle.lower():
        raise ConfigError(f"chain.oracle_address {oracle_address} differs from the deployment file's {oracle}")
    market = lease_market_address or (to_checksum_address(market) if market else None)
    return Deployment(chain_id, oracle, market, str(path))


@dataclass(frozen=True)
class BlockView:
    """What the daemon reads from the latest block."""

    number: int
    timestamp: int
    base_fee: int


class ChainClient:
    """JSON-RPC to one node, for one oracle (and optionally one lease market).

    Args:
        rpc_url: the node's URL (kept out of logs: it may hold an API key).
        oracle: the MeteringOracle's address.
        lease_market: the LeaseMarket's address (keeper duty), or None.
        timeout_s: per-request timeout.
        retries: retries per call on connection errors and timeouts.
        stop: set to abort retry waits (SIGTERM).
        w3: an existing Web3 (tests).
    """

    def __init__(
        self,
        rpc_url: str,
        oracle: str,
        *,
        lease_market: str | None = None,
        timeout_s: float = 10.0,
        retries: int = 3,
        stop: threading.Event | None = None,
        w3: Web3 | None = None,
    ) -> None:
        self.oracle = to_checksum_address(oracle)
        self.lease_market = to_checksum_address(lease_market) if lease_market else None
        self._retries = retries
        self._stop = stop or threading.Event()
        self._url = rpc_url
        self.w3 = w3 or Web3(
            Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout_s}, exception_retry_configuration=None)
        )
        self._registry: str | None = None
        self._submit_checked = False

    # --- plumbing -----------------------------------------------------------------------------------

    def _rpc(self, method: str, call: Callable[[], T]) -> T:
        """Run one RPC, retrying connection failures with exponential backoff and jitter."""
        attempt = 0
        while True:
            try:
                return call()
            except (requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError, OSError) as exc:
                reason = f"{type(exc).__name__}: {_short(scrub(str(exc), self._url))}"
            except requests.HTTPError as exc:
                reason = f"HTTP error: {_short(scrub(str(exc), self._url))}"
            if attempt >= self._retries or self._stop.is_set():
                raise ChainUnavailable(method, reason)
            delay = min(8.0, 0.25 * 2**attempt) * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not crypto
            logger.debug("RPC %s failed (%s); retry %d in %.2fs", method, reason, attempt + 1, delay)
            attempt += 1
            if self._stop.wait(delay):
                raise ChainUnavailable(method, reason)

    def call(self, name: str, *args: Any, to: str | None = None, block: int | str = "latest") -> tuple[Any, ...]:
        """``eth_call`` of a declared function on the oracle (or ``to``).

        Raises:
            ChainUnavailable: the node is unreachable.
            SubmissionError: the call reverted (with the decoded custom error when known).
        """
        fn = FUNCTIONS[name]
        target = to or self.oracle
        data = fn.encode(*args)

        def run() -> bytes:
            try:
                return bytes(self.w3.eth.call({"to": target, "data": data}, block))
            except Web3Exception as exc:
                raise _as_submission_error(exc, f"{name} reverted") from None

        return fn.decode(self._rpc(name, run))

    def _call_batch(self, name: str, target: str, calls: list[tuple[Any, ...]],
                    describe: Callable[[int], str]) -> list[tuple[Any, ...]]:
        """``eth_call`` of ``name`` on ``target`` once per argument tuple in ``calls``, all in one JSON-RPC batch
        (one HTTP round trip); the decoded results in order.

        Raises:
            ChainUnavailable: the node is unreachable.
            SubmissionError: a call failed (``describe(i)`` names call ``i``, with the node's error).
        """
        fn = FUNCTIONS[name]

        def run() -> list[Any]:
            payload = [("eth_call", [{"to": target, "data": "0x" + fn.encode(*args).hex()}, "latest"])
                       for args in calls]
            return list(self.w3.provider.make_batch_request(payload))  # type: ignore[attr-defined]

        decoded = []
        for i, reply in enumerate(self._rpc(name, run)):
            if "error" in reply or "result" not in reply:
                raise SubmissionError(f"{describe(i)} failed: {reply.get('error')}")
            decoded.append(fn.decode(bytes.fromhex(str(reply["result"]).removeprefix("0x"))))
        return decoded

    # --- chain --------------------------------------------------------------------------------------

    def chain_id(self) -> int:
        """``eth_chainId``."""
        return int(self._rpc("eth_chainId", lambda: self.w3.eth.chain_id))

    def latest_block(self) -> BlockView:
        """Number, timestamp and base fee of the latest block."""
        block = self._rpc("eth_getBlockByNumber", lambda: self.w3.eth.get_block("latest"))
        return BlockView(int(block["number"]), int(block["timestamp"]), int(block.get("baseFeePerGas") or 0))

    def code_at(self, address: str) -> bytes:
        """The code deployed at ``address`` (empty for none)."""
        return bytes(self._rpc("eth_getCode", lambda: self.w3.eth.get_code(to_checksum_address(address))))

    def balance(self, address: str) -> int:
        """Balance in wei."""
        return int(self._rpc("eth_getBalance", lambda: self.w3.eth.get_balance(to_checksum_address(address))))

    def nonce(self, address: str, block: str = "latest") -> int:
        """``eth_getTransactionCount`` at ``latest`` (mined) or ``pending`` (including the node's pool)."""
        return int(
            self._rpc(
                "eth_getTransactionCount",
                lambda: self.w3.eth.get_transaction_count(to_checksum_address(address), block),  # type: ignore[arg-type]
            )
        )

    def max_priority_fee(self) -> int:
        """``eth_maxPriorityFeePerGas`` (0 where the node does not implement it)."""

        def run() -> int:
            try:
                return int(self.w3.eth.max_priority_fee)
            except (Web3Exception, ValueError):
                return 0

        return self._rpc("eth_maxPriorityFeePerGas", run)

    # --- oracle views -------------------------------------------------------------------------------

    def genesis(self) -> int:
        return int(self.call("genesis")[0])

    def epoch_length(self) -> int:
        return int(self.call("epochLength")[0])

    def config_version(self) -> int:
        return int(self.call("configVersion")[0])

    def threshold(self) -> int:
        return int(self.call("threshold")[0])

    def signers(self) -> list[str]:
        """The current signer set, ascending."""
        return [to_checksum_address(a) for a in self.call("signers")[0]]

    def cursors(self, asset_ids: Sequence[int], chunk: int = 2_000) -> dict[int, tuple[int, bool]]:
        """``cursorsOf(assets)``: every asset's (next epoch to report, reporting started), ``chunk`` assets per
        ``eth_call`` (each call stays far under a node's ``eth_call`` gas cap) and every call in one JSON-RPC
        batch: one round trip per step whatever the fleet's size, instead of one per asset.

        Raises:
            ChainUnavailable: the node is unreachable.
            SubmissionError: a call failed (the node's error).
        """
        ids = list(asset_ids)
        parts = [ids[start : start + chunk] for start in range(0, len(ids), chunk)]
        if len(parts) <= 1:
            replies = [self.call("cursorsOf", part)[0] for part in parts]
        else:
            decoded = self._call_batch("cursorsOf", self.oracle, [(part,) for part in parts],
                                       lambda i: f"cursorsOf of assets {parts[i][0]}..{parts[i][-1]}")
            replies = [values[0] for values in decoded]
        result: dict[int, tuple[int, bool]] = {}
        for part, rows in zip(parts, replies, strict=True):
            for asset_id, (next_epoch, started) in zip(part, rows, strict=True):
                result[asset_id] = (int(next_epoch), bool(started))
        return result

    def cursor(self, asset_id: int) -> tuple[int, bool]:
        """``cursorOf(asset)``: (next epoch to report, reporting started)."""
        next_epoch, started = self.call("cursorOf", asset_id)[0]
        return int(next_epoch), bool(started)

    def report_hash(self, asset_id: int, epoch: int) -> str | None:
        """The stored report's EIP-712 struct hash, or None when the epoch was never reported."""
        try:
            return "0x" + bytes(self.call("reportHashOf", asset_id, epoch)[0]).hex()
        except SubmissionError as exc:
            if exc.error_name == "ReportNotFound":
                return None
            raise

    def get_report(self, asset_id: int, epoch: int) -> Report | None:
        """The stored report, or None when the epoch was never reported."""
        try:
            (a, e, gpu, curtailed, util, energy), _posted_at = self.call("getReport", asset_id, epoch)
        except SubmissionError as exc:
            if exc.error_name == "ReportNotFound":
                return None
            raise
        return Report(
            asset_id=a,
            epoch=e,
            gpu_seconds=gpu,
            curtailed_gpu_seconds=curtailed,
            utilization_bps=util,
            energy_wh=energy,
        )

    def root_of(self, epoch: int) -> tuple[bytes, int]:
        """``rootOf(epoch)``: (the committed Merkle root, or 32 zero bytes; its report count)."""
        root, count = self.call("rootOf", epoch)
        return bytes(root), int(count)

    def asset_registry(self) -> str:
        if self._registry is None:
            self._registry = to_checksum_address(self.call("assetRegistry")[0])
        return self._registry

    def asset_status(self, asset_id: int) -> str:
        """``AssetRegistry.statusOf`` as a name (``None``, ``Active``, ``Suspended``, ``Retired``)."""
        value = int(self.call("statusOf", asset_id, to=self.asset_registry())[0])
        return ASSET_STATUS[value] if value < len(ASSET_STATUS) else str(value)

    def asset_statuses(self, asset_ids: Sequence[int], chunk: int = 1_000) -> dict[int, str]:
        """``AssetRegistry.statusOf`` of every asset, as names: the registry has no batched view, so the calls
        go ``chunk`` to a JSON-RPC batch (one HTTP round trip per chunk instead of one per asset).

        Raises:
            ChainUnavailable: the node is unreachable.
            SubmissionError: a call failed (the node's error, naming the asset).
        """
        registry = self.asset_registry()
        ids = list(asset_ids)
        result: dict[int, str] = {}
        for start in range(0, len(ids), chunk):
            part = ids[start : start + chunk]
            decoded = self._call_batch("statusOf", registry, [(a,) for a in part],
                                       lambda i, part=part: f"statusOf({part[i]})")
            for asset_id, (value,) in zip(part, decoded, strict=True):
                result[asset_id] = ASSET_STATUS[value] if value < len(ASSET_STATUS) else str(value)
        return result

    # --- transactions -------------------------------------------------------------------------------

    def check_submit_abi(self) -> None:
        """Checks that the deployed oracle takes ``submit`` as this daemon encodes it, by calling it with an
        empty batch: an oracle answers with its own custom error (``ConfigVersionMismatch`` or ``EmptyBatch``);
        another contract or version has no such function (empty revert data).

        Raises:
            ChainUnavailable: the node is unreachable.
            SubmissionError: the contract does not take this daemon's ``submit``.
        """
        if self._submit_checked:
            return
        payload = SUBMIT.encode(0, [], [], [])

        def run() -> bool:
            try:
                self.w3.eth.call({"to": self.oracle, "data": payload})
            except Web3Exception as exc:
                return decode_error(_revert_data(exc)) is not None
            return True

        if not self._rpc("eth_call", run):
            raise SubmissionError(
                f"the contract at {self.oracle} does not take submit() with EIP-2098 compact signatures"
            )
        self._submit_checked = True

    def encode_submit(
        self,
        config_version: int,
        reports: Sequence[Report],
        signer_set: Sequence[str],
        signatures: Sequence[SignerSignature],
    ) -> bytes:
        """Calldata of ``submit``."""
        return SUBMIT.encode(
            config_version,
            [r.as_abi_tuple() for r in reports],
            [to_checksum_address(a) for a in signer_set],
            [s.signature.to_compact() for s in signatures],
        )

    @staticmethod
    def encode_commit_root(
        config_version: int,
        epoch: int,
        report_count: int,
        root: bytes,
        signer_set: Sequence[str],
        signatures: Sequence[SignerSignature],
    ) -> bytes:
        """Calldata of ``commitRoot``."""
        return COMMIT_ROOT.encode(
            config_version,
            (epoch, report_count, root),
            [to_checksum_address(a) for a in signer_set],
            [s.signature.to_compact() for s in signatures],
        )

    @staticmethod
    def encode_prove_reports(reports: Sequence[Report], proofs: Sequence[Sequence[bytes]]) -> bytes:
        """Calldata of ``proveReports`` (one proof per report, in the same order)."""
        return PROVE_REPORTS.encode([r.as_abi_tuple() for r in reports], [list(p) for p in proofs])

    @staticmethod
    def encode_settle_through(asset_id: int, last_epoch: int) -> bytes:
        """Calldata of ``LeaseMarket.settleThrough``."""
        return FUNCTIONS["settleThrough"].encode(asset_id, last_epoch)

    def estimate_gas(self, sender: str, to: str, data: bytes, block: str = "latest") -> int:
        """``eth_estimateGas`` against ``block`` (``"pending"``: on top of the transactions in the node's pool,
        for a transaction that follows others still in flight).

        Raises:
            SubmissionError: the call would revert (``error_name`` set when the custom error is known) or the
                node could not estimate it.
            ChainUnavailable: the node is unreachable.
        """

        def run() -> int:
            try:
                call = {"from": sender, "to": to, "data": data}
                return int(self.w3.eth.estimate_gas(call, block))  # type: ignore[arg-type]
            except Web3Exception as exc:
                raise _as_submission_error(exc, "gas estimation failed") from None

        return self._rpc("eth_estimateGas", run)

    def send_raw(self, raw: bytes, tx_hash: str) -> None:
        """Broadcast a signed transaction.

        Raises:
            TransactionRejected: the node refused it (``kind``: nonce_too_low, underpriced, already_known, other).
            ChainUnavailable: the node is unreachable.
        """

        def run() -> None:
            try:
                self.w3.eth.send_raw_transaction(raw)
            except Web3Exception as exc:
                message = _short(scrub(str(exc), self._url))
                raise TransactionRejected(tx_hash, _rejection_kind(message), message) from None

        self._rpc("eth_sendRawTransaction", run)

    def receipt(self, tx_hash: str) -> tuple[int, int] | None:
        """(block number, status) of a mined transaction, or None."""

        def run() -> tuple[int, int] | None:
            try:
                receipt = self.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
            except TransactionNotFound:
                return None
            if receipt is None or receipt.get("blockNumber") is None:
                return None
            return int(receipt["blockNumber"]), int(receipt["status"])

        return self._rpc("eth_getTransactionReceipt", run)

    def knows(self, tx_hash: str) -> bool:
        """Whether the node has the transaction (in its pool or mined)."""

        def run() -> bool:
            try:
                return self.w3.eth.get_transaction(tx_hash) is not None  # type: ignore[arg-type]
            except TransactionNotFound:
                return False

        return self._rpc("eth_getTransactionByHash", run)


def sign_transaction(signer: Signer, tx: dict[str, Any]) -> tuple[bytes, str]:
    """Sign an EIP-1559 transaction dict with an oracle signer's :meth:`~oracle.signer.Signer.sign_digest`.

    Returns:
        (raw transaction bytes, transaction hash as 0x-hex).
    """
    unsigned = TypedTransaction.from_dict(tx)
    signature: Signature = signer.sign_digest(unsigned.hash())
    signed = TypedTransaction.from_dict({**tx, "v": signature.v - 27, "r": signature.r, "s": signature.s})
    raw = signed.encode()
    return raw, "0x" + keccak(raw).hex()


# --- helpers ---------------------------------------------------------------------------------------


def _split_types(text: str) -> list[str]:
    """Split ``a,(b,c)[],d`` at top-level commas."""
    parts, depth, current = [], 0, ""
    for char in text:
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += char == "("
        depth -= char == ")"
        current += char
    if current:
        parts.append(current)
    return parts


def _revert_data(exc: BaseException) -> str | None:
    data = getattr(exc, "data", None)
    if isinstance(data, str) and data.startswith("0x"):
        return data
    if isinstance(data, dict):
        inner = data.get("data")
        if isinstance(inner, str):
            return inner
    for arg in exc.args:
        if isinstance(arg, dict) and isinstance(arg.get("data"), str):
            return str(arg["data"])
        if isinstance(arg, str):
            match = re.search(r"0x[0-9a-fA-F]{8,}", arg)
            if match:
                return match.group(0)
    return None


def _as_submission_error(exc: BaseException, what: str) -> SubmissionError:
    decoded = decode_error(_revert_data(exc))
    if decoded is not None:
        name, args = decoded
        return SubmissionError(f"{what}: {name}{args}", name, args)
    return SubmissionError(f"{what}: {_short(exc)}")


def _rejection_kind(message: str) -> str:
    text = message.lower()
    if "nonce too low" in text or "nonce has already been used" in text or "old nonce" in text:
        return "nonce_too_low"
    if "already known" in text or "already imported" in text or "known transaction" in text:
        return "already_known"
    if "underpriced" in text or "less than block base fee" in text or "fee cap" in text or "too low" in text:
        return "underpriced"
    return "other"


def _short(exc: BaseException | str) -> str:
    text = str(exc)
    return text if len(text) <= 300 else text[:300] + "..."
