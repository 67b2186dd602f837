"""A metric source that samples this host's GPUs through NVML (nvidia-ml-py), without DCGM or Prometheus.

A background thread samples every GPU once per scrape interval into a ring buffer (one column per scrape):
utilisation (``nvmlDeviceGetUtilizationRates``, %), power (``nvmlDeviceGetPowerUsage``, mW -> W), the total
energy counter (``nvmlDeviceGetTotalEnergyConsumption``, mJ since the driver loaded) and XID errors (critical
XID events from an NVML event set, drained at each scrape: a scrape carries the last XID seen since the
previous one, else 0; XID stays 0 where the driver does not support events). :meth:`fetch` turns the buffer
into a :class:`~oracle.sources.base.ScrapeGrid`, the aggregator's fast path.

A GPU that fails a query at one scrape (fallen off the bus, reset in progress) is missing from that scrape,
which the aggregator counts as unhealthy time; energy drawn meanwhile still counts from the counter.

The sampling function :meth:`NvmlSource.sample_once` takes the NVML module as an injected dependency, so it is
tested with a fake; ``python -m oracle nvml-probe`` exercises the real thing on a GPU host.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from types import ModuleType
from typing import Any

import numpy as np

from oracle.errors import SourceError, SourceUnavailable
from oracle.sources.base import MetricBatch, ScrapeGrid

__all__ = ["NvmlSample", "NvmlSource", "load_nvml"]

logger = logging.getLogger(__name__)


def load_nvml() -> ModuleType:
    """The ``pynvml`` module of nvidia-ml-py.

    Raises:
        SourceUnavailable: the package is not installed.
    """
    try:
        import pynvml
    except ImportError:
        raise SourceUnavailable("nvml", "nvidia-ml-py is not installed: pip install 'wellhead-oracle[nvml]'") from None
    return pynvml


@dataclass(frozen=True, slots=True)
class NvmlSample:
    """One GPU's readings at one scrape (what ``nvml-probe`` prints)."""

    uuid: str
    ts_ms: int
    util_pct: float
    power_w: float
    energy_mj: int
    xid: int
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The sample as JSON-able data, keys sorted."""
        return dict(sorted(asdict(self).items()))


class NvmlSource:
    """Samples this host's GPUs into a ring buffer (see the module docstring).

    Args:
        scrape_interval_ms: the sampling period.
        buffer_s: how much history the ring buffer keeps.
        hostname: the ``Hostname`` label (default: this host's name).
        nvml: the NVML module (default: ``pynvml``, imported on :meth:`start`).
        clock: wall clock in seconds.
    """

    def __init__(
        self,
        *,
        scrape_interval_ms: int = 15_000,
        buffer_s: int = 4 * 3600,
        hostname: str | None = None,
        nvml: Any | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._interval = scrape_interval_ms
        self._capacity = max(2, buffer_s * 1000 // scrape_interval_ms + 1)
        self._hostname = hostname or socket.gethostname()
        self._nvml = nvml
        self._clock = clock
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = False
        self._closed = False
        self._handles: list[Any] = []
        self.uuids: list[str] = []
        self._labels: list[dict[str, str]] = []
        self._row_of: dict[str, int] = {}
        self._event_set: Any = None
        self._pending_xid: dict[int, int] = {}
        self._columns = 0
        self._ts = np.zeros(0, np.int64)
        self._util = self._power = np.zeros((0, 0))
        self._energy = self._xid = np.zeros((0, 0), np.int64)
        self._present = np.zeros((0, 0), np.bool_)

    @property
    def name(self) -> str:
        """``nvml:<hostname>``."""
        return f"nvml:{self._hostname}"

    # --- lifecycle ----------------------------------------------------------------------------------

    def start(self, *, thread: bool = True) -> None:
        """Initialise NVML, find the GPUs, register for XID events and (with ``thread``) start sampling.

        Raises:
            SourceUnavailable: NVML cannot be loaded or initialised, there is no GPU, or a GPU has no energy
                counter (pre-Volta).
        """
        if self._started:
            return
        if self._closed:
            raise SourceUnavailable(self.name, "the source was closed")
        nvml = self._nvml = self._nvml or load_nvml()
        try:
            nvml.nvmlInit()
            count = nvml.nvmlDeviceGetCount()
        except nvml.NVMLError as exc:
            raise SourceUnavailable(self.name, f"NVML initialisation failed: {exc}") from None
        if count == 0:
            raise SourceUnavailable(self.name, "NVML sees no GPU")
        for index in range(count):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            uuid = _text(nvml.nvmlDeviceGetUUID(handle))
            try:
                nvml.nvmlDeviceGetTotalEnergyConsumption(handle)
            except nvml.NVMLError as exc:
                raise SourceUnavailable(self.name, f"GPU {uuid} has no total energy counter: {exc}") from None
            try:
                model = _text(nvml.nvmlDeviceGetName(handle))
            except nvml.NVMLError:
                model = "unknown"
            self._handles.append(handle)
            self.uuids.append(uuid)
            self._row_of[uuid] = index
            self._labels.append(
                {
                    "gpu": str(index),
                    "UUID": uuid,
                    "device": f"nvidia{index}",
                    "modelName": model,
                    "Hostname": self._hostname,
                }
            )
        self._register_xid_events()
        n = len(self.uuids)
        self._ts = np.zeros(self._capacity, np.int64)
        self._util = np.zeros((n, self._capacity), np.float64)
        self._power = np.zeros((n, self._capacity), np.float64)
        self._energy = np.zeros((n, self._capacity), np.int64)
        self._xid = np.zeros((n, self._capacity), np.int64)
        self._present = np.zeros((n, self._capacity), np.bool_)
        self._started = True
        logger.info("NVML source: %d GPUs on %s", n, self._hostname, extra={"event": "nvml_started", "gpus": n})
        if thread:
            self._thread = threading.Thread(target=self._loop, name="nvml-sampler", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Stop sampling and shut NVML down (the buffer stays readable)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._started and not self._closed and self._nvml is not None:
            try:
                if self._event_set is not None:
                    self._nvml.nvmlEventSetFree(self._event_set)
                self._nvml.nvmlShutdown()
            except self._nvml.NVMLError as exc:
                logger.warning("NVML shutdown failed: %s", exc)
        self._closed = True

    def probe(self) -> None:
        """Start the source if needed (the daemon's start-up check).

        Raises:
            SourceUnavailable: NVML is not usable here.
        """
        self.start()

    def _register_xid_events(self) -> None:
        nvml = self._nvml
        try:
            self._event_set = nvml.nvmlEventSetCreate()
            for handle in self._handles:
                nvml.nvmlDeviceRegisterEvents(handle, nvml.nvmlEventTypeXidCriticalError, self._event_set)
        except nvml.NVMLError as exc:
            logger.warning(
                "NVML XID events unsupported here (%s): XID is reported as 0", exc, extra={"event": "nvml_no_xid"}
            )
            self._event_set = None

    def _loop(self) -> None:
        # Scrapes on a fixed grid of the interval (like Prometheus), never overlapping.
        while not self._stop.is_set():
            now_ms = int(self._clock() * 1000)
            try:
                self.sample_once(now_ms)
            except Exception:  # the sampler thread must survive anything one scrape throws
                logger.exception("NVML sample failed", extra={"event": "nvml_sample_failed"})
            next_ms = (now_ms // self._interval + 1) * self._interval
            self._stop.wait(max(0.0, (next_ms - self._clock() * 1000) / 1000))

    # --- sampling -----------------------------------------------------------------------------------

    def sample_once(self, now_ms: int | None = None) -> list[NvmlSample]:
        """Read every GPU once, append the scrape to the ring buffer and return it.

        Raises:
            SourceError: the source was not started.
        """
        if not self._started or self._closed:
            raise SourceError(self.name, "sample_once needs a started, open source")
        nvml = self._nvml
        ts = int(self._clock() * 1000) if now_ms is None else now_ms
        xids = self._drain_xid()
        samples: list[NvmlSample] = []
        for row, handle in enumerate(self._handles):
            uuid = self.uuids[row]
            try:
                util = float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
                power = nvml.nvmlDeviceGetPowerUsage(handle) / 1000.0
                energy = int(nvml.nvmlDeviceGetTotalEnergyConsumption(handle))
            except nvml.NVMLError as exc:
                samples.append(NvmlSample(uuid, ts, float("nan"), float("nan"), 0, 0, error=str(exc)))
                continue
            samples.append(NvmlSample(uuid, ts, util, power, energy, xids.get(row, 0)))
        with self._lock:
            col = self._columns % self._capacity
            self._ts[col] = ts
            for row, sample in enumerate(samples):
                ok = sample.error is None
                self._present[row, col] = ok
                self._util[row, col] = sample.util_pct if ok else 0.0
                self._power[row, col] = sample.power_w if ok else 0.0
                self._energy[row, col] = sample.energy_mj
                self._xid[row, col] = sample.xid
            self._columns += 1
        return samples

    def _drain_xid(self) -> dict[int, int]:
        """The last critical XID per GPU row since the previous scrape."""
        if self._event_set is None:
            return {}
        nvml = self._nvml
        seen: dict[int, int] = {}
        for _ in range(1024):
            try:
                data = nvml.nvmlEventSetWait_v2(self._event_set, 0)
            except nvml.NVMLError as exc:
                if getattr(exc, "value", None) != getattr(nvml, "NVML_ERROR_TIMEOUT", 10):
                    logger.warning("NVML event wait failed: %s", exc)
                break
            try:
                uuid = _text(nvml.nvmlDeviceGetUUID(data.device))
            except nvml.NVMLError:
                continue
            row = self._row_of.get(uuid)
            if row is not None:
                seen[row] = int(data.eventData)
                logger.warning("XID %d on GPU %s", int(data.eventData), uuid, extra={"event": "xid", "gpu": uuid})
        return seen

    # --- the metric-source interface ----------------------------------------------------------------

    def covered_until_ms(self) -> int | None:
        """The time of the latest scrape (None before the first)."""
        with self._lock:
            if self._columns == 0:
                return None
            return int(self._ts[(self._columns - 1) % self._capacity])

    def fetch(self, start_ms: int | None = None, end_ms: int | None = None) -> MetricBatch:
        """The buffered scrapes with timestamps in ``[start_ms, end_ms]``, oldest first.

        Raises:
            SourceUnavailable: the source is not started (NVML unusable).
        """
        if not self._started:
            self.start()
        with self._lock:
            n_cols = min(self._columns, self._capacity)
            first = self._columns - n_cols
            order = np.array([(first + i) % self._capacity for i in range(n_cols)], dtype=np.int64)
            ts = self._ts[order]
            keep = np.ones(ts.size, np.bool_)
            if start_ms is not None:
                keep &= ts >= start_ms
            if end_ms is not None:
                keep &= ts <= end_ms
            cols = order[keep]
            n = len(self.uuids)
            grid = ScrapeGrid(
                uuids=list(self.uuids),
                ts_ms=np.broadcast_to(self._ts[cols], (n, cols.size)).copy(),
                util_pct=self._util[:, cols].copy(),
                power_w=self._power[:, cols].copy(),
                energy_mj=self._energy[:, cols].copy(),
                xid=self._xid[:, cols].copy(),
                present=self._present[:, cols].copy(),
                gpu_labels=list(self._labels),
            )
        covered_from = int(ts[0]) if ts.size else None
        covered_until = int(ts[-1]) if ts.size else None
        if start_ms is not None and covered_from is not None:
            covered_from = max(covered_from, start_ms)
        if end_ms is not None and covered_until is not None:
            covered_until = min(covered_until, end_ms)
        return MetricBatch(data=grid, covered_from_ms=covered_from, covered_until_ms=covered_until)


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
