"""LeaseListings: a lessee sells its lease position for stablecoin. Listing rules, the atomic purchase (the
position, its refunds and its ERC-4907 user right move to the buyer; the price waits for the seller's pull),
listings cancelled by a transfer or by the lease's end, and a frozen seller failing alone.

Every test starts from the leases module state (see conftest.py) plus one lease: `lessee` rents 2 GPUs of an
H100 offer ($2/GPU-h) for 5 epochs from E0 + 1, so its escrow is 2 x 2 x 5 = 20 dev-USD; `lessee2` (the buyer)
has approved the listings contract on the stablecoin.
"""

from __future__ import annotations

import pytest
from brownie import chain

from scripts.samples import usd
from tests.contracts.leases._market import ACTIVE, HOUR, MAX_UINT, lease_id_of, plain, terms
from tests.support.events import assert_event
from tests.support.reverts import reverts_with

ZERO = "0x0000000000000000000000000000000000000000"
PRICE = usd(15)


@pytest.fixture(scope="module")
def listings(world):
    return world.suite.lease_listings


@pytest.fixture(scope="module")
def lease(world, listings):
    w, a = world, world.actors
    offer = w.market.createOffer(terms(w.a1), {"from": a.operator}).return_value
    lease_id = lease_id_of(w.market.openLease(offer, 2, 5, usd(2), {"from": a.lessee}))
    w.coin.approve(listings, MAX_UINT, {"from": a.lessee2})
    return lease_id


def expiry() -> int:
    return chain.time() + 86_400


def listed(world, listings, lease):
    """`lessee` approves the listings contract for the position and lists it at PRICE."""
    a = world.actors
    world.positions.approve(listings, lease, {"from": a.lessee})
    return listings.list(lease, PRICE, expiry(), {"from": a.lessee})


def test_list_records_the_listing_and_leaves_the_position_with_its_owner(world, listings, lease):
    a = world.actors
    expires_at = expiry()
    world.positions.approve(listings, lease, {"from": a.lessee})
    tx = listings.list(lease, PRICE, expires_at, {"from": a.lessee})
    assert_event(tx, "Listed", leaseId=lease, seller=a.lessee, price=PRICE, expiresAt=expires_at)
    assert plain(listings.listingOf(lease)) == (a.lessee, expires_at, PRICE)
    assert world.positions.ownerOf(lease) == a.lessee
    assert listings.isBuyable(lease)


def test_list_reverts_for_a_non_owner_without_approval_or_on_bad_terms(world, listings, lease, next_block_time):
    a, positions = world.actors, world.positions
    with reverts_with(listings, "NotPositionOwner", lease, a.lessee2, a.lessee):
        listings.list(lease, PRICE, expiry(), {"from": a.lessee2})
    with reverts_with(listings, "NotApproved", lease, ZERO):
        listings.list(lease, PRICE, expiry(), {"from": a.lessee})
    positions.approve(listings, lease, {"from": a.lessee})
    with reverts_with(listings, "InvalidPrice", 0):
        listings.list(lease, 0, expiry(), {"from": a.lessee})
    now = next_block_time()
    with reverts_with(listings, "InvalidExpiry", now, now):
        listings.list(lease, PRICE, now, {"from": a.lessee})


def test_buy_moves_the_position_its_refunds_and_user_right_and_credits_the_seller(world, listings, lease):
    w, a = world, world.actors
    w.positions.setUser(lease, a.lessee, chain.time() + 10 * HOUR, {"from": a.lessee})
    listed(w, listings, lease)
    account_before = plain(w.market.leaseAccount(lease))
    coin_before = w.coin.balanceOf(a.lessee2)

    tx = listings.buy(lease, PRICE, {"from": a.lessee2})

    assert_event(tx, "PositionSold", leaseId=lease, seller=a.lessee, buyer=a.lessee2, price=PRICE)
    assert w.positions.ownerOf(lease) == a.lessee2
    assert w.positions.userOf(lease) == ZERO  # the seller's jobs stop; the buyer names its own user
    assert w.coin.balanceOf(a.lessee2) == coin_before - PRICE
    assert listings.proceedsOf(a.lessee) == PRICE
    assert w.coin.balanceOf(listings) == PRICE
    assert plain(listings.listingOf(lease)) == (ZERO, 0, 0)
    # The escrow stays in the market, now the buyer's: refunds go to the buyer, never to the seller.
    assert plain(w.market.leaseAccount(lease)) == account_before
    with reverts_with(w.market, "NotLessee", lease, a.lessee):
        w.market.claimRefund(lease, {"from": a.lessee})
    with reverts_with(w.market, "NothingToClaim", a.lessee2):
        w.market.claimRefund(lease, {"from": a.lessee2})
    w.positions.setUser(lease, a.lessee2, chain.time() + HOUR, {"from": a.lessee2})

    tx = listings.withdrawProceeds({"from": a.lessee})
    assert_event(tx, "ProceedsWithdrawn", account=a.lessee, amount=PRICE)
    assert w.coin.balanceOf(listings) == 0


def test_buy_reverts_above_the_buyers_maximum_price(world, listings, lease):
    listed(world, listings, lease)
    with reverts_with(listings, "PriceAboveMaximum", lease, PRICE, PRICE - 1):
        listings.buy(lease, PRICE - 1, {"from": world.actors.lessee2})


def test_a_transfer_cancels_the_listing_even_after_the_position_comes_back(world, listings, lease):
    w, a = world, world.actors
    listed(w, listings, lease)
    w.positions.transferFrom(a.lessee, a.carol, lease, {"from": a.lessee})
    assert not listings.isBuyable(lease)
    with reverts_with(listings, "ListingStale", lease, a.lessee, a.carol):
        listings.buy(lease, PRICE, {"from": a.lessee2})
    w.positions.transferFrom(a.carol, a.lessee, lease, {"from": a.carol})
    with reverts_with(listings, "NotApproved", lease, ZERO):
        listings.buy(lease, PRICE, {"from": a.lessee2})
    # A stale listing can be cleared by anyone.
    tx = listings.cancel(lease, {"from": a.keeper})
    assert_event(tx, "ListingCancelled", leaseId=lease, seller=a.lessee)


def test_the_lease_end_cancels_the_listing(world, listings, lease):
    w, a = world, world.actors
    listed(w, listings, lease)
    end = w.market.getLease(lease)["endEpoch"]
    w.clock.goto(end)
    with reverts_with(listings, "LeaseNotListable", lease, ACTIVE, end, end):
        listings.buy(lease, PRICE, {"from": a.lessee2})


def test_buy_reverts_once_the_listing_expired(world, listings, lease, next_block_time):
    w, a = world, world.actors
    w.positions.approve(listings, lease, {"from": a.lessee})
    expires_at = chain.time() + 100
    listings.list(lease, PRICE, expires_at, {"from": a.lessee})
    next_block_time(expires_at)
    with reverts_with(listings, "ListingExpired", lease, expires_at):
        listings.buy(lease, PRICE, {"from": a.lessee2})


def test_cancel_is_the_sellers_while_the_listing_is_live(world, listings, lease):
    w, a = world, world.actors
    listed(w, listings, lease)
    with reverts_with(listings, "NotSeller", lease, a.keeper, a.lessee):
        listings.cancel(lease, {"from": a.keeper})
    listings.cancel(lease, {"from": a.lessee})
    with reverts_with(listings, "NotListed", lease):
        listings.buy(lease, PRICE, {"from": a.lessee2})


def test_a_frozen_seller_fails_alone(world, listings, lease):
    w, a = world, world.actors
    listed(w, listings, lease)
    w.coin.blocklist(a.lessee, {"from": a.admin})
    listings.buy(lease, PRICE, {"from": a.lessee2})  # the purchase never pays the seller directly
    assert w.positions.ownerOf(lease) == a.lessee2
    with reverts_with(w.coin, "AccountBlocklisted", a.lessee):
        listings.withdrawProceeds({"from": a.lessee})
    with reverts_with(listings, "NothingToWithdraw", a.lessee2):
        listings.withdrawProceeds({"from": a.lessee2})
