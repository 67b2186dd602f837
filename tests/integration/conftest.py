"""Chain tests: the shared fixture base (tests/support/chain_fixtures.py)."""

from tests.support.chain_fixtures import *  # noqa: F401,F403 (pytest finds fixtures by name)
