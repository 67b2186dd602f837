"""A deterministic simulated GPU fleet: the asset map's GPUs scraped every scrape interval, for demos, benches
and tests.

Every value is a pure function of ``(seed, GPU, scrape slot)`` computed in integers, so any two fetches of
overlapping windows (in any process, on any machine) agree on every reading, and a recording written with
:meth:`FleetSimulator.write_openmetrics` replays exactly what :meth:`FleetSimulator.fetch` delivers.

The model, per GPU ``g`` and scrape slot ``k`` (slot time ``start + k * interval``, plus a per-host jitter):

* utilisation: a triangle wave around a per-GPU mean with a per-GPU amplitude and phase, period ``period``
  slots, plus a small per-slot noise (integers, 0..100 %); 0 inside the asset's idle windows;
* power: idle power plus the utilisation's share of the rated power (W, with a little noise on the gauge);
* energy: a cumulative counter (mJ since boot) that grows by the slot's power x interval, computed in closed
  form from per-period prefix sums (so slot 10**6 costs what slot 1 costs); a counter reset restarts it
  near zero;
* scheduled events: exporter outages (no scrape of an asset's GPUs), vanished GPUs, XID windows.

The simulator feeds :class:`~oracle.sources.base.ScrapeGrid` straight to the aggregator (no text); it can also
write the same readings as OpenMetrics text (for Prometheus via ``promtool tsdb create-blocks-from
openmetrics``), optionally with malformed readings injected.
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TextIO

import numpy as np
import numpy.typing as npt

from oracle.models import AssetMap
from oracle.sources.base import Metric, MetricBatch, ScrapeGrid

__all__ = [
    "AssetWindow",
    "CounterReset",
    "FleetSimulator",
    "GpuWindow",
    "Malformed",
    "make_asset_map",
    "simulated_uuid",
]

_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)

# Per-slot random streams (the third key of the hash).
_S_UTIL_NOISE, _S_POWER_NOISE, _S_JITTER = 1, 2, 3
# Per-GPU parameter streams.
_P_MEAN, _P_AMP, _P_PHASE, _P_E0, _P_IDLE = 11, 12, 13, 14, 15

_RESET_OFFSET_MJ = 1_000
"""Where a counter restarts after a reset (mJ): near zero, as after a driver reload."""


@dataclass(frozen=True)
class AssetWindow:
    """``[start, end)`` (Unix s) of an asset: an exporter outage or an idle (curtailed) window."""

    asset_id: int
    start: int
    end: int


@dataclass(frozen=True)
class GpuWindow:
    """``[start, end)`` (Unix s) of one GPU: missing from the scrapes, or reporting XID ``code``."""

    uuid: str
    start: int
    end: int
    code: int = 79


@dataclass(frozen=True)
class CounterReset:
    """The GPU's energy counter restarts near zero at the first scrape at or after ``at`` (Unix s)."""

    uuid: str
    at: int


@dataclass(frozen=True)
class Malformed:
    """A malformed reading injected into written text (never into grids).

    ``kind``: ``nan`` (the value is NaN), ``negative`` (the value is negated), ``duplicate`` (the sample is
    written twice with the same timestamp, the second time with another value), ``out_of_order`` (the sample
    is written again after the next one, a second earlier). ``at`` is the Unix time (s) of the scrape it
    concerns (the first scrape at or after it).
    """

    kind: Literal["nan", "negative", "duplicate", "out_of_order"]
    uuid: str
    at: int
    metric: Metric = Metric.GPU_UTIL


def simulated_uuid(seed: int, asset_id: int, index: int) -> str:
    """A deterministic DCGM-style GPU UUID for GPU ``index`` of ``asset_id`` in simulation ``seed``."""
    h = _hash_scalar(seed, asset_id, index, 99)
    hexed = f"{h:016x}{_hash_scalar(seed, asset_id, index, 98):016x}"
    return f"GPU-{hexed[0:8]}-{hexed[8:12]}-{hexed[12:16]}-{hexed[16:20]}-{hexed[20:32]}"


def make_asset_map(
    *,
    seed: int,
    genesis: int,
    epoch_length: int,
    gpus_per_asset: Mapping[int, int],
) -> AssetMap:
    """An asset map with ``gpus_per_asset[asset]`` simulated GPUs per asset (host ``sim-<asset>``)."""
    return AssetMap.model_validate(
        {
            "genesis": genesis,
            "epochLength": epoch_length,
            "assets": {
                str(asset_id): {
                    "hostname": f"sim-{asset_id}",
                    "gpus": [simulated_uuid(seed, asset_id, i) for i in range(count)],
                }
                for asset_id, count in gpus_per_asset.items()
            },
        }
    )


@dataclass
class FleetSimulator:
    """The simulated fleet (see the module docstring). Implements the metric-source interface.

    Args:
        assets: which GPUs exist (every GPU of the asset map is simulated, hosts by asset).
        start_s: Unix time (s) of slot 0, the first scrape.
        scrape_interval_ms: the scrape interval.
        seed: the simulation's seed.
        end_s: Unix time (s) after which there are no scrapes; None follows ``clock``.
        power_w: rated power per GPU by asset (default 700 W, an H100 SXM).
        period_slots: the utilisation pattern's period in slots.
        jitter_ms: per-host scrape time jitter in ``[0, jitter_ms)``.
        outages, vanished, xid, idle, resets: the scheduled events.
        clock: wall clock (s) for ``end_s=None``.
    """

    assets: AssetMap
    start_s: int
    scrape_interval_ms: int = 15_000
    seed: int = 1
    end_s: int | None = None
    power_w: Mapping[int, int] = field(default_factory=dict)
    period_slots: int = 240
    jitter_ms: int = 0
    outages: Sequence[AssetWindow] = ()
    vanished: Sequence[GpuWindow] = ()
    xid: Sequence[GpuWindow] = ()
    idle: Sequence[AssetWindow] = ()
    resets: Sequence[CounterReset] = ()
    clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        if self.scrape_interval_ms <= 0 or self.period_slots <= 0:
            raise ValueError("scrape_interval_ms and period_slots must be positive")
        if self.jitter_ms >= self.scrape_interval_ms:
            raise ValueError("jitter_ms must be below the scrape interval")
        self._asset_ids = sorted(self.assets.assets)
        self._uuids: list[str] = []
        self._asset_of: list[int] = []
        self._host_of: list[int] = []
        self._labels: list[dict[str, str]] = []
        for host, asset_id in enumerate(self._asset_ids):
            spec = self.assets.assets[asset_id]
            for index, uuid in enumerate(spec.gpus):
                self._uuids.append(uuid)
                self._asset_of.append(asset_id)
                self._host_of.append(host)
                self._labels.append(
                    {
                        "gpu": str(index),
                        "UUID": uuid,
                        "pci_bus_id": f"00000000:{0x18 + index:02X}:00.0",
                        "device": f"nvidia{index}",
                        "modelName": "Simulated GPU",
                        "Hostname": spec.hostname,
                    }
                )
        self._row = {uuid: i for i, uuid in enumerate(self._uuids)}
        for window in (*self.vanished, *self.xid):
            if window.uuid not in self._row:
                raise ValueError(f"simulated event for unknown GPU {window.uuid}")
        for reset in self.resets:
            if reset.uuid not in self._row:
                raise ValueError(f"counter reset for unknown GPU {reset.uuid}")
        self._asset_arr = np.array(self._asset_of, dtype=np.int64)
        self._host_arr = np.array(self._host_of, dtype=np.int64)
        self._rated_w = np.array([self.power_w.get(a, 700) for a in self._asset_of], dtype=np.int64)

    # --- the metric-source interface ----------------------------------------------------------------

    @property
    def name(self) -> str:
        """``simulator:seed=<seed>``."""
        return f"simulator:seed={self.seed}"

    @property
    def uuids(self) -> list[str]:
        """Every simulated GPU, in row order (assets by id, GPUs as in the map)."""
        return list(self._uuids)

    def covered_until_ms(self) -> int:
        """The latest time the simulation has scrapes for (the end, or now)."""
        end_ms = self.end_s * 1000 if self.end_s is not None else int(self.clock() * 1000)
        return max(self.start_s * 1000, end_ms)

    def probe(self) -> None:
        """Nothing to reach: a simulator is always available."""

    def fetch(self, start_ms: int | None = None, end_ms: int | None = None) -> MetricBatch:
        """Every GPU's scrapes with timestamps in ``[start_ms, end_ms]`` (Unix ms) as one scrape grid."""
        lo = self.start_s * 1000 if start_ms is None else max(start_ms, self.start_s * 1000)
        hi = self.covered_until_ms() if end_ms is None else min(end_ms, self.covered_until_ms())
        grid = self.grid(lo, hi)
        return MetricBatch(data=grid, covered_from_ms=lo, covered_until_ms=hi)

    def fetch_rows(self, rows: npt.NDArray[np.int64] | slice, start_ms: int, end_ms: int) -> MetricBatch:
        """Like :meth:`fetch` for a subset of rows (GPUs): the fleet-scale path aggregates in chunks."""
        hi = min(end_ms, self.covered_until_ms())
        grid = self.grid(start_ms, hi, rows)
        return MetricBatch(data=grid, covered_from_ms=start_ms, covered_until_ms=hi)

    # --- grids --------------------------------------------------------------------------------------

    def grid(self, start_ms: int, end_ms: int, rows: npt.NDArray[np.int64] | slice | None = None) -> ScrapeGrid:
        """The scrapes in ``[start_ms, end_ms]`` of the given rows (default: all GPUs)."""
        row_index = np.arange(len(self._uuids), dtype=np.int64)
        if rows is not None:
            row_index = row_index[rows]
        interval = self.scrape_interval_ms
        origin = self.start_s * 1000
        last_slot = (self.covered_until_ms() - origin) // interval
        k_lo = max(0, (start_ms - origin - self.jitter_ms) // interval)
        k_hi = min(last_slot, (end_ms - origin) // interval)
        n_slots = max(0, k_hi - k_lo + 1)
        slots = np.arange(k_lo, k_lo + n_slots, dtype=np.int64)
        hosts = self._host_arr[row_index][:, None]
        ts = origin + slots[None, :] * interval + np.zeros((row_index.size, 1), np.int64)
        if self.jitter_ms:
            ts = ts + (self._hash(hosts, slots[None, :], _S_JITTER) % np.uint64(self.jitter_ms)).astype(np.int64)
        present = (ts >= start_ms) & (ts <= end_ms)

        util = self._util(row_index, slots)
        idle_mask = self._asset_window_mask(self.idle, row_index, ts)
        util = np.where(idle_mask, 0, util)
        power = self._power_w(row_index, util, slots)
        energy = self._energy_mj(row_index, slots)
        xid = np.zeros(ts.shape, np.int64)
        for window in self.xid:
            r = np.flatnonzero(row_index == self._row[window.uuid])
            if r.size:
                inside = (ts[r] >= window.start * 1000) & (ts[r] < window.end * 1000)
                xid[r] = np.where(inside, window.code, xid[r])
        present &= ~self._asset_window_mask(self.outages, row_index, ts)
        for window in self.vanished:
            r = np.flatnonzero(row_index == self._row[window.uuid])
            if r.size:
                present[r] &= ~((ts[r] >= window.start * 1000) & (ts[r] < window.end * 1000))
        return ScrapeGrid(
            uuids=[self._uuids[int(i)] for i in row_index],
            ts_ms=ts.astype(np.int64),
            util_pct=util.astype(np.float64),
            power_w=power,
            energy_mj=energy,
            xid=xid,
            present=present,
            gpu_labels=[self._labels[int(i)] for i in row_index],
        )

    # --- text ---------------------------------------------------------------------------------------

    def write_openmetrics(
        self,
        path: str | Path,
        start_ms: int | None = None,
        end_ms: int | None = None,
        *,
        malformed: Iterable[Malformed] = (),
        gzipped: bool | None = None,
    ) -> Path:
        """Write the scrapes in ``[start_ms, end_ms]`` as an OpenMetrics recording (timestamps in s), as a
        Prometheus scraping dcgm-exporter would hold them; ``gzipped`` defaults to a ``.gz`` file name.

        Returns the path written.
        """
        path = Path(path)
        lo = self.start_s * 1000 if start_ms is None else start_ms
        hi = self.covered_until_ms() if end_ms is None else end_ms
        grid = self.grid(lo, hi)
        use_gzip = path.suffix == ".gz" if gzipped is None else gzipped
        opener = gzip.open if use_gzip else open
        with opener(path, "wt", encoding="utf-8") as out:  # type: ignore[operator]
            self._write_text(out, grid, list(malformed))
        return path

    def _write_text(self, out: TextIO, grid: ScrapeGrid, malformed: list[Malformed]) -> None:
        families = {
            Metric.GPU_UTIL: ("gauge", "GPU utilization (in %)."),
            Metric.POWER_USAGE: ("gauge", "Power draw (in W)."),
            Metric.TOTAL_ENERGY: ("unknown", "Total energy consumption since boot (in mJ)."),
            Metric.XID_ERRORS: ("gauge", "Value of the last XID error encountered."),
        }
        for metric, (kind, help_text) in families.items():
            out.write(f"# HELP {metric.metric_name} {help_text}\n# TYPE {metric.metric_name} {kind}\n")
        inject: dict[tuple[Metric, int, int], list[Malformed]] = {}
        for m in malformed:
            row = self._row[m.uuid]
            ts_row = grid.ts_ms[row]
            live = grid.present[row] if grid.present is not None else np.ones(ts_row.shape, np.bool_)
            after = np.flatnonzero(live & (ts_row >= m.at * 1000))
            if after.size == 0:
                raise ValueError(f"no scrape of {m.uuid} at or after {m.at} to make malformed")
            inject.setdefault((m.metric, row, int(after[0])), []).append(m)
        for metric in Metric:
            values = _values_text(grid, metric)
            for row in range(grid.n_gpus):
                labels = ",".join(f'{k}="{v}"' for k, v in grid.labels_of(row).items())
                head = f"{metric.metric_name}{{{labels}}} "
                live = grid.present[row] if grid.present is not None else np.ones(grid.n_slots, np.bool_)
                for j in np.flatnonzero(live):
                    value = values[row][j]
                    t_ms = int(grid.ts_ms[row, j])
                    extra: list[str] = []
                    for m in inject.get((metric, row, int(j)), ()):
                        if m.kind == "nan":
                            value = "NaN"
                        elif m.kind == "negative":
                            value = "-" + value if value.strip("0.") else "-1"
                        elif m.kind == "duplicate":
                            extra.append(f"{head}{_other_value(value)} {_fmt_seconds(t_ms)}\n")
                        else:  # out_of_order: a reading a second earlier, written after this one
                            extra.append(f"{head}{value} {_fmt_seconds(t_ms - 1000)}\n")
                    out.write(f"{head}{value} {_fmt_seconds(t_ms)}\n")
                    out.writelines(extra)
        out.write("# EOF\n")

    # --- the model ----------------------------------------------------------------------------------

    def _hash(self, a: npt.NDArray[np.int64], b: npt.NDArray[np.int64] | int, stream: int) -> npt.NDArray[np.uint64]:
        return _mix(self.seed, a, b, stream)

    def _param(self, rows: npt.NDArray[np.int64], stream: int, lo: int, hi: int) -> npt.NDArray[np.int64]:
        """A per-GPU integer parameter in ``[lo, hi]``."""
        h = self._hash(rows, 0, stream)
        return lo + (h % np.uint64(hi - lo + 1)).astype(np.int64)

    def _util_base(self, rows: npt.NDArray[np.int64], phase_slots: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Noise-free utilisation (%) of ``rows`` at slots ``phase_slots`` (slot mod period)."""
        p = self.period_slots
        mean = self._param(rows, _P_MEAN, 40, 85)[:, None]
        room = np.minimum(mean, 100 - mean) - 3
        amp = np.minimum(self._param(rows, _P_AMP, 5, 40)[:, None], np.maximum(room, 0))
        phase = self._param(rows, _P_PHASE, 0, p - 1)[:, None]
        x = (phase_slots[None, :] + phase) % p
        tri = np.abs(4 * x - 2 * p) - p  # -p..p, integer triangle wave
        return mean + (amp * tri) // p

    def _util_period(self, rows: npt.NDArray[np.int64], phase_slots: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Utilisation (%) with its per-slot noise: periodic in the slot, as the energy model needs."""
        noise = (self._hash(rows[:, None], phase_slots[None, :], _S_UTIL_NOISE) % np.uint64(7)).astype(np.int64) - 3
        return np.clip(self._util_base(rows, phase_slots) + noise, 0, 100)

    def _util(self, rows: npt.NDArray[np.int64], slots: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        return self._util_period(rows, slots % self.period_slots)

    def _rated_mw(self, rows: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """(idle, rated) power of each row in mW."""
        rated_w = self._rated_w[rows]
        idle_pct = self._param(rows, _P_IDLE, 8, 14)
        return rated_w * 10 * idle_pct, rated_w * 1000

    def _inc_mj(self, rows: npt.NDArray[np.int64], util: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Energy (mJ) drawn over one scrape interval at each utilisation."""
        idle_mw, rated_mw = self._rated_mw(rows)
        power_mw = idle_mw[:, None] + (rated_mw - idle_mw)[:, None] * util // 100
        return power_mw * self.scrape_interval_ms // 1000

    def _power_w(
        self, rows: npt.NDArray[np.int64], util: npt.NDArray[np.int64], slots: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.float64]:
        idle_mw, rated_mw = self._rated_mw(rows)
        power_mw = idle_mw[:, None] + (rated_mw - idle_mw)[:, None] * util // 100
        noise = (self._hash(rows[:, None], slots[None, :], _S_POWER_NOISE) % np.uint64(4001)).astype(np.int64) - 2000
        return np.maximum(power_mw + noise, 0).astype(np.float64) / 1000.0

    def _cumulative(self, rows: npt.NDArray[np.int64], slots: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Energy (mJ) drawn from slot 0 up to (excluding) each slot, without idle windows or resets."""
        p = self.period_slots
        inc = self._inc_mj(rows, self._util_period(rows, np.arange(p, dtype=np.int64)))
        prefix = np.zeros((rows.size, p + 1), np.int64)
        np.cumsum(inc, axis=1, out=prefix[:, 1:])
        per_period = prefix[:, p]
        return (slots // p)[None, :] * per_period[:, None] + np.take_along_axis(
            prefix, np.broadcast_to((slots % p)[None, :], (rows.size, slots.size)), axis=1
        )

    def _energy_mj(
        self, rows: npt.NDArray[np.int64], slots: npt.NDArray[np.int64], *, with_resets: bool = True
    ) -> npt.NDArray[np.int64]:
        """The energy counter (mJ since boot) of ``rows`` at ``slots``."""
        e0 = self._param(rows, _P_E0, 10**9, 10**11)[:, None]
        energy = e0 + self._cumulative(rows, slots)
        interval, origin = self.scrape_interval_ms, self.start_s * 1000
        # Idle windows: the slots inside draw idle power instead of their pattern's.
        for window in self.idle:
            r = np.flatnonzero(self._asset_arr[rows] == window.asset_id)
            if r.size == 0:
                continue
            k0 = _first_slot_at(window.start * 1000, origin, interval)
            k1 = _first_slot_at(window.end * 1000, origin, interval)
            if k1 <= k0:
                continue
            upto = np.clip(slots, k0, k1)
            sub = rows[r]
            drawn = self._cumulative(sub, upto) - self._cumulative(sub, np.array([k0], np.int64))
            idle_mw, _ = self._rated_mw(sub)
            idle_inc = (idle_mw * interval // 1000)[:, None]
            energy[r] -= drawn - idle_inc * (upto - k0)[None, :]
        # Counter resets: from the first slot at or after the reset the counter restarts near zero.
        for reset in self.resets if with_resets else ():
            row = self._row[reset.uuid]
            r = np.flatnonzero(rows == row)
            if r.size == 0:
                continue
            kr = _first_slot_at(reset.at * 1000, origin, interval)
            later = [x.at for x in self.resets if x.uuid == reset.uuid and x.at > reset.at]
            k_next = _first_slot_at(min(later) * 1000, origin, interval) if later else None
            mask = slots >= kr
            if k_next is not None:
                mask &= slots < k_next
            if not mask.any():
                continue
            base = self._energy_mj(rows[r], np.array([kr], np.int64), with_resets=False)
            energy[r[:, None], np.flatnonzero(mask)[None, :]] = (
                energy[r[:, None], np.flatnonzero(mask)[None, :]] - base + _RESET_OFFSET_MJ
            )
        return energy

    def _asset_window_mask(
        self, windows: Sequence[AssetWindow], rows: npt.NDArray[np.int64], ts: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.bool_]:
        mask = np.zeros(ts.shape, np.bool_)
        assets = self._asset_arr[rows][:, None]
        for window in windows:
            mask |= (assets == window.asset_id) & (ts >= window.start * 1000) & (ts < window.end * 1000)
        return mask


# --- helpers ---------------------------------------------------------------------------------------


def _first_slot_at(t_ms: int, origin_ms: int, interval_ms: int) -> int:
    """The first slot whose nominal time is at or after ``t_ms``."""
    return max(0, -((origin_ms - t_ms) // interval_ms))


def _splitmix(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    with np.errstate(over="ignore"):
        z = x + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _MIX1
        z = (z ^ (z >> np.uint64(27))) * _MIX2
        return z ^ (z >> np.uint64(31))


def _mix(
    seed: int, a: npt.NDArray[np.int64] | int, b: npt.NDArray[np.int64] | int, stream: int
) -> npt.NDArray[np.uint64]:
    """A 64-bit hash of ``(seed, a, b, stream)``, elementwise (a counter-based random number)."""
    with np.errstate(over="ignore"):
        x = _splitmix(np.asarray(np.uint64(seed & 0xFFFFFFFFFFFFFFFF)) ^ np.uint64(stream * 0x100000001B3))
        x = _splitmix(x ^ np.asarray(a).astype(np.uint64))
        return _splitmix(x ^ (np.asarray(b).astype(np.uint64) * _GOLDEN))


def _hash_scalar(seed: int, a: int, b: int, stream: int) -> int:
    return int(_mix(seed, np.int64(a), np.int64(b), stream))


def _values_text(grid: ScrapeGrid, metric: Metric) -> list[list[str]]:
    if metric is Metric.GPU_UTIL:
        return [[str(int(v)) for v in row] for row in grid.util_pct]
    if metric is Metric.POWER_USAGE:
        return [[f"{v:.3f}" for v in row] for row in grid.power_w]
    if metric is Metric.TOTAL_ENERGY:
        return [[str(int(v)) for v in row] for row in grid.energy_mj]
    return [[str(int(v)) for v in row] for row in grid.xid]


def _other_value(value: str) -> str:
    try:
        return str(int(value) + 1)
    except ValueError:
        return f"{float(value) + 1.0:.3f}"


def _fmt_seconds(ms: int) -> str:
    seconds, rest = divmod(ms, 1000)
    return f"{seconds}" if rest == 0 else f"{seconds}.{rest:03d}".rstrip("0")
