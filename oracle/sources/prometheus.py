"""A metric source that reads the DCGM series from a Prometheus HTTP API (Prometheus, Thanos, Mimir...).

Two query modes, both cut into time chunks so that no series returns more than ``max_points_per_series``
points per request (Prometheus refuses range queries of more than 11,000 points per series):

* ``raw`` (default): instant queries of range vectors, ``{__name__=~"DCGM_...|..."}[<chunk>]`` evaluated at
  each chunk's end. Prometheus returns the samples exactly as scraped, with their own timestamps, so an
  exporter gap stays a gap and the aggregator judges it as the meter issue defines.
* ``range``: ``query_range`` of each metric at step = scrape interval, together with ``timestamp(...)`` of the
  same series. A range query repeats the last sample for up to five minutes (its look-back), which would
  turn an exporter gap into healthy time; the sample timestamps let the source keep each sample once, at
  its real time. Samples closer together than the step may be missed (jittered scrapes).

Errors are never data: a connection failure, a timeout, an HTTP error or a Prometheus ``"status": "error"``
raises :class:`~oracle.errors.SourceUnavailable`, and the daemon posts nothing for that epoch. A reachable
Prometheus that holds no sample for a range is a meter outage: the batch is empty but covers the range, and
the aggregator reports zero healthy GPU-seconds.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any, Literal

import numpy as np
import requests

from oracle.errors import SourceError, SourceUnavailable
from oracle.sources.base import METRIC_BY_NAME, UNKNOWN_METRIC, Metric, MetricBatch, ReadingColumns

__all__ = ["PrometheusSource"]

logger = logging.getLogger(__name__)

_NAMES = [metric.metric_name for metric in Metric]
_EXACT_FLOAT_INT = 2**53


class PrometheusSource:
    """Reads the four DCGM metrics from ``url`` (see the module docstring).

    Args:
        url: the API's base URL (``http://prometheus:9090``; ``/api/v1/...`` is appended).
        scrape_interval_ms: the exporter's scrape interval (the step, and the unit of the chunk size).
        selector: extra label matchers, e.g. ``Hostname=~"h100-.*"``.
        mode: ``raw`` or ``range``.
        max_points_per_series: the most points one series may return per request.
        timeout_s: per-request timeout.
        ingest_delay_ms: data older than now minus this is taken as complete (default two scrape intervals).
        bearer_token: sent as ``Authorization: Bearer`` when set.
        session: a requests session (tests inject one).
        clock: wall clock in seconds (tests inject one).
    """

    def __init__(
        self,
        url: str,
        *,
        scrape_interval_ms: int = 15_000,
        selector: str = "",
        mode: Literal["raw", "range"] = "raw",
        max_points_per_series: int = 11_000,
        timeout_s: float = 30.0,
        ingest_delay_ms: int | None = None,
        bearer_token: str | None = None,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_points_per_series < 2:
            raise ValueError("max_points_per_series must be at least 2")
        self._url = url.rstrip("/")
        self._interval = scrape_interval_ms
        self._selector = selector.strip().strip("{}").strip()
        self._mode = mode
        self._max_points = max_points_per_series
        self._timeout = timeout_s
        self._delay = 2 * scrape_interval_ms if ingest_delay_ms is None else ingest_delay_ms
        self._session = session or requests.Session()
        self._headers = {"Authorization": f"Bearer {bearer_token}"} if bearer_token else {}
        self._clock = clock
        self.requests_made = 0
        """How many HTTP requests the source sent (tests and benches read it)."""

    @property
    def name(self) -> str:
        """The API's base URL."""
        return self._url

    def chunk_ms(self) -> int:
        """The longest time span one request may cover (``max_points_per_series`` scrape intervals, less one)."""
        return (self._max_points - 1) * self._interval

    def covered_until_ms(self) -> int:
        """Now, less the ingest delay: what Prometheus should hold by now (a live source)."""
        return int(self._clock() * 1000) - self._delay

    def probe(self) -> None:
        """Checks that the API answers a trivial query.

        Raises:
            SourceUnavailable: it does not.
        """
        self._get("/api/v1/query", {"query": "1"})

    def fetch(self, start_ms: int | None = None, end_ms: int | None = None) -> MetricBatch:
        """The DCGM readings with timestamps in ``[start_ms, end_ms]`` (Unix ms).

        Both bounds are required: Prometheus has no "everything". ``end_ms`` is capped at
        :meth:`covered_until_ms`.

        Raises:
            SourceUnavailable: Prometheus could not be reached or answered with an error.
            SourceError: no bounds were given.
        """
        if start_ms is None or end_ms is None:
            raise SourceError(self.name, "a Prometheus fetch needs a start and an end time")
        end_ms = min(end_ms, self.covered_until_ms())
        if end_ms < start_ms:
            return MetricBatch(data=ReadingColumns.empty(), covered_from_ms=None, covered_until_ms=None)
        builder = _ColumnBuilder()
        chunk = self.chunk_ms()
        lo = start_ms
        while lo <= end_ms:
            if self._mode == "raw":
                hi = min(end_ms, lo + chunk)
                self._fetch_raw(builder, lo, hi)
                lo = hi + 1
            else:
                # Evaluation points lo, lo + step, ...; the last one at or after end_ms, so that a sample at
                # end_ms is seen; the builder keeps only samples inside [start_ms, end_ms].
                steps = min(self._max_points - 1, -(-(end_ms - lo) // self._interval))
                last = lo + steps * self._interval
                self._fetch_range(builder, lo, last, start_ms, end_ms)
                lo = last + self._interval
        columns = builder.finish()
        logger.debug(
            "fetched %d readings in %d series from %s for [%d, %d]",
            len(columns),
            len(columns.series_labels),
            self.name,
            start_ms,
            end_ms,
        )
        return MetricBatch(data=columns, covered_from_ms=start_ms, covered_until_ms=end_ms)

    # --- query modes --------------------------------------------------------------------------------

    def _matcher(self, names: Sequence[str]) -> str:
        name = f'__name__=~"{"|".join(names)}"'
        return "{" + name + (f",{self._selector}" if self._selector else "") + "}"

    def _fetch_raw(self, builder: _ColumnBuilder, lo: int, hi: int) -> None:
        # The range vector [hi - (hi - lo + 1) ms, hi] holds every sample in [lo, hi] whether the selector's
        # left end is open (Prometheus 3) or closed (2.x); the builder drops anything outside [lo, hi].
        span = hi - lo + 1
        query = f"{self._matcher(_NAMES)}[{span}ms]"
        data = self._get("/api/v1/query", {"query": query, "time": _seconds(hi)})
        if data.get("resultType") != "matrix":
            raise SourceUnavailable(self.name, f"expected a matrix, got {data.get('resultType')!r}")
        for series in data.get("result", []):
            labels = dict(series.get("metric", {}))
            values = series.get("values", [])
            builder.add(labels, [(_ms(ts), text) for ts, text in values], lo, hi)

    def _fetch_range(self, builder: _ColumnBuilder, lo: int, hi: int, keep_from: int, keep_until: int) -> None:
        step = _seconds(self._interval)
        for name in _NAMES:
            selector = self._matcher([name])
            params = {"start": _seconds(lo), "end": _seconds(hi), "step": step}
            values = self._get("/api/v1/query_range", {"query": selector, **params})
            stamps = self._get("/api/v1/query_range", {"query": f"timestamp({selector})", **params})
            by_labels: dict[tuple[tuple[str, str], ...], list[Any]] = {}
            for series in stamps.get("result", []):
                key = tuple(sorted(series.get("metric", {}).items()))
                by_labels[key] = series.get("values", [])
            for series in values.get("result", []):
                labels = dict(series.get("metric", {}))
                labels.setdefault("__name__", name)
                key = tuple(sorted((k, v) for k, v in labels.items() if k != "__name__"))
                sample_times = {str(step_ts): stamp for step_ts, stamp in by_labels.get(key, [])}
                readings: list[tuple[int, str]] = []
                for step_ts, text in series.get("values", []):
                    stamp = sample_times.get(str(step_ts))
                    if stamp is not None:
                        readings.append((_ms(float(stamp)), text))
                # The look-back repeats a sample at several steps (and across chunks): keep it once.
                builder.add(labels, readings, keep_from, keep_until, once=True)

    # --- HTTP ---------------------------------------------------------------------------------------

    def _get(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        url = self._url + path
        self.requests_made += 1
        try:
            response = self._session.get(url, params=params, timeout=self._timeout, headers=self._headers)
        except requests.RequestException as exc:
            raise SourceUnavailable(self.name, f"{type(exc).__name__}: {exc}") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200 or not isinstance(body, dict) or body.get("status") != "success":
            detail = body.get("error") if isinstance(body, dict) else response.text[:200]
            raise SourceUnavailable(self.name, f"HTTP {response.status_code} for {path}: {detail}")
        data = body.get("data")
        if not isinstance(data, dict):
            raise SourceUnavailable(self.name, f"{path}: answer without data")
        return data


class _ColumnBuilder:
    """Accumulates Prometheus series into :class:`ReadingColumns` (one series table across chunks)."""

    def __init__(self) -> None:
        self.series_labels: list[dict[str, str]] = []
        self.series_index: dict[tuple[tuple[str, str], ...], int] = {}
        self.sids: list[int] = []
        self.ts: list[int] = []
        self.texts: list[str] = []
        self.seen: dict[int, set[int]] = {}

    def add(
        self, labels: dict[str, str], readings: list[tuple[int, str]], lo: int, hi: int, *, once: bool = False
    ) -> None:
        """Add one series' readings inside ``[lo, hi]``; ``once`` drops timestamps the series already has."""
        key = tuple(sorted(labels.items()))
        sid = self.series_index.get(key)
        if sid is None:
            sid = len(self.series_labels)
            self.series_index[key] = sid
            self.series_labels.append(labels)
        seen = self.seen.setdefault(sid, set()) if once else None
        for t, text in readings:
            if seen is not None:
                if t in seen:
                    continue
                seen.add(t)
            if lo <= t <= hi:
                self.sids.append(sid)
                self.ts.append(t)
                self.texts.append(text)

    def finish(self) -> ReadingColumns:
        n = len(self.sids)
        value = np.array([_float(text) for text in self.texts], dtype=np.float64) if n else np.zeros(0)
        metric = np.array(
            [METRIC_BY_NAME.get(labels.get("__name__", ""), UNKNOWN_METRIC) for labels in self.series_labels],
            dtype=np.int8,
        )
        sid = np.array(self.sids, dtype=np.int32)
        energy = np.zeros(n, np.int64)
        if n:
            rows = np.flatnonzero(metric[sid] == Metric.TOTAL_ENERGY)
            for i in rows:
                energy[i] = _exact_int(self.texts[i], value[i])
        return ReadingColumns(
            series_labels=self.series_labels,
            series_metric=metric,
            series_unit=[None] * len(self.series_labels),
            series_id=sid,
            ts_ms=np.array(self.ts, dtype=np.int64),
            value=value,
            energy_mj=energy,
            value_text=self.texts,
        )


def _seconds(ms: int) -> str:
    """Unix ms as the decimal seconds Prometheus takes (exact to the ms)."""
    seconds, rest = divmod(ms, 1000)
    return f"{seconds}.{rest:03d}"


def _ms(seconds: float) -> int:
    return int(round(float(seconds) * 1000))


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def _exact_int(text: str, value: float) -> int:
    """The energy counter exactly (Prometheus writes floats without exponent for integers below 1e21)."""
    if math.isfinite(value) and abs(value) < _EXACT_FLOAT_INT and value == math.floor(value):
        return int(value)
    try:
        return int(Decimal(text).to_integral_value(rounding=ROUND_FLOOR))
    except (InvalidOperation, ValueError):
        return 0
