"""A metric source that replays a recording in OpenMetrics or Prometheus text exposition format.

* OpenMetrics (``# EOF`` as the last line): sample timestamps in seconds, possibly fractional; ``# UNIT``
  metadata is honoured (a unit that does not match the DCGM field's unit makes its samples rejected).
* Prometheus text format (no ``# EOF``): sample timestamps in integer milliseconds.

Timestamps become integer Unix milliseconds (OpenMetrics seconds are rounded to the nearest ms). Every
sample needs a timestamp: a recording without them cannot be metered. Lines that cannot be parsed are
rejected one by one (:attr:`RejectReason.MALFORMED_LINE`), never abort the file; only an unreadable or
truncated file raises :class:`RecordingFormatError`.

The parser keeps one Python step per line (two ``str.rpartition`` calls and a dict lookup) and converts
values and timestamps in bulk with numpy; label sets are parsed once per distinct series.
"""

from __future__ import annotations

import gzip
import logging
import math
import re
import zlib
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from oracle.errors import RecordingFormatError
from oracle.models import Rejection, RejectReason
from oracle.sources.base import (
    METRIC_BY_NAME,
    UNKNOWN_METRIC,
    Metric,
    MetricBatch,
    ReadingColumns,
)

__all__ = ["RecordingFormat", "RecordingSource", "parse_exposition"]

logger = logging.getLogger(__name__)

RecordingFormat = Literal["auto", "openmetrics", "prometheus"]

_GZIP_MAGIC = b"\x1f\x8b"
_EXACT_FLOAT_INT = 2**53
"""Integers below this survive a trip through float64 exactly."""

# A whole sample line: series, value, optional timestamp, optional exemplar; used when the fast path misses.
_LINE_RE = re.compile(
    r"""^(?P<series>[a-zA-Z_:][a-zA-Z0-9_:]*(?:\{(?:[^"}]|"(?:[^"\\\n]|\\.)*")*\})?)"""
    r"""[ \t]+(?P<value>[^\s#]\S*)(?:[ \t]+(?P<ts>[^\s#]\S*))?(?:[ \t]+#.*)?[ \t]*$"""
)
_NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_RE = re.compile(r"""[ \t]*([a-zA-Z_][a-zA-Z0-9_]*)[ \t]*=[ \t]*"((?:[^"\\\n]|\\.)*)"[ \t]*(,|$)""")
_UNESCAPE_RE = re.compile(r"\\(.)")
_UNESCAPES = {"n": "\n", "\\": "\\", '"': '"'}


class RecordingSource:
    """Replays a recorded exposition file (see the module docstring for the formats), plain or gzipped
    (recognised by its magic bytes, whatever the file name).

    The file is parsed on the first :meth:`fetch` and kept in memory; later fetches filter it by time.
    """

    def __init__(self, path: str | Path, *, fmt: RecordingFormat = "auto") -> None:
        self._path = Path(path)
        self._fmt: RecordingFormat = fmt
        self._parsed: MetricBatch | None = None

    @property
    def name(self) -> str:
        """The recording's path."""
        return str(self._path)

    def fetch(self, start_ms: int | None = None, end_ms: int | None = None) -> MetricBatch:
        """Readings with timestamps in ``[start_ms, end_ms]`` (Unix ms; None = unbounded).

        Raises:
            RecordingFormatError: the file cannot be read, is not UTF-8, or is truncated OpenMetrics.
        """
        if self._parsed is None:
            self._parsed = parse_exposition(self._read_text(), source=self.name, fmt=self._fmt)
        return _window(self._parsed, start_ms, end_ms)

    def _read_text(self) -> str:
        try:
            raw = self._path.read_bytes()
        except FileNotFoundError:
            raise RecordingFormatError(self.name, "no such file") from None
        except IsADirectoryError:
            raise RecordingFormatError(self.name, "is a directory") from None
        except OSError as exc:
            raise RecordingFormatError(self.name, f"cannot read: {exc.strerror}") from None
        if raw[:2] == _GZIP_MAGIC:
            try:
                raw = gzip.decompress(raw)
            except (OSError, EOFError, zlib.error) as exc:
                raise RecordingFormatError(self.name, f"corrupt gzip data ({exc})") from None
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RecordingFormatError(self.name, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def parse_exposition(text: str, *, source: str = "<text>", fmt: RecordingFormat = "auto") -> MetricBatch:
    """Parse OpenMetrics or Prometheus text exposition into reading columns.

    Args:
        text: the whole exposition.
        source: a name for error messages.
        fmt: ``"openmetrics"`` (timestamps in s, ``# EOF`` required), ``"prometheus"`` (timestamps in ms), or
            ``"auto"``: OpenMetrics when the last non-empty line is ``# EOF``.

    Returns:
        The readings, the lines rejected while parsing, and the time range covered (min and max timestamp).

    Raises:
        RecordingFormatError: OpenMetrics without ``# EOF``, or with content after it.
    """
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    lines = text.split("\n")
    last = len(lines)
    while last > 0 and not lines[last - 1].strip():
        last -= 1
    ends_with_eof = last > 0 and lines[last - 1] == "# EOF"
    if fmt == "auto":
        fmt = "openmetrics" if ends_with_eof else "prometheus"
    if fmt == "openmetrics":
        try:
            eof_at = lines.index("# EOF")
        except ValueError:
            raise RecordingFormatError(source, "OpenMetrics text without '# EOF': the recording is truncated") from None
        if eof_at != last - 1:
            raise RecordingFormatError(source, "content after '# EOF'", line_no=eof_at + 2)
        lines = lines[:eof_at]
    parser = _Parser(source, seconds=fmt == "openmetrics")
    parser.feed(lines)
    return parser.finish()


class _Parser:
    """Parses sample lines in bulk; see :func:`parse_exposition`.

    The common line ``name{labels} value timestamp`` is split with two ``str.rpartition`` calls inside list
    comprehensions, and its series text looked up in a dict filled once per distinct text. Only lines that do
    not split that way (new layouts, tabs, exemplars, missing timestamps, garbage) take the regex path.
    """

    def __init__(self, source: str, *, seconds: bool) -> None:
        self.source = source
        self.seconds = seconds
        self.series_by_text: dict[str, int] = {}
        self.series_by_key: dict[tuple[tuple[str, str], ...], int] = {}
        self.series_labels: list[dict[str, str]] = []
        self.units: dict[str, str] = {}
        self.sids: list[int] = []
        self.values: list[str] = []
        self.stamps: list[str] = []
        self.line_index: list[int] = []
        self.rejections: list[Rejection] = []

    def feed(self, lines: list[str]) -> None:
        for line in [line for line in lines if line[:1] == "#"]:
            self._metadata(line)
        index = [i for i, line in enumerate(lines) if line and line[0] != "#"]
        tails = [lines[i].rpartition(" ") for i in index]
        heads = [tail[0].rpartition(" ") for tail in tails]
        for text in dict.fromkeys([head[0] for head in heads]):
            if text not in self.series_by_text:
                labels = _parse_series(text)
                if labels is not None:
                    self.series_by_text[text] = self._series_id(labels)
        get = self.series_by_text.get
        sids = [get(head[0], -1) for head in heads]
        values = [head[2] for head in heads]
        stamps = [tail[2] for tail in tails]
        if -1 in sids:
            dropped: set[int] = set()
            for k in [k for k, sid in enumerate(sids) if sid < 0]:
                parsed = self._slow_line(lines[index[k]], index[k] + 1)
                if parsed is None:
                    dropped.add(k)
                else:
                    sids[k], values[k], stamps[k] = parsed
            if dropped:
                kept = [k for k in range(len(sids)) if k not in dropped]
                sids = [sids[k] for k in kept]
                values = [values[k] for k in kept]
                stamps = [stamps[k] for k in kept]
                index = [index[k] for k in kept]
        self.sids, self.values, self.stamps, self.line_index = sids, values, stamps, index

    def _series_id(self, labels: dict[str, str]) -> int:
        key = tuple(sorted(labels.items()))
        sid = self.series_by_key.get(key)
        if sid is None:
            sid = len(self.series_labels)
            self.series_by_key[key] = sid
            self.series_labels.append(labels)
        return sid

    def _metadata(self, line: str) -> None:
        parts = line.split(" ", 3)
        if len(parts) >= 3 and parts[1] == "UNIT":
            self.units[parts[2]] = parts[3].strip() if len(parts) == 4 else ""

    def _slow_line(self, line: str, line_no: int) -> tuple[int, str, str] | None:
        """Parse a line the fast split could not: (series id, value, timestamp), or None when rejected (or
        when the line is only whitespace, which is ignored like an empty line)."""
        if not line.strip():
            return None
        match = _LINE_RE.match(line)
        if match is None:
            self._reject_line(line, line_no, "does not match 'name{labels} value timestamp'")
            return None
        labels = _parse_series(match.group("series"))
        if labels is None:
            self._reject_line(line, line_no, "invalid label set")
            return None
        value, stamp = match.group("value"), match.group("ts")
        if stamp is None and not _is_number(value):
            self._reject_line(line, line_no, "does not match 'name{labels} value timestamp'")
            return None
        if stamp is None:
            self.rejections.append(
                Rejection.model_construct(
                    labels=labels,
                    timestamp_ms=None,
                    value=value,
                    reason=RejectReason.MISSING_TIMESTAMP,
                    detail=f"{self.source}:{line_no}: {_render(labels)} has no timestamp",
                )
            )
            return None
        return self._series_id(labels), value, stamp

    def _reject_line(self, line: str, line_no: int, problem: str, labels: dict[str, str] | None = None) -> None:
        shown = line if len(line) <= 200 else line[:200] + "..."
        self.rejections.append(
            Rejection.model_construct(
                labels=labels or {},
                timestamp_ms=None,
                value=None,
                reason=RejectReason.MALFORMED_LINE,
                detail=f"{self.source}:{line_no}: {problem}: {shown!r}",
            )
        )

    def finish(self) -> MetricBatch:
        n = len(self.sids)
        series_id = np.fromiter(self.sids, dtype=np.int32, count=n)
        value = _to_float(self.values)
        stamp = _to_float(self.stamps)
        ts_ok = np.isfinite(stamp)
        if self.seconds:
            ts_f = np.rint(np.where(ts_ok, stamp, 0.0) * 1000.0)
        else:
            ts_f = np.where(ts_ok, stamp, 0.0)
            ts_ok &= ts_f == np.floor(ts_f)
        ts_ok &= np.abs(ts_f) < 2**62
        ts_ms = ts_f.astype(np.int64)
        value_ok = ~np.isnan(value) | _nan_literal(self.values, value)

        series_metric = np.array(
            [METRIC_BY_NAME.get(labels["__name__"], UNKNOWN_METRIC) for labels in self.series_labels],
            dtype=np.int8,
        )
        series_unit = [self.units.get(_family(labels["__name__"])) for labels in self.series_labels]
        energy_mj = self._energy(series_metric[series_id] if n else np.zeros(0, np.int8), value)

        good = ts_ok & value_ok
        if not good.all():
            for i in np.flatnonzero(~good):
                labels = self.series_labels[self.sids[i]]
                problem = "invalid timestamp" if not ts_ok[i] else "invalid value"
                token = self.stamps[i] if not ts_ok[i] else self.values[i]
                self._reject_line(
                    f"{_render(labels)} {self.values[i]} {self.stamps[i]}",
                    self.line_index[i] + 1,
                    f"{problem} {token!r}",
                    labels=dict(labels),
                )
        columns = ReadingColumns(
            series_labels=self.series_labels,
            series_metric=series_metric,
            series_unit=series_unit,
            series_id=series_id,
            ts_ms=ts_ms,
            value=value,
            energy_mj=energy_mj,
            value_text=self.values,
        )
        if not good.all():
            columns = columns.select(good)
        covered_from = int(columns.ts_ms.min()) if len(columns) else None
        covered_until = int(columns.ts_ms.max()) if len(columns) else None
        logger.debug(
            "parsed %s: %d readings in %d series, %d lines rejected",
            self.source,
            len(columns),
            len(self.series_labels),
            len(self.rejections),
        )
        return MetricBatch(
            data=columns,
            rejections=self.rejections,
            covered_from_ms=covered_from,
            covered_until_ms=covered_until,
        )

    def _energy(self, metric: npt.NDArray[np.int8], value: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
        """Exact integer mJ for energy rows: float64 is exact for integer tokens below 2**53; others are
        re-read from their text and floored."""
        energy = np.zeros(len(value), np.int64)
        rows = np.flatnonzero(metric == Metric.TOTAL_ENERGY)
        if rows.size == 0:
            return energy
        v = value[rows]
        fast = np.isfinite(v) & (np.abs(v) < _EXACT_FLOAT_INT) & (v == np.floor(v))
        energy[rows[fast]] = v[fast].astype(np.int64)
        for i in rows[~fast & np.isfinite(v)]:
            energy[i] = _floor_int(self.values[i])
        return energy


def _parse_series(series_text: str) -> dict[str, str] | None:
    """Labels of ``name{a="b",...}`` including ``__name__``, or None when the text is not a valid series."""
    name, brace, rest = series_text.partition("{")
    if not _NAME_RE.fullmatch(name):
        return None
    labels = {"__name__": name}
    if not brace:
        return labels
    if not rest.endswith("}"):
        return None
    body = rest[:-1]
    pos = 0
    while pos < len(body):
        match = _LABEL_RE.match(body, pos)
        if match is None or match.end() == pos:
            return None
        label, raw = match.group(1), match.group(2)
        if label in labels:
            return None
        labels[label] = _UNESCAPE_RE.sub(lambda m: _UNESCAPES.get(m.group(1), "\\" + m.group(1)), raw)
        pos = match.end()
        if match.group(3) == "" and pos < len(body):
            return None
    return labels


def _family(name: str) -> str:
    metric = METRIC_BY_NAME.get(name)
    return metric.metric_name if metric is not None else name


def _render(labels: dict[str, str]) -> str:
    name = labels.get("__name__", "")
    inner = ",".join(f'{key}="{value}"' for key, value in labels.items() if key != "__name__")
    return f"{name}{{{inner}}}"


def _to_float(tokens: list[str]) -> npt.NDArray[np.float64]:
    """Tokens to float64; an unparseable token becomes NaN (see :func:`_nan_literal`)."""
    try:
        return np.array(tokens, dtype=np.float64) if tokens else np.zeros(0, np.float64)
    except ValueError:
        out = np.empty(len(tokens), np.float64)
        for i, token in enumerate(tokens):
            try:
                out[i] = float(token)
            except ValueError:
                out[i] = math.nan
        return out


def _nan_literal(tokens: list[str], values: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    """True where a NaN value was written as a NaN literal (a valid token whose value the aggregator
    rejects), false where it came from an unparseable token."""
    out = np.zeros(len(values), np.bool_)
    for i in np.flatnonzero(np.isnan(values)):
        out[i] = tokens[i].lstrip("+-").lower() == "nan"
    return out


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _floor_int(token: str) -> int:
    try:
        return int(Decimal(token).to_integral_value(rounding=ROUND_FLOOR))
    except (InvalidOperation, ValueError):
        return 0


def _window(batch: MetricBatch, start_ms: int | None, end_ms: int | None) -> MetricBatch:
    if start_ms is None and end_ms is None:
        return batch
    columns = batch.data
    if not isinstance(columns, ReadingColumns):  # the parser only produces reading columns
        raise TypeError(f"expected ReadingColumns, got {type(columns).__name__}")
    lo = np.iinfo(np.int64).min if start_ms is None else start_ms
    hi = np.iinfo(np.int64).max if end_ms is None else end_ms
    mask = (columns.ts_ms >= lo) & (columns.ts_ms <= hi)
    selected = columns.select(mask)
    covered_from = batch.covered_from_ms
    covered_until = batch.covered_until_ms
    if covered_from is not None and covered_until is not None:
        covered_from = max(covered_from, lo)
        covered_until = min(covered_until, hi)
        if covered_until < covered_from:
            covered_from = covered_until = None
    return MetricBatch(
        data=selected,
        rejections=batch.rejections,
        covered_from_ms=covered_from,
        covered_until_ms=covered_until,
    )
