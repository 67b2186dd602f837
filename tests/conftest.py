"""Session set-up shared by every test: brownie's Anvil gets a port of its own.

The contract tests' fixtures live in tests/support/chain_fixtures.py (imported by tests/contracts and
tests/integration); the daemon's tests (tests/oracle) run without brownie.
"""

from __future__ import annotations


def pytest_configure(config):
    """Before brownie launches Anvil: a port of its own (so that test runs never attach to another run's
    node), a 30M block gas limit (batches of 100 reports) and 20 funded accounts."""
    import os

    try:
        from brownie._config import CONFIG
    except ImportError:  # the daemon's tests run where only the oracle package is installed
        return

    from scripts.localnode import free_port, settle_before_judging_drops

    settle_before_judging_drops()  # no "Tx dropped without known replacement" on a busy machine
    settings = CONFIG.networks["development"].setdefault("cmd_settings", {})
    port = int(os.environ.get("WELLHEAD_ANVIL_PORT") or free_port())
    settings.update(gas_limit=30_000_000, accounts=20, port=port)
