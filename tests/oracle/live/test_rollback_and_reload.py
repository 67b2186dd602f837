"""Operating through chain trouble: a rollback (``evm_revert``, as a reorg deeper than the finality depth) that
removes reports the outbox holds as confirmed - the daemon detects that the oracle's cursor is behind the outbox,
re-opens them, says so loudly, and every epoch ends up on chain exactly once again, also when the daemon restarts
in between - and a fee cap raised by SIGHUP on the running daemon."""

from __future__ import annotations

import logging
import signal
from pathlib import Path

import pytest
from live_kit import (
    EPOCH,
    GENESIS,
    ChainTemplate,
    DaemonProcess,
    assert_posted_exactly_once,
    daemon_settings,
    start_chain,
    wait_for,
    write_settings,
)

from oracle.daemon import Daemon
from oracle.models import Report
from oracle.settings import load_settings

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("max_in_flight")]


def _post_through(daemon: Daemon, epoch: int, steps: int = 12) -> None:
    for _ in range(steps):
        daemon.step()
        if daemon.done_through(epoch):
            return
    raise AssertionError(f"epochs through {epoch} not posted after {steps} steps")


@pytest.mark.parametrize(("mode", "restart"), [("batch", False), ("batch", True), ("root", False)])
def test_reports_removed_by_a_rollback_are_reopened_and_posted_again_exactly_once(
    tmp_path: Path,
    template: ChainTemplate,
    recording: Path,
    reference: dict[tuple[int, int], Report],
    caplog: pytest.LogCaptureFixture,
    mode: str,
    restart: bool,
) -> None:
    chain = start_chain(template, tmp_path / "chain", timestamp=GENESIS + 2 * EPOCH + 5)
    config = write_settings(
        tmp_path,
        daemon_settings(
            tmp_path,
            chain=chain,
            source={"kind": "recording", "recording": {"path": str(recording)}},
            submission={"mode": mode},
        ),
    )
    snapshot = chain.rpc("evm_snapshot")
    daemon = Daemon.from_settings(load_settings(config))
    try:
        daemon.startup_checks()
        _post_through(daemon, 1)
        assert {r.state for r in daemon.outbox.reports()} == {"confirmed"}
        assert chain.cursor(1) == chain.cursor(2) == 2

        assert chain.rpc("evm_revert", [snapshot]) is True  # the blocks holding the reports are gone
        assert chain.cursor(1) == chain.cursor(2) == 0
        if restart:
            daemon.close()
            daemon = Daemon.from_settings(load_settings(config))
            daemon.startup_checks()
        caplog.set_level(logging.ERROR, logger="oracle.daemon")
        chain.mine()
        _post_through(daemon, 1)

        rollbacks = [r for r in caplog.records if getattr(r, "event", None) == "chain_rollback"]
        assert sorted((r.asset, r.epochs) for r in rollbacks) == [(1, [0, 1]), (2, [0, 1])]  # type: ignore[attr-defined]
        assert daemon.metrics.reports_reopened._value.get() == 4  # noqa: SLF001
        assert len(daemon.outbox.events("report_reopened")) == 4
        assert_posted_exactly_once(chain, reference, 1, outbox=tmp_path / "outbox.sqlite")
        if mode == "root":  # the commits were rolled back too: re-committed from the stored signatures
            assert [(r.epoch, r.state) for r in daemon.outbox.roots()] == [(0, "proven"), (1, "proven")]
            assert len(daemon.outbox.events("root_reopened")) == 2
            assert [t.kind for t in daemon.outbox.transactions()].count("commit") == 2  # rebroadcast, not re-signed
    finally:
        daemon.close()
        chain.stop()


def test_sighup_reloads_the_submission_settings_of_the_running_daemon(
    tmp_path: Path, template: ChainTemplate, recording: Path
) -> None:
    """Raising the fee cap needed a restart: now the operator edits the file and sends SIGHUP."""
    chain = start_chain(template, tmp_path / "chain", timestamp=GENESIS + 2 * EPOCH + 5)
    settings = daemon_settings(tmp_path, chain=chain, source={"kind": "recording", "recording": {"path": str(recording)}})
    daemon = DaemonProcess(write_settings(tmp_path, settings), tmp_path / "daemon.log").start()
    try:
        wait_for(lambda: chain.cursor(1) == chain.cursor(2) == 2, timeout=60, what="epochs 0-1 posted")
        raised = {**settings, "submission": {**settings.get("submission", {}), "max_fee_per_gas_wei": 777 * 10**9}}
        write_settings(tmp_path, raised)
        daemon.process.send_signal(signal.SIGHUP)  # type: ignore[union-attr]
        (event,) = wait_for(
            lambda: [e for e in daemon.events() if e.get("event") == "settings_reloaded"], timeout=30, what="reload"
        )
        assert event["changes"]["max_fee_per_gas_wei"][1] == str(777 * 10**9)
        assert daemon.process.poll() is None  # still running: no restart
        daemon.process.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
        assert daemon.wait(20) == 0, daemon.tail()
    finally:
        daemon.kill()
        chain.stop()
