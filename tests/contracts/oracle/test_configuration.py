"""MeteringOracle configuration: the signer set (setSigners), the energy margin, where an asset's reporting
starts, the oracle-admin role, and the constructor's checks."""

from __future__ import annotations

import pytest
from brownie import MeteringOracle, ZERO_ADDRESS, chain
from eth_utils import keccak

from tests.contracts.oracle._quorum import (
    ENERGY_MARGIN_BPS,
    EPOCH_LENGTH,
    FIRST_EPOCH,
    THRESHOLD,
    as_bytes,
    full_h100,
)
from tests.contracts.oracle._reverts import reverts
from tests.contracts.oracle._signing import by_address, signer_set_hash
from scripts.samples import H100_CLUSTER, register_asset

ORACLE_ADMIN_ROLE = keccak(text="ORACLE_ADMIN_ROLE")
UNAUTHORIZED = "AccessControlUnauthorizedAccount(address,bytes32)"
MAX_SIGNERS = 31


def _addresses(accounts_) -> list[str]:
    return [a.address for a in by_address(accounts_)]


# ---------------------------------------------------------------------------------------------- setSigners


def test_set_signers_replaces_set_bumps_version_and_emits(oracle, quorum, actors, signer_accounts):
    old = quorum.current()
    new = by_address(old[2:] + signer_accounts[5:7])  # drop two, add two
    new_addresses = [a.address for a in new]

    tx = oracle.setSigners(new_addresses, 4, {"from": actors.admin})

    assert oracle.configVersion() == 2
    assert oracle.threshold() == 4
    assert list(oracle.signers()) == new_addresses
    assert as_bytes(oracle.signerSetHash()) == signer_set_hash(new_addresses)
    for account in old[:2]:
        assert not oracle.isSigner(account.address)
    for account in new:
        assert oracle.isSigner(account.address)
    event = tx.events["SignersSet"]
    assert event["configVersion"] == 2 and list(event["signers"]) == new_addresses and event["threshold"] == 4


def test_set_signers_accepts_same_set_with_new_threshold(oracle, actors):
    current = list(oracle.signers())
    tx = oracle.setSigners(current, THRESHOLD + 1, {"from": actors.admin})
    assert oracle.configVersion() == 2 and oracle.threshold() == THRESHOLD + 1
    assert tx.events["SignersSet"]["configVersion"] == 2


def test_set_signers_accepts_one_and_max_signers(oracle, actors, signer_accounts):
    single = [signer_accounts[0].address]
    oracle.setSigners(single, 1, {"from": actors.admin})
    assert list(oracle.signers()) == single and oracle.threshold() == 1

    many = sorted((f"0x{i:040x}" for i in range(1, MAX_SIGNERS + 1)), key=lambda a: int(a, 16))
    oracle.setSigners(many, MAX_SIGNERS, {"from": actors.admin})
    assert len(oracle.signers()) == MAX_SIGNERS and oracle.threshold() == MAX_SIGNERS
    assert oracle.configVersion() == 3
    assert not oracle.isSigner(signer_accounts[0].address)


@pytest.mark.parametrize("threshold", [0, 6, 255])
def test_set_signers_reverts_when_threshold_out_of_range(oracle, actors, threshold):
    with reverts("ThresholdOutOfRange(uint8,uint256)", threshold, 5):
        oracle.setSigners(list(oracle.signers()), threshold, {"from": actors.admin})


def test_set_signers_reverts_on_empty_set(oracle, actors):
    with reverts("ThresholdOutOfRange(uint8,uint256)", 1, 0):
        oracle.setSigners([], 1, {"from": actors.admin})
    with reverts("ThresholdOutOfRange(uint8,uint256)", 0, 0):
        oracle.setSigners([], 0, {"from": actors.admin})


def test_set_signers_reverts_on_zero_signer(oracle, actors):
    current = list(oracle.signers())
    with reverts("ZeroSigner(uint256)", 0):
        oracle.setSigners([ZERO_ADDRESS] + current, 3, {"from": actors.admin})


def test_set_signers_reverts_when_not_ascending(oracle, actors):
    current = list(oracle.signers())
    swapped = [current[0], current[2], current[1], current[3], current[4]]
    with reverts("SignerSetNotAscending(uint256,address,address)", 2, current[2], current[1]):
        oracle.setSigners(swapped, 3, {"from": actors.admin})
    with reverts("SignerSetNotAscending(uint256,address,address)", 1, current[4], current[3]):
        oracle.setSigners(current[::-1], 3, {"from": actors.admin})


def test_set_signers_reverts_on_repeated_signer(oracle, actors):
    current = list(oracle.signers())
    repeated = current[:3] + [current[2]] + current[3:]
    with reverts("SignerSetNotAscending(uint256,address,address)", 3, current[2], current[2]):
        oracle.setSigners(repeated, 3, {"from": actors.admin})


def test_set_signers_reverts_above_max_signers(oracle, actors):
    assert oracle.MAX_SIGNERS() == MAX_SIGNERS
    too_many = [f"0x{i:040x}" for i in range(1, MAX_SIGNERS + 2)]
    with reverts("TooManySigners(uint256,uint256)", MAX_SIGNERS + 1, MAX_SIGNERS):
        oracle.setSigners(too_many, 3, {"from": actors.admin})


def test_set_signers_reverts_when_nothing_changes(oracle, actors):
    with reverts("NothingChanged()"):
        oracle.setSigners(list(oracle.signers()), THRESHOLD, {"from": actors.admin})
    assert oracle.configVersion() == 1


def test_set_signers_reverts_for_non_admin(oracle, actors, signer_accounts):
    new = _addresses(signer_accounts[2:7])
    for caller in (actors.mallory, actors.operator, actors.keeper):
        with reverts(UNAUTHORIZED, caller.address, ORACLE_ADMIN_ROLE):
            oracle.setSigners(new, THRESHOLD, {"from": caller})


def test_set_signers_by_a_granted_oracle_admin(oracle, actors, signer_accounts):
    oracle.grantRole(ORACLE_ADMIN_ROLE, actors.operator, {"from": actors.admin})
    oracle.setSigners(_addresses(signer_accounts[2:7]), THRESHOLD, {"from": actors.operator})
    assert oracle.configVersion() == 2
    oracle.revokeRole(ORACLE_ADMIN_ROLE, actors.operator, {"from": actors.admin})
    with reverts(UNAUTHORIZED, actors.operator.address, ORACLE_ADMIN_ROLE):
        oracle.setSigners(_addresses(signer_accounts[:5]), THRESHOLD, {"from": actors.operator})


def test_set_signers_back_to_an_old_set_still_rejects_old_signatures(
    oracle, quorum, started, actors, keeper, signer_accounts
):
    """Versions only rise: returning to an earlier set does not revive the signatures made for it."""
    h100, _ = started
    original = list(oracle.signers())
    reports = [full_h100(h100, FIRST_EPOCH)]
    version1 = quorum.sign_batch(reports)
    oracle.setSigners(_addresses(signer_accounts[4:9]), THRESHOLD, {"from": actors.admin})
    oracle.setSigners(original, THRESHOLD, {"from": actors.admin})
    assert oracle.configVersion() == 3

    with reverts("ConfigVersionMismatch(uint64,uint64)", 1, 3):
        oracle.submit(1, reports, original, version1, {"from": keeper})
    quorum.submit(reports, keeper)  # freshly signed for version 3
    assert oracle.hasReport(h100, FIRST_EPOCH)


# ---------------------------------------------------------------------------------------------- energy margin


def test_set_energy_margin_updates_and_emits(oracle, actors):
    tx = oracle.setEnergyMargin(3_000, {"from": actors.admin})
    assert oracle.energyMarginBps() == 3_000
    assert tx.events["EnergyMarginSet"]["previousBps"] == ENERGY_MARGIN_BPS
    assert tx.events["EnergyMarginSet"]["energyMarginBps"] == 3_000
    oracle.setEnergyMargin(0, {"from": actors.admin})
    oracle.setEnergyMargin(5_000, {"from": actors.admin})
    assert oracle.energyMarginBps() == 5_000
    assert oracle.configVersion() == 1  # the margin is no part of what signers sign


def test_set_energy_margin_reverts_above_max(oracle, actors):
    for margin in (5_001, 65_535):
        with reverts("EnergyMarginOutOfRange(uint16,uint16)", margin, 5_000):
            oracle.setEnergyMargin(margin, {"from": actors.admin})


def test_set_energy_margin_reverts_when_nothing_changes(oracle, actors):
    with reverts("NothingChanged()"):
        oracle.setEnergyMargin(ENERGY_MARGIN_BPS, {"from": actors.admin})


def test_set_energy_margin_reverts_for_non_admin(oracle, actors):
    with reverts(UNAUTHORIZED, actors.mallory.address, ORACLE_ADMIN_ROLE):
        oracle.setEnergyMargin(3_000, {"from": actors.mallory})


# ---------------------------------------------------------------------------------------------- startReporting


@pytest.fixture
def fresh(suite, actors):
    """A newly registered H100 asset whose reporting has not started."""
    return register_asset(suite, actors.admin, actors.operator, H100_CLUSTER)


def test_start_reporting_sets_cursor_and_emits(oracle, actors, fresh):
    assert tuple(oracle.cursorOf(fresh.asset_id)) == (0, False)
    tx = oracle.startReporting(fresh.asset_id, 42, {"from": actors.admin})
    assert tuple(oracle.cursorOf(fresh.asset_id)) == (42, True)
    assert tx.events["ReportingStarted"]["assetId"] == fresh.asset_id
    assert tx.events["ReportingStarted"]["firstEpoch"] == 42


def test_start_reporting_at_epoch_zero(oracle, actors, fresh, quorum, keeper):
    oracle.startReporting(fresh.asset_id, 0, {"from": actors.admin})
    assert tuple(oracle.cursorOf(fresh.asset_id)) == (0, True)
    quorum.submit([full_h100(fresh.asset_id, 0)], keeper)
    assert tuple(oracle.cursorOf(fresh.asset_id)) == (1, True)


def test_start_reporting_reverts_when_started_twice(oracle, quorum, started, actors, keeper):
    h100, _ = started
    with reverts("ReportingAlreadyStarted(uint256,uint64)", h100, FIRST_EPOCH):
        oracle.startReporting(h100, 0, {"from": actors.admin})
    quorum.submit([full_h100(h100, FIRST_EPOCH), full_h100(h100, FIRST_EPOCH + 1)], keeper)
    # nothing about past epochs can be changed: not even moving the start forward past reported ones
    with reverts("ReportingAlreadyStarted(uint256,uint64)", h100, FIRST_EPOCH + 2):
        oracle.startReporting(h100, FIRST_EPOCH + 5, {"from": actors.admin})


def test_start_reporting_reverts_for_an_unknown_asset(oracle, suite, actors):
    unknown = suite.asset_registry.assetCount() + 1
    for asset_id in (0, unknown, 2**256 - 1):
        with reverts("UnknownAsset(uint256)", asset_id):
            oracle.startReporting(asset_id, 0, {"from": actors.admin})


def test_start_reporting_reverts_for_non_admin(oracle, actors, fresh):
    with reverts(UNAUTHORIZED, fresh.operator.address, ORACLE_ADMIN_ROLE):
        oracle.startReporting(fresh.asset_id, 0, {"from": fresh.operator})


def test_start_reporting_for_a_suspended_asset(oracle, suite, actors, fresh):
    suite.asset_registry.setStatus(fresh.asset_id, 2, {"from": actors.admin})
    oracle.startReporting(fresh.asset_id, 5, {"from": actors.admin})
    assert tuple(oracle.cursorOf(fresh.asset_id)) == (5, True)


# ---------------------------------------------------------------------------------------------- roles


def test_oracle_admin_role_is_the_deployers(oracle, actors):
    assert as_bytes(oracle.ORACLE_ADMIN_ROLE()) == ORACLE_ADMIN_ROLE
    assert oracle.hasRole(ORACLE_ADMIN_ROLE, actors.admin)
    assert oracle.owner() == actors.admin.address
    assert not oracle.hasRole(ORACLE_ADMIN_ROLE, actors.mallory)


# ---------------------------------------------------------------------------------------------- constructor


def _deploy(suite, actors, *, genesis=None, epoch_length=EPOCH_LENGTH, margin=ENERGY_MARGIN_BPS, signers=None,
            threshold=1):
    genesis = chain.time() if genesis is None else genesis
    signers = [actors.admin.address] if signers is None else signers
    return MeteringOracle.deploy(suite.asset_registry, genesis, epoch_length, margin, signers, threshold, 0,
                                 actors.admin, {"from": actors.admin})


def test_constructor_sets_configuration(suite, actors, initial_signers):
    signers = [a.address for a in initial_signers]
    deployed = _deploy(suite, actors, genesis=1_000, epoch_length=60, margin=5_000, signers=signers, threshold=5)
    assert deployed.genesis() == 1_000 and deployed.epochLength() == 60 and deployed.energyMarginBps() == 5_000
    assert list(deployed.signers()) == signers and deployed.threshold() == 5 and deployed.configVersion() == 1
    assert deployed.assetRegistry() == suite.asset_registry.address
    _deploy(suite, actors, epoch_length=86_400)


@pytest.mark.parametrize("epoch_length", [0, 59, 86_401])
def test_constructor_reverts_on_epoch_length_out_of_range(suite, actors, epoch_length):
    with reverts("InvalidEpochConfig(uint64,uint64)", 1_000, epoch_length):
        _deploy(suite, actors, genesis=1_000, epoch_length=epoch_length)


def test_constructor_reverts_on_energy_margin_out_of_range(suite, actors):
    with reverts("EnergyMarginOutOfRange(uint16,uint16)", 5_001, 5_000):
        _deploy(suite, actors, margin=5_001)


def test_constructor_validates_the_initial_signer_set(suite, actors, initial_signers):
    signers = [a.address for a in initial_signers]
    with reverts("ThresholdOutOfRange(uint8,uint256)", 0, 5):
        _deploy(suite, actors, signers=signers, threshold=0)
    with reverts("ThresholdOutOfRange(uint8,uint256)", 1, 0):
        _deploy(suite, actors, signers=[], threshold=1)
    with reverts("SignerSetNotAscending(uint256,address,address)", 1, signers[1], signers[0]):
        _deploy(suite, actors, signers=signers[1::-1], threshold=1)
    with reverts("ZeroSigner(uint256)", 0):
        _deploy(suite, actors, signers=[ZERO_ADDRESS], threshold=1)
