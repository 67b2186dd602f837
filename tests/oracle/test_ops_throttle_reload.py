"""Operations: a stuck transaction does not flood the logs, and SIGHUP reloads the submission settings."""

from __future__ import annotations

import logging
import threading
from decimal import Decimal
from pathlib import Path

import pytest

from oracle.chain import BlockView, Deployment
from oracle.daemon import Daemon
from oracle.errors import ChainUnavailable, SettingsError, TransactionRejected
from oracle.metrics import LogThrottle
from oracle.models import AssetMap
from oracle.outbox import Outbox
from oracle.settings import OracleSettings, load_settings
from oracle.signer import LocalKeySigner
from oracle.submitter import FeePolicy, TxManager

ORACLE = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
GWEI = 10**9
G = 1_760_000_000


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_a_repeated_line_is_logged_first_then_once_per_interval_with_the_count_held_back() -> None:
    clock = Clock()
    throttle = LogThrottle(interval_s=600, clock=clock)
    seen = []
    for _ in range(1_440):  # a day of polls, one a minute
        seen.append(throttle.allow(("tx_refused", "0xabc")))
        clock.now += 60
    logged = [n for n in seen if n is not None]
    assert len(logged) == 144 and logged[0] == 0 and set(logged[1:]) == {9}
    assert throttle.allow(("tx_refused", "0xdef")) == 0  # another transaction logs at once
    throttle.forget(("tx_refused", "0xabc"))
    assert throttle.allow(("tx_refused", "0xabc")) == 0


class StuckChain:
    """A node whose base fee sits above our cap: every broadcast is refused as underpriced, nothing is mined."""

    def nonce(self, address: str, block: str) -> int:
        return 0

    def max_priority_fee(self) -> int:
        return 1 * GWEI

    def send_raw(self, raw: bytes, tx_hash: str) -> None:
        raise TransactionRejected(tx_hash, "underpriced", "transaction underpriced")

    def receipt(self, tx_hash: str) -> None:
        return None

    def knows(self, tx_hash: str) -> bool:
        return False


def test_a_transaction_stuck_under_the_fee_cap_logs_once_per_interval_not_every_poll(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite")
    txm = TxManager(
        StuckChain(),  # type: ignore[arg-type]
        outbox,
        LocalKeySigner(b"\x01" * 32),
        FeePolicy(max_fee_cap=20 * GWEI, priority_cap=1 * GWEI),
        chain_id=31337,
        replace_after_blocks=1,
    )
    caplog.set_level(logging.WARNING, logger="oracle.submitter")
    txm.send(kind="keeper", batch_id=None, to=ORACLE, data=b"\x01", gas_limit=50_000, head=BlockView(1, G, 15 * GWEI))
    for block in range(2, 62):  # sixty polls, well within the repeat interval
        txm.reconcile(BlockView(block, G + block, 15 * GWEI))
    events = [getattr(r, "event", None) for r in caplog.records]
    assert events.count("tx_replacement_capped") == 1
    assert events.count("tx_refused") == 1
    assert len(outbox.pending_transactions()) == 1  # still stuck: nothing replaced, nothing lost


def _settings(tmp_path: Path, max_fee_gwei: int) -> OracleSettings:
    (tmp_path / "oracle.toml").write_text(
        f'[chain]\nchain_id = 31337\noracle_address = "{ORACLE}"\n[source]\nkind = "simulator"\n'
        f"[source.simulator]\nstart = {G}\n[assets]\nmap = \"{tmp_path / 'assets.json'}\"\n"
        f"[submission]\nmax_fee_per_gas_wei = {max_fee_gwei * GWEI}\nreplace_after_blocks = 2\n"
    )
    return load_settings(tmp_path / "oracle.toml")


def _daemon(tmp_path: Path) -> Daemon:
    assets = AssetMap.model_validate({"genesis": G, "epochLength": 60, "assets": {"1": {"hostname": "h", "gpus": ["GPU-1"]}}})
    settings = _settings(tmp_path, 20)
    daemon = Daemon(
        settings,
        chain=object(),  # type: ignore[arg-type]
        deployment=Deployment(31337, ORACLE, None, "test"),
        source=object(),  # type: ignore[arg-type]
        assets=assets,
        signers=[],
        outbox=Outbox(tmp_path / "outbox.sqlite"),
        stop=threading.Event(),
    )
    daemon.txm = TxManager(
        object(),  # type: ignore[arg-type]
        daemon.outbox,
        LocalKeySigner(b"\x01" * 32),
        daemon.fees,
        chain_id=31337,
        replace_after_blocks=settings.submission.replace_after_blocks,
    )
    daemon.settings_loader = lambda: load_settings(tmp_path / "oracle.toml")
    return daemon


def test_a_reload_applies_a_raised_fee_cap_without_a_restart(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    daemon = _daemon(tmp_path)
    assert daemon.txm is not None and daemon.txm.fees.max_fee_cap == 20 * GWEI
    _settings(tmp_path, 80)  # the operator raises the cap in the file, then sends SIGHUP
    caplog.set_level(logging.INFO, logger="oracle.daemon")
    assert daemon.reload_settings()
    assert daemon.txm.fees.max_fee_cap == 80 * GWEI
    assert daemon.settings.submission.max_fee_per_gas_wei == daemon.ctx.settings.submission.max_fee_per_gas_wei
    assert daemon.ctx.settings.submission.max_fee_per_gas_wei == 80 * GWEI
    (record,) = [r for r in caplog.records if getattr(r, "event", None) == "settings_reloaded"]
    assert record.changes == {"max_fee_per_gas_wei": [str(20 * GWEI), str(80 * GWEI)]}  # type: ignore[attr-defined]


def test_a_reload_of_a_broken_file_keeps_the_running_settings(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    daemon = _daemon(tmp_path)
    (tmp_path / "oracle.toml").write_text("[submission]\nmax_fee_per_gas_wei = 'lots'\n")
    caplog.set_level(logging.ERROR, logger="oracle.daemon")
    assert not daemon.reload_settings()
    assert daemon.txm is not None and daemon.txm.fees.max_fee_cap == 20 * GWEI
    assert [getattr(r, "event", None) for r in caplog.records] == ["reload_failed"]
    with pytest.raises(SettingsError):
        load_settings(tmp_path / "oracle.toml")


class DownChain:
    def latest_block(self) -> BlockView:
        raise ChainUnavailable("eth_getBlockByNumber", "connection refused")


def test_a_requested_reload_is_applied_at_the_next_step(tmp_path: Path) -> None:
    daemon = _daemon(tmp_path)
    daemon.ctx.chain = DownChain()  # type: ignore[assignment] - the step goes on with the chain down
    _settings(tmp_path, 80)
    daemon.request_reload()  # what the SIGHUP handler calls
    assert daemon.txm is not None and daemon.txm.fees.max_fee_cap == 20 * GWEI
    daemon.step()
    assert daemon.txm.fees.max_fee_cap == 80 * GWEI
    assert Decimal(daemon.settings.submission.fee_bump_percent) == Decimal("12.5")
    assert daemon.health.chain_error == "connection refused"
