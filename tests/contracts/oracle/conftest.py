"""Fixtures of the MeteringOracle tests: a suite whose oracle has 5 signers and a threshold of 3, its genesis
two days in the past, and the two sample assets (H100 cluster, L40S edge node) reporting from epoch 10.

Every fixture here is module-scoped (one deployment per test module); each test still runs in its own
snapshot (the root conftest's `isolate`).
"""

from __future__ import annotations

import pytest

from tests.contracts.oracle._quorum import (
    ENERGY_MARGIN_BPS,
    EPOCH_LENGTH,
    EPOCHS_BEFORE_NOW,
    FIRST_EPOCH,
    SIGNER_COUNT,
    SPARE_SIGNERS,
    THRESHOLD,
    Quorum,
)
from tests.contracts.oracle._signing import Domain, by_address, signer_account


@pytest.fixture(scope="session")
def signer_accounts() -> list:
    """Signer keys 0..8 (0..4 form the initial set), as eth-account LocalAccounts."""
    return [signer_account(i) for i in range(SIGNER_COUNT + SPARE_SIGNERS)]


@pytest.fixture(scope="session")
def initial_signers(signer_accounts) -> list:
    """The initial set (keys 0..4), ascending by address."""
    return by_address(signer_accounts[:SIGNER_COUNT])


@pytest.fixture(scope="module")
def genesis() -> int:
    from brownie import chain

    return chain.time() // EPOCH_LENGTH * EPOCH_LENGTH - EPOCHS_BEFORE_NOW * EPOCH_LENGTH


@pytest.fixture(scope="module")
def suite(actors, initial_signers, genesis):
    """Overrides the root `suite`: same deploy function, 5 signers, threshold 3, genesis in the past."""
    from scripts.deploy import SuiteConfig, deploy_suite

    return deploy_suite(
        actors.admin,
        SuiteConfig(
            compliance=actors.compliance,
            oracle_genesis=genesis,
            epoch_length=EPOCH_LENGTH,
            energy_margin_bps=ENERGY_MARGIN_BPS,
            oracle_signers=[a.address for a in initial_signers],
            oracle_threshold=THRESHOLD,
        ),
    )


@pytest.fixture(scope="module")
def oracle(suite):
    return suite.oracle


@pytest.fixture(scope="module")
def quorum(oracle, signer_accounts) -> Quorum:
    from brownie import chain

    return Quorum(oracle, Domain(chain.id, oracle.address), list(signer_accounts))


@pytest.fixture(scope="module")
def started(oracle, actors, h100, l40s):
    """Both sample assets report from FIRST_EPOCH; returns (h100 id, l40s id)."""
    for asset in (h100, l40s):
        oracle.startReporting(asset.asset_id, FIRST_EPOCH, {"from": actors.admin})
    return h100.asset_id, l40s.asset_id


@pytest.fixture(scope="module")
def keeper(actors):
    """Anyone may submit: the keeper posts every batch in these tests."""
    return actors.keeper
