"""Revert data in words: which custom error a contract raised, with its arguments named, as a sentence.

The selector table comes from the shipped ABIs (:func:`oracle.abi.error_registry`) plus any ABI of the
deployment manifest, so every error of the suite decodes. Errors an admin meets get a sentence
(:data:`SENTENCES`); any other reads as ``Name(arg=value, ...)``. Role hashes are named
(``REGISTRAR_ROLE``), timestamps shown as UTC dates.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from eth_abi import decode as abi_decode
from eth_hash.auto import keccak
from eth_utils.address import to_checksum_address

from oracle.abi import AbiEntry, AbiError, error_registry

__all__ = ["SENTENCES", "DecodedError", "decode_revert", "role_name"]

ROLES = (
    "DEFAULT_ADMIN_ROLE",
    "REGISTRAR_ROLE",
    "COMPLIANCE_ROLE",
    "HOLDER_MANAGER_ROLE",
    "ORACLE_ADMIN_ROLE",
    "VALUATION_ADMIN_ROLE",
    "MARKET_ADMIN_ROLE",
    "MINTER_ROLE",
    "BLOCKLISTER_ROLE",
    "PAUSER_ROLE",
)
_ROLE_BY_HASH = {bytes(32): "DEFAULT_ADMIN_ROLE", **{keccak(name.encode()): name for name in ROLES[1:]}}

_STATUS = ("None", "Active", "Suspended", "Retired")
_TIME_ARGS = {"kycExpiry", "nowTimestamp", "closesAt", "endsAt", "timestamp", "voidableAt", "commissionedAt"}

SENTENCES: dict[str, str] = {
    "AccessControlUnauthorizedAccount": "{account} lacks {neededRole} on this contract: ask its admin to grant it",
    "InvestorAlreadyVerified": "{investor} is already a verified investor: use `investor renew` to change the expiry",
    "InvestorNotVerified": "{investor} is not a verified investor",
    "KycExpiryNotInFuture": "the KYC expiry {kycExpiry} of {investor} is not after the chain's time {nowTimestamp}",
    "InvalidJurisdiction": "jurisdiction {jurisdiction} is not an ISO 3166-1 numeric code (1-999)",
    "ZeroAddress": "an address is zero",
    "InvalidGpuCount": "the GPU count {gpuCount} is out of range",
    "InvalidPowerPerGpu": "the rated power per GPU {powerPerGpuW} W is out of range",
    "InvalidPue": "the PUE {pueBps} bps is out of range (10,000 = 1.00)",
    "InvalidOperatorFee": "the operator fee {operatorFeeBps} bps is out of range",
    "InvalidCommissionDate": "the commissioning time {commissionedAt} is in the future or zero",
    "StringTooLong": "the text {str!r} is too long for an on-chain string",
    "UnknownAsset": "asset {assetId} is not registered",
    "AssetNotActive": "asset {assetId} is not active",
    "ReportingAlreadyStarted": "reporting of asset {assetId} already started (next epoch {nextEpoch})",
    "ThresholdOutOfRange": "a threshold of {threshold} does not fit a set of {signerCount} signers",
    "TooManySigners": "{signerCount} signers are more than the {maxSigners} allowed",
    "SignerSetNotAscending": "signer {current} (index {index}) does not come after {previous}: signers must be unique",
    "NothingChanged": "nothing would change",
    "InvalidValuationParams": "the valuation parameters of asset {assetId} are out of range",
    "InvalidAnchorPrice": "the initial price {price} of asset {assetId} is out of range",
    "IrmNotEnabled": "interest-rate model {irm} is not enabled in the lending factory",
    "ValuationNotEnabled": "valuation {valuation} is not enabled in the lending factory",
    "LltvNotEnabled": "LLTV {lltv} (WAD) is not enabled in the lending factory",
    "InvalidLltv": "LLTV {lltv} (WAD) must be below 1e18 and above the borrow margin {borrowMarginWad}",
    "MarketExists": "this market already exists at {market}",
    "NotAssetShares": "{collateralToken} is not a Wellhead share token",
    "LoanTokenMismatch": "the loan token {loanToken} is not the valuation's quote token {quoteToken}",
    "NotOperator": "{caller} is not the asset's operator",
    "InvalidPrice": "the price per share {pricePerShare} is zero",
    "ZeroAmount": "an amount is zero",
    "InvalidOfferingClose": "the offering would close at {closesAt}, not after the chain's time {nowTimestamp}",
    "OfferingAlreadyOpen": "offering round {round} is still open",
    "InvalidOfferGpus": "an offer of {gpus} GPUs is not possible",
    "InvalidOfferPrice": "the offer price {pricePerGpuHour} per GPU-hour is zero or above the maximum {maxPricePerGpuHour}",
    "InvalidOfferTerm": "the term range {minTermEpochs}..{maxTermEpochs} epochs is empty or zero",
    "InvalidOfferSla": "the SLA (uptime {slaUptimeBps} bps, credit {slaCreditBps} bps) is out of range",
    "InvalidCancelPenalty": "the cancel penalty {cancelPenaltyBps} bps is out of range",
    "InvalidDynamicPricing": "the dynamic pricing (target {targetUtilizationBps} bps, step {maxChangeBps} bps, "
    "range {minPricePerGpuHour}..{maxPricePerGpuHour}) is inconsistent",
    "OfferCapacityExceeded": "asset {assetId} has {available} GPUs left to offer, not {requested}",
    "TooManyOffers": "asset {assetId} already has the maximum of {maxOffers} offers",
    "AccountBlocklisted": "{account} is blocklisted by the settlement token",
    "Error": "reverted: {message}",
    "Panic": "the contract panicked (code {code:#x})",
}
"""Error name -> sentence; ``{arg}`` is the argument of that name, formatted for people."""


def role_name(value: bytes) -> str:
    """``REGISTRAR_ROLE`` for the hash of a role this suite uses, else the hash in hex."""
    return _ROLE_BY_HASH.get(bytes(value), "0x" + bytes(value).hex())


class DecodedError:
    """A decoded custom error: name, arguments by name, and the sentence."""

    def __init__(self, error: AbiError, values: tuple[Any, ...]) -> None:
        self.name = error.name
        self.args: dict[str, Any] = dict(zip(error.arg_names, values, strict=True))
        self._types = dict(zip(error.arg_names, error.arg_types, strict=True))

    def shown(self, name: str) -> Any:
        """One argument as a person reads it."""
        value, kind = self.args[name], self._types[name]
        if name == "neededRole" or (kind == "bytes32" and name.endswith("Role")):
            return role_name(value)
        if kind == "address" and isinstance(value, str):
            return to_checksum_address(value)
        if isinstance(value, bytes):
            return "0x" + value.hex()
        if name in _TIME_ARGS and isinstance(value, int) and 0 < value < 2**40:
            when = dt.datetime.fromtimestamp(value, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
            return f"{when} ({value})"
        if name == "status" and isinstance(value, int) and value < len(_STATUS):
            return f"{_STATUS[value]} ({value})"
        return value

    @property
    def call(self) -> str:
        """``Name(arg=value, ...)``."""
        inner = ", ".join(f"{k}={self.shown(k)}" for k in self.args)
        return f"{self.name}({inner})"

    @property
    def words(self) -> str:
        """The sentence (with the raw error after it), or the raw error when there is no sentence."""
        template = SENTENCES.get(self.name)
        if template is None:
            return self.call
        try:
            sentence = template.format(**{k: self.shown(k) for k in self.args})
        except (KeyError, ValueError, IndexError):  # an overload with other argument names
            return self.call
        return f"{sentence} [{self.call}]"


def decode_revert(data: bytes | str | None, extra_abis: Iterable[Iterable[AbiEntry]] = ()) -> DecodedError | None:
    """The custom error in ``data`` (raw revert data, bytes or 0x-hex), or None when it is empty, unknown or
    malformed. ``extra_abis`` add errors of contracts the package does not ship (a deployment's own)."""
    if isinstance(data, str):
        try:
            data = bytes.fromhex(data[2:] if data.startswith("0x") else data)
        except ValueError:
            return None
    if not data or len(data) < 4:
        return None
    registry = error_registry()
    extra = list(extra_abis)
    if extra:
        registry = {**error_registry(extra), **registry}
    error = registry.get(bytes(data[:4]))
    if error is None:
        return None
    try:
        values = tuple(abi_decode(list(error.arg_types), bytes(data[4:])))
    except Exception:  # noqa: BLE001 - malformed revert data of a known selector: report it as unknown
        return None
    return DecodedError(error, values)


def describe_args(args: Mapping[str, Any]) -> str:
    """``a=1, b=0x..`` for a plan line."""
    return ", ".join(f"{k}={v}" for k, v in args.items())
