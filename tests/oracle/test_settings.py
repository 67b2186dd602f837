"""The daemon's settings: one object from file, environment and flags, secrets never printed."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from oracle.errors import SettingsError
from oracle.settings import load_settings, nested_override, parse_override
from oracle_testkit import REPO_ROOT

ORACLE = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
RPC = "https://rpc.example.net/v3/TOPSECRETKEY123"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "oracle.toml"
    path.write_text(text)
    return path


@pytest.fixture
def config(tmp_path: Path) -> Path:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "a.json").write_text("{}")
    (tmp_path / "keys" / "a.pass").write_text("pw\n")
    return _write(
        tmp_path,
        f"""
poll_interval_s = 5
[chain]
rpc_url = "{RPC}"
chain_id = 31337
oracle_address = "{ORACLE.lower()}"
[signers]
keystores = [{{ path = "keys/a.json", password_file = "keys/a.pass" }}]
[source]
kind = "prometheus"
[source.prometheus]
url = "http://prometheus:9090"
bearer_token = "PROMTOKEN"
[assets]
map = "assets.json"
[cosign]
auth_token = "COSIGNTOKEN"
peers = [{{ name = "auditor", url = "http://auditor:9470", token = "PEERTOKEN" }}]
""",
    )


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in [k for k in os.environ if k.startswith("WELLHEAD_")]:
        monkeypatch.delenv(key)


def test_file_values_are_read_and_relative_paths_resolve_from_the_file(config: Path) -> None:
    settings = load_settings(config)
    assert settings.poll_interval_s == 5
    assert settings.chain.chain_id == 31337
    assert settings.chain.oracle_address == ORACLE  # checksummed
    assert settings.signers.keystores[0].path == config.parent / "keys" / "a.json"
    assert settings.assets.map == config.parent / "assets.json"
    assert settings.source.scrape_interval_s == Decimal(15)
    assert settings.source.grace_ms == 15_000
    assert settings.submission.fee_bump_percent == Decimal("12.5")


def test_environment_overrides_the_file_and_flags_override_both(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings(config).poll_interval_s == 5
    monkeypatch.setenv("WELLHEAD_POLL_INTERVAL_S", "3")
    monkeypatch.setenv("WELLHEAD_SUBMISSION__GAS_CAP_PER_TX", "2000000")
    from_env = load_settings(config)
    assert (from_env.poll_interval_s, from_env.submission.gas_cap_per_tx) == (3, 2_000_000)
    assert from_env.submission.replace_after_blocks == 3  # the rest of the table keeps its value
    from_flags = load_settings(config, {"poll_interval_s": 1, "submission": {"gas_cap_per_tx": 1_000_000}})
    assert (from_flags.poll_interval_s, from_flags.submission.gas_cap_per_tx) == (1, 1_000_000)
    assert from_flags.chain.chain_id == 31337


def test_posting_mode_is_batch_by_default_root_on_request_and_nothing_else(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert load_settings(config).submission.mode == "batch"
    monkeypatch.setenv("WELLHEAD_SUBMISSION__MODE", "root")
    assert load_settings(config).submission.mode == "root"
    path, value = parse_override("submission.mode=root")
    assert load_settings(config, nested_override(path, value)).submission.mode == "root"
    with pytest.raises(SettingsError, match="submission.mode"):
        load_settings(config, {"submission": {"mode": "merkle"}})


def test_nested_environment_variable_overrides_one_field_of_a_table(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WELLHEAD_CHAIN__CHAIN_ID", "5")
    settings = load_settings(config)
    assert settings.chain.chain_id == 5
    assert settings.chain.oracle_address == ORACLE


def test_set_flags_parse_toml_values_and_nest() -> None:
    assert parse_override("submission.gas_cap_per_tx=2000000") == (["submission", "gas_cap_per_tx"], 2_000_000)
    assert parse_override("keeper.enabled=true") == (["keeper", "enabled"], True)
    assert parse_override("chain.rpc_url=http://x:8545") == (["chain", "rpc_url"], "http://x:8545")
    assert nested_override(["a", "b"], 1, {"a": {"c": 2}}) == {"a": {"c": 2, "b": 1}}
    with pytest.raises(SettingsError, match="expected section.field=value"):
        parse_override("nonsense")


def test_missing_keystore_password_file_is_a_clear_error(config: Path) -> None:
    (config.parent / "keys" / "a.pass").unlink()
    with pytest.raises(SettingsError) as caught:
        load_settings(config)
    assert caught.value.problems == [
        f"signers.keystores.0: keystore password file {config.parent / 'keys' / 'a.pass'} "
        "does not exist (or is not a file)"
    ]


def test_max_in_flight_is_16_by_default_settable_and_bounded(config: Path) -> None:
    assert load_settings(config).submission.max_in_flight == 16
    assert load_settings(config, {"submission": {"max_in_flight": 1}}).submission.max_in_flight == 1
    for bad, why in ((0, "greater than or equal to 1"), (257, "less than or equal to 256")):
        with pytest.raises(SettingsError, match=f"submission.max_in_flight: Input should be {why}"):
            load_settings(config, {"submission": {"max_in_flight": bad}})


def test_every_invalid_field_is_listed_without_its_value(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        f"""
[chain]
rpc_url = "{RPC}"
chain_id = 0
[source]
kind = "carrier-pigeon"
scrape_interval_s = "0.0001"
[assets]
map = "a.json"
""",
    )
    with pytest.raises(SettingsError) as caught:
        load_settings(path)
    text = str(caught.value)
    assert "chain.chain_id: Input should be greater than or equal to 1" in text
    assert "source.scrape_interval_s: 0.0001 must be a positive number of seconds with at most millisecond" in text
    assert "source.kind: Input should be 'prometheus', 'nvml', 'recording' or 'simulator'" in text
    assert "TOPSECRETKEY123" not in text


def test_the_oracle_must_be_located(tmp_path: Path) -> None:
    path = _write(tmp_path, '[chain]\nchain_id = 1\n[source]\nkind = "prometheus"\n[assets]\nmap = "a.json"\n')
    with pytest.raises(SettingsError) as caught:
        load_settings(path)
    assert caught.value.problems == ["chain: set chain.deployment (deployments/<chainId>.json) or chain.oracle_address"]


def test_a_missing_or_invalid_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="no such file"):
        load_settings(tmp_path / "absent.toml")
    with pytest.raises(SettingsError, match="invalid TOML"):
        load_settings(_write(tmp_path, "[chain\nx = 1"))


def test_secrets_are_never_printed(config: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = load_settings(config)
    secrets = ("TOPSECRETKEY123", "PROMTOKEN", "COSIGNTOKEN", "PEERTOKEN")
    rendered = [repr(settings), str(settings), json.dumps(settings.describe()), settings.model_dump_json()]
    for text in rendered:
        assert not any(secret in text for secret in secrets), text
    assert settings.chain.redacted_url() == "https://rpc.example.net/..."
    assert settings.chain.rpc_url is not None and settings.chain.rpc_url.get_secret_value() == RPC


def test_dev_key_takes_a_variable_name_and_warns_loudly(config: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    settings = load_settings(config, {"signers": {"dev_key_env": "WELLHEAD_DEV_KEY"}})
    assert settings.signers.dev_key_env == "WELLHEAD_DEV_KEY"
    assert "DEVELOPMENT KEY CONFIGURED" not in caplog.text  # not before logging is configured (JSON)...
    settings.log_warnings()  # ...which the CLI does first
    assert "DEVELOPMENT KEY CONFIGURED" in caplog.text
    assert [getattr(r, "event", None) for r in caplog.records] == ["dev_key_configured"]
    with pytest.raises(SettingsError, match="is not an environment variable name"):
        load_settings(config, {"signers": {"dev_key_env": "0xac0974bec39a17e36ba4a6b4d238ff944bacb478"}})


def test_source_kind_needs_its_table(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        f"""
[chain]
chain_id = 1
oracle_address = "{ORACLE}"
[source]
kind = "recording"
[assets]
map = "a.json"
""",
    )
    with pytest.raises(SettingsError, match=r"source: source.kind is 'recording' but the \[source.recording\] table"):
        load_settings(path)


def test_run_with_invalid_settings_exits_2_with_the_problem(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "oracle", "run", "--config", str(tmp_path / "absent.toml")],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert f"config file {tmp_path / 'absent.toml'}: no such file" in done.stderr


def test_the_shipped_example_settings_are_valid(tmp_path: Path) -> None:
    (tmp_path / "k.json").write_text("{}")
    (tmp_path / "k.pass").write_text("pw\n")
    keystores = [{"path": str(tmp_path / "k.json"), "password_file": str(tmp_path / "k.pass")}]
    settings = load_settings(REPO_ROOT / "docs" / "oracle.example.toml", {"signers": {"keystores": keystores}})
    assert settings.source.kind == "prometheus" and settings.source.prometheus is not None
    assert settings.submission.max_fee_per_gas_wei == 500 * 10**9
    assert settings.chain.deployment == Path("/etc/wellhead/deployments/31337.json")
    assert settings.ops.port == 9464 and settings.keeper.enabled is False
