"""``/metrics``, ``/health`` and the JSON-lines log format."""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Iterator

import pytest

from oracle.metrics import HealthState, JsonFormatter, OpsServer, OracleMetrics


@pytest.fixture
def ops() -> Iterator[OpsServer]:
    server = OpsServer(OracleMetrics(), HealthState(max_epochs_behind=2), port=0)
    server.start()
    yield server
    server.stop()


def _get(server: OpsServer, path: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}", timeout=5) as response:  # noqa: S310
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read()


def test_metrics_endpoint_exposes_every_metric_named_with_its_unit(ops: OpsServer) -> None:
    m = ops.metrics
    m.reports_posted.inc(3)
    m.epochs_behind.set(4)
    m.outbox_backlog.set(2)
    m.last_posted_epoch.labels(asset="1").set(41)
    m.signer_balance.labels(signer="0xAbC").set(10**19)
    m.readings_rejected.labels(reason="not_finite").inc()
    m.last_report_timestamp.set(1_760_000_000)
    m.tx_replacements.inc()
    status, content_type, body = _get(ops, "/metrics")
    text = body.decode()
    assert status == 200 and content_type.startswith("text/plain")
    for line in (
        "oracle_reports_posted_total 3.0",
        "oracle_epochs_behind 4.0",
        "oracle_outbox_backlog 2.0",
        'oracle_last_posted_epoch{asset="1"} 41.0',
        'oracle_signer_balance_wei{signer="0xAbC"} 1e+19',
        'oracle_readings_rejected_total{reason="not_finite"} 1.0',
        "oracle_last_report_timestamp_seconds 1.76e+09",
        "oracle_transaction_replacements_total 1.0",
    ):
        assert line in text, line
    assert "oracle_step_duration_seconds_bucket" in text
    assert "python_gc" not in text  # a registry of its own, not the global one


def test_health_is_ok_then_degraded_with_one_reason_per_problem(ops: OpsServer) -> None:
    status, content_type, body = _get(ops, "/health")
    assert (status, content_type) == (200, "application/json")
    assert json.loads(body)["status"] == "ok"
    ops.health.update(
        chain_error="connection refused",
        source_error="HTTP 503",
        epochs_behind=5,
        other_reasons=["asset 2 cannot be posted: AssetNotActive(2, 2)"],
    )
    status, _, body = _get(ops, "/health")
    answer = json.loads(body)
    assert status == 503 and answer["status"] == "degraded"
    assert answer["reasons"] == [
        "chain unreachable: connection refused",
        "source unreachable: HTTP 503",
        "behind by 5 epochs (more than 2)",
        "asset 2 cannot be posted: AssetNotActive(2, 2)",
    ]
    ops.health.update(chain_error=None, source_error=None, epochs_behind=2, other_reasons=[])
    assert _get(ops, "/health")[0] == 200
    assert _get(ops, "/nope")[0] == 404


def test_log_lines_are_json_objects_with_the_extra_fields() -> None:
    record = logging.LogRecord("oracle.daemon", logging.WARNING, "x.py", 1, "report %d/%d posted", (1, 7), None)
    record.event = "report_posted"
    record.asset = 1
    line = json.loads(JsonFormatter().format(record))
    assert line["msg"] == "report 1/7 posted" and line["level"] == "WARNING" and line["logger"] == "oracle.daemon"
    assert (line["event"], line["asset"]) == ("report_posted", 1)
    assert isinstance(line["ts"], float)
