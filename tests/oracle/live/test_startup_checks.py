"""Start-up checks: each failure stops the daemon before it does anything, with one clear message."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from live_kit import (
    EPOCH,
    GENESIS,
    REPO,
    A,
    B,
    C,
    D,
    Chain,
    ChainTemplate,
    PrometheusServer,
    asset_map,
    daemon_settings,
    free_port,
    start_chain,
    write_settings,
)

from oracle.daemon import Daemon
from oracle.errors import StartupCheckError
from oracle.outbox import Outbox
from oracle.settings import load_settings


@pytest.fixture(scope="module")
def chain(template: ChainTemplate, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    node = start_chain(template, tmp_path_factory.mktemp("startup-chain"), timestamp=GENESIS + 2 * EPOCH + 5)
    yield node
    node.stop()


def _settings(tmp_path: Path, chain: Chain, recording: Path, **changes: Any) -> dict[str, Any]:
    return daemon_settings(
        tmp_path, chain=chain, source={"kind": "recording", "recording": {"path": str(recording)}}, **changes
    )


def _check(tmp_path: Path, settings: dict[str, Any]) -> StartupCheckError:
    daemon = Daemon.from_settings(load_settings(write_settings(tmp_path, settings)))
    try:
        with pytest.raises(StartupCheckError) as caught:
            daemon.startup_checks()
    finally:
        daemon.close()
    return caught.value


def _asset_file(tmp_path: Path, **changes: Any) -> str:
    document = asset_map().model_dump(mode="json")
    document.update(changes)
    path = tmp_path / "custom-assets.json"
    path.write_text(json.dumps(document))
    return str(path)


def test_all_checks_pass_on_the_right_chain(tmp_path: Path, chain: Chain, recording: Path) -> None:
    daemon = Daemon.from_settings(load_settings(write_settings(tmp_path, _settings(tmp_path, chain, recording))))
    daemon.startup_checks()
    assert daemon.txm is not None and daemon.txm.address == A.address
    daemon.close()


def test_wrong_chain_id(tmp_path: Path, chain: Chain, recording: Path) -> None:
    settings = _settings(tmp_path, chain, recording)
    settings["chain"]["chain_id"] = 8453
    error = _check(tmp_path, settings)
    assert error.check == "chain_id"
    assert str(error) == (
        f"start-up check 'chain_id' failed: the RPC node at http://127.0.0.1:{chain.node.port} serves chain 31337, "
        "but chain.chain_id is 8453"
    )


def test_unreachable_chain(tmp_path: Path, chain: Chain, recording: Path) -> None:
    settings = _settings(tmp_path, chain, recording)
    settings["chain"]["rpc_url"] = f"http://127.0.0.1:{free_port()}"
    error = _check(tmp_path, settings)
    assert error.check == "chain_unreachable" and "does not answer" in error.reason


def test_local_signer_not_in_the_oracles_set(tmp_path: Path, chain: Chain, recording: Path) -> None:
    error = _check(tmp_path, _settings(tmp_path, chain, recording, signers=[A, D]))
    assert error.check == "signer_not_in_set"
    assert error.reason.startswith(f"local signer(s) {D.address} are not in the oracle's current signer set [")
    assert all(s.address in error.reason for s in (A, B, C)) and "(configVersion 1)" in error.reason


def test_asset_unknown_to_the_registry(tmp_path: Path, chain: Chain, recording: Path) -> None:
    assets = _asset_file(
        tmp_path,
        assets={**asset_map().model_dump(mode="json")["assets"], "9": {"hostname": "ghost", "gpus": ["GPU-ghost"]}},
    )
    error = _check(tmp_path, _settings(tmp_path, chain, recording, assets={"map": assets}))
    assert error.check == "unknown_asset"
    assert error.reason.startswith(f"asset 9 of {assets} is not registered in the AssetRegistry 0x")


def test_asset_whose_reporting_has_not_started(tmp_path: Path, chain: Chain, recording: Path) -> None:
    assets = _asset_file(
        tmp_path,
        assets={**asset_map().model_dump(mode="json")["assets"], "3": {"hostname": "late", "gpus": ["GPU-late"]}},
    )
    error = _check(tmp_path, _settings(tmp_path, chain, recording, assets={"map": assets}))
    assert error.check == "reporting_not_started"
    assert "asset 3's reporting has not started on the oracle (cursorOf(3).started is false)" in error.reason


def test_the_source_reads_up_from_the_start_up_checks_on(tmp_path: Path, chain: Chain, recording: Path) -> None:
    """oracle_source_up used to read 0 after every restart until an epoch was aggregated (up to an hour)."""
    daemon = Daemon.from_settings(load_settings(write_settings(tmp_path, _settings(tmp_path, chain, recording))))
    try:
        assert daemon.metrics.source_up._value.get() == 0  # noqa: SLF001
        daemon.startup_checks()
        assert daemon.metrics.source_up._value.get() == 1  # noqa: SLF001
    finally:
        daemon.close()


def test_asset_whose_gpus_have_no_series_is_refused_not_posted_as_an_outage(
    tmp_path: Path, chain: Chain, recording: Path
) -> None:
    document = asset_map().model_dump(mode="json")["assets"]
    assets = _asset_file(tmp_path, assets={**document, "2": {"hostname": "edge", "gpus": ["GPU-matches-nothing"]}})
    error = _check(tmp_path, _settings(tmp_path, chain, recording, assets={"map": assets}))
    assert error.check == "asset_no_series"
    assert error.reason.startswith(f"asset(s) 2 of {assets} have no series in the metric source {recording}")


def test_epoch_config_differs_from_the_oracles(tmp_path: Path, chain: Chain, recording: Path) -> None:
    assets = _asset_file(tmp_path, epochLength=120)
    error = _check(tmp_path, _settings(tmp_path, chain, recording, assets={"map": assets}))
    assert error.check == "epoch_config"
    assert f"has genesis {GENESIS} and epochLength 120, the oracle" in error.reason
    assert error.reason.endswith(f"has genesis {GENESIS} and epochLength 60")


def test_unreachable_source(tmp_path: Path, chain: Chain) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    settings = daemon_settings(tmp_path, chain=chain, source={"kind": "prometheus", "prometheus": {"url": url}})
    error = _check(tmp_path, settings)
    assert error.check == "source_unreachable"
    assert error.reason.startswith(f"the metric source {url} is unusable: {url}: ConnectionError")


def test_outbox_of_another_deployment(tmp_path: Path, chain: Chain, recording: Path) -> None:
    settings = _settings(tmp_path, chain, recording)
    other = Outbox(settings["outbox"]["path"])
    other.bind(31337, "0x" + "42" * 20)
    other.close()
    error = _check(tmp_path, settings)
    assert error.check == "outbox_deployment" and "outbox belongs to chain 31337 oracle 0x4242" in error.reason


def test_the_command_exits_3_for_a_failed_check_and_4_for_an_unreachable_part(
    tmp_path: Path, chain: Chain, recording: Path
) -> None:
    def run(settings: dict[str, Any]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "oracle", "run", "--config", str(write_settings(tmp_path, settings))],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    done = run(_settings(tmp_path, chain, recording, signers=[D]))
    assert done.returncode == 3
    assert f"start-up check 'signer_not_in_set' failed: local signer(s) {D.address}" in done.stderr
    settings = _settings(tmp_path, chain, recording)
    settings["chain"]["rpc_url"] = f"http://127.0.0.1:{free_port()}"
    done = run(settings)
    assert done.returncode == 4 and "start-up check 'chain_unreachable' failed" in done.stderr
    assert not any(line.startswith('{"ts"') and "rpc_url" in line for line in done.stderr.splitlines())


def test_prometheus_source_check_passes_against_a_real_server(
    tmp_path: Path, chain: Chain, prometheus: PrometheusServer
) -> None:
    settings = daemon_settings(
        tmp_path, chain=chain, source={"kind": "prometheus", "prometheus": {"url": prometheus.url}}
    )
    daemon = Daemon.from_settings(load_settings(write_settings(tmp_path, settings)))
    daemon.startup_checks()
    daemon.close()
