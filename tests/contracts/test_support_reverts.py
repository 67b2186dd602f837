"""The revert helper itself (tests/support/reverts.py): it must fail on every mismatch, or every revert test
that uses it would pass vacuously."""

from __future__ import annotations

import pytest
from hexbytes import HexBytes
from web3 import Web3

from tests.support.reverts import encode_error, reverts_with, reverts_with_panic


@pytest.fixture(scope="module", autouse=True)
def registered(h100):
    """Asset 1 exists in every test; asset 5 never does."""


def test_encode_error_is_selector_plus_abi_encoded_arguments(asset_registry, actors):
    data = encode_error(asset_registry, "NotOperator", 7, actors.alice)
    selector = Web3.keccak(text="NotOperator(uint256,address)")[:4]
    assert data == HexBytes(selector + (7).to_bytes(32, "big") + bytes(12) + bytes(HexBytes(actors.alice.address)))


def test_encode_error_rejects_unknown_errors_and_wrong_arity(asset_registry):
    with pytest.raises(KeyError):
        encode_error(asset_registry, "NoSuchError")
    with pytest.raises(TypeError):
        encode_error(asset_registry, "UnknownAsset")


def test_reverts_with_matches_a_transaction_revert_exactly(asset_registry, actors):
    with reverts_with(asset_registry, "NotOperator", 1, actors.alice) as expected:
        asset_registry.updateMetadata(1, "x", "0x" + "00" * 32, {"from": actors.alice})
    assert expected[:4] == Web3.keccak(text="NotOperator(uint256,address)")[:4]


def test_reverts_with_matches_a_call_revert_exactly(asset_registry):
    with reverts_with(asset_registry, "UnknownAsset", 5):
        asset_registry.getAsset(5)


@pytest.mark.parametrize(
    "name, args",
    [
        ("UnknownAsset", (6,)),  # right error, wrong argument
        ("NothingChanged", (5,)),  # same argument type, wrong error
        ("ZeroAddress", ()),
    ],
)
def test_reverts_with_fails_on_a_different_error_or_argument(asset_registry, name, args):
    with pytest.raises(AssertionError, match="expected revert"):
        with reverts_with(asset_registry, name, *args):
            asset_registry.getAsset(5)


def test_reverts_with_fails_on_a_wrong_argument_of_a_transaction(asset_registry, actors):
    with pytest.raises(AssertionError, match="expected revert NotOperator"):
        with reverts_with(asset_registry, "NotOperator", 1, actors.bob):
            asset_registry.updateMetadata(1, "x", "0x" + "00" * 32, {"from": actors.alice})


def test_reverts_with_fails_when_nothing_reverts(asset_registry):
    with pytest.raises(AssertionError, match="nothing reverted"):
        with reverts_with(asset_registry, "UnknownAsset", 1):
            asset_registry.getAsset(1)


def test_reverts_with_lets_other_exceptions_through(asset_registry):
    with pytest.raises(ZeroDivisionError):
        with reverts_with(asset_registry, "ZeroAddress"):
            1 / 0


def test_reverts_with_panic_builds_the_panic_data():
    with pytest.raises(AssertionError, match="Panic"):
        with reverts_with_panic(0x11):
            pass


def test_reverts_with_decodes_an_error_bubbled_from_another_contract(suite, actors, h100):
    token = h100.shares
    token.openOffering(100, 10**20, 2**40, {"from": actors.operator})
    suite.investor_registry.addInvestor(actors.alice, 2**40, 756, {"from": actors.compliance})
    with reverts_with(suite.stablecoin, "ERC20InsufficientAllowance", token, 0, 100):
        token.subscribe(10**18, 100, {"from": actors.alice})
