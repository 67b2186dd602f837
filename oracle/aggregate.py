"""The epoch aggregator: DCGM readings in, one :class:`~oracle.models.Report` per (asset, complete epoch) out.

Rules
-----
A *scrape* is one GPU's four readings (utilisation %, power W, energy counter mJ, last XID code) at one
time; an *interval* runs from one valid scrape of a GPU to its next one, ``(t0, t1]``.

* **Epochs.** ``epoch = (t - genesis) // epochLength``. An interval belongs to the epoch it lies in; one
  that straddles a boundary is split pro rata in time, its energy included: the part of an interval of
  length ``d`` and energy ``e`` that runs from offset ``a`` to offset ``b`` gets
  ``e*b//d - e*a//d`` mJ, so the parts always add up to ``e`` exactly.
* **Energy** is the counter's increase over the interval; a decrease is a counter reset (driver reload,
  reboot) and the new value counts as the energy since the reset. Energy never goes negative, and energy
  drawn while the exporter was unreachable counts (it is the counter difference across the gap).
* **Health.** An interval is healthy when it lasts at most twice the scrape interval and the GPU reports
  XID 0 at its end. A gap (exporter down, GPU missing) or an XID error is unhealthy time.
* **Curtailment.** Inside a grid demand-response window of the asset, healthy intervals whose utilisation
  is 0 count as curtailed, not delivered (pro rata when they overlap the window's edge).
* **Figures.** ``gpuSeconds`` = delivered healthy ms // 1000; ``curtailedGpuSeconds`` = curtailed ms //
  1000; ``utilizationBps`` = sum(util_bps * delivered ms) // delivered ms, where each interval's utilisation
  is the value at its end quantised to 1 bps, and 0 when ``gpuSeconds`` is 0; ``energyWh`` = mJ //
  3_600_000. Everything is summed in exact integers (ms, mJ) and rounded down once, at the end.
* **Outage horizon.** An interval that closes more than ``outage_after_ms`` (default 900 s) after an epoch's
  end adds nothing to that epoch (its pieces in later epochs still count): the daemon posts an epoch with a
  silent GPU once that horizon has passed, so a later scrape never changes a posted report.
* **Completeness.** Only epochs that end at or before the last time the source covers are reported, from
  ``first_epoch`` (by default the epoch of the first time covered) on. Every asset of the map gets a report
  for every such epoch, all zeros if the meter saw nothing: an outage is reported, never skipped.

Rejected readings
-----------------
Checked in this order, the first failing check naming the reason (see :class:`RejectReason`): unknown
metric, declared unit that does not match, GPU UUID in no asset, duplicate or out-of-order timestamp within
the GPU's series (the first reading is kept), NaN/Inf, negative, utilisation above 100, fractional XID code;
then a scrape that lacks a valid reading of any of the four metrics rejects its other readings as
``incomplete_scrape`` (the GPU simply has no sample at that time). A rejection never stops the aggregation
of anything else.

Speed
-----
Everything is vectorised with numpy over columns sorted by (GPU, time) and processed in chunks of whole
GPUs: ``aggregate_grid`` (2-D arrays GPUs x scrapes, e.g. from a simulator) is the fast path; text goes
through :class:`~oracle.sources.base.ReadingColumns`, validated with masks and pivoted into scrapes.
Per-cell sums are exact: int64 inside a chunk when the chunk's bound allows it, Python ints across chunks.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from itertools import pairwise

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from oracle.errors import AggregationError, ConfigError
from oracle.models import (
    BPS,
    AggregationResult,
    AssetEpochStats,
    AssetMap,
    CurtailmentWindow,
    EpochAggregate,
    Rejection,
    RejectReason,
    Report,
)
from oracle.sources.base import (
    UNKNOWN_METRIC,
    Metric,
    MetricBatch,
    ReadingColumns,
    ScrapeGrid,
)

__all__ = [
    "DEFAULT_OUTAGE_AFTER_MS",
    "MJ_PER_WH",
    "AggregationConfig",
    "aggregate",
    "aggregate_grid",
    "aggregate_readings",
]

logger = logging.getLogger(__name__)

MJ_PER_WH = 3_600_000
"""Millijoules in one watt-hour."""
DEFAULT_OUTAGE_AFTER_MS = 900_000
"""The default outage horizon (15 minutes; see :attr:`AggregationConfig.outage_after_ms`)."""
_MS_PER_S = 1000
_INT64_MIN = np.iinfo(np.int64).min
_SAFE_INT64 = 2**62
"""Sums bounded below this cannot overflow int64 (with a factor 2 of headroom)."""
_MAX_CELLS = 50_000_000
_ALL_METRICS = (1 << len(Metric)) - 1

_REASONS: tuple[RejectReason, ...] = tuple(RejectReason)
_CODE: dict[RejectReason, int] = {reason: i + 1 for i, reason in enumerate(_REASONS)}
"""Rejection reasons as small ints for numpy masks; 0 = accepted."""


class AggregationConfig(BaseModel):
    """How the aggregator judges intervals.

    Attributes:
        scrape_interval_ms: the exporter's scrape interval; an interval longer than twice this is a gap.
        chunk_scrapes: about how many scrapes are processed per vectorised step (memory vs. overhead).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    scrape_interval_ms: int = Field(default=15_000, ge=1)
    chunk_scrapes: int = Field(default=1 << 20, ge=1)
    outage_after_ms: int | None = Field(default=DEFAULT_OUTAGE_AFTER_MS, ge=0)
    """The outage horizon: an interval that closes more than this after an epoch's end adds nothing to that
    epoch (by then the daemon has posted it as measured: an outage). None: no horizon."""

    @classmethod
    def from_seconds(cls, scrape_interval_s: str | int | Decimal) -> AggregationConfig:
        """Config from a scrape interval in seconds (``"15"``, ``"7.5"``), exact to the millisecond.

        Raises:
            ConfigError: not a positive number of seconds with at most millisecond precision.
        """
        try:
            seconds = Decimal(str(scrape_interval_s))
        except InvalidOperation:
            raise ConfigError(f"scrape interval {scrape_interval_s!r} is not a number") from None
        ms = seconds * _MS_PER_S if seconds.is_finite() else Decimal(0)
        if ms <= 0 or ms != ms.to_integral_value():
            raise ConfigError(
                f"scrape interval {scrape_interval_s!r} must be a positive number of seconds "
                "with at most millisecond precision"
            )
        return cls(scrape_interval_ms=int(ms))

    @property
    def max_healthy_interval_ms(self) -> int:
        """The longest interval that still counts as healthy (twice the scrape interval)."""
        return 2 * self.scrape_interval_ms


def aggregate(
    batch: MetricBatch,
    assets: AssetMap,
    *,
    config: AggregationConfig | None = None,
    curtailments: Iterable[CurtailmentWindow] = (),
    first_epoch: int | None = None,
    covered_until_ms: int | None = None,
) -> AggregationResult:
    """Aggregate what a source delivered into per-asset reports for every complete epoch.

    Args:
        batch: the source's readings (reading columns or a scrape grid) and its own rejections.
        assets: the asset map (GPU UUIDs per asset, epoch genesis and length).
        config: scrape interval and chunking; defaults to a 15 s scrape interval.
        curtailments: grid demand-response windows (windows of assets not in the map are ignored).
        first_epoch: the first epoch to report (the daemon passes the next epoch the contract expects);
            defaults to the epoch of the batch's first covered time (0 before genesis).
        covered_until_ms: overrides the batch's ``covered_until_ms`` (e.g. a Prometheus query's end time,
            less a grace period for late scrapes).

    Returns:
        Complete epochs with one report per asset, the rejected readings and counters.

    Raises:
        AggregationError: the requested range is too large to aggregate exactly.
    """
    if isinstance(batch.data, ScrapeGrid):
        return aggregate_grid(
            batch.data,
            assets,
            config=config,
            curtailments=curtailments,
            first_epoch=first_epoch,
            covered_from_ms=batch.covered_from_ms,
            covered_until_ms=covered_until_ms if covered_until_ms is not None else batch.covered_until_ms,
            source_rejections=batch.rejections,
        )
    return aggregate_readings(
        batch.data,
        assets,
        config=config,
        curtailments=curtailments,
        first_epoch=first_epoch,
        covered_from_ms=batch.covered_from_ms,
        covered_until_ms=covered_until_ms if covered_until_ms is not None else batch.covered_until_ms,
        source_rejections=batch.rejections,
    )


def aggregate_readings(
    readings: ReadingColumns,
    assets: AssetMap,
    *,
    config: AggregationConfig | None = None,
    curtailments: Iterable[CurtailmentWindow] = (),
    first_epoch: int | None = None,
    covered_from_ms: int | None = None,
    covered_until_ms: int | None = None,
    source_rejections: Sequence[Rejection] = (),
) -> AggregationResult:
    """Aggregate reading columns (one row per reading, as text and Prometheus deliver them).

    ``covered_from_ms``/``covered_until_ms`` default to the readings' first and last timestamps. See
    :func:`aggregate` for the other arguments.
    """
    config = config or AggregationConfig()
    if covered_from_ms is None and len(readings):
        covered_from_ms = int(readings.ts_ms.min())
    if covered_until_ms is None and len(readings):
        covered_until_ms = int(readings.ts_ms.max())
    run = _Run(assets, config, curtailments, first_epoch, covered_from_ms, covered_until_ms, source_rejections)
    run.add_readings(readings)
    return run.result(readings_total=len(readings) + len(source_rejections))


def aggregate_grid(
    grid: ScrapeGrid,
    assets: AssetMap,
    *,
    config: AggregationConfig | None = None,
    curtailments: Iterable[CurtailmentWindow] = (),
    first_epoch: int | None = None,
    covered_from_ms: int | None = None,
    covered_until_ms: int | None = None,
    source_rejections: Sequence[Rejection] = (),
) -> AggregationResult:
    """Aggregate a scrape grid (2-D arrays GPUs x scrapes): the fast, text-free path for simulators.

    ``covered_from_ms``/``covered_until_ms`` default to the first and last present timestamps. See
    :func:`aggregate` for the other arguments.
    """
    config = config or AggregationConfig()
    if covered_from_ms is None:
        covered_from_ms = _present_extreme(grid, np.min)
    if covered_until_ms is None:
        covered_until_ms = _present_extreme(grid, np.max)
    run = _Run(assets, config, curtailments, first_epoch, covered_from_ms, covered_until_ms, source_rejections)
    present = grid.n_gpus * grid.n_slots if grid.present is None else int(grid.present.sum())
    run.add_grid(grid)
    return run.result(readings_total=present * len(Metric) + len(source_rejections))


# --- one aggregation run ---------------------------------------------------------------------------


class _Run:
    """State of one aggregation: the plan (assets, epochs, windows), the per-cell totals and rejections.

    Cells are (asset index, epoch - first_epoch) flattened; one extra trash cell takes everything outside
    the reported epochs.
    """

    def __init__(
        self,
        assets: AssetMap,
        config: AggregationConfig,
        curtailments: Iterable[CurtailmentWindow],
        first_epoch: int | None,
        covered_from_ms: int | None,
        covered_until_ms: int | None,
        source_rejections: Sequence[Rejection],
    ) -> None:
        self.assets = assets
        self.config = config
        self.asset_ids = sorted(assets.assets)
        asset_index = {asset_id: i for i, asset_id in enumerate(self.asset_ids)}
        self.gpu_uuids: list[str] = []
        gpu_asset: list[int] = []
        for asset_id in self.asset_ids:
            for uuid in assets.assets[asset_id].gpus:
                self.gpu_uuids.append(uuid)
                gpu_asset.append(asset_index[asset_id])
        self.gpu_index = {uuid: i for i, uuid in enumerate(self.gpu_uuids)}
        self.asset_of_gpu = np.array(gpu_asset, dtype=np.int64)
        self.genesis_ms = assets.genesis * _MS_PER_S
        self.epoch_ms = assets.epoch_length * _MS_PER_S
        self.covered_from_ms = covered_from_ms
        self.covered_until_ms = covered_until_ms

        if covered_until_ms is None:
            self.first_epoch, self.n_epochs = 0, 0
        else:
            if first_epoch is None:
                start = covered_from_ms if covered_from_ms is not None else covered_until_ms
                first_epoch = max(0, (start - self.genesis_ms) // self.epoch_ms)
            if first_epoch < 0:
                raise AggregationError(f"first epoch {first_epoch} is negative")
            last_complete = (covered_until_ms - self.genesis_ms) // self.epoch_ms - 1
            self.first_epoch = first_epoch
            self.n_epochs = max(0, last_complete - first_epoch + 1)
        self.n_cells = len(self.asset_ids) * self.n_epochs
        if self.n_cells > _MAX_CELLS:
            raise AggregationError(
                f"{len(self.asset_ids)} assets x {self.n_epochs} epochs is too many cells to aggregate at once; "
                "aggregate a shorter time range"
            )
        self.trash = self.n_cells
        self.max_healthy_ms = config.max_healthy_interval_ms

        self.totals = {
            name: np.zeros(self.n_cells + 1, dtype=object)
            for name in ("delivered", "curtailed", "unhealthy", "util", "energy", "intervals", "resets")
        }
        for array in self.totals.values():
            array[:] = 0
        self.windows = _Windows(curtailments, asset_index, len(self.asset_ids))
        self.rejections: list[Rejection] = list(source_rejections)
        self.rejected: Counter[RejectReason] = Counter(r.reason for r in source_rejections)
        self.accepted_scrapes = 0
        self.gpu_first_ms = np.full(len(self.gpu_uuids), np.iinfo(np.int64).max, dtype=np.int64)
        self.gpu_last_ms = np.full(len(self.gpu_uuids), _INT64_MIN, dtype=np.int64)
        self.horizon_ms = config.outage_after_ms

    # --- reading columns ----------------------------------------------------------------------------

    def add_readings(self, r: ReadingColumns) -> None:
        """Validate reading columns, pivot the valid ones into scrapes and accumulate them."""
        n = len(r)
        if n == 0:
            return
        sid = r.series_id.astype(np.int64)
        n_series = len(r.series_labels)
        s_metric = r.series_metric.astype(np.int64)
        s_gpu = np.full(n_series, -1, dtype=np.int64)
        s_code = np.zeros(n_series, dtype=np.int8)
        for s in range(n_series):
            labels = r.series_labels[s]
            gpu_of_series = self.gpu_index.get(labels.get("UUID", ""), -1)
            s_gpu[s] = gpu_of_series
            code_of_metric = int(s_metric[s])
            if code_of_metric == UNKNOWN_METRIC:
                s_code[s] = _CODE[RejectReason.UNKNOWN_METRIC]
            elif r.series_unit[s] is not None and r.series_unit[s] not in Metric(code_of_metric).units:
                s_code[s] = _CODE[RejectReason.UNIT_MISMATCH]
            elif gpu_of_series < 0:
                s_code[s] = _CODE[RejectReason.UNKNOWN_GPU]
        code = s_code[sid]
        metric = s_metric[sid]
        gpu = s_gpu[sid]
        ts = r.ts_ms

        ok = np.flatnonzero(code == 0)
        if ok.size:
            t_min = int(ts[ok].min())
            span = int(ts[ok].max()) - t_min + 1
            keys = len(self.gpu_uuids) * len(Metric)
            if keys * span >= _SAFE_INT64:
                raise AggregationError(f"time span of {span} ms too wide to order {keys} series exactly")
            # Within one (GPU, metric) series, in delivery order, a reading must be later than every reading
            # before it: the running maximum of (series, time) keys finds those that are not.
            key = (gpu[ok] * len(Metric) + metric[ok]) * span + (ts[ok] - t_min)
            order = np.argsort(key // span, kind="stable")
            v = key[order]
            running = np.maximum.accumulate(v)
            late = np.empty(v.size, np.bool_)
            late[0] = False
            np.less_equal(v[1:], running[:-1], out=late[1:])
            if late.any():
                # A late reading whose time was already seen is a duplicate (the first one is kept), else it
                # is out of order. Sorting stably by (series, time) puts repeats after their first reading.
                by_time = np.argsort(key, kind="stable")
                repeat = np.zeros(v.size, np.bool_)
                repeat[by_time[1:]] = key[by_time[1:]] == key[by_time[:-1]]
                late_rows = order[late]
                duplicate = repeat[late_rows]
                code[ok[late_rows[duplicate]]] = _CODE[RejectReason.DUPLICATE_TIMESTAMP]
                code[ok[late_rows[~duplicate]]] = _CODE[RejectReason.OUT_OF_ORDER]

            value = r.value
            _mark(code, ~np.isfinite(value), RejectReason.NOT_FINITE)
            with np.errstate(invalid="ignore"):
                _mark(code, value < 0, RejectReason.NEGATIVE)
                _mark(code, (metric == Metric.GPU_UTIL) & (value > 100), RejectReason.UTILIZATION_ABOVE_100)
                _mark(code, (metric == Metric.XID_ERRORS) & (value != np.floor(value)), RejectReason.NOT_INTEGER)

            self._pivot_readings(r, code, gpu, metric, t_min, span)

        bad = np.flatnonzero(code != 0)
        if bad.size:
            self._reject_readings(r, bad, code, gpu, metric)

    def _pivot_readings(
        self,
        r: ReadingColumns,
        code: npt.NDArray[np.int8],
        gpu: npt.NDArray[np.int64],
        metric: npt.NDArray[np.int64],
        t_min: int,
        span: int,
    ) -> None:
        """Group valid readings into scrapes by (GPU, time); reject the readings of incomplete scrapes."""
        keep = np.flatnonzero(code == 0)
        if keep.size == 0:
            return
        key = gpu[keep] * span + (r.ts_ms[keep] - t_min)
        order = np.argsort(key, kind="stable")
        keep = keep[order]
        key = key[order]
        starts_mask = np.empty(key.size, dtype=np.bool_)
        starts_mask[0] = True
        np.not_equal(key[1:], key[:-1], out=starts_mask[1:])
        starts = np.flatnonzero(starts_mask)
        group = np.cumsum(starts_mask) - 1
        m = metric[keep]
        present = np.bitwise_or.reduceat(np.left_shift(1, m).astype(np.uint8), starts)
        complete = present == _ALL_METRICS
        complete_reading = complete[group]
        if not complete_reading.all():
            code[keep[~complete_reading]] = _CODE[RejectReason.INCOMPLETE_SCRAPE]
        rows = keep[complete_reading]
        scrape = (np.cumsum(complete) - 1)[group[complete_reading]]
        m = m[complete_reading]
        n_scrapes = int(complete.sum())
        if n_scrapes == 0:
            return
        util = np.empty(n_scrapes, np.float64)
        energy = np.empty(n_scrapes, np.int64)
        xid = np.empty(n_scrapes, np.float64)
        is_util, is_energy, is_xid = m == Metric.GPU_UTIL, m == Metric.TOTAL_ENERGY, m == Metric.XID_ERRORS
        util[scrape[is_util]] = r.value[rows[is_util]]
        energy[scrape[is_energy]] = r.energy_mj[rows[is_energy]]
        xid[scrape[is_xid]] = r.value[rows[is_xid]]
        first_rows = keep[starts[complete]]
        scrape_gpu = gpu[first_rows]
        scrape_ts = r.ts_ms[first_rows]
        self.accepted_scrapes += n_scrapes
        for lo, hi in _gpu_chunks(scrape_gpu, self.config.chunk_scrapes):
            self._accumulate(
                scrape_gpu[lo:hi],
                scrape_ts[lo:hi],
                _to_bps(util[lo:hi]),
                energy[lo:hi],
                xid[lo:hi] != 0,
            )

    def _reject_readings(
        self,
        r: ReadingColumns,
        rows: npt.NDArray[np.intp],
        code: npt.NDArray[np.int8],
        gpu: npt.NDArray[np.int64],
        metric: npt.NDArray[np.int64],
    ) -> None:
        # Scrape (gpu, ts) -> metrics present, to name what an incomplete scrape misses.
        incomplete = rows[code[rows] == _CODE[RejectReason.INCOMPLETE_SCRAPE]]
        have: dict[tuple[int, int], int] = {}
        for i in incomplete:
            k = (int(gpu[i]), int(r.ts_ms[i]))
            have[k] = have.get(k, 0) | (1 << int(metric[i]))
        for i in rows:
            reason = _REASONS[int(code[i]) - 1]
            labels = dict(r.series_labels[int(r.series_id[i])])
            ts = int(r.ts_ms[i])
            value_text = r.value_text[i] if r.value_text is not None else _fmt(r.value[i])
            missing = have.get((int(gpu[i]), ts), 0)
            problem = _problem(reason, labels, value_text, r.series_unit[int(r.series_id[i])], missing)
            self._reject(labels, ts, value_text, reason, problem)

    # --- scrape grids -------------------------------------------------------------------------------

    def add_grid(self, grid: ScrapeGrid) -> None:
        """Validate a scrape grid with masks and accumulate it, a chunk of whole rows at a time."""
        row_gpu = np.array([self.gpu_index.get(uuid, -1) for uuid in grid.uuids], dtype=np.int64)
        rows_per_chunk = max(1, self.config.chunk_scrapes // max(1, grid.n_slots))
        for lo in range(0, grid.n_gpus, rows_per_chunk):
            self._grid_chunk(grid, lo, min(grid.n_gpus, lo + rows_per_chunk), row_gpu[lo : lo + rows_per_chunk])

    def _grid_chunk(self, grid: ScrapeGrid, lo: int, hi: int, row_gpu: npt.NDArray[np.int64]) -> None:
        ts = grid.ts_ms[lo:hi]
        live = np.ones(ts.shape, np.bool_) if grid.present is None else grid.present[lo:hi].copy()
        known = row_gpu >= 0
        if not known.all():
            for row in np.flatnonzero(~known):
                for j in np.flatnonzero(live[row]):
                    self._reject_grid_scrape(grid, lo + int(row), int(j), RejectReason.UNKNOWN_GPU)
            live[~known] = False

        # Keep the first reading at a time; reject repeats and steps back (running max along each row).
        stamps = np.where(live, ts, _INT64_MIN)
        running = np.maximum.accumulate(stamps, axis=1)
        prev = np.empty_like(running)
        prev[:, 0] = _INT64_MIN
        prev[:, 1:] = running[:, :-1]
        disorder = live & (ts <= prev)
        if disorder.any():
            for row, j in zip(*np.nonzero(disorder), strict=True):
                earlier = ts[row, :j][live[row, :j] & ~disorder[row, :j]]
                repeat = bool((earlier == ts[row, j]).any())
                reason = RejectReason.DUPLICATE_TIMESTAMP if repeat else RejectReason.OUT_OF_ORDER
                self._reject_grid_scrape(grid, lo + int(row), int(j), reason)
            live &= ~disorder

        util = grid.util_pct[lo:hi]
        power = grid.power_w[lo:hi]
        energy = grid.energy_mj[lo:hi]
        xid = grid.xid[lo:hi]
        with np.errstate(invalid="ignore"):
            invalid = ~((util >= 0) & (util <= 100))
            invalid |= ~((power >= 0) & (power < np.inf))
        invalid |= energy < 0
        invalid |= xid < 0
        invalid &= live
        if invalid.any():
            for row, j in zip(*np.nonzero(invalid), strict=True):
                self._reject_grid_values(grid, lo + int(row), int(j))
            live &= ~invalid

        n_live = int(live.sum())
        self.accepted_scrapes += n_live
        if n_live == 0:
            return
        if n_live == live.size:
            g = np.repeat(row_gpu, ts.shape[1])
            t, u, e, x = ts.ravel(), util.ravel(), energy.ravel(), xid.ravel()
        else:
            g = np.repeat(row_gpu, live.sum(axis=1))
            t, u, e, x = ts[live], util[live], energy[live], xid[live]
        self._accumulate(g, t, _to_bps(u), e, x != 0)

    def _reject_grid_scrape(self, grid: ScrapeGrid, row: int, j: int, reason: RejectReason) -> None:
        """Reject all four readings of one grid scrape for the same reason."""
        for metric in Metric:
            labels = {"__name__": metric.metric_name, **grid.labels_of(row)}
            value_text = _grid_value(grid, metric, row, j)
            self._reject(
                labels, int(grid.ts_ms[row, j]), value_text, reason, _problem(reason, labels, value_text, None, 0)
            )

    def _reject_grid_values(self, grid: ScrapeGrid, row: int, j: int) -> None:
        """Reject a grid scrape with at least one invalid value: each invalid reading for its reason, the
        valid ones as an incomplete scrape."""
        reasons: dict[Metric, RejectReason] = {}
        u = float(grid.util_pct[row, j])
        p = float(grid.power_w[row, j])
        for metric, value in ((Metric.GPU_UTIL, u), (Metric.POWER_USAGE, p)):
            if not np.isfinite(value):
                reasons[metric] = RejectReason.NOT_FINITE
            elif value < 0:
                reasons[metric] = RejectReason.NEGATIVE
        if Metric.GPU_UTIL not in reasons and u > 100:
            reasons[Metric.GPU_UTIL] = RejectReason.UTILIZATION_ABOVE_100
        if grid.energy_mj[row, j] < 0:
            reasons[Metric.TOTAL_ENERGY] = RejectReason.NEGATIVE
        if grid.xid[row, j] < 0:
            reasons[Metric.XID_ERRORS] = RejectReason.NEGATIVE
        have = sum(1 << metric for metric in Metric if metric not in reasons)
        for metric in Metric:
            labels = {"__name__": metric.metric_name, **grid.labels_of(row)}
            value_text = _grid_value(grid, metric, row, j)
            reason = reasons.get(metric, RejectReason.INCOMPLETE_SCRAPE)
            self._reject(
                labels, int(grid.ts_ms[row, j]), value_text, reason, _problem(reason, labels, value_text, None, have)
            )

    # --- the core: intervals into cells -------------------------------------------------------------

    def _accumulate(
        self,
        g: npt.NDArray[np.int64],
        t: npt.NDArray[np.int64],
        u: npt.NDArray[np.int64],
        energy: npt.NDArray[np.int64],
        xid_error: npt.NDArray[np.bool_],
    ) -> None:
        """Add the intervals between consecutive valid scrapes (rows sorted by GPU, then time; each GPU's
        rows contiguous) to the cells."""
        if g.size:
            np.minimum.at(self.gpu_first_ms, g, t)
            np.maximum.at(self.gpu_last_ms, g, t)
        if g.size < 2 or self.n_epochs == 0:
            return
        same = g[1:] == g[:-1]
        t0, t1 = t[:-1], t[1:]
        d = np.where(same, t1 - t0, 0)
        e1 = energy[1:]
        e = e1 - energy[:-1]
        drop = e < 0
        reset = same & drop
        e = np.where(drop, e1, e)  # a decrease is a reset: the new value is the energy since it
        u1 = u[1:]
        healthy = same & (d <= self.max_healthy_ms) & ~xid_error[1:]
        a = self.asset_of_gpu[g[1:]]
        ep0 = (t0 - self.genesis_ms) // self.epoch_ms
        ep1 = (t1 - self.genesis_ms - 1) // self.epoch_ms  # (t0, t1] ends in the epoch of t1 - 1 ms
        rel = ep1 - self.first_epoch
        whole = same & (ep0 == ep1) & (rel >= 0) & (rel < self.n_epochs)
        cell = np.where(whole, a * self.n_epochs + rel, self.trash)
        self._add(cell, d, healthy, u1, e, reset, a, t0, t1)
        straddle = np.flatnonzero(same & (ep0 != ep1))
        if straddle.size:
            self._add_split(straddle, t0, t1, d, healthy, u1, e, reset, a, ep0, ep1)

    def _add_split(
        self,
        idx: npt.NDArray[np.intp],
        t0: npt.NDArray[np.int64],
        t1: npt.NDArray[np.int64],
        d: npt.NDArray[np.int64],
        healthy: npt.NDArray[np.bool_],
        u: npt.NDArray[np.int64],
        e: npt.NDArray[np.int64],
        reset: npt.NDArray[np.bool_],
        a: npt.NDArray[np.int64],
        ep0: npt.NDArray[np.int64],
        ep1: npt.NDArray[np.int64],
    ) -> None:
        """Split intervals that straddle epoch boundaries into one piece per reported epoch, pro rata."""
        last = self.first_epoch + self.n_epochs - 1
        k0 = np.maximum(ep0[idx], self.first_epoch)
        k1 = np.minimum(ep1[idx], last)
        counts = np.maximum(k1 - k0 + 1, 0)
        total = int(counts.sum())
        if total == 0:
            return
        which = np.repeat(np.arange(idx.size), counts)
        offsets = np.cumsum(counts) - counts
        epoch = k0[which] + (np.arange(total) - offsets[which])
        src = idx[which]
        start, end = t0[src], t1[src]
        epoch_start = self.genesis_ms + epoch * self.epoch_ms
        p_start = np.maximum(start, epoch_start)
        p_end = np.minimum(end, epoch_start + self.epoch_ms)
        p_ms = p_end - p_start
        dd, ee = d[src], e[src]
        if int(ee.max()) * int(dd.max()) < _SAFE_INT64:
            p_energy = ee * (p_end - start) // dd - ee * (p_start - start) // dd
        else:
            big_e, big_d = ee.astype(object), dd.astype(object)
            p_energy = (
                big_e * (p_end - start).astype(object) // big_d - big_e * (p_start - start).astype(object) // big_d
            )
        p_reset = reset[src] & (epoch == ep1[src])  # a reset is seen at the interval's end
        cell = a[src] * self.n_epochs + (epoch - self.first_epoch)
        if self.horizon_ms is not None:
            # The outage horizon: an interval that closes too long after an epoch's end adds nothing to it.
            late = end > epoch_start + self.epoch_ms + self.horizon_ms
            if late.any():
                keep = ~late
                cell, p_ms, p_energy, p_reset = cell[keep], p_ms[keep], p_energy[keep], p_reset[keep]
                src, p_start, p_end = src[keep], p_start[keep], p_end[keep]
        self._add(cell, p_ms, healthy[src], u[src], p_energy, p_reset, a[src], p_start, p_end)

    def _add(
        self,
        cell: npt.NDArray[np.int64],
        ms: npt.NDArray[np.int64],
        healthy: npt.NDArray[np.bool_],
        u: npt.NDArray[np.int64],
        energy: npt.NDArray[np.int64] | npt.NDArray[np.object_],
        reset: npt.NDArray[np.bool_],
        a: npt.NDArray[np.int64],
        start: npt.NDArray[np.int64],
        end: npt.NDArray[np.int64],
    ) -> None:
        healthy_ms = np.where(healthy, ms, 0)
        delivered = healthy_ms
        curtailed = None
        if self.windows.any:
            candidates = np.flatnonzero(healthy & (u == 0) & self.windows.has[a] & (cell != self.trash))
            if candidates.size:
                curtailed = np.zeros_like(healthy_ms)
                curtailed[candidates] = self.windows.overlap_ms(a[candidates], start[candidates], end[candidates])
                delivered = healthy_ms - curtailed
        size = self.n_cells + 1
        totals = self.totals
        _scatter_add(totals["delivered"], cell, delivered, size)
        _scatter_add(totals["util"], cell, u * delivered, size)
        _scatter_add(totals["unhealthy"], cell, ms - healthy_ms, size)
        _scatter_add(totals["energy"], cell, energy, size)
        if curtailed is not None:
            _scatter_add(totals["curtailed"], cell, curtailed, size)
        totals["intervals"] += np.bincount(cell, minlength=size).astype(object)
        resets = cell[reset]
        if resets.size:
            totals["resets"] += np.bincount(resets, minlength=size).astype(object)

    # --- rejections and result ----------------------------------------------------------------------

    def _reject(
        self, labels: dict[str, str], ts: int | None, value: str | None, reason: RejectReason, problem: str
    ) -> None:
        self.rejected[reason] += 1
        self.rejections.append(
            Rejection.model_construct(
                labels=labels,
                timestamp_ms=ts,
                value=value,
                reason=reason,
                detail=f"{_render(labels)} @ {ts} ms: {problem}",
            )
        )

    def result(self, readings_total: int) -> AggregationResult:
        """The reports of every complete epoch, rejections and counters."""
        epochs: list[EpochAggregate] = []
        t = self.totals
        for k in range(self.n_epochs):
            epoch = self.first_epoch + k
            stats: list[AssetEpochStats] = []
            for i, asset_id in enumerate(self.asset_ids):
                c = i * self.n_epochs + k
                delivered = int(t["delivered"][c])
                gpu_seconds = delivered // _MS_PER_S
                utilization = int(t["util"][c]) // delivered if gpu_seconds > 0 else 0
                report = Report(
                    asset_id=asset_id,
                    epoch=epoch,
                    gpu_seconds=gpu_seconds,
                    curtailed_gpu_seconds=int(t["curtailed"][c]) // _MS_PER_S,
                    utilization_bps=utilization,
                    energy_wh=int(t["energy"][c]) // MJ_PER_WH,
                )
                stats.append(
                    AssetEpochStats(
                        report=report,
                        delivered_ms=delivered,
                        curtailed_ms=int(t["curtailed"][c]),
                        unhealthy_ms=int(t["unhealthy"][c]),
                        energy_mj=int(t["energy"][c]),
                        intervals=int(t["intervals"][c]),
                        counter_resets=int(t["resets"][c]),
                    )
                )
            start = self.assets.epoch_start(epoch)
            epochs.append(EpochAggregate(epoch=epoch, start=start, end=start + self.assets.epoch_length, assets=stats))
        accepted = self.accepted_scrapes * len(Metric)
        if self.rejected:
            logger.info(
                "rejected %d of %d readings: %s",
                sum(self.rejected.values()),
                readings_total,
                ", ".join(f"{reason.value}={count}" for reason, count in sorted(self.rejected.items())),
            )
        logger.info(
            "aggregated %d scrapes into %d complete epochs x %d assets (first epoch %d)",
            self.accepted_scrapes,
            self.n_epochs,
            len(self.asset_ids),
            self.first_epoch,
        )
        return AggregationResult(
            epochs=epochs,
            rejections=self.rejections,
            rejected_by_reason=dict(self.rejected),
            readings_total=readings_total,
            readings_accepted=accepted,
            covered_from_ms=self.covered_from_ms,
            covered_until_ms=self.covered_until_ms,
            gpu_span_ms={
                uuid: (int(self.gpu_first_ms[i]), int(self.gpu_last_ms[i]))
                for i, uuid in enumerate(self.gpu_uuids)
                if self.gpu_last_ms[i] != _INT64_MIN
            },
        )


class _Windows:
    """Curtailment windows, merged per asset, answering "how many ms of [start, end) lie in a window of
    asset a" for many intervals at once.

    Each asset gets its own stretch of one number line (``x = a * span + t - base``), so all windows are
    disjoint and sorted there; ``covered(x)`` = total window length below ``x`` is a prefix sum plus the
    part of the window ``x`` falls in.
    """

    def __init__(self, windows: Iterable[CurtailmentWindow], asset_index: Mapping[int, int], n_assets: int) -> None:
        self.has = np.zeros(n_assets, dtype=np.bool_)
        per_asset: dict[int, list[tuple[int, int]]] = {}
        for window in windows:
            index = asset_index.get(window.asset_id)
            if index is None:
                logger.warning(
                    "ignoring curtailment window for asset %d, which is not in the asset map", window.asset_id
                )
                continue
            per_asset.setdefault(index, []).append((window.start * _MS_PER_S, window.end * _MS_PER_S))
        self.any = bool(per_asset)
        if not self.any:
            return
        merged: list[tuple[int, int, int]] = []
        for index in sorted(per_asset):
            self.has[index] = True
            spans = sorted(per_asset[index])
            cur_start, cur_end = spans[0]
            for s, e in spans[1:]:
                if s <= cur_end:
                    cur_end = max(cur_end, e)
                else:
                    merged.append((index, cur_start, cur_end))
                    cur_start, cur_end = s, e
            merged.append((index, cur_start, cur_end))
        self.base = min(s for _, s, _ in merged)
        self.span = max(e for _, _, e in merged) - self.base + 1
        if n_assets * self.span >= _SAFE_INT64:
            raise AggregationError("curtailment windows span too long a time to index exactly")
        idx = np.array([m[0] for m in merged], dtype=np.int64)
        starts = np.array([m[1] for m in merged], dtype=np.int64) - self.base
        ends = np.array([m[2] for m in merged], dtype=np.int64) - self.base
        self.x_start = idx * self.span + starts
        self.length = ends - starts
        self.before = np.cumsum(self.length) - self.length

    def overlap_ms(
        self, a: npt.NDArray[np.int64], start: npt.NDArray[np.int64], end: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.int64]:
        """Milliseconds of each ``[start, end)`` covered by a window of asset ``a``."""
        return self._covered(a, end) - self._covered(a, start)

    def _covered(self, a: npt.NDArray[np.int64], t: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        x = a * self.span + (np.clip(t, self.base, self.base + self.span - 1) - self.base)
        i = np.searchsorted(self.x_start, x, side="right") - 1
        j = np.maximum(i, 0)
        covered = self.before[j] + np.clip(x - self.x_start[j], 0, self.length[j])
        return np.where(i >= 0, covered, 0)


# --- helpers ---------------------------------------------------------------------------------------


def _mark(code: npt.NDArray[np.int8], condition: npt.NDArray[np.bool_], reason: RejectReason) -> None:
    """Give ``reason`` to the readings that meet ``condition`` and have no reason yet."""
    code[(code == 0) & condition] = _CODE[reason]


def _to_bps(util_pct: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """Utilisation % to integer basis points (quantised to 1 bps, the report's resolution)."""
    return np.rint(util_pct * (BPS // 100)).astype(np.int64)


def _scatter_add(
    total: npt.NDArray[np.object_],
    cell: npt.NDArray[np.int64],
    values: npt.NDArray[np.int64] | npt.NDArray[np.object_],
    size: int,
) -> None:
    """``total[cell] += values`` exactly: int64 when the chunk's sum is bounded below 2**62, else Python ints.

    All values are non-negative.
    """
    if values.size == 0:
        return
    if values.dtype != object and int(values.max()) * values.size < _SAFE_INT64:
        part = np.zeros(size, dtype=np.int64)
        np.add.at(part, cell, values)
        total += part.astype(object)
    else:
        part_obj = np.zeros(size, dtype=object)
        part_obj[:] = 0
        np.add.at(part_obj, cell, values.astype(object))
        total += part_obj


def _present_extreme(grid: ScrapeGrid, reduce: Callable[[npt.NDArray[np.int64]], np.int64]) -> int | None:
    """The earliest or latest present timestamp of a grid (None when it holds no scrape)."""
    if grid.present is None:
        return int(reduce(grid.ts_ms)) if grid.ts_ms.size else None
    if not grid.present.any():
        return None
    return int(reduce(grid.ts_ms[grid.present]))


def _gpu_chunks(gpu: npt.NDArray[np.int64], target: int) -> Iterable[tuple[int, int]]:
    """Cut rows sorted by GPU into ranges of about ``target`` rows that never split a GPU."""
    n = gpu.size
    if n <= target:
        yield 0, n
        return
    boundaries = np.flatnonzero(np.r_[True, gpu[1:] != gpu[:-1]])
    cuts = np.unique(
        boundaries[np.searchsorted(boundaries, np.arange(0, n, target), side="left").clip(max=boundaries.size - 1)]
    )
    edges = [*cuts.tolist(), n]
    if edges[0] != 0:
        edges.insert(0, 0)
    for lo, hi in pairwise(edges):
        if hi > lo:
            yield lo, hi


def _render(labels: Mapping[str, str]) -> str:
    name = labels.get("__name__", "")
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items() if k != "__name__")
    return f"{name}{{{inner}}}"


def _fmt(value: float) -> str:
    return repr(float(value))


def _grid_value(grid: ScrapeGrid, metric: Metric, row: int, j: int) -> str:
    if metric is Metric.GPU_UTIL:
        return _fmt(grid.util_pct[row, j])
    if metric is Metric.POWER_USAGE:
        return _fmt(grid.power_w[row, j])
    if metric is Metric.TOTAL_ENERGY:
        return str(int(grid.energy_mj[row, j]))
    return str(int(grid.xid[row, j]))


def _problem(reason: RejectReason, labels: Mapping[str, str], value: str, unit: str | None, have: int) -> str:
    """A sentence describing why a reading was rejected."""
    name = labels.get("__name__", "")
    match reason:
        case RejectReason.UNKNOWN_METRIC:
            return f"unknown metric {name!r}"
        case RejectReason.UNIT_MISMATCH:
            metric = next(m for m in Metric if m.metric_name == name or m.metric_name + "_total" == name)
            return f"declared unit {unit!r} does not match {sorted(metric.units)}"
        case RejectReason.UNKNOWN_GPU:
            uuid = labels.get("UUID")
            return "no UUID label" if uuid is None else f"GPU {uuid} is in no asset"
        case RejectReason.DUPLICATE_TIMESTAMP:
            return "duplicate timestamp in the series (the first reading is kept)"
        case RejectReason.OUT_OF_ORDER:
            return "timestamp earlier than a previous reading of the series"
        case RejectReason.NOT_FINITE:
            return f"value {value} is not finite"
        case RejectReason.NEGATIVE:
            return f"value {value} is negative"
        case RejectReason.UTILIZATION_ABOVE_100:
            return f"utilisation {value} % is above 100"
        case RejectReason.NOT_INTEGER:
            return f"XID code {value} is not an integer"
        case RejectReason.INCOMPLETE_SCRAPE:
            missing = [m.metric_name for m in Metric if not have & (1 << m)]
            return f"the scrape lacks a valid {', '.join(missing)}"
        case _:
            return reason.value
