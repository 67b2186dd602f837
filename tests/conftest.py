"""One fixture base for the contract tests: named actors, the deployed suite, and the two sample assets.

Tests under tests/contracts and tests/integration run on brownie's `development` network (a real Anvil that
brownie launches) against the real compiled contracts; each test runs in its own snapshot (`fn_isolation`).
The pure-Python oracle tests (tests/oracle) use none of these fixtures.
"""

from __future__ import annotations

import pytest

from tests.support.actors import Actors
from scripts.samples import H100_CLUSTER, L40S_EDGE, register_asset, usd



def pytest_configure(config):
    """Before brownie launches Anvil: a 30M block gas limit (batches of 100 reports) and 20 funded accounts."""
    from brownie._config import CONFIG

    settings = CONFIG.networks["development"].setdefault("cmd_settings", {})
    settings.update(gas_limit=30_000_000, accounts=20)


@pytest.fixture(scope="session")
def actors(accounts) -> Actors:
    """Named accounts (morpho's BaseTest style): admin, compliance, operators, investors, lessees..."""
    return Actors.from_accounts(accounts)


@pytest.fixture(scope="module")
def suite(actors):
    """The whole suite deployed by the same function the deploy script uses, with its checks run."""
    from scripts.deploy import SuiteConfig, deploy_suite

    return deploy_suite(actors.admin, SuiteConfig(compliance=actors.compliance))


@pytest.fixture(autouse=True)
def isolate(fn_isolation):
    """Every test starts from the module's snapshot."""


@pytest.fixture(scope="module")
def stablecoin(suite):
    return suite.stablecoin


@pytest.fixture(scope="module")
def investor_registry(suite):
    return suite.investor_registry


@pytest.fixture(scope="module")
def asset_registry(suite):
    return suite.asset_registry


@pytest.fixture(scope="module")
def verified(suite, actors):
    """Alice, Bob and Carol verified (KYC for a year, Switzerland); Mallory is not."""
    from brownie import chain

    expiry = chain.time() + 365 * 24 * 3600
    for investor in (actors.alice, actors.bob, actors.carol):
        suite.investor_registry.addInvestor(investor, expiry, 756, {"from": actors.compliance})
    return [actors.alice, actors.bob, actors.carol]


@pytest.fixture(scope="module")
def h100(suite, actors):
    """Asset 1: the 8x H100 NeoCloud cluster, operated by `operator`."""
    return register_asset(suite, actors.admin, actors.operator, H100_CLUSTER)


@pytest.fixture(scope="module")
def l40s(suite, actors, h100):
    """Asset 2: the 4x L40S edge node, operated by `operator2`."""
    return register_asset(suite, actors.admin, actors.operator2, L40S_EDGE)


@pytest.fixture(scope="module")
def funded(suite, actors, verified):
    """Each verified investor holds 1,000,000 dev-USD."""
    for investor in verified:
        suite.stablecoin.mint(investor, usd(1_000_000), {"from": actors.admin})
    return verified
