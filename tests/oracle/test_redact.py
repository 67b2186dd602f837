"""Secrets in URLs never reach an output channel: exception texts, ``/health``, logs (JSON or text), ``status``
(text and JSON) and start-up errors, with an RPC URL that carries a key in its path, its query and its user-info."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from oracle.chain import ChainClient
from oracle.errors import ChainUnavailable
from oracle.metrics import HealthState, JsonFormatter, OpsServer, OracleMetrics
from oracle.redact import SecretFilter, redacted_url, register_secret_url, scrub
from oracle_testkit import REPO_ROOT

ORACLE = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
KEY = "5f0d1c9a3b7e4d2f8a6c1e9b0d3f7a21"
QUERY_KEY = "q9x8w7v6u5t4s3r2"
PASSWORD = "hunter2-s3cret"
SECRETS = (KEY, QUERY_KEY, PASSWORD)


def dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def secret_url(port: int) -> str:
    return f"http://ops:{PASSWORD}@127.0.0.1:{port}/v3/{KEY}?apikey={QUERY_KEY}"


def assert_clean(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} leaked in {text!r}"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://mainnet.infura.io/v3/abc123def456", "https://mainnet.infura.io/..."),
        ("https://node.example/?apikey=abc", "https://node.example/..."),
        ("https://node.example?apikey=abc", "https://node.example/..."),
        ("https://user:pw@node.example:8545/", "https://node.example:8545"),
        ("http://127.0.0.1:8545", "http://127.0.0.1:8545"),
        ("http://[::1]:8545/rpc/key", "http://[::1]:8545/..."),
    ],
)
def test_redacted_url_keeps_only_scheme_host_and_port(url: str, shown: str) -> None:
    assert redacted_url(url) == shown


def test_scrub_removes_the_url_and_each_of_its_secret_parts() -> None:
    url = secret_url(8545)
    text = (
        f"HTTPConnectionPool(host='127.0.0.1', port=8545): Max retries exceeded with url: /v3/{KEY}?apikey={QUERY_KEY} "
        f"(connecting to {url}; auth ops:{PASSWORD}@)"
    )
    cleaned = scrub(text, url)
    assert_clean(cleaned)
    assert "http://127.0.0.1:8545/..." in cleaned and "port=8545" in cleaned


def test_an_unreachable_node_error_names_no_secret() -> None:
    client = ChainClient(secret_url(dead_port()), ORACLE, timeout_s=2, retries=0)
    with pytest.raises(ChainUnavailable) as caught:
        client.chain_id()
    assert "ConnectionError" in caught.value.reason
    assert_clean(str(caught.value))


def test_health_and_logs_name_no_secret(caplog: pytest.LogCaptureFixture) -> None:
    url = secret_url(dead_port())
    register_secret_url(url)
    health = HealthState()
    client = ChainClient(url, ORACLE, timeout_s=2, retries=0)
    try:
        client.latest_block()
    except ChainUnavailable as exc:
        health.update(chain_error=exc.reason)
    ops = OpsServer(OracleMetrics(), health, port=0)
    ops.start()
    try:
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(f"http://127.0.0.1:{ops.port}/health", timeout=5)  # noqa: S310 - local
        body = caught.value.read().decode()
    finally:
        ops.stop()
    assert caught.value.code == 503 and "chain unreachable" in body
    assert_clean(body)
    # A log line that carries the raw URL anyway (message, extra field, exception) is scrubbed by the filter.
    record = logging.LogRecord("oracle.x", logging.ERROR, "x.py", 1, "node %s failed", (url,), None)
    record.url = url
    try:
        raise ConnectionError(f"cannot reach {url}")
    except ConnectionError:
        record.exc_info = sys.exc_info()
    assert SecretFilter().filter(record)
    line = JsonFormatter().format(record)
    assert_clean(line)
    assert "http://127.0.0.1" in json.loads(line)["msg"]


def _config(tmp_path: Path, port: int) -> Path:
    assets = {"genesis": 1_760_000_000, "epochLength": 60, "assets": {"1": {"hostname": "h", "gpus": ["GPU-1"]}}}
    (tmp_path / "assets.json").write_text(json.dumps(assets))
    config = tmp_path / "oracle.toml"
    config.write_text(
        f'[chain]\nchain_id = 31337\noracle_address = "{ORACLE}"\nrpc_url = "{secret_url(port)}"\nrpc_retries = 0\n'
        f'rpc_timeout_s = 2\n[source]\nkind = "recording"\n[source.recording]\npath = "{tmp_path / "none.om"}"\n'
        f'[assets]\nmap = "{tmp_path / "assets.json"}"\n[outbox]\npath = "{tmp_path / "outbox.sqlite"}"\n'
        '[signers]\ndev_key_env = "WELLHEAD_TEST_DEV_KEY"\n[ops]\nenabled = false\n'
    )
    return config


def _oracle(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WELLHEAD_TEST_DEV_KEY": "0x" + "11" * 32}
    return subprocess.run(
        [sys.executable, "-m", "oracle", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, env=env
    )


def test_run_and_status_with_an_unreachable_node_exit_4_and_name_no_secret(tmp_path: Path) -> None:
    config = _config(tmp_path, dead_port())
    run = _oracle("run", "--config", str(config), "--log-format", "json")
    assert run.returncode == 4, run.stderr
    assert_clean(run.stdout + run.stderr)
    assert "start-up check 'chain_unreachable' failed: the RPC node at http://127.0.0.1" in run.stderr
    # Every log line is JSON, the development-key warning included.
    lines = [line for line in run.stderr.splitlines() if line.startswith("{")]
    events = [json.loads(line).get("event") for line in lines]
    assert "dev_key_configured" in events
    assert [line for line in run.stderr.splitlines() if not line.startswith(("{", "wellhead-oracle run:"))] == []

    for flags in ([], ["--json"]):
        status = _oracle("status", "--config", str(config), *flags)
        assert status.returncode == 4, status.stderr
        assert_clean(status.stdout + status.stderr)
    report = json.loads(_oracle("status", "--config", str(config), "--json").stdout)
    assert "ConnectionError" in report["chainError"]
