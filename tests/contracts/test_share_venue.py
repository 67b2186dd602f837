"""ShareVenue: markets, placing and cancelling orders, taker fills (limit price, share cap, maximum spend,
skips), compliance on every fill, revenue forwarded on escrowed shares against the distribution invariant,
frozen parties failing alone, the cumulative price, and a permit, on the real suite.

State at the start of every test: asset 1 (H100) has its first offering open and three holders, Alice 300,
Bob 100 and Carol 600 shares (each funded with 1,000,000 dev-USD before subscribing at 100 dev-USD a share);
the deploy script approved the venue as a holder; the venue's H100 market is open; Alice, Bob and Carol have
approved the venue without limit on both the share token and the stablecoin.
"""

from __future__ import annotations

import pytest
from brownie import ShareVenue, accounts, chain

from scripts.eip2612 import sign_permit
from scripts.samples import shares, usd
from tests.contracts.leases._market import plain
from tests.support.events import assert_event, assert_no_event
from tests.support.reverts import reverts_with

BUY, SELL = 0, 1
GONE, WRONG_SIDE, EXPIRED, OUTSIDE_LIMIT, SELF_TRADE, MAKER_NOT_VERIFIED, BUDGET_EXHAUSTED = range(7)
MAX_UINT = 2**256 - 1
MAX_PRICE = 2**128 - 1
ZERO = "0x0000000000000000000000000000000000000000"
LEASE = "0x" + b"LEASE".ljust(32, b"\0").hex()
DAY = 86_400


@pytest.fixture(scope="module")
def venue(suite):
    return suite.share_venue


@pytest.fixture(scope="module")
def token(h100):
    return h100.shares


@pytest.fixture(scope="module")
def coin(stablecoin):
    return stablecoin


@pytest.fixture(scope="module", autouse=True)
def state(h100_holders, venue, token, coin, h100, actors):
    """Every test starts from the state in the module docstring."""
    venue.openMarket(h100.asset_id, {"from": actors.keeper})
    for investor in (actors.alice, actors.bob, actors.carol):
        token.approve(venue, MAX_UINT, {"from": investor})
        coin.approve(venue, MAX_UINT, {"from": investor})


def expiry(days: int = 7) -> int:
    return chain.time() + days * DAY


def place(venue, token, maker, side, price, amount, expires_at=None) -> int:
    tx = venue.placeOrder(token, side, price, amount, expires_at or expiry(), {"from": maker})
    return tx.events["OrderPlaced"]["orderId"]


def value_up(amount: int, price: int) -> int:
    """ceil(amount x price / 1e18): the stablecoin value of `amount` share units."""
    return -(-amount * price // 10**18)


def deposit_revenue(token, coin, admin, amount):
    coin.mint(admin, amount, {"from": admin})
    coin.approve(token, amount, {"from": admin})
    token.depositRevenue(amount, LEASE, {"from": admin})


# --------------------------------------------------------------------------------------------------- markets


def test_openMarket_opens_each_market_once(venue, h100, l40s, token, actors):
    assert plain(venue.marketOf(token)) == (0, 0, 0, True)
    with reverts_with(venue, "MarketAlreadyOpen", token):
        venue.openMarket(h100.asset_id, {"from": actors.keeper})
    tx = venue.openMarket(l40s.asset_id, {"from": actors.keeper})
    assert_event(tx, "MarketOpened", assetId=l40s.asset_id, shares=l40s.shares)


def test_openMarket_reverts_for_unknown_asset(venue, asset_registry, actors):
    with reverts_with(asset_registry, "UnknownAsset", 99):
        venue.openMarket(99, {"from": actors.keeper})


def test_openMarket_reverts_when_venue_is_not_an_approved_holder(asset_registry, l40s, actors):
    rogue = ShareVenue.deploy(asset_registry, {"from": actors.keeper})
    with reverts_with(rogue, "VenueNotApprovedHolder", rogue):
        rogue.openMarket(l40s.asset_id, {"from": actors.keeper})


# ------------------------------------------------------------------------------------------------ placeOrder


def test_placeOrder_ask_escrows_the_shares(venue, token, actors):
    a = actors
    expires_at = expiry()
    tx = venue.placeOrder(token, SELL, usd(101), shares(40), expires_at, {"from": a.alice})
    assert_event(
        tx, "OrderPlaced", shares=token, orderId=1, maker=a.alice, side=SELL, pricePerShare=usd(101),
        amount=shares(40), expiresAt=expires_at,
    )
    assert token.balanceOf(a.alice) == shares(260)
    assert token.balanceOf(venue) == shares(40)
    assert plain(venue.orderOf(token, 1)) == (a.alice, expires_at, SELL, usd(101), shares(40))
    assert venue.escrowOf(token, 1) == shares(40)
    assert plain(venue.makerAccountOf(a.alice)) == (0, 1)  # one resting ask, no proceeds yet
    assert venue.nextOrderId() == 2


def test_placeOrder_bid_escrows_its_value_rounded_up(venue, token, coin, actors):
    # 1.5 shares at 1.000001 dev-USD: 1,500,001.5 base units, escrowed as 1,500,002.
    before = coin.balanceOf(actors.bob)
    order = place(venue, token, actors.bob, BUY, 1_000_001, shares("1.5"))
    assert venue.escrowOf(token, order) == 1_500_002
    assert coin.balanceOf(venue) == 1_500_002
    assert coin.balanceOf(actors.bob) == before - 1_500_002


def test_placeOrder_reverts_for_a_maker_who_may_not_hold_shares(venue, token, actors):
    with reverts_with(venue, "NotVerified", actors.mallory):
        venue.placeOrder(token, BUY, usd(100), shares(1), expiry(), {"from": actors.mallory})


def test_placeOrder_reverts_on_bad_terms(venue, token, l40s, actors, next_block_time):
    a = actors
    with reverts_with(venue, "MarketNotOpen", l40s.shares):
        venue.placeOrder(l40s.shares, SELL, usd(1), shares(1), expiry(), {"from": a.alice})
    with reverts_with(venue, "ZeroAmount"):
        venue.placeOrder(token, SELL, usd(1), 0, expiry(), {"from": a.alice})
    with reverts_with(venue, "InvalidPrice", 0):
        venue.placeOrder(token, SELL, 0, shares(1), expiry(), {"from": a.alice})
    with reverts_with(venue, "InvalidPrice", 2**96):
        venue.placeOrder(token, SELL, 2**96, shares(1), expiry(), {"from": a.alice})
    now = next_block_time()
    with reverts_with(venue, "InvalidExpiry", now, now):
        venue.placeOrder(token, SELL, usd(1), shares(1), now, {"from": a.alice})


# ------------------------------------------------------------------------------------------------------- buy


def test_buy_fills_asks_in_the_given_order_and_delivers_atomically(venue, token, coin, actors):
    a = actors
    first = place(venue, token, a.alice, SELL, usd(101), shares(100))
    second = place(venue, token, a.carol, SELL, usd(102), shares(50))
    coin_before = coin.balanceOf(a.bob)

    tx = venue.buy(token, [first, second], usd(102), shares(120), MAX_UINT, {"from": a.bob})

    # 100 x 101 = 10,100 dev-USD; then 20 of Carol's 50 at 102 = ceil(50 x 102) - ceil(30 x 102) = 2,040.
    assert plain(tx.return_value) == (shares(120), usd(12_140))
    assert coin.balanceOf(a.bob) == coin_before - usd(12_140)
    assert token.balanceOf(a.bob) == shares(220)
    assert token.balanceOf(venue) == shares(30)
    assert plain(venue.makerAccountOf(a.alice)) == (usd(10_100), 0)  # filled whole: no ask rests
    assert plain(venue.makerAccountOf(a.carol)) == (usd(2_040), 1)
    assert plain(venue.orderOf(token, first)) == (ZERO, 0, 0, 0, 0)
    assert venue.orderOf(token, second)["remaining"] == shares(30)
    assert_event(
        tx, "OrderFilled", index=0, shares=token, orderId=first, maker=a.alice, taker=a.bob, side=SELL,
        pricePerShare=usd(101), amount=shares(100), value=usd(10_100), remaining=0,
    )
    assert_event(
        tx, "OrderFilled", index=1, shares=token, orderId=second, maker=a.carol, taker=a.bob, side=SELL,
        pricePerShare=usd(102), amount=shares(20), value=usd(2_040), remaining=shares(30),
    )
    assert plain(venue.marketOf(token)) == (0, usd(102), tx.timestamp, True)  # the first fill: nothing accumulated yet


def test_buy_skips_asks_above_the_limit_price(venue, token, actors):
    a = actors
    cheap = place(venue, token, a.alice, SELL, usd(100), shares(10))
    dear = place(venue, token, a.carol, SELL, usd(150), shares(10))
    tx = venue.buy(token, [dear, cheap], usd(120), shares(20), MAX_UINT, {"from": a.bob})
    assert plain(tx.return_value) == (shares(10), usd(1_000))
    assert_event(tx, "OrderSkipped", shares=token, orderId=dear, reason=OUTSIDE_LIMIT)
    assert venue.orderOf(token, dear)["remaining"] == shares(10)


def test_buy_stops_at_the_maximum_spend(venue, token, coin, actors):
    a = actors
    order = place(venue, token, a.alice, SELL, usd(100), shares(100))
    before = coin.balanceOf(a.bob)
    # 2,550 dev-USD buys 25.5 shares: ceil(100 x 100) - ceil(74.5 x 100) = 2,550.
    tx = venue.buy(token, [order], usd(100), shares(100), usd(2_550), {"from": a.bob})
    assert plain(tx.return_value) == (shares("25.5"), usd(2_550))
    assert coin.balanceOf(a.bob) == before - usd(2_550)
    assert venue.orderOf(token, order)["remaining"] == shares("74.5")


def test_buy_skips_a_budget_too_small_for_one_share_unit_and_reverts_nothing_filled(venue, token, actors):
    order = place(venue, token, actors.alice, SELL, usd(100), shares(1))
    with reverts_with(venue, "NothingFilled"):
        venue.buy(token, [order], usd(100), shares(1), 0, {"from": actors.bob})
    # 1 base unit buys floor(1e18 / 1e8) = 1e10 share units.
    tx = venue.buy(token, [order], usd(100), shares(1), 1, {"from": actors.bob})
    assert plain(tx.return_value) == (10**10, 1)


def test_buy_skips_gone_wrong_side_expired_and_own_orders(venue, token, actors, next_block_time):
    a = actors
    soon = chain.time() + 100
    expired = place(venue, token, a.carol, SELL, usd(100), shares(1), soon)
    bid = place(venue, token, a.carol, BUY, usd(100), shares(1))
    own = place(venue, token, a.bob, SELL, usd(100), shares(1))
    good = place(venue, token, a.alice, SELL, usd(100), shares(1))
    next_block_time(soon + 1)
    tx = venue.buy(token, [999, bid, expired, own, good], usd(100), shares(5), MAX_UINT, {"from": a.bob})
    assert plain(tx.return_value) == (shares(1), usd(100))
    reasons = [(e["orderId"], e["reason"]) for e in tx.events["OrderSkipped"]]
    assert reasons == [(999, GONE), (bid, WRONG_SIDE), (expired, EXPIRED), (own, SELF_TRADE)]


def test_buy_reverts_when_every_order_is_skipped(venue, token, actors):
    order = place(venue, token, actors.alice, SELL, usd(100), shares(1))
    with reverts_with(venue, "NothingFilled"):
        venue.buy(token, [order], usd(99), shares(1), MAX_UINT, {"from": actors.bob})


def test_buy_reverts_for_a_taker_who_may_not_hold_shares(venue, token, coin, actors):
    order = place(venue, token, actors.alice, SELL, usd(100), shares(1))
    with reverts_with(venue, "NotVerified", actors.mallory):
        venue.buy(token, [order], usd(100), shares(1), MAX_UINT, {"from": actors.mallory})


def test_buy_skips_the_ask_of_a_revoked_seller_whose_shares_wait_for_reverification(
    venue, token, investor_registry, actors
):
    a = actors
    order = place(venue, token, a.alice, SELL, usd(100), shares(10))
    investor_registry.revokeInvestor(a.alice, {"from": a.compliance})
    with reverts_with(venue, "NothingFilled"):
        venue.buy(token, [order], usd(100), shares(10), MAX_UINT, {"from": a.bob})
    # The share token refuses the revoked holder, saying why; the escrow waits, intact, for a new KYC.
    with reverts_with(investor_registry, "VerificationRevoked", a.alice):
        venue.cancelOrder(token, order, {"from": a.alice})
    investor_registry.addInvestor(a.alice, chain.time() + 365 * DAY, 756, {"from": a.compliance})
    venue.cancelOrder(token, order, {"from": a.alice})
    assert token.balanceOf(a.alice) == shares(300)


# ------------------------------------------------------------------------------------------------------ sell


def test_sell_delivers_to_each_bidder_and_pays_the_taker(venue, token, coin, actors):
    a = actors
    bob_bid = place(venue, token, a.bob, BUY, usd(99), shares(30))
    carol_bid = place(venue, token, a.carol, BUY, usd(98), shares(30))
    coin_before = coin.balanceOf(a.alice)

    tx = venue.sell(token, [bob_bid, carol_bid], usd(98), shares(50), {"from": a.alice})

    assert plain(tx.return_value) == (shares(50), usd(30 * 99 + 20 * 98))
    assert coin.balanceOf(a.alice) == coin_before + usd(4_930)
    assert token.balanceOf(a.alice) == shares(250)
    assert token.balanceOf(a.bob) == shares(130)
    assert token.balanceOf(a.carol) == shares(620)
    assert venue.escrowOf(token, carol_bid) == usd(10 * 98)
    assert coin.balanceOf(venue) == usd(10 * 98)
    assert_event(
        tx, "OrderFilled", index=1, shares=token, orderId=carol_bid, maker=a.carol, taker=a.alice, side=BUY,
        pricePerShare=usd(98), amount=shares(20), value=usd(1_960), remaining=shares(10),
    )


def test_sell_fills_of_a_bid_sum_exactly_to_its_escrow(venue, token, coin, actors):
    order = place(venue, token, actors.bob, BUY, 1_000_001, shares("1.5"))  # escrow 1,500,002
    first = venue.sell(token, [order], 1, shares("0.5"), {"from": actors.alice}).return_value
    second = venue.sell(token, [order], 1, shares(1), {"from": actors.alice}).return_value
    # ceil(1.5 x 1.000001) - ceil(1.0 x 1.000001) = 500,001; then 1,000,001.
    assert plain(first) == (shares("0.5"), 500_001)
    assert plain(second) == (shares(1), 1_000_001)
    assert coin.balanceOf(venue) == 0


def test_sell_never_delivers_to_a_bidder_whose_kyc_expired_and_its_escrow_stays_withdrawable(
    venue, token, coin, investor_registry, actors, funded
):
    a = actors
    dave = a.liquidator
    investor_registry.addInvestor(dave, chain.time() + 1_000, 756, {"from": a.compliance})
    coin.mint(dave, usd(1_000), {"from": a.admin})
    coin.approve(venue, MAX_UINT, {"from": dave})
    dave_bid = place(venue, token, dave, BUY, usd(100), shares(10))
    bob_bid = place(venue, token, a.bob, BUY, usd(100), shares(10))
    chain.sleep(2_000)

    tx = venue.sell(token, [dave_bid, bob_bid], usd(100), shares(20), {"from": a.alice})

    assert plain(tx.return_value) == (shares(10), usd(1_000))
    assert_event(tx, "OrderSkipped", shares=token, orderId=dave_bid, reason=MAKER_NOT_VERIFIED)
    assert token.balanceOf(dave) == 0
    venue.cancelOrder(token, dave_bid, {"from": dave})
    assert coin.balanceOf(dave) == usd(1_000)


def test_sell_reverts_for_a_taker_who_may_not_hold_shares(venue, token, actors):
    order = place(venue, token, actors.bob, BUY, usd(100), shares(1))
    with reverts_with(venue, "NotVerified", actors.mallory):
        venue.sell(token, [order], usd(100), shares(1), {"from": actors.mallory})


def test_sell_skips_bids_below_the_limit_price(venue, token, actors):
    order = place(venue, token, actors.bob, BUY, usd(90), shares(1))
    with reverts_with(venue, "NothingFilled"):
        venue.sell(token, [order], usd(91), shares(1), {"from": actors.alice})


# ---------------------------------------------------------------------------------------------- cancelOrder


def test_cancelOrder_returns_the_escrow_to_the_maker(venue, token, coin, actors):
    a = actors
    ask = place(venue, token, a.alice, SELL, usd(100), shares(10))
    bid = place(venue, token, a.bob, BUY, usd(100), shares(10))
    bob_before = coin.balanceOf(a.bob)
    tx = venue.cancelOrder(token, ask, {"from": a.alice})
    assert_event(tx, "OrderCancelled", shares=token, orderId=ask, maker=a.alice, remaining=shares(10))
    assert_no_event(tx, "RevenueForwarded")
    venue.cancelOrder(token, bid, {"from": a.bob})
    assert token.balanceOf(a.alice) == shares(300)
    assert coin.balanceOf(a.bob) == bob_before + usd(1_000)
    assert plain(venue.orderOf(token, ask)) == (ZERO, 0, 0, 0, 0)


def test_cancelOrder_reverts_for_others_and_unknown_orders(venue, token, actors):
    order = place(venue, token, actors.alice, SELL, usd(100), shares(10))
    with reverts_with(venue, "NotMaker", order, actors.bob, actors.alice):
        venue.cancelOrder(token, order, {"from": actors.bob})
    with reverts_with(venue, "UnknownOrder", token, order + 1):
        venue.cancelOrder(token, order + 1, {"from": actors.alice})


# ------------------------------------------------------------------------------------- revenue across trades


def test_escrowed_shares_earn_their_makers_revenue_across_a_partial_fill_and_a_cancel(
    venue, token, coin, actors
):
    a = actors
    order = place(venue, token, a.alice, SELL, usd(100), shares(100))
    # 1,000 dev-USD over 1,000 shares: 1 dev-USD a share. Alice holds 200, the venue 100 for her.
    deposit_revenue(token, coin, a.admin, usd(1_000))
    assert venue.pendingRevenueOf(token, order) == usd(100)

    tx = venue.buy(token, [order], usd(100), shares(40), MAX_UINT, {"from": a.bob})
    assert_event(tx, "RevenueForwarded", shares=token, orderId=order, maker=a.alice, amount=usd(40))
    assert venue.proceedsOf(a.alice) == usd(4_000 + 40)
    assert venue.revenueReserveOf(token) == usd(60)  # the venue claimed its 100, credited 40

    # Another dollar a share: the 60 shares still resting earn it for Alice, Bob's 140 for Bob.
    deposit_revenue(token, coin, a.admin, usd(1_000))
    assert venue.pendingRevenueOf(token, order) == usd(120)
    tx = venue.cancelOrder(token, order, {"from": a.alice})
    assert_event(tx, "RevenueForwarded", shares=token, orderId=order, maker=a.alice, amount=usd(120))
    assert venue.proceedsOf(a.alice) == usd(4_000 + 40 + 120)

    # Alice earned exactly what holding the shares herself would have paid: 300 then 260 dollars.
    forwarded = usd(40 + 120)
    assert token.accumulatedRevenueOf(a.alice) + forwarded == usd(300 + 260)
    # The distribution invariant: every deposited unit is owed to exactly one party, the venue owes all of its.
    holders = (a.alice, a.bob, a.carol, venue)
    assert sum(token.accumulatedRevenueOf(h) for h in holders) == token.totalDeposited() == usd(2_000)
    assert token.accumulatedRevenueOf(venue) == forwarded
    assert venue.revenueReserveOf(token) + token.claimable(venue) == 0
    # And the venue holds exactly its makers' proceeds.
    assert coin.balanceOf(venue) == venue.proceedsOf(a.alice)


def test_revenue_reserve_covers_every_resting_ask_after_many_deposits(venue, token, coin, actors):
    a = actors
    orders = [place(venue, token, m, SELL, usd(100), shares(n)) for m, n in ((a.alice, 7), (a.carol, 13), (a.bob, 3))]
    for amount in (usd(333), 1, usd("12.345678")):
        deposit_revenue(token, coin, a.admin, amount)
    venue.buy(token, orders[:1], usd(100), shares(2), MAX_UINT, {"from": a.carol})
    pending = sum(venue.pendingRevenueOf(token, o) for o in orders)
    assert venue.revenueReserveOf(token) + token.claimable(venue) >= pending
    # Rounding leaves the venue at most one base unit per order per deposit.
    assert venue.revenueReserveOf(token) + token.claimable(venue) - pending <= len(orders) * 3


# ------------------------------------------------------------------------------------------ frozen parties


def test_a_frozen_maker_fails_alone(venue, token, coin, actors):
    a = actors
    alice_ask = place(venue, token, a.alice, SELL, usd(100), shares(10))
    carol_ask = place(venue, token, a.carol, SELL, usd(100), shares(10))
    coin.blocklist(a.alice, {"from": a.admin})

    venue.buy(token, [alice_ask, carol_ask], usd(100), shares(20), MAX_UINT, {"from": a.bob})

    assert venue.proceedsOf(a.alice) == usd(1_000)
    with reverts_with(coin, "AccountBlocklisted", a.alice):
        venue.withdrawProceeds({"from": a.alice})
    before = coin.balanceOf(a.carol)
    tx = venue.withdrawProceeds({"from": a.carol})
    assert_event(tx, "ProceedsWithdrawn", account=a.carol, amount=usd(1_000))
    assert coin.balanceOf(a.carol) == before + usd(1_000)
    assert venue.proceedsOf(a.carol) == 0


def test_withdrawProceeds_reverts_when_there_is_nothing(venue, actors):
    with reverts_with(venue, "NothingToWithdraw", actors.bob):
        venue.withdrawProceeds({"from": actors.bob})


# --------------------------------------------------------------------------------------------- price history


def test_observe_accumulates_the_last_price_over_time(venue, token, actors, next_block_time):
    a = actors
    asks = [place(venue, token, a.alice, SELL, price, shares(10)) for price in (usd(100), usd(120))]
    t1 = next_block_time(chain[-1].timestamp + 10)
    venue.buy(token, asks[:1], usd(100), shares(1), MAX_UINT, {"from": a.bob})
    next_block_time(t1 + 100)
    venue.buy(token, asks[1:], usd(120), shares(1), MAX_UINT, {"from": a.bob})

    assert venue.marketOf(token)["priceCumulative"] == usd(100) * 100
    cumulative, now = venue.observe(token)
    # 100 dev-USD for 100 s, then 120 from t1 + 100 to now.
    assert cumulative == usd(100) * 100 + usd(120) * (now - t1 - 100)
    twap = venue.twapBetween(token, 0, t1)
    assert usd(100) <= twap <= usd(120)
    with reverts_with(venue, "InvalidWindow", 2**40, now):
        venue.twapBetween(token, 0, 2**40)


def test_twapBetween_differences_observations_across_the_wrap(venue, token, actors):
    price = 2**96 - 1  # MAX_PRICE_PER_SHARE: 1 share unit costs 80 base units
    order = place(venue, token, actors.alice, SELL, price, 10)
    venue.buy(token, [order], price, 1, MAX_UINT, {"from": actors.bob})
    chain.sleep(2**16 - 100)
    chain.mine()
    cumulative_then, then = venue.observe(token)
    assert cumulative_then > 2**112 - price * 200  # just below the wrap
    chain.sleep(300)
    chain.mine()
    assert venue.observe(token)[0] < cumulative_then  # wrapped
    assert venue.twapBetween(token, cumulative_then, then) == price


def test_observe_is_zero_before_the_first_fill(venue, token):
    assert venue.observe(token)[0] == 0


# ---------------------------------------------------------------------------------------------------- permit


def test_placeOrderWithPermit_places_a_bid_with_one_signature(venue, token, coin, investor_registry, actors):
    key = "0x" + "7e" * 32
    maker = accounts.add(key)
    investor_registry.addInvestor(maker, chain.time() + 365 * DAY, 756, {"from": actors.compliance})
    coin.mint(maker, usd(500), {"from": actors.admin})
    deadline = chain.time() + 3_600
    v, r, s = sign_permit(coin, key, venue, usd(500), deadline)

    tx = venue.placeOrderWithPermit(
        token, BUY, usd(100), shares(5), expiry(), usd(500), deadline, v, r, s, {"from": maker}
    )

    assert venue.escrowOf(token, tx.events["OrderPlaced"]["orderId"]) == usd(500)
    assert coin.balanceOf(maker) == 0


def test_placeOrderWithPermit_tolerates_a_permit_already_submitted(venue, token, coin, investor_registry, actors):
    key = "0x" + "7f" * 32
    maker = accounts.add(key)
    investor_registry.addInvestor(maker, chain.time() + 365 * DAY, 756, {"from": actors.compliance})
    coin.mint(maker, usd(100), {"from": actors.admin})
    deadline = chain.time() + 3_600
    v, r, s = sign_permit(coin, key, venue, usd(100), deadline)
    coin.permit(maker, venue, usd(100), deadline, v, r, s, {"from": actors.keeper})  # a front-runner

    tx = venue.placeOrderWithPermit(token, BUY, usd(100), shares(1), expiry(), usd(100), deadline, v, r, s,
                                    {"from": maker})

    assert venue.escrowOf(token, tx.events["OrderPlaced"]["orderId"]) == usd(100)


def test_buyWithPermit_and_sellWithPermit_take_with_one_signature(venue, token, coin, investor_registry, actors):
    key = "0x" + "6e" * 32
    taker = accounts.add(key)
    investor_registry.addInvestor(taker, chain.time() + 365 * DAY, 756, {"from": actors.compliance})
    coin.mint(taker, usd(1_000), {"from": actors.admin})
    ask = place(venue, token, actors.alice, SELL, usd(100), shares(10))
    bid = place(venue, token, actors.bob, BUY, usd(100), shares(4))
    deadline = chain.time() + 3_600

    permit = (usd(1_000), deadline, *sign_permit(coin, key, venue, usd(1_000), deadline))
    tx = venue.buyWithPermit(token, [ask], usd(100), shares(10), usd(1_000), permit, {"from": taker})
    assert plain(tx.return_value) == (shares(10), usd(1_000))

    permit = (shares(4), deadline, *sign_permit(token, key, venue, shares(4), deadline))
    tx = venue.sellWithPermit(token, [bid], usd(100), shares(4), permit, {"from": taker})
    assert plain(tx.return_value) == (shares(4), usd(400))
    assert token.balanceOf(taker) == shares(6)
    assert coin.balanceOf(taker) == usd(400)
