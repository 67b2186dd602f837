"""What a wallet client needs from the contracts: AssetShares.subscribeWithPermit and multicall, the
PortfolioLens (a wallet's whole position in one eth_call) and LeasePositions.tokenURI (on-chain JSON).

State: the investor app's demo world (app/world.py): three assets with open offerings (H100 $100, L40S $25,
B200 $250 per share), Carol holding 3,000 / 4,000 / 8,000 shares and borrowing $5,000 against 200 H100
shares, leases 1 and 3 held by `lessee` and lease 2 by `lessee2`, six settled epochs. A key-holding
investor (`signer`) is verified and funded with 10,000 dev-USD.
"""

from __future__ import annotations

import base64
import json

import pytest
from brownie import accounts, chain

from scripts.eip2612 import sign_permit
from scripts.samples import shares, usd
from tests.support.events import assert_event
from tests.support.reverts import reverts_with

KEY = "0x" + "7a" * 32
MAX_UINT = 2**256 - 1


@pytest.fixture(scope="module")
def world(accounts):
    from app.world import build_world

    return build_world(accounts)


@pytest.fixture(scope="module")
def signer(world):
    account = accounts.add(KEY)
    world.suite.investor_registry.addInvestor(account, chain.time() + 365 * 86_400, 756,
                                              {"from": world.who["compliance"]})
    world.suite.stablecoin.mint(account, usd(10_000), {"from": world.who["admin"]})
    return account


def _permit(world, spender, value, key=KEY, owner=None):
    deadline = chain[-1].timestamp + 3600
    v, r, s = sign_permit(world.suite.stablecoin, key, spender, value, deadline, owner=owner)
    return deadline, v, "0x" + r.hex(), "0x" + s.hex()


# ------------------------------------------------------------------------------------------------ subscribe


def test_subscribe_with_permit_buys_with_one_transaction(world, signer):
    h100, coin = world.assets[0], world.suite.stablecoin
    cost = usd(100) * 7
    deadline, v, r, s = _permit(world, h100.shares, cost)

    tx = h100.shares.subscribeWithPermit(shares(7), cost, deadline, v, r, s, {"from": signer})

    assert_event(tx, "Subscribed", investor=signer, round=1, shares=shares(7), cost=cost)
    assert h100.shares.balanceOf(signer) == shares(7)
    assert coin.balanceOf(signer) == usd(10_000) - cost
    assert coin.allowance(signer, h100.shares) == 0
    assert coin.nonces(signer) == 1


def test_subscribe_with_permit_survives_a_front_run_permit(world, signer):
    h100, coin = world.assets[0], world.suite.stablecoin
    cost = usd(100) * 3
    deadline, v, r, s = _permit(world, h100.shares, cost)
    # Someone copies the permit from the mempool and submits it first: the nonce is spent...
    coin.permit(signer, h100.shares, cost, deadline, v, r, s, {"from": world.who["keeper"]})

    # ...the token's own permit call fails, is ignored, and the allowance already in place pays.
    tx = h100.shares.subscribeWithPermit(shares(3), cost, deadline, v, r, s, {"from": signer})

    assert tx.events["Subscribed"]["cost"] == cost
    assert coin.allowance(signer, h100.shares) == 0


def test_subscribe_with_a_permit_of_another_key_reverts_on_the_missing_allowance(world, signer):
    h100, coin = world.assets[0], world.suite.stablecoin
    cost = usd(100)
    deadline, v, r, s = _permit(world, h100.shares, cost, key="0x" + "11" * 32, owner=signer)

    with reverts_with(coin, "ERC20InsufficientAllowance", h100.shares, 0, cost):
        h100.shares.subscribeWithPermit(shares(1), cost, deadline, v, r, s, {"from": signer})


def test_subscribe_with_permit_reverts_for_an_unverified_investor(world):
    h100, mallory = world.assets[0], world.who["mallory"]
    cost = usd(100)
    deadline = chain[-1].timestamp + 3600
    # Mallory's key is Anvil's account 7: brownie signs the typed data through the node instead.
    with reverts_with(world.suite.investor_registry, "NotVerified", mallory):
        h100.shares.subscribeWithPermit(shares(1), cost, deadline, 27, "0x" + "00" * 32, "0x" + "00" * 32,
                                        {"from": mallory})


# ------------------------------------------------------------------------------------------------ multicall


def test_multicall_claims_and_reinvests_in_one_transaction(world):
    h100, carol = world.assets[0], world.who["carol"]
    world.advance_epoch()
    owed = h100.shares.claimable(carol)
    assert owed > 0
    balance = h100.shares.balanceOf(carol)
    calls = [h100.shares.claim.encode_input(), h100.shares.subscribe.encode_input(shares(1), usd(100))]

    tx = h100.shares.multicall(calls, {"from": carol})

    assert_event(tx, "RevenueClaimed", holder=carol, amount=owed)
    assert_event(tx, "Subscribed", investor=carol, round=1, shares=shares(1), cost=usd(100))
    assert h100.shares.claimable(carol) == 0
    assert h100.shares.balanceOf(carol) == balance + shares(1)


def test_multicall_reverts_whole_when_one_call_reverts(world):
    h100, carol = world.assets[0], world.who["carol"]
    owed = h100.shares.claimable(carol)
    calls = [h100.shares.subscribe.encode_input(shares(1), usd(100)), h100.shares.subscribe.encode_input(shares(1), 1)]

    with reverts_with(h100.shares, "CostAboveMaximum", usd(100), 1):
        h100.shares.multicall(calls, {"from": carol})
    assert h100.shares.claimable(carol) == owed


# ------------------------------------------------------------------------------------------------ lens


def test_portfolio_of_returns_shares_claims_and_the_loan(world):
    carol, lens, market = world.who["carol"], world.suite.portfolio_lens, world.lending_market
    p = lens.portfolioOf(carol, [])

    assert p["canHold"] is True
    assert p["cash"] == world.suite.stablecoin.balanceOf(carol)
    assert p["cashNonce"] == world.suite.stablecoin.nonces(carol)
    assert [a["assetId"] for a in p["assets"]] == [1, 2, 3]
    for position, asset in zip(p["assets"], world.assets, strict=True):
        assert position["shares"] == asset.shares.address
        assert position["balance"] == asset.shares.balanceOf(carol)
        assert position["claimable"] == asset.shares.claimable(carol)
        assert position["claimed"] == asset.shares.claimedBy(carol)
        assert position["totalSupply"] == asset.shares.totalSupply()
    (loan,) = p["loans"]
    debt, collateral, lltv = market.debtOf(carol), shares(200), market.lltv()
    assert (loan["market"], loan["assetId"], loan["collateral"], loan["debt"]) == (market.address, 1, collateral, debt)
    assert loan["healthFactorWad"] == market.healthFactor(carol)
    assert loan["collateralValue"] == market.collateralValueOf(carol)
    # price at which collateral x price x lltv == debt, rounded up: ceil(debt x 1e36 / (collateral x lltv))
    assert loan["liquidationPricePerShare"] == -(-debt * 10**36 // (collateral * lltv))
    assert loan["pricePerShare"] == world.suite.valuation.quote(1)[0]
    assert p["leases"] == ()


def test_portfolio_of_keeps_only_the_leases_the_wallet_owns(world):
    lessee, lens, market = world.who["lessee"], world.suite.portfolio_lens, world.suite.lease_market

    p = lens.portfolioOf(lessee, [1, 2, 3, 999])  # lease 2 is lessee2's; 999 does not exist

    assert [lease["leaseId"] for lease in p["leases"]] == [1, 3]
    first = p["leases"][0]
    assert first["assetId"] == 1
    assert first["lease"] == market.getLease(1)
    assert first["account"] == market.leaseAccount(1)
    assert p["canHold"] is False and p["assets"] == () and p["loans"] == ()


def test_portfolio_of_a_lender_shows_the_supplied_assets(world):
    lender, lens, market = world.who["lender"], world.suite.portfolio_lens, world.lending_market
    (loan,) = lens.portfolioOf(lender, [])["loans"]

    assert loan["lenderShares"] == market.balanceOf(lender)
    assert loan["lenderAssets"] == market.convertToAssets(market.balanceOf(lender))
    assert (loan["debt"], loan["liquidationPricePerShare"], loan["healthFactorWad"]) == (0, 0, MAX_UINT)


# ------------------------------------------------------------------------------------------------ tokenURI


def test_token_uri_is_on_chain_json_of_the_lease(world):
    positions, market = world.suite.lease_positions, world.suite.lease_market
    lease = market.getLease(3)

    uri = positions.tokenURI(3)

    assert uri.startswith("data:application/json;base64,")
    document = json.loads(base64.b64decode(uri.split(",", 1)[1]))
    assert document["name"] == "Wellhead GPU Lease #3"
    traits = {t["trait_type"]: t["value"] for t in document["attributes"]}
    assert traits == {
        "Asset": 3, "Offer": 3, "GPUs": 12, "Start epoch": lease["startEpoch"], "End epoch": lease["endEpoch"],
        "Price per GPU-hour (base units)": usd(5), "Escrow (base units)": lease["escrow"], "Status": "Active",
    }


def test_token_uri_reverts_for_a_lease_that_does_not_exist(world):
    with reverts_with(world.suite.lease_positions, "ERC721NonexistentToken", 999):
        world.suite.lease_positions.tokenURI(999)
