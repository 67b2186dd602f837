"""The OpenMetrics / Prometheus text recording reader."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from oracle.errors import RecordingFormatError
from oracle.models import RejectReason
from oracle.sources.base import (
    UNKNOWN_METRIC,
    Metric,
    MetricBatch,
    MetricSource,
    ReadingColumns,
)
from oracle.sources.recording import RecordingFormat, RecordingSource, parse_exposition

from oracle_testkit import ENERGY, GENESIS, GPU_A1, UTIL, Recording, labels_of


def readings(batch: MetricBatch) -> ReadingColumns:
    assert isinstance(batch.data, ReadingColumns)
    return batch.data


def columns_of(text: str, fmt: RecordingFormat = "auto") -> ReadingColumns:
    return readings(parse_exposition(text, fmt=fmt))


def test_recording_source_implements_the_source_interface(tmp_path: Path) -> None:
    assert isinstance(RecordingSource(tmp_path / "x.om"), MetricSource)


def test_openmetrics_timestamps_are_seconds_rounded_to_milliseconds() -> None:
    text = f'{UTIL}{{UUID="{GPU_A1}"}} 50 1800000000.1234\n{UTIL}{{UUID="{GPU_A1}"}} 51 1800000001.9996\n# EOF\n'
    assert columns_of(text).ts_ms.tolist() == [1_800_000_000_123, 1_800_000_002_000]


def test_prometheus_text_without_eof_has_millisecond_timestamps() -> None:
    text = f'{UTIL}{{UUID="{GPU_A1}"}} 50 1800000000123\n'
    batch = parse_exposition(text)
    assert readings(batch).ts_ms.tolist() == [1_800_000_000_123]
    assert (batch.covered_from_ms, batch.covered_until_ms) == (1_800_000_000_123, 1_800_000_000_123)


def test_openmetrics_without_eof_is_a_truncated_recording() -> None:
    with pytest.raises(RecordingFormatError) as raised:
        parse_exposition(f'{UTIL}{{UUID="{GPU_A1}"}} 50 1800000000\n', source="cut.om", fmt="openmetrics")
    assert raised.value.source == "cut.om"
    assert "truncated" in raised.value.reason


def test_content_after_eof_is_rejected_with_its_line() -> None:
    with pytest.raises(RecordingFormatError) as raised:
        parse_exposition(f'# EOF\n{UTIL}{{UUID="{GPU_A1}"}} 50 1800000000\n# EOF\n', fmt="openmetrics")
    assert raised.value.line_no == 2


def test_labels_with_escapes_spaces_and_any_order_are_one_series() -> None:
    text = (
        f'{UTIL}{{UUID="{GPU_A1}",modelName="NVIDIA \\"H100\\" 80GB\\\\x",note="a,b}} c"}} 50 1800000000\n'
        f'{UTIL}{{note="a,b}} c",modelName="NVIDIA \\"H100\\" 80GB\\\\x",UUID="{GPU_A1}"}} 51 1800000015\n'
        "# EOF\n"
    )
    columns = columns_of(text)
    assert columns.series_id.tolist() == [0, 0]
    assert columns.series_labels[0] == {
        "__name__": UTIL,
        "UUID": GPU_A1,
        "modelName": 'NVIDIA "H100" 80GB\\x',
        "note": "a,b} c",
    }


def test_tabs_exemplars_and_crlf_are_parsed() -> None:
    text = (
        f'{UTIL}{{UUID="{GPU_A1}"}}\t50\t1800000000\r\n'
        f'{UTIL}{{UUID="{GPU_A1}"}} 51 1800000015 # {{trace_id="abc"}} 1.0\r\n'
        "# EOF\r\n"
    )
    columns = columns_of(text)
    assert columns.value.tolist() == [50.0, 51.0]
    assert columns.ts_ms.tolist() == [1_800_000_000_000, 1_800_000_015_000]


def test_blank_and_whitespace_lines_are_ignored_in_prometheus_text() -> None:
    text = f'\n   \n{UTIL}{{UUID="{GPU_A1}"}} 50 1800000000000\n\t\n'
    batch = parse_exposition(text)
    assert (len(readings(batch)), list(batch.rejections)) == (1, [])


def test_energy_counter_is_exact_beyond_float_precision() -> None:
    # 2**53 + 1 is not representable as a float64; the counter must survive exactly. A fractional counter is
    # floored to whole mJ.
    text = (
        f'{ENERGY}{{UUID="{GPU_A1}"}} 9007199254740993 1800000000\n'
        f'{ENERGY}{{UUID="{GPU_A1}"}} 1234.9 1800000015\n'
        f'{ENERGY}{{UUID="{GPU_A1}"}} 1e3 1800000030\n'
        "# EOF\n"
    )
    assert columns_of(text).energy_mj.tolist() == [9_007_199_254_740_993, 1234, 1000]


def test_metric_codes_and_declared_units_are_reported_per_series() -> None:
    text = (
        f"# UNIT {ENERGY} millijoules\n"
        f'{ENERGY}_total{{UUID="{GPU_A1}"}} 5 1800000000\n'
        f'DCGM_FI_DEV_SM_CLOCK{{UUID="{GPU_A1}"}} 1410 1800000000\n'
        "# EOF\n"
    )
    columns = columns_of(text)
    assert columns.series_metric.tolist() == [Metric.TOTAL_ENERGY, UNKNOWN_METRIC]
    assert list(columns.series_unit) == ["millijoules", None]


def test_nan_and_infinity_literals_are_values_not_malformed_lines() -> None:
    text = f'{UTIL}{{UUID="{GPU_A1}"}} NaN 1800000000\n{UTIL}{{UUID="{GPU_A1}"}} +Inf 1800000015\n# EOF\n'
    batch = parse_exposition(text)
    assert list(batch.rejections) == []
    values = readings(batch).value
    assert np.isnan(values[0]) and np.isposinf(values[1])


def test_unparseable_lines_are_rejected_with_source_and_line_number() -> None:
    text = f'{UTIL}{{UUID="{GPU_A1}"}} 50 1800000000\n{UTIL}{{UUID="{GPU_A1}" 5 6\n# EOF\n'
    batch = parse_exposition(text, source="rec.om")
    assert len(readings(batch)) == 1
    (rejection,) = batch.rejections
    assert rejection.reason is RejectReason.MALFORMED_LINE
    assert rejection.detail.startswith("rec.om:2: ")


def test_gzipped_recording_reads_like_the_plain_one(tmp_path: Path, recording: Recording) -> None:
    recording.scrape(GPU_A1, 0, energy=10)
    recording.scrape(GPU_A1, 15, energy=20)
    plain = recording.write(tmp_path / "r.om")
    packed = tmp_path / "r.om.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    a, b = readings(RecordingSource(plain).fetch()), readings(RecordingSource(packed).fetch())
    assert a.ts_ms.tolist() == b.ts_ms.tolist() and a.energy_mj.tolist() == b.energy_mj.tolist()


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "no such file"),
        (b"\x1f\x8bnot really gzip", "corrupt gzip data"),
        (b"\xff\xfe\x00 binary", "not UTF-8 text"),
    ],
    ids=["missing", "corrupt-gzip", "not-utf8"],
)
def test_unreadable_recording_raises_recording_format_error(tmp_path: Path, content: bytes | None, reason: str) -> None:
    path = tmp_path / "r.om"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(RecordingFormatError) as raised:
        RecordingSource(path).fetch()
    assert raised.value.reason.startswith(reason)
    assert raised.value.source == str(path)


def test_fetch_filters_by_time_and_narrows_coverage(tmp_path: Path, recording: Recording) -> None:
    for i, t in enumerate([0, 15, 30, 45, 60]):
        recording.scrape(GPU_A1, t, energy=i)
    source = RecordingSource(recording.write(tmp_path / "r.om"))
    batch = source.fetch((GENESIS + 15) * 1000, (GENESIS + 45) * 1000)
    assert sorted(set(readings(batch).ts_ms.tolist())) == [(GENESIS + t) * 1000 for t in (15, 30, 45)]
    assert (batch.covered_from_ms, batch.covered_until_ms) == ((GENESIS + 15) * 1000, (GENESIS + 45) * 1000)
    assert len(readings(source.fetch())) == 20


def test_sample_recording_parses_every_line(sample_paths: tuple[Path, Path, Path]) -> None:
    batch = RecordingSource(sample_paths[0]).fetch()
    assert len(readings(batch)) == 22_608
    assert list(batch.rejections) == []
    assert batch.covered_from_ms == 1_779_998_400_000
    assert batch.covered_until_ms == 1_780_005_600_000
    assert len(readings(batch).series_labels) == 48  # 12 GPUs x 4 metrics


def test_labels_of_named_gpu_round_trip() -> None:
    text = f"{UTIL}{{{labels_of(GPU_A1)}}} 50 1800000000\n# EOF\n"
    assert columns_of(text).series_labels[0]["modelName"] == "NVIDIA H100 80GB HBM3"
