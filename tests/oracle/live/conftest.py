"""Session fixtures of the daemon's live tests: the deployed-chain template, the simulated recording with its
reference reports, and a real Prometheus server filled from that recording."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))

from live_kit import (  # noqa: E402
    ChainTemplate,
    PrometheusServer,
    backfill,
    deploy_template,
    free_port,
    reference_reports,
    simulator,
)

from oracle.models import Report  # noqa: E402


def _require_binary(binary: str, hint: str) -> None:
    if (
        shutil.which(binary) is None
        and not (Path(__file__).resolve().parents[3] / "node_modules" / ".bin" / binary).exists()
    ):
        pytest.fail(f"{binary} is required by the daemon's live tests: {hint}")


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> ChainTemplate:
    """The suite deployed once on Anvil (state saved), copied by every test that needs a chain."""
    _require_binary("anvil", "run `make setup` (npm ci)")
    return deploy_template(tmp_path_factory.mktemp("chain-template"))


@pytest.fixture(scope="session")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's simulated DCGM recording (OpenMetrics), epochs 0..13 of 60 s."""
    path = tmp_path_factory.mktemp("recording") / "fleet.om"
    simulator().write_openmetrics(path)
    return path


@pytest.fixture(scope="session")
def reference(recording: Path) -> dict[tuple[int, int], Report]:
    """The aggregator's own reports on the whole session recording."""
    return reference_reports(recording)


@pytest.fixture(scope="session")
def tsdb(tmp_path_factory: pytest.TempPathFactory, recording: Path) -> Path:
    """A Prometheus TSDB backfilled from the session recording with promtool."""
    _require_binary("promtool", "apt-get install prometheus")
    data = tmp_path_factory.mktemp("tsdb") / "data"
    backfill(recording, data)
    return data


@pytest.fixture(scope="session")
def prometheus(tmp_path_factory: pytest.TempPathFactory, tsdb: Path) -> Iterator[PrometheusServer]:
    """A real Prometheus serving the session recording on a loopback port."""
    _require_binary("prometheus", "apt-get install prometheus")
    directory = tmp_path_factory.mktemp("prometheus")
    data = directory / "data"
    shutil.copytree(tsdb, data)
    server = PrometheusServer(data, free_port(), directory / "prometheus.log")
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=[1, 16], ids=lambda n: f"max_in_flight={n}")
def max_in_flight(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """Runs a fault test twice: one transaction at a time (the daemon's behaviour before the pipeline) and 16 in
    flight (the default), through the environment, which in-process and subprocess daemons both read."""
    monkeypatch.setenv("WELLHEAD_SUBMISSION__MAX_IN_FLIGHT", str(request.param))
    return int(request.param)
