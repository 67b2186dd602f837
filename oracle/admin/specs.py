"""Asset and market descriptions: TOML files validated by pydantic.

One asset file describes an asset once, in sections each admin step reads:

* ``[asset]``: ``register-asset`` (``AssetRegistry.registerAsset``);
* ``[offering]``: ``open-offering`` (``AssetShares.openOffering``, signed by the asset's operator);
* ``[valuation]``: ``configure-valuation`` (``YieldValuation.configure``);
* ``[[lease_offers]]``: ``create-offers`` (``LeaseMarket.createOffer``, signed by the operator).

A market file has one ``[market]`` section (``create-market``). ``docs/admins.md`` shows both in full.

Money is written as an exact decimal string in whole settlement-token units (``"2.50"``) and converted to base
units with the token's on-chain ``decimals()``; a float, or more decimals than the token has, is refused
(a float cannot carry an exact amount). Field names are the contracts' own in snake_case, with their unit
(``_bps``, ``_w``, ``_epochs``); structs are built from the deployed ABI by those names, so a field the
contract has and the file lacks is an error naming it, never a silently shifted tuple.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from oracle.errors import AdminError, InputFileError

__all__ = [
    "AssetFile",
    "AssetSpec",
    "DynamicPricingSpec",
    "LeaseOfferSpec",
    "MarketFile",
    "MarketSpec",
    "OfferingSpec",
    "ValuationSpec",
    "load_spec",
    "to_base_units",
    "to_struct",
]

TIERS = {"hyperscale": 0, "neocloud": 1, "edge": 2}
LEASE_CLASSES = {"firm": 0, "interruptible": 1}
WAD = 10**18


def _exact_decimal(value: Any) -> Decimal:
    """An amount as an exact decimal: a string or an integer, never a float."""
    if isinstance(value, bool) or isinstance(value, float):
        raise ValueError(f"{value!r}: write amounts as a quoted decimal string (\"2.50\"), not a float")
    try:
        amount = Decimal(str(value).replace("_", ""))
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a decimal amount") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"{value!r} is not a non-negative amount")
    return amount


def _unix_seconds(value: Any) -> int:
    """A TOML datetime (with a zone), an ISO 8601 string, or Unix seconds."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a time")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO 8601 time") from None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError(f"{value.isoformat()} has no time zone: write it with Z or an offset")
        return int(value.timestamp())
    if isinstance(value, dt.date):
        return int(dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC).timestamp())
    raise ValueError(f"{value!r} is not a time")


Amount = Annotated[Decimal, BeforeValidator(_exact_decimal)]
"""Whole settlement-token units, exactly (``"0.12"``)."""
UnixTime = Annotated[int, BeforeValidator(_unix_seconds)]
Bps = Annotated[int, Field(ge=0, le=65_535)]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AssetSpec(_Spec):
    """``[asset]``: ``AssetRegistry.registerAsset``'s ``AssetParams``."""

    operator: str
    tier: Literal["hyperscale", "neocloud", "edge"]
    gpu_count: int = Field(gt=0)
    power_per_gpu_w: int = Field(gt=0)
    pue_bps: Bps
    energy_tariff_per_kwh: Amount
    operator_fee_bps: Bps
    commissioned_at: UnixTime
    gpu_model: str = Field(min_length=1)
    region: str = Field(min_length=1)
    metadata_uri: str = ""
    metadata_hash: str = "0x" + "00" * 32
    shares_name: str = Field(min_length=1)
    shares_symbol: str = Field(min_length=1)
    max_share_supply: int = Field(gt=0, description="whole shares that may ever exist (fixed at registration)")

    @field_validator("metadata_hash")
    @classmethod
    def _hash(cls, value: str) -> str:
        if not re.fullmatch(r"0x[0-9a-fA-F]{64}", value):
            raise ValueError(f"{value!r} is not a 32-byte hex hash (0x + 64 hex digits)")
        return value


class OfferingSpec(_Spec):
    """``[offering]``: ``AssetShares.openOffering``."""

    price_per_share: Amount
    cap_shares: int = Field(gt=0)
    closes_at: UnixTime


class ValuationSpec(_Spec):
    """``[valuation]``: ``YieldValuation.configure`` (its ``ValuationParams`` and the initial price)."""

    model_config = ConfigDict(extra="allow", frozen=True)  # a newer ValuationParams may carry more fields

    window_epochs: int = Field(gt=0)
    cap_rate_bps: Bps
    decay_bps_per_year: Bps
    max_move_bps_per_epoch: Bps
    max_silence_epochs: int = Field(gt=0)
    silence_haircut_bps: Bps
    suspended_haircut_bps: Bps
    max_rise_bps_per_year: int = Field(gt=0, le=2**32 - 1, description="the wash guard's rise rate")
    snapshot_epochs: int = Field(gt=0, le=65_535, description="epochs between upward snapshot moves")
    reference_price_per_gpu_hour: Amount = Field(description="revenue counted up to this price per GPU-hour")
    initial_price: Amount


class DynamicPricingSpec(_Spec):
    """``[lease_offers.dynamic_pricing]``: the offer's price moves toward a utilisation target."""

    target_utilization_bps: Bps
    max_change_bps: Bps
    min_price_per_gpu_hour: Amount
    max_price_per_gpu_hour: Amount


class LeaseOfferSpec(_Spec):
    """One ``[[lease_offers]]``: ``LeaseMarket.createOffer``'s ``OfferTerms``."""

    gpus: int = Field(gt=0)
    price_per_gpu_hour: Amount
    min_term_epochs: int = Field(gt=0)
    max_term_epochs: int = Field(gt=0)
    notice_epochs: int = Field(ge=0)
    sla_uptime_bps: Bps
    sla_credit_bps: Bps
    cancel_penalty_bps: Bps
    lease_class: Literal["firm", "interruptible"] = "firm"
    dynamic_pricing: DynamicPricingSpec | None = None

    @model_validator(mode="after")
    def _terms(self) -> LeaseOfferSpec:
        if self.min_term_epochs > self.max_term_epochs:
            raise ValueError(f"min_term_epochs {self.min_term_epochs} > max_term_epochs {self.max_term_epochs}")
        return self


class AssetFile(_Spec):
    """An asset file: any of its sections may be absent until the step that needs it."""

    asset: AssetSpec | None = None
    offering: OfferingSpec | None = None
    valuation: ValuationSpec | None = None
    lease_offers: list[LeaseOfferSpec] = Field(default_factory=list)


class MarketSpec(_Spec):
    """``[market]``: ``LendingFactory.createMarket``. Contracts by manifest name or address."""

    asset_id: int | None = Field(default=None, gt=0)
    collateral_token: str | None = None
    loan_token: str = "SettlementToken"
    valuation: str = "YieldValuation"
    irm: str = "LinearKinkIrm"
    lltv: Amount = Field(description="loan-to-value at liquidation as a fraction, e.g. \"0.625\"")

    @model_validator(mode="after")
    def _collateral(self) -> MarketSpec:
        if (self.asset_id is None) == (self.collateral_token is None):
            raise ValueError("give exactly one of asset_id (its share token) and collateral_token")
        if not 0 < self.lltv < 1:
            raise ValueError(f"lltv {self.lltv} must be a fraction between 0 and 1 (e.g. \"0.625\")")
        return self

    @property
    def lltv_wad(self) -> int:
        """The LLTV in WAD, exactly (refused when it has more than 18 decimals)."""
        return to_base_units(self.lltv, 18, "lltv")


class MarketFile(_Spec):
    """A market file."""

    market: MarketSpec


def load_spec(path: Path, model: type[_Spec]) -> Any:
    """Reads a TOML spec file into ``model``.

    Raises:
        InputFileError: missing, not TOML, or invalid; every invalid field is named with what is wrong.
    """
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputFileError(path, "no such file") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InputFileError(path, f"not a TOML file ({exc})") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg'].removeprefix('Value error, ')}" for e in exc.errors()
        )
        raise InputFileError(path, problems) from None


def to_base_units(amount: Decimal, decimals: int, field: str) -> int:
    """``amount`` whole units as base units of a token with ``decimals`` decimals, exactly.

    Raises:
        AdminError: the amount has more decimals than the token.
    """
    scaled = amount * (Decimal(10) ** decimals)
    if scaled != scaled.to_integral_value():
        raise AdminError(f"{field} {amount} has more than the token's {decimals} decimals")
    return int(scaled)


def _key(name: str) -> str:
    """A field name compared across spellings: ``energy_tariff_per_kwh`` == ``energyTariffPerKWh``."""
    return name.replace("_", "").lower()


def to_struct(values: dict[str, Any], components: list[dict[str, Any]], what: str) -> tuple[Any, ...]:
    """The ABI tuple of a struct from values keyed by its field names (snake_case or the contract's
    camelCase), in the order of the deployed ABI's ``components``.

    Raises:
        AdminError: the struct has a field ``values`` lacks, or ``values`` has one the struct does not.
    """
    by_key = {_key(k): v for k, v in values.items()}
    missing = [c["name"] for c in components if _key(c["name"]) not in by_key]
    if missing:
        raise AdminError(f"the deployed {what} has field(s) the spec lacks: {', '.join(missing)}")
    unknown = sorted(k for k in values if _key(k) not in {_key(c["name"]) for c in components})
    if unknown:
        raise AdminError(f"the deployed {what} has no field(s) {', '.join(unknown)}")
    return tuple(by_key[_key(c["name"])] for c in components)
