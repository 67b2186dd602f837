"""Pydantic models shared by the oracle: reports, asset maps, curtailment windows, rejected readings and
aggregation results.

Every on-chain quantity is an ``int`` checked against the Solidity type it is signed as (``uint256``,
``uint64``, ``uint16``). Models serialise with the contract's camelCase names (``assetId``, ``gpuSeconds``...)
and accept either spelling on input.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

__all__ = [
    "BPS",
    "UINT16_MAX",
    "UINT32_MAX",
    "UINT64_MAX",
    "UINT256_MAX",
    "AggregationResult",
    "AssetEpochStats",
    "AssetMap",
    "AssetSpec",
    "CurtailmentWindow",
    "EpochAggregate",
    "RejectReason",
    "Rejection",
    "Report",
    "Uint16",
    "Uint32",
    "Uint64",
    "Uint256",
]

UINT16_MAX = 2**16 - 1
UINT32_MAX = 2**32 - 1
UINT64_MAX = 2**64 - 1
UINT256_MAX = 2**256 - 1
BPS = 10_000
"""Basis points in one: 10_000 bps = 100 %."""

Uint16 = Annotated[int, Field(ge=0, le=UINT16_MAX)]
Uint32 = Annotated[int, Field(ge=0, le=UINT32_MAX)]
Uint64 = Annotated[int, Field(ge=0, le=UINT64_MAX)]
Uint256 = Annotated[int, Field(ge=0, le=UINT256_MAX)]


class _CamelModel(BaseModel):
    """Frozen model that reads either snake_case or camelCase and writes camelCase."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        frozen=True,
        extra="forbid",
    )


class Report(_CamelModel):
    """One asset's metered figures for one epoch, exactly as the MeteringOracle's ``Report`` struct.

    ``gpuSeconds`` is delivered healthy GPU time (curtailed time excluded), ``utilizationBps`` the
    time-weighted mean utilisation over that time, ``energyWh`` all energy drawn in the epoch. Values are
    strict integers (no floats, no strings): a report is signed, so nothing may be coerced silently.
    """

    model_config = ConfigDict(strict=True)

    asset_id: Uint256
    epoch: Uint64
    gpu_seconds: Uint64
    curtailed_gpu_seconds: Uint64
    utilization_bps: Annotated[int, Field(ge=0, le=BPS)]
    energy_wh: Uint64

    @model_validator(mode="after")
    def _utilization_needs_gpu_time(self) -> Self:
        if self.gpu_seconds == 0 and self.utilization_bps != 0:
            raise ValueError(f"utilizationBps must be 0 when gpuSeconds is 0 (got {self.utilization_bps})")
        return self

    def as_abi_tuple(self) -> tuple[int, int, int, int, int, int]:
        """The report as the contract's ``Report`` tuple, in field order (for web3 calls)."""
        return (
            self.asset_id,
            self.epoch,
            self.gpu_seconds,
            self.curtailed_gpu_seconds,
            self.utilization_bps,
            self.energy_wh,
        )


class AssetSpec(_CamelModel):
    """One asset of the asset map: the host it runs on and its GPUs' UUIDs (as DCGM labels them)."""

    hostname: Annotated[str, Field(min_length=1)]
    gpus: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)]

    @model_validator(mode="after")
    def _gpus_unique(self) -> Self:
        seen: set[str] = set()
        for uuid in self.gpus:
            if uuid in seen:
                raise ValueError(f"GPU {uuid} is listed twice")
            seen.add(uuid)
        return self


class AssetMap(_CamelModel):
    """Which GPUs make up which asset, and the epoch clock (``epoch = (t - genesis) // epochLength``).

    ``genesis`` is a Unix time in seconds; ``epochLength`` a number of seconds. A GPU belongs to at most one
    asset.
    """

    genesis: Uint64
    epoch_length: Annotated[int, Field(ge=1, le=UINT64_MAX)]
    assets: dict[Uint256, AssetSpec]

    @model_validator(mode="after")
    def _gpu_in_one_asset(self) -> Self:
        owner: dict[str, int] = {}
        for asset_id, spec in self.assets.items():
            for uuid in spec.gpus:
                if uuid in owner:
                    raise ValueError(f"GPU {uuid} belongs to assets {owner[uuid]} and {asset_id}")
                owner[uuid] = asset_id
        return self

    def gpu_owners(self) -> dict[str, int]:
        """Map each GPU UUID to its asset id."""
        return {uuid: asset_id for asset_id, spec in self.assets.items() for uuid in spec.gpus}

    def epoch_start(self, epoch: int) -> int:
        """Unix time (s) at which ``epoch`` starts."""
        return self.genesis + epoch * self.epoch_length

    def epoch_of(self, timestamp: int) -> int:
        """The epoch that contains Unix time ``timestamp`` (s); negative before genesis."""
        return (timestamp - self.genesis) // self.epoch_length


class CurtailmentWindow(_CamelModel):
    """A grid demand-response request: the asset's GPUs may idle on purpose in ``[start, end)`` (Unix s).

    Healthy intervals with zero utilisation inside the window count as curtailed GPU-seconds, not as
    delivered ones.
    """

    asset_id: Uint256
    start: Uint64
    end: Uint64

    @model_validator(mode="after")
    def _end_after_start(self) -> Self:
        if self.end <= self.start:
            raise ValueError(f"window end {self.end} must be after its start {self.start}")
        return self


class RejectReason(StrEnum):
    """Why a reading was rejected. The values are stable identifiers (they go to the quarantine table)."""

    MALFORMED_LINE = "malformed_line"
    MISSING_TIMESTAMP = "missing_timestamp"
    UNKNOWN_METRIC = "unknown_metric"
    UNIT_MISMATCH = "unit_mismatch"
    UNKNOWN_GPU = "unknown_gpu"
    DUPLICATE_TIMESTAMP = "duplicate_timestamp"
    OUT_OF_ORDER = "out_of_order"
    NOT_FINITE = "not_finite"
    NEGATIVE = "negative"
    UTILIZATION_ABOVE_100 = "utilization_above_100"
    NOT_INTEGER = "not_integer"
    INCOMPLETE_SCRAPE = "incomplete_scrape"


class Rejection(_CamelModel):
    """One reading the aggregator refused, with enough context to quarantine and investigate it.

    ``labels`` holds the series' labels including ``__name__`` (empty when the line could not be parsed),
    ``timestampMs`` the reading's time in Unix milliseconds, ``value`` the value as read (text, so that NaN
    and malformed tokens survive), ``detail`` a sentence naming the series and the problem.
    """

    labels: dict[str, str]
    timestamp_ms: int | None
    value: str | None
    reason: RejectReason
    detail: str


class AssetEpochStats(_CamelModel):
    """The report of one asset for one epoch, with the exact counters it was derived from."""

    report: Report
    delivered_ms: int
    """Healthy, not curtailed GPU time (ms); ``gpuSeconds`` is this rounded down."""
    curtailed_ms: int
    unhealthy_ms: int
    """GPU time covered by intervals that were too long (gaps) or ended in an XID error (ms)."""
    energy_mj: int
    intervals: int
    """Sample-to-sample intervals (or parts of intervals) that fell into the epoch."""
    counter_resets: int
    """Energy-counter decreases (driver reloads, reboots) seen at the end of an interval in the epoch."""


class EpochAggregate(_CamelModel):
    """Every asset's figures for one complete epoch."""

    epoch: Uint64
    start: int
    """Unix time (s) at which the epoch starts."""
    end: int
    """Unix time (s) at which the epoch ends (exclusive)."""
    assets: list[AssetEpochStats]
    """One entry per asset of the asset map, sorted by asset id."""

    @property
    def reports(self) -> list[Report]:
        """The epoch's reports, sorted by asset id."""
        return [stats.report for stats in self.assets]


class AggregationResult(_CamelModel):
    """Everything one aggregation run produced: complete epochs, rejected readings and counters."""

    epochs: list[EpochAggregate]
    rejections: list[Rejection]
    rejected_by_reason: dict[RejectReason, int]
    readings_total: int
    readings_accepted: int
    covered_from_ms: int | None
    """Earliest time the source covered (Unix ms), None when it delivered nothing."""
    covered_until_ms: int | None
    """Latest time the source covered (Unix ms): epochs ending after it are incomplete and not reported."""
    gpu_span_ms: dict[str, tuple[int, int]] = Field(default_factory=dict, exclude=True)
    """Per GPU UUID of the map: the first and last valid scrape (Unix ms) in what was aggregated; a GPU with
    none is absent. The daemon reads it to tell whether an epoch's intervals are all closed."""

    @property
    def readings_rejected(self) -> int:
        """Number of rejected readings."""
        return sum(self.rejected_by_reason.values())

    def reports(self) -> list[Report]:
        """All reports, sorted by (assetId, epoch)."""
        return sorted(
            (stats.report for epoch in self.epochs for stats in epoch.assets),
            key=lambda report: (report.asset_id, report.epoch),
        )
