"""The Prometheus source against a real Prometheus filled from the session recording with promtool."""

from __future__ import annotations

import numpy as np
import pytest
from live_kit import EPOCH, GENESIS, PrometheusServer, asset_map, free_port

from oracle.aggregate import aggregate
from oracle.errors import SourceUnavailable
from oracle.models import Report
from oracle.sources.base import ReadingColumns
from oracle.sources.prometheus import PrometheusSource
from oracle.sources.recording import RecordingSource

LO, HI = (GENESIS - 60) * 1000, (GENESIS + 6 * EPOCH + 15) * 1000


def _readings(columns: ReadingColumns) -> set[tuple[tuple[tuple[str, str], ...], int, str]]:
    return {
        (tuple(sorted(columns.series_labels[int(s)].items())), int(t), repr(float(v)))
        for s, t, v in zip(columns.series_id, columns.ts_ms, columns.value, strict=True)
    }


@pytest.mark.parametrize("mode", ["raw", "range"])
def test_readings_equal_the_recordings_in_one_request_or_many_chunks(
    prometheus: PrometheusServer,
    recording,
    mode: str,  # noqa: ANN001
) -> None:
    expected = RecordingSource(recording).fetch(LO, HI).data
    whole = PrometheusSource(prometheus.url, mode=mode)
    chunked = PrometheusSource(prometheus.url, mode=mode, max_points_per_series=5)
    a, b = whole.fetch(LO, HI), chunked.fetch(LO, HI)
    assert _readings(a.data) == _readings(b.data) == _readings(expected)  # type: ignore[arg-type]
    assert (a.covered_from_ms, a.covered_until_ms) == (LO, HI)
    assert whole.requests_made == (1 if mode == "raw" else 8)  # range: values and timestamp() of 4 metrics
    if mode == "raw":  # one instant query per chunk of 4 scrape intervals (5 points per series)
        assert chunked.requests_made == -(-(HI - LO + 1) // (4 * 15_000 + 1))
    else:  # 5 evaluation steps per chunk, 8 queries per chunk
        assert chunked.requests_made == 8 * -(-((HI - LO) // 15_000 + 1) // 5)
    assert chunked.requests_made > 5 * whole.requests_made


def test_no_request_asks_for_more_than_11000_points_per_series(prometheus: PrometheusServer) -> None:
    source = PrometheusSource(prometheus.url, mode="range")
    assert source.chunk_ms() == 10_999 * 15_000
    day = 86_400_000
    batch = source.fetch(LO - 3 * day, HI)  # 3+ days of 15 s steps: 17,000+ points per series -> 2 chunks
    assert source.requests_made == 2 * 8
    assert len(batch.data) > 0


def test_epochs_aggregate_to_the_recordings_reports(prometheus: PrometheusServer, reference: dict) -> None:
    batch = PrometheusSource(prometheus.url).fetch(LO, HI)
    result = aggregate(batch, asset_map(), first_epoch=0, covered_until_ms=(GENESIS + 6 * EPOCH) * 1000)
    assert {(r.asset_id, r.epoch): r for r in result.reports()} == {k: v for k, v in reference.items() if k[1] < 6}


def test_a_reachable_range_without_data_is_a_meter_outage_not_an_error(prometheus: PrometheusServer) -> None:
    far = (GENESIS + 100 * EPOCH) * 1000
    batch = PrometheusSource(prometheus.url).fetch(far, far + EPOCH * 1000)
    assert len(batch.data) == 0 and batch.covered_until_ms == far + EPOCH * 1000
    result = aggregate(batch, asset_map(), first_epoch=100, covered_until_ms=far + EPOCH * 1000)
    assert [r.gpu_seconds for r in result.reports()] == [0, 0]
    assert all(isinstance(r, Report) for r in result.reports())


def test_an_unreachable_prometheus_raises_never_returns_empty_data() -> None:
    source = PrometheusSource(f"http://127.0.0.1:{free_port()}", timeout_s=2)
    with pytest.raises(SourceUnavailable, match="ConnectionError"):
        source.fetch(LO, HI)
    with pytest.raises(SourceUnavailable):
        source.probe()


def test_a_query_prometheus_refuses_is_an_error(prometheus: PrometheusServer) -> None:
    source = PrometheusSource(prometheus.url, selector='Hostname=~"(unclosed"')
    with pytest.raises(SourceUnavailable, match="HTTP 400"):
        source.fetch(LO, HI)
    assert np.isfinite(LO)
