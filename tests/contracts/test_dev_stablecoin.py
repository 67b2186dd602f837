"""DevStablecoin: the USDC stand-in of local chains: 6 decimals, minter role, blocklist (a frozen address can
neither send, receive, spend nor grant an allowance), pause, and EIP-2612 permit."""

from __future__ import annotations

import pytest
from brownie import ZERO_ADDRESS, DevStablecoin, accounts, chain
from eth_account import Account
from web3 import Web3

from scripts.eip2612 import sign_permit
from scripts.samples import usd
from tests.support.events import assert_event
from tests.support.reverts import reverts_with


@pytest.fixture(scope="module")
def coin(stablecoin):
    return stablecoin


@pytest.fixture(scope="module", autouse=True)
def balances(coin, actors):
    """Alice holds 1,000 dev-USD and Bob 500 in every test."""
    coin.mint(actors.alice, usd(1_000), {"from": actors.admin})
    coin.mint(actors.bob, usd(500), {"from": actors.admin})


# ------------------------------------------------------------------------------------------------ metadata, roles


def test_metadata_is_usdc_like(coin):
    assert coin.name() == "Wellhead Dev USD"
    assert coin.symbol() == "wUSD"
    assert coin.decimals() == 6
    assert coin.totalSupply() == usd(1_500)


def test_roles_are_the_keccak_of_their_names_and_granted_to_the_deployer(coin, actors):
    for name in ("MINTER_ROLE", "BLOCKLISTER_ROLE", "PAUSER_ROLE"):
        role = getattr(coin, name)()
        assert bytes(role) == Web3.keccak(text=name)
        assert coin.hasRole(role, actors.admin)
    assert coin.owner() == actors.admin


# ------------------------------------------------------------------------------------------------ mint


def test_mint_creates_tokens_and_emits_transfer(coin, actors):
    tx = coin.mint(actors.carol, usd("12.5"), {"from": actors.admin})
    assert_event(tx, "Transfer", **{"from": ZERO_ADDRESS, "to": actors.carol, "value": usd("12.5")})
    assert coin.balanceOf(actors.carol) == usd("12.5")
    assert coin.totalSupply() == usd(1_500) + usd("12.5")


def test_mint_reverts_without_minter_role(coin, actors):
    with reverts_with(coin, "AccessControlUnauthorizedAccount", actors.alice, coin.MINTER_ROLE()):
        coin.mint(actors.alice, 1, {"from": actors.alice})


def test_mint_reverts_to_the_zero_address(coin, actors):
    with reverts_with(coin, "ERC20InvalidReceiver", ZERO_ADDRESS):
        coin.mint(ZERO_ADDRESS, 1, {"from": actors.admin})


def test_mint_reverts_to_a_blocklisted_account(coin, actors):
    coin.blocklist(actors.carol, {"from": actors.admin})
    with reverts_with(coin, "AccountBlocklisted", actors.carol):
        coin.mint(actors.carol, 1, {"from": actors.admin})


def test_minter_role_can_be_granted(coin, actors):
    coin.grantRole(coin.MINTER_ROLE(), actors.keeper, {"from": actors.admin})
    coin.mint(actors.keeper, 7, {"from": actors.keeper})
    assert coin.balanceOf(actors.keeper) == 7


# ------------------------------------------------------------------------------------------------ transfers


def test_transfer_moves_balance_and_emits(coin, actors):
    tx = coin.transfer(actors.bob, usd(10), {"from": actors.alice})
    assert tx.return_value is True
    assert_event(tx, "Transfer", **{"from": actors.alice, "to": actors.bob, "value": usd(10)})
    assert coin.balanceOf(actors.alice) == usd(990)
    assert coin.balanceOf(actors.bob) == usd(510)


def test_transfer_reverts_above_the_balance(coin, actors):
    with reverts_with(coin, "ERC20InsufficientBalance", actors.bob, usd(500), usd(501)):
        coin.transfer(actors.alice, usd(501), {"from": actors.bob})


def test_approve_and_transfer_from(coin, actors):
    tx = coin.approve(actors.carol, usd(50), {"from": actors.alice})
    assert_event(tx, "Approval", owner=actors.alice, spender=actors.carol, value=usd(50))
    coin.transferFrom(actors.alice, actors.bob, usd(20), {"from": actors.carol})
    assert coin.allowance(actors.alice, actors.carol) == usd(30)
    assert coin.balanceOf(actors.bob) == usd(520)
    with reverts_with(coin, "ERC20InsufficientAllowance", actors.carol, usd(30), usd(31)):
        coin.transferFrom(actors.alice, actors.bob, usd(31), {"from": actors.carol})


# ------------------------------------------------------------------------------------------------ blocklist


def test_blocklist_freezes_and_emits(coin, actors):
    tx = coin.blocklist(actors.alice, {"from": actors.admin})
    assert_event(tx, "Blocklisted", account=actors.alice)
    assert coin.isBlocklisted(actors.alice)


def test_blocklisted_account_cannot_send(coin, actors):
    coin.blocklist(actors.alice, {"from": actors.admin})
    with reverts_with(coin, "AccountBlocklisted", actors.alice):
        coin.transfer(actors.bob, 1, {"from": actors.alice})


def test_blocklisted_account_cannot_receive(coin, actors):
    coin.blocklist(actors.bob, {"from": actors.admin})
    with reverts_with(coin, "AccountBlocklisted", actors.bob):
        coin.transfer(actors.bob, 1, {"from": actors.alice})


def test_blocklisted_spender_cannot_move_anyones_tokens(coin, actors):
    coin.approve(actors.carol, usd(50), {"from": actors.alice})
    coin.blocklist(actors.carol, {"from": actors.admin})
    with reverts_with(coin, "AccountBlocklisted", actors.carol):
        coin.transferFrom(actors.alice, actors.bob, 1, {"from": actors.carol})


def test_blocklisted_owner_cannot_be_spent_from(coin, actors):
    coin.approve(actors.carol, usd(50), {"from": actors.alice})
    coin.blocklist(actors.alice, {"from": actors.admin})
    with reverts_with(coin, "AccountBlocklisted", actors.alice):
        coin.transferFrom(actors.alice, actors.bob, 1, {"from": actors.carol})


def test_blocklisted_account_cannot_approve_or_be_approved(coin, actors):
    coin.blocklist(actors.alice, {"from": actors.admin})
    with reverts_with(coin, "AccountBlocklisted", actors.alice):
        coin.approve(actors.bob, 1, {"from": actors.alice})
    with reverts_with(coin, "AccountBlocklisted", actors.alice):
        coin.approve(actors.alice, 1, {"from": actors.bob})


def test_unblocklist_restores_the_account_and_emits(coin, actors):
    coin.blocklist(actors.alice, {"from": actors.admin})
    tx = coin.unBlocklist(actors.alice, {"from": actors.admin})
    assert_event(tx, "UnBlocklisted", account=actors.alice)
    assert not coin.isBlocklisted(actors.alice)
    coin.transfer(actors.bob, 1, {"from": actors.alice})


def test_blocklist_reverts_when_already_blocklisted(coin, actors):
    coin.blocklist(actors.alice, {"from": actors.admin})
    with reverts_with(coin, "BlocklistUnchanged", actors.alice, True):
        coin.blocklist(actors.alice, {"from": actors.admin})


def test_unblocklist_reverts_when_not_blocklisted(coin, actors):
    with reverts_with(coin, "BlocklistUnchanged", actors.alice, False):
        coin.unBlocklist(actors.alice, {"from": actors.admin})


def test_blocklist_and_unblocklist_revert_without_blocklister_role(coin, actors):
    role = coin.BLOCKLISTER_ROLE()
    with reverts_with(coin, "AccessControlUnauthorizedAccount", actors.alice, role):
        coin.blocklist(actors.bob, {"from": actors.alice})
    coin.blocklist(actors.bob, {"from": actors.admin})
    with reverts_with(coin, "AccessControlUnauthorizedAccount", actors.bob, role):
        coin.unBlocklist(actors.bob, {"from": actors.bob})


# ------------------------------------------------------------------------------------------------ pause


def test_pause_stops_every_balance_change_and_unpause_resumes(coin, actors):
    tx = coin.pause({"from": actors.admin})
    assert_event(tx, "Paused", account=actors.admin)
    assert coin.paused()
    with reverts_with(coin, "EnforcedPause"):
        coin.transfer(actors.bob, 1, {"from": actors.alice})
    with reverts_with(coin, "EnforcedPause"):
        coin.mint(actors.bob, 1, {"from": actors.admin})
    coin.approve(actors.carol, 1, {"from": actors.alice})  # allowances are not balance changes
    with reverts_with(coin, "EnforcedPause"):
        coin.transferFrom(actors.alice, actors.bob, 1, {"from": actors.carol})

    tx = coin.unpause({"from": actors.admin})
    assert_event(tx, "Unpaused", account=actors.admin)
    coin.transfer(actors.bob, 1, {"from": actors.alice})


def test_pause_reverts_when_paused_and_unpause_when_not(coin, actors):
    with reverts_with(coin, "ExpectedPause"):
        coin.unpause({"from": actors.admin})
    coin.pause({"from": actors.admin})
    with reverts_with(coin, "EnforcedPause"):
        coin.pause({"from": actors.admin})


def test_pause_and_unpause_revert_without_pauser_role(coin, actors):
    role = coin.PAUSER_ROLE()
    with reverts_with(coin, "AccessControlUnauthorizedAccount", actors.alice, role):
        coin.pause({"from": actors.alice})
    coin.pause({"from": actors.admin})
    with reverts_with(coin, "AccessControlUnauthorizedAccount", actors.alice, role):
        coin.unpause({"from": actors.alice})


# ------------------------------------------------------------------------------------------------ permit


def _sign_permit(coin, key, owner, spender, value, nonce, deadline):
    return sign_permit(coin, key, spender, value, deadline, nonce, owner=owner)


@pytest.fixture(scope="module")
def holder(coin, actors):
    key = "0x" + "c0" * 32
    account = accounts.add(key)
    coin.mint(account, usd(100), {"from": actors.admin})
    return account, key


def test_permit_grants_an_allowance_from_a_signature(coin, actors, holder):
    owner, key = holder
    deadline = chain[-1].timestamp + 600
    v, r, s = _sign_permit(coin, key, owner.address, actors.bob.address, usd(60), 0, deadline)
    tx = coin.permit(owner, actors.bob, usd(60), deadline, v, r, s, {"from": actors.keeper})
    assert_event(tx, "Approval", owner=owner, spender=actors.bob, value=usd(60))
    assert coin.nonces(owner) == 1
    coin.transferFrom(owner, actors.bob, usd(60), {"from": actors.bob})
    assert coin.balanceOf(owner) == usd(40)


def test_permit_reverts_after_the_deadline(coin, actors, holder, next_block_time):
    owner, key = holder
    now = next_block_time()
    v, r, s = _sign_permit(coin, key, owner.address, actors.bob.address, 1, 0, now - 1)
    with reverts_with(coin, "ERC2612ExpiredSignature", now - 1):
        coin.permit(owner, actors.bob, 1, now - 1, v, r, s, {"from": actors.bob})


def test_permit_reverts_for_a_signature_by_someone_else(coin, actors, holder):
    owner, _ = holder
    forger_key = "0x" + "0f" * 32
    deadline = chain[-1].timestamp + 600
    v, r, s = _sign_permit(coin, forger_key, owner.address, actors.bob.address, 1, 0, deadline)
    with reverts_with(coin, "ERC2612InvalidSigner", Account.from_key(forger_key).address, owner):
        coin.permit(owner, actors.bob, 1, deadline, v, r, s, {"from": actors.bob})


def test_permit_reverts_for_a_blocklisted_spender(coin, actors, holder):
    owner, key = holder
    coin.blocklist(actors.bob, {"from": actors.admin})
    deadline = chain[-1].timestamp + 600
    v, r, s = _sign_permit(coin, key, owner.address, actors.bob.address, 1, 0, deadline)
    with reverts_with(coin, "AccountBlocklisted", actors.bob):
        coin.permit(owner, actors.bob, 1, deadline, v, r, s, {"from": actors.keeper})


# ------------------------------------------------------------------------------------------------ admin


def test_constructor_reverts_for_a_zero_admin(actors):
    with reverts_with(DevStablecoin, "AccessControlInvalidDefaultAdmin", ZERO_ADDRESS):
        DevStablecoin.deploy("X", "X", 0, ZERO_ADDRESS, {"from": actors.admin})
