"""The contract tests' fixture base: named actors, the deployed suite, the two sample assets, investors.

Tests under tests/contracts and tests/integration run on brownie's `development` network (a real Anvil that
brownie launches) against the real compiled contracts; each test runs in its own snapshot (`fn_isolation`).
Their conftest files import these fixtures; the daemon's tests (tests/oracle) need none of them, nor brownie.
"""

from __future__ import annotations

import pytest

from scripts.samples import H100_CLUSTER, L40S_EDGE, register_asset, usd
from tests.support.actors import Actors

__all__ = [
    "actors",
    "asset_registry",
    "funded",
    "h100",
    "h100_holders",
    "h100_offering",
    "investor_registry",
    "isolate",
    "l40s",
    "next_block_time",
    "stablecoin",
    "suite",
    "verified",
]


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


# ------------------------------------------------------------------------------------------------------------
# Added with the foundation's unit tests (tests/contracts/test_*.py): time control, an open offering, holders.


@pytest.fixture
def next_block_time():
    """Pins the next block's timestamp, so that errors carrying `block.timestamp` can be asserted exactly.

    `next_block_time(t)` returns `t`; `next_block_time()` pins one second after the latest block.
    """
    from brownie import chain, web3

    def pin(timestamp: int | None = None) -> int:
        timestamp = int(timestamp if timestamp is not None else chain[-1].timestamp + 1)
        reply = web3.provider.make_request("evm_setNextBlockTimestamp", [timestamp])
        assert "error" not in reply, reply
        return timestamp

    return pin


@pytest.fixture(scope="module")
def h100_offering(h100, actors):
    """Asset 1's first offering, open for 30 days at its sample price (100 dev-USD per share, 10,000 shares)."""
    from brownie import chain

    closes_at = chain.time() + 30 * 86_400
    h100.shares.openOffering(
        h100.spec.share_price, h100.spec.share_cap * 10**18, closes_at, {"from": actors.operator}
    )
    return h100


@pytest.fixture(scope="module")
def h100_holders(suite, actors, funded, h100_offering):
    """Alice 300, Bob 100 and Carol 600 shares of asset 1 (1,000 in all), bought in its first offering."""
    token = h100_offering.shares
    price = h100_offering.spec.share_price
    holdings = {actors.alice: 300, actors.bob: 100, actors.carol: 600}
    for investor, whole in holdings.items():
        suite.stablecoin.approve(token, price * whole, {"from": investor})
        token.subscribe(whole * 10**18, price * whole, {"from": investor})
    return holdings
