"""The metric-source interface and the columnar data it delivers.

A source (a recording, Prometheus, NVML, a simulator) returns a :class:`MetricBatch` holding one of two
columnar shapes, both cheap to aggregate with numpy:

* :class:`ReadingColumns`: one row per reading (one metric of one GPU at one time), as text formats and the
  Prometheus HTTP API deliver them. The aggregator validates each reading, then pivots them into scrapes.
* :class:`ScrapeGrid`: 2-D arrays GPUs x scrapes, one array per metric, as a simulator or an NVML poller
  produce them. This is the fast path: no text, no pivot.

Sources only report what they read; the aggregator decides what is valid (see ``oracle.aggregate``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from oracle.models import Rejection

__all__ = [
    "METRIC_BY_NAME",
    "UNKNOWN_METRIC",
    "Metric",
    "MetricBatch",
    "MetricSource",
    "ReadingColumns",
    "ScrapeGrid",
]

UNKNOWN_METRIC = -1
"""``ReadingColumns.series_metric`` code of a series whose name is not one of :class:`Metric`."""


class Metric(IntEnum):
    """The DCGM fields the meter needs; every scrape of a GPU must carry all four."""

    GPU_UTIL = 0
    POWER_USAGE = 1
    TOTAL_ENERGY = 2
    XID_ERRORS = 3

    @property
    def metric_name(self) -> str:
        """The DCGM exporter's metric name."""
        return _NAMES[self]

    @property
    def units(self) -> frozenset[str]:
        """The OpenMetrics ``# UNIT`` values accepted for this metric ("" = no unit)."""
        return _UNITS[self]


_NAMES: dict[Metric, str] = {
    Metric.GPU_UTIL: "DCGM_FI_DEV_GPU_UTIL",
    Metric.POWER_USAGE: "DCGM_FI_DEV_POWER_USAGE",
    Metric.TOTAL_ENERGY: "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
    Metric.XID_ERRORS: "DCGM_FI_DEV_XID_ERRORS",
}
_UNITS: dict[Metric, frozenset[str]] = {
    Metric.GPU_UTIL: frozenset({"percent"}),
    Metric.POWER_USAGE: frozenset({"watts"}),
    Metric.TOTAL_ENERGY: frozenset({"millijoules"}),
    Metric.XID_ERRORS: frozenset({""}),
}

METRIC_BY_NAME: dict[str, Metric] = {name: metric for metric, name in _NAMES.items()}
"""Metric by DCGM name; the energy counter is also accepted with OpenMetrics' ``_total`` suffix."""
METRIC_BY_NAME[_NAMES[Metric.TOTAL_ENERGY] + "_total"] = Metric.TOTAL_ENERGY


@dataclass(frozen=True, slots=True, eq=False)
class ReadingColumns:
    """Readings in columns: row ``i`` is the value of series ``series_id[i]`` at ``ts_ms[i]``.

    Per series (indexed by series id):
        series_labels: the labels, including ``__name__``.
        series_metric: int8 :class:`Metric` code, or :data:`UNKNOWN_METRIC`.
        series_unit: the unit the source declared for the series' family (OpenMetrics ``# UNIT``), or None.

    Per reading (all the same length, in the order the source delivered them, which is the order duplicate
    and out-of-order timestamps are judged in):
        series_id: int32.
        ts_ms: int64 Unix milliseconds.
        value: float64 as read (NaN and infinities included, for the aggregator to reject).
        energy_mj: int64, the exact integer value for energy-counter rows (floored if fractional), else 0.
        value_text: the values as read, for rejection records; None to render them from ``value``.
    """

    series_labels: Sequence[Mapping[str, str]]
    series_metric: npt.NDArray[np.int8]
    series_unit: Sequence[str | None]
    series_id: npt.NDArray[np.int32]
    ts_ms: npt.NDArray[np.int64]
    value: npt.NDArray[np.float64]
    energy_mj: npt.NDArray[np.int64]
    value_text: Sequence[str] | None = None

    def __post_init__(self) -> None:
        n_series = len(self.series_labels)
        if len(self.series_metric) != n_series or len(self.series_unit) != n_series:
            raise ValueError("series_labels, series_metric and series_unit must have one entry per series")
        n = len(self.series_id)
        for name in ("ts_ms", "value", "energy_mj"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} must have one entry per reading ({n})")
        if self.value_text is not None and len(self.value_text) != n:
            raise ValueError(f"value_text must have one entry per reading ({n})")

    def __len__(self) -> int:
        return len(self.series_id)

    @classmethod
    def empty(cls) -> ReadingColumns:
        """Columns holding no reading."""
        return cls(
            series_labels=[],
            series_metric=np.zeros(0, np.int8),
            series_unit=[],
            series_id=np.zeros(0, np.int32),
            ts_ms=np.zeros(0, np.int64),
            value=np.zeros(0, np.float64),
            energy_mj=np.zeros(0, np.int64),
            value_text=[],
        )

    def select(self, mask: npt.NDArray[np.bool_]) -> ReadingColumns:
        """The readings where ``mask`` is true (the series table is kept whole)."""
        text = self.value_text
        return ReadingColumns(
            series_labels=self.series_labels,
            series_metric=self.series_metric,
            series_unit=self.series_unit,
            series_id=self.series_id[mask],
            ts_ms=self.ts_ms[mask],
            value=self.value[mask],
            energy_mj=self.energy_mj[mask],
            value_text=None if text is None else [text[int(i)] for i in np.flatnonzero(mask)],
        )


@dataclass(frozen=True, slots=True, eq=False)
class ScrapeGrid:
    """Scrapes as 2-D arrays, one row per GPU and one column per scrape slot.

    ``ts_ms[g, j]`` is the time (Unix ms) of GPU ``g``'s ``j``-th scrape, which carries all four metrics:
    ``util_pct`` (float64, %), ``power_w`` (float64, W), ``energy_mj`` (int64, mJ since boot, cumulative) and
    ``xid`` (int64, last XID code, 0 = none). ``present[g, j]`` is false where no scrape happened (a gap, a
    vanished GPU); None means every slot holds a scrape. A row's present timestamps should increase; the
    aggregator rejects those that do not. Rows need not share timestamps.

    ``gpu_labels`` optionally gives each row's labels (for rejection records); by default ``{"UUID": uuid}``.
    """

    uuids: Sequence[str]
    ts_ms: npt.NDArray[np.int64]
    util_pct: npt.NDArray[np.float64]
    power_w: npt.NDArray[np.float64]
    energy_mj: npt.NDArray[np.int64]
    xid: npt.NDArray[np.int64]
    present: npt.NDArray[np.bool_] | None = None
    gpu_labels: Sequence[Mapping[str, str]] | None = field(default=None)

    def __post_init__(self) -> None:
        shape = self.ts_ms.shape
        if len(shape) != 2 or shape[0] != len(self.uuids):
            raise ValueError(f"ts_ms must be 2-D with one row per UUID, got shape {shape}")
        if len(set(self.uuids)) != len(self.uuids):
            raise ValueError("uuids must be unique (one row per GPU)")
        expected = {
            "ts_ms": np.int64,
            "util_pct": np.float64,
            "power_w": np.float64,
            "energy_mj": np.int64,
            "xid": np.int64,
        }
        for name, dtype in expected.items():
            array = getattr(self, name)
            if array.shape != shape:
                raise ValueError(f"{name} has shape {array.shape}, expected {shape}")
            if array.dtype != dtype:
                raise ValueError(f"{name} has dtype {array.dtype}, expected {np.dtype(dtype)}")
        if self.present is not None and (self.present.shape != shape or self.present.dtype != np.bool_):
            raise ValueError(f"present must be a bool array of shape {shape}")
        if self.gpu_labels is not None and len(self.gpu_labels) != len(self.uuids):
            raise ValueError("gpu_labels must have one entry per UUID")

    @property
    def n_gpus(self) -> int:
        """Number of rows (GPUs)."""
        return int(self.ts_ms.shape[0])

    @property
    def n_slots(self) -> int:
        """Number of columns (scrape slots)."""
        return int(self.ts_ms.shape[1])

    def labels_of(self, row: int) -> dict[str, str]:
        """Labels of row ``row``'s GPU (without ``__name__``)."""
        if self.gpu_labels is not None:
            labels = dict(self.gpu_labels[row])
            labels.setdefault("UUID", self.uuids[row])
            return labels
        return {"UUID": self.uuids[row]}


@dataclass(frozen=True, slots=True, eq=False)
class MetricBatch:
    """What a source delivered for one fetch.

    Attributes:
        data: the readings, as reading columns or a scrape grid.
        rejections: readings the source itself could not represent (unparseable lines, missing timestamps).
        covered_from_ms: earliest time the fetch covers (Unix ms), None when it holds nothing.
        covered_until_ms: latest time the fetch covers (Unix ms): the aggregator reports only epochs that
            end at or before it.
    """

    data: ReadingColumns | ScrapeGrid
    rejections: Sequence[Rejection] = ()
    covered_from_ms: int | None = None
    covered_until_ms: int | None = None


@runtime_checkable
class MetricSource(Protocol):
    """A source of DCGM readings. Implementations take their endpoint or path as a constructor argument."""

    @property
    def name(self) -> str:
        """A short name for logs (a path, a URL)."""
        ...

    def fetch(self, start_ms: int | None = None, end_ms: int | None = None) -> MetricBatch:
        """Readings with timestamps in ``[start_ms, end_ms]`` (Unix ms; None = unbounded).

        Raises:
            oracle.errors.SourceError: when the source cannot deliver anything at all.
        """
        ...
