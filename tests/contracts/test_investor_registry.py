"""InvestorRegistry: verified investors with KYC expiry and jurisdiction, revocation, approved holder contracts,
`canTransfer`, and the roles that guard them (OpenZeppelin AccessControlDefaultAdminRules)."""

from __future__ import annotations

import pytest
from brownie import ZERO_ADDRESS, InvestorRegistry, chain
from web3 import Web3

from tests.support.events import assert_event
from tests.support.reverts import reverts_with

YEAR = 365 * 86_400
SWITZERLAND, GERMANY = 756, 276
NONE, VERIFIED, REVOKED = 0, 1, 2


@pytest.fixture(scope="module")
def registry(investor_registry, verified):
    """The suite's registry with Alice, Bob and Carol verified in every test (module fixtures persist across
    the module's tests in brownie, so every test starts from the same records)."""
    return investor_registry


@pytest.fixture(scope="module")
def dave(actors):
    """An investor the compliance role has never seen (the `liquidator` account, unused in this module)."""
    return actors.liquidator


@pytest.fixture
def expiry():
    return chain[-1].timestamp + YEAR


def role(name: str) -> bytes:
    return Web3.keccak(text=name)


# ------------------------------------------------------------------------------------------------ roles


def test_role_constants_are_the_keccak_of_their_names(registry):
    assert bytes(registry.COMPLIANCE_ROLE()) == role("COMPLIANCE_ROLE")
    assert bytes(registry.HOLDER_MANAGER_ROLE()) == role("HOLDER_MANAGER_ROLE")


def test_deployment_grants_compliance_role_to_compliance_and_admin_to_deployer(registry, actors):
    assert registry.hasRole(registry.COMPLIANCE_ROLE(), actors.compliance)
    assert not registry.hasRole(registry.COMPLIANCE_ROLE(), actors.admin)
    assert registry.owner() == actors.admin
    assert registry.defaultAdmin() == actors.admin
    assert registry.defaultAdminDelay() == 0


def test_add_investor_reverts_for_an_account_without_compliance_role(registry, actors, dave, expiry):
    with reverts_with(registry, "AccessControlUnauthorizedAccount", actors.admin, registry.COMPLIANCE_ROLE()):
        registry.addInvestor(dave, expiry, SWITZERLAND, {"from": actors.admin})


def test_renew_investor_reverts_for_an_account_without_compliance_role(registry, actors, verified, expiry):
    with reverts_with(registry, "AccessControlUnauthorizedAccount", actors.mallory, registry.COMPLIANCE_ROLE()):
        registry.renewInvestor(actors.alice, expiry + 1, SWITZERLAND, {"from": actors.mallory})


def test_revoke_investor_reverts_for_an_account_without_compliance_role(registry, actors, verified):
    with reverts_with(registry, "AccessControlUnauthorizedAccount", actors.alice, registry.COMPLIANCE_ROLE()):
        registry.revokeInvestor(actors.bob, {"from": actors.alice})


def test_set_approved_holder_reverts_for_an_account_without_holder_manager_role(registry, actors):
    # Not even the compliance role may approve holder contracts: that is the lending factory's job.
    with reverts_with(
        registry, "AccessControlUnauthorizedAccount", actors.compliance, registry.HOLDER_MANAGER_ROLE()
    ):
        registry.setApprovedHolder(actors.keeper, True, {"from": actors.compliance})


def test_admin_grants_and_revokes_the_holder_manager_role(registry, actors):
    manager_role = registry.HOLDER_MANAGER_ROLE()
    tx = registry.grantRole(manager_role, actors.keeper, {"from": actors.admin})
    assert_event(tx, "RoleGranted", role=manager_role, account=actors.keeper, sender=actors.admin)
    assert registry.hasRole(manager_role, actors.keeper)
    registry.setApprovedHolder(actors.lessee, True, {"from": actors.keeper})

    tx = registry.revokeRole(manager_role, actors.keeper, {"from": actors.admin})
    assert_event(tx, "RoleRevoked", role=manager_role, account=actors.keeper, sender=actors.admin)
    with reverts_with(registry, "AccessControlUnauthorizedAccount", actors.keeper, manager_role):
        registry.setApprovedHolder(actors.lessee, False, {"from": actors.keeper})


def test_grant_role_reverts_for_a_non_admin(registry, actors):
    with reverts_with(registry, "AccessControlUnauthorizedAccount", actors.compliance, registry.DEFAULT_ADMIN_ROLE()):
        registry.grantRole(registry.COMPLIANCE_ROLE(), actors.mallory, {"from": actors.compliance})


def test_grant_default_admin_role_directly_reverts(registry, actors):
    # Admin changes go through the two-step, delayed transfer only.
    with reverts_with(registry, "AccessControlEnforcedDefaultAdminRules"):
        registry.grantRole(registry.DEFAULT_ADMIN_ROLE(), actors.bob, {"from": actors.admin})


def test_compliance_may_renounce_its_own_role(registry, actors, dave, expiry):
    registry.renounceRole(registry.COMPLIANCE_ROLE(), actors.compliance, {"from": actors.compliance})
    with reverts_with(registry, "AccessControlUnauthorizedAccount", actors.compliance, registry.COMPLIANCE_ROLE()):
        registry.addInvestor(dave, expiry, SWITZERLAND, {"from": actors.compliance})


def test_renounce_role_reverts_for_another_account(registry, actors):
    with reverts_with(registry, "AccessControlBadConfirmation"):
        registry.renounceRole(registry.COMPLIANCE_ROLE(), actors.compliance, {"from": actors.mallory})


def test_default_admin_transfer_waits_for_the_delay_and_the_new_admin(actors, next_block_time):
    """A registry deployed with a one-day delay: begin, wrong acceptor, too early, then accepted."""
    delay = 86_400
    registry = InvestorRegistry.deploy(delay, actors.admin, {"from": actors.admin})
    begun_at = next_block_time()
    tx = registry.beginDefaultAdminTransfer(actors.bob, {"from": actors.admin})
    schedule = begun_at + delay
    assert_event(tx, "DefaultAdminTransferScheduled", newAdmin=actors.bob, acceptSchedule=schedule)
    assert tuple(registry.pendingDefaultAdmin()) == (actors.bob, schedule)

    with reverts_with(registry, "AccessControlInvalidDefaultAdmin", actors.mallory):
        registry.acceptDefaultAdminTransfer({"from": actors.mallory})
    with reverts_with(registry, "AccessControlEnforcedDefaultAdminDelay", schedule):
        registry.acceptDefaultAdminTransfer({"from": actors.bob})

    next_block_time(schedule + 1)
    registry.acceptDefaultAdminTransfer({"from": actors.bob})
    assert registry.owner() == actors.bob
    assert registry.hasRole(registry.DEFAULT_ADMIN_ROLE(), actors.bob)
    assert not registry.hasRole(registry.DEFAULT_ADMIN_ROLE(), actors.admin)


def test_default_admin_transfer_can_be_cancelled_and_the_delay_changed(actors, next_block_time):
    registry = InvestorRegistry.deploy(86_400, actors.admin, {"from": actors.admin})
    registry.beginDefaultAdminTransfer(actors.bob, {"from": actors.admin})
    tx = registry.cancelDefaultAdminTransfer({"from": actors.admin})
    assert_event(tx, "DefaultAdminTransferCanceled")
    assert tuple(registry.pendingDefaultAdmin()) == (ZERO_ADDRESS, 0)
    with reverts_with(registry, "AccessControlUnauthorizedAccount", actors.bob, registry.DEFAULT_ADMIN_ROLE()):
        registry.beginDefaultAdminTransfer(actors.bob, {"from": actors.bob})

    # Lowering the delay takes effect only after the old delay has passed (OpenZeppelin's rule).
    now = next_block_time()
    tx = registry.changeDefaultAdminDelay(3_600, {"from": actors.admin})
    assert_event(tx, "DefaultAdminDelayChangeScheduled", newDelay=3_600, effectSchedule=now + 86_400 - 3_600)
    assert tuple(registry.pendingDefaultAdminDelay()) == (3_600, now + 86_400 - 3_600)
    assert registry.defaultAdminDelay() == 86_400
    registry.rollbackDefaultAdminDelay({"from": actors.admin})
    assert tuple(registry.pendingDefaultAdminDelay()) == (0, 0)


def test_role_admin_of_every_role_is_the_default_admin(registry):
    admin_role = registry.DEFAULT_ADMIN_ROLE()
    for role_id in (registry.COMPLIANCE_ROLE(), registry.HOLDER_MANAGER_ROLE(), admin_role):
        assert registry.getRoleAdmin(role_id) == admin_role


def test_constructor_reverts_for_a_zero_admin(actors):
    with reverts_with(InvestorRegistry, "AccessControlInvalidDefaultAdmin", ZERO_ADDRESS):
        InvestorRegistry.deploy(0, ZERO_ADDRESS, {"from": actors.admin})


# ------------------------------------------------------------------------------------------------ addInvestor


def test_add_investor_stores_the_record_and_emits_investor_verified(registry, actors, dave, expiry):
    assert not registry.canHold(dave)
    tx = registry.addInvestor(dave, expiry, SWITZERLAND, {"from": actors.compliance})

    assert_event(tx, "InvestorVerified", investor=dave, kycExpiry=expiry, jurisdiction=SWITZERLAND)
    assert tuple(registry.investorOf(dave)) == (expiry, SWITZERLAND, VERIFIED, False)
    assert registry.isVerified(dave)
    assert registry.canHold(dave)


def test_add_investor_reverts_for_the_zero_address(registry, actors, expiry):
    with reverts_with(registry, "ZeroAddress"):
        registry.addInvestor(ZERO_ADDRESS, expiry, SWITZERLAND, {"from": actors.compliance})


def test_add_investor_reverts_when_kyc_expiry_is_now(registry, actors, dave, next_block_time):
    now = next_block_time()
    with reverts_with(registry, "KycExpiryNotInFuture", dave, now, now):
        registry.addInvestor(dave, now, SWITZERLAND, {"from": actors.compliance})


def test_add_investor_reverts_when_kyc_expiry_is_in_the_past(registry, actors, dave, next_block_time):
    now = next_block_time()
    with reverts_with(registry, "KycExpiryNotInFuture", dave, now - 1, now):
        registry.addInvestor(dave, now - 1, SWITZERLAND, {"from": actors.compliance})


@pytest.mark.parametrize("jurisdiction", [0, 1000, 65_535])
def test_add_investor_reverts_for_a_jurisdiction_outside_1_to_999(registry, actors, dave, expiry, jurisdiction):
    with reverts_with(registry, "InvalidJurisdiction", jurisdiction):
        registry.addInvestor(dave, expiry, jurisdiction, {"from": actors.compliance})


@pytest.mark.parametrize("jurisdiction", [1, 999])
def test_add_investor_accepts_the_jurisdiction_bounds(registry, actors, dave, expiry, jurisdiction):
    registry.addInvestor(dave, expiry, jurisdiction, {"from": actors.compliance})
    assert registry.investorOf(dave)[1] == jurisdiction


def test_add_investor_reverts_when_already_verified(registry, actors, verified, expiry):
    with reverts_with(registry, "InvestorAlreadyVerified", actors.alice):
        registry.addInvestor(actors.alice, expiry, GERMANY, {"from": actors.compliance})


def test_add_investor_reverts_when_already_verified_even_if_expired(registry, actors, dave):
    registry.addInvestor(dave, chain[-1].timestamp + 100, SWITZERLAND, {"from": actors.compliance})
    chain.sleep(200)
    chain.mine()
    assert not registry.isVerified(dave)
    # An expired investor is renewed, not added again.
    with reverts_with(registry, "InvestorAlreadyVerified", dave):
        registry.addInvestor(dave, chain[-1].timestamp + YEAR, SWITZERLAND, {"from": actors.compliance})


def test_add_investor_verifies_a_revoked_investor_again(registry, actors, verified, expiry):
    registry.revokeInvestor(actors.alice, {"from": actors.compliance})
    tx = registry.addInvestor(actors.alice, expiry, GERMANY, {"from": actors.compliance})
    assert_event(tx, "InvestorVerified", investor=actors.alice, kycExpiry=expiry, jurisdiction=GERMANY)
    assert tuple(registry.investorOf(actors.alice)) == (expiry, GERMANY, VERIFIED, False)
    assert registry.isVerified(actors.alice)


# ------------------------------------------------------------------------------------------------ renewInvestor


def test_renew_investor_moves_expiry_and_jurisdiction(registry, actors, verified, expiry):
    new_expiry = expiry + YEAR
    tx = registry.renewInvestor(actors.alice, new_expiry, GERMANY, {"from": actors.compliance})
    assert_event(tx, "InvestorRenewed", investor=actors.alice, kycExpiry=new_expiry, jurisdiction=GERMANY)
    assert tuple(registry.investorOf(actors.alice)) == (new_expiry, GERMANY, VERIFIED, False)


def test_renew_investor_restores_an_expired_investor(registry, actors, dave):
    registry.addInvestor(dave, chain[-1].timestamp + 100, SWITZERLAND, {"from": actors.compliance})
    chain.sleep(200)
    chain.mine()
    assert not registry.isVerified(dave)
    assert not registry.canHold(dave)

    new_expiry = chain[-1].timestamp + YEAR
    tx = registry.renewInvestor(dave, new_expiry, SWITZERLAND, {"from": actors.compliance})
    assert_event(tx, "InvestorRenewed", investor=dave, kycExpiry=new_expiry, jurisdiction=SWITZERLAND)
    assert registry.isVerified(dave)
    assert registry.canHold(dave)


def test_renew_investor_reverts_for_an_unknown_investor(registry, actors, expiry):
    with reverts_with(registry, "InvestorNotVerified", actors.mallory):
        registry.renewInvestor(actors.mallory, expiry, SWITZERLAND, {"from": actors.compliance})


def test_renew_investor_reverts_for_a_revoked_investor(registry, actors, verified, expiry):
    registry.revokeInvestor(actors.alice, {"from": actors.compliance})
    with reverts_with(registry, "InvestorNotVerified", actors.alice):
        registry.renewInvestor(actors.alice, expiry, SWITZERLAND, {"from": actors.compliance})


def test_renew_investor_reverts_for_the_zero_address(registry, actors, expiry):
    with reverts_with(registry, "ZeroAddress"):
        registry.renewInvestor(ZERO_ADDRESS, expiry, SWITZERLAND, {"from": actors.compliance})


def test_renew_investor_reverts_when_kyc_expiry_is_not_in_the_future(registry, actors, verified, next_block_time):
    now = next_block_time()
    with reverts_with(registry, "KycExpiryNotInFuture", actors.alice, now, now):
        registry.renewInvestor(actors.alice, now, SWITZERLAND, {"from": actors.compliance})


def test_renew_investor_reverts_for_an_invalid_jurisdiction(registry, actors, verified, expiry):
    with reverts_with(registry, "InvalidJurisdiction", 0):
        registry.renewInvestor(actors.alice, expiry, 0, {"from": actors.compliance})


# ------------------------------------------------------------------------------------------------ revokeInvestor


def test_revoke_investor_marks_revoked_and_emits(registry, actors, verified):
    before = registry.investorOf(actors.alice)
    tx = registry.revokeInvestor(actors.alice, {"from": actors.compliance})
    assert_event(tx, "InvestorRevoked", investor=actors.alice)
    assert tuple(registry.investorOf(actors.alice)) == (before[0], before[1], REVOKED, False)
    assert not registry.isVerified(actors.alice)
    assert not registry.canHold(actors.alice)


def test_revoke_investor_reverts_for_an_unknown_investor(registry, actors):
    with reverts_with(registry, "InvestorNotVerified", actors.mallory):
        registry.revokeInvestor(actors.mallory, {"from": actors.compliance})


def test_revoke_investor_reverts_when_already_revoked(registry, actors, verified):
    registry.revokeInvestor(actors.alice, {"from": actors.compliance})
    with reverts_with(registry, "InvestorNotVerified", actors.alice):
        registry.revokeInvestor(actors.alice, {"from": actors.compliance})


# ------------------------------------------------------------------------------------------------ approved holders


@pytest.fixture
def holder_manager(registry, actors):
    registry.grantRole(registry.HOLDER_MANAGER_ROLE(), actors.keeper, {"from": actors.admin})
    return actors.keeper


def test_set_approved_holder_lets_an_unverified_contract_hold(registry, actors, holder_manager):
    vault = actors.lessee2  # stands in for a lending market
    assert not registry.canHold(vault)
    tx = registry.setApprovedHolder(vault, True, {"from": holder_manager})
    assert_event(tx, "HolderApprovalSet", holder=vault, approved=True)
    assert registry.canHold(vault)
    assert not registry.isVerified(vault)
    assert tuple(registry.investorOf(vault)) == (0, 0, NONE, True)

    tx = registry.setApprovedHolder(vault, False, {"from": holder_manager})
    assert_event(tx, "HolderApprovalSet", holder=vault, approved=False)
    assert not registry.canHold(vault)


def test_set_approved_holder_reverts_for_the_zero_address(registry, holder_manager):
    with reverts_with(registry, "ZeroAddress"):
        registry.setApprovedHolder(ZERO_ADDRESS, True, {"from": holder_manager})


@pytest.mark.parametrize("approved", [True, False])
def test_set_approved_holder_reverts_when_unchanged(registry, actors, holder_manager, approved):
    if approved:
        registry.setApprovedHolder(actors.lessee2, True, {"from": holder_manager})
    with reverts_with(registry, "HolderApprovalUnchanged", actors.lessee2, approved):
        registry.setApprovedHolder(actors.lessee2, approved, {"from": holder_manager})


def test_approved_holder_may_hold_even_when_its_investor_record_is_revoked(registry, actors, verified, holder_manager):
    registry.setApprovedHolder(actors.alice, True, {"from": holder_manager})
    registry.revokeInvestor(actors.alice, {"from": actors.compliance})
    assert not registry.isVerified(actors.alice)
    assert registry.canHold(actors.alice)


# ------------------------------------------------------------------------------------------------ views


def test_investor_of_an_unknown_account_is_empty(registry, actors):
    assert tuple(registry.investorOf(actors.mallory)) == (0, 0, NONE, False)
    assert not registry.isVerified(actors.mallory)
    assert not registry.canHold(actors.mallory)


def test_is_verified_turns_false_exactly_at_kyc_expiry(registry, actors, dave, next_block_time):
    start = next_block_time()
    registry.addInvestor(dave, start + 10, SWITZERLAND, {"from": actors.compliance})
    next_block_time(start + 9)
    chain.mine()
    assert registry.isVerified(dave)
    assert registry.canHold(dave)
    next_block_time(start + 10)
    chain.mine()
    assert not registry.isVerified(dave)
    assert not registry.canHold(dave)


def test_can_transfer_needs_both_sides_allowed_and_treats_zero_sender_as_mint(
    registry, actors, verified, holder_manager
):
    alice, bob, mallory = actors.alice, actors.bob, actors.mallory
    assert registry.canTransfer(alice, bob)
    assert registry.canTransfer(ZERO_ADDRESS, alice)  # mint
    assert not registry.canTransfer(alice, mallory)
    assert not registry.canTransfer(mallory, alice)
    assert not registry.canTransfer(ZERO_ADDRESS, mallory)
    assert not registry.canTransfer(alice, ZERO_ADDRESS)

    registry.setApprovedHolder(actors.lessee2, True, {"from": holder_manager})
    assert registry.canTransfer(alice, actors.lessee2)
    assert registry.canTransfer(actors.lessee2, bob)

    registry.revokeInvestor(bob, {"from": actors.compliance})
    assert not registry.canTransfer(alice, bob)
    assert not registry.canTransfer(bob, alice)


def test_supports_access_control_interfaces(registry):
    assert registry.supportsInterface("0x7965db0b")  # IAccessControl
    assert registry.supportsInterface("0x31498786")  # IAccessControlDefaultAdminRules
    assert registry.supportsInterface("0x01ffc9a7")  # IERC165
    assert not registry.supportsInterface("0xffffffff")


# ------------------------------------------------------------------------------------ transfer reasons


def test_require_can_transfer_names_an_account_never_verified(registry, actors, dave):
    with reverts_with(registry, "NotVerified", dave):
        registry.requireCanTransfer(actors.alice, dave)
    with reverts_with(registry, "NotVerified", dave):
        registry.requireCanTransfer(dave, actors.alice)
    # A mint checks only the receiver.
    with reverts_with(registry, "NotVerified", dave):
        registry.requireCanTransfer(ZERO_ADDRESS, dave)
    registry.requireCanTransfer(ZERO_ADDRESS, actors.alice)


def test_require_can_transfer_names_a_revoked_investor(registry, actors):
    registry.revokeInvestor(actors.bob, {"from": actors.compliance})
    with reverts_with(registry, "VerificationRevoked", actors.bob):
        registry.requireCanTransfer(actors.alice, actors.bob)
    with reverts_with(registry, "VerificationRevoked", actors.bob):
        registry.requireCanTransfer(actors.bob, actors.alice)


def test_require_can_transfer_names_the_time_a_kyc_expired(registry, actors, dave, next_block_time):
    now = next_block_time()
    registry.addInvestor(dave, now + 100, 756, {"from": actors.compliance})
    registry.requireCanTransfer(actors.alice, dave)
    next_block_time(now + 100)
    chain.mine()
    with reverts_with(registry, "KycExpired", dave, now + 100):
        registry.requireCanTransfer(actors.alice, dave)
    # The sender is named first when both fail.
    with reverts_with(registry, "KycExpired", dave, now + 100):
        registry.requireCanTransfer(dave, actors.mallory)


def test_require_can_transfer_lets_an_approved_holder_contract_through(registry, actors, dave):
    registry.grantRole(registry.HOLDER_MANAGER_ROLE(), actors.admin, {"from": actors.admin})
    registry.setApprovedHolder(dave, True, {"from": actors.admin})
    registry.requireCanTransfer(actors.alice, dave)
    registry.requireCanTransfer(dave, actors.alice)
    assert registry.canTransfer(dave, actors.alice)
