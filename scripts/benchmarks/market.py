"""`make bench` section: the share venue and the lease listings (whole-transaction gas from receipts), next to the
bare cost of moving both legs of a trade with a plain OpenZeppelin ERC-20 (Token18): one `transfer` plus one
`transferFrom`, measured in the same run (two transactions, so the baseline carries two 21,000 base costs where a
fill carries one).

Figures (GOALS.md):
- `market.fill_one_gas`: a taker `buy` that fills one resting ask whole (goal <= 130,000 for the whole transaction);
- `market.fill_extra_order_gas`: (a buy filling 5 asks - a buy filling 1) / 4 (goal <= 45,000);
- `market.place_gas` (an ask: 3 new order slots and the shares into escrow), `market.cancel_gas` (an ask: the
  shares back), and the bid twins; a fill that forwards revenue (the venue claims from the token first); the
  sell side; a lease-position listing and purchase. Without goals.

The measured state is a live market at its most expensive for the measured makers: the book has depth on both sides
(so the venue already holds stablecoin and shares), every measured maker's proceeds slot is empty before the fill
(each withdrew its last proceeds), the taker already holds shares, and each measured transaction lands one second
after the market's last trade, so the cumulative price is written too. The asset has earned revenue before, so the
share token moves its revenue corrections on every transfer.
"""

from __future__ import annotations

from typing import Any

from scripts.benchmarks.core import Bench, quiet

GOAL_FILL_ONE = "<= 130,000"
GOAL_FILL_EXTRA = "<= 45,000"
EXTRA = 4  # the multi-order fill takes 1 + EXTRA asks
BUY, SELL = 0, 1
MAX_UINT = 2**256 - 1


def run(bench: Bench) -> None:
    with quiet():
        g = _measure()
    two_legs = g["erc20.transfer"] + g["erc20.transferFrom"]
    bench.record("market.erc20_transfer", g["erc20.transfer"])
    bench.record("market.erc20_transferFrom", g["erc20.transferFrom"])
    bench.record("market.erc20_two_legs", two_legs, note="transfer + transferFrom: two transactions")
    bench.record("market.fill_one_gas", g["fill.1"], goal=GOAL_FILL_ONE,
                 note="buy filling one ask whole; fresh maker proceeds slot; cumulative price written")
    bench.compare("market.fill_one_vs_two_legs", g["fill.1"], "market.erc20_two_legs", two_legs)
    extra = (g[f"fill.{1 + EXTRA}"] - g["fill.1"]) / EXTRA
    bench.record("market.fill_extra_order_gas", extra, goal=GOAL_FILL_EXTRA,
                 note=f"(buy of {1 + EXTRA} asks from distinct makers - buy of 1) / {EXTRA}")
    bench.record("market.fill_one_forwarding_revenue_gas", g["fill.revenue"],
                 note="revenue arrived while the ask rested: the venue claims it from the token in the fill")
    bench.record("market.place_gas", g["place.ask"], note="an ask: the shares move into escrow")
    bench.record("market.place_bid_gas", g["place.bid"], note="a bid: the stablecoin moves into escrow")
    bench.record("market.cancel_gas", g["cancel.ask"], note="an ask: the shares move back")
    bench.record("market.cancel_bid_gas", g["cancel.bid"])
    bench.record("market.sell_one_gas", g["sell.1"], note="taker sells into one bid; shares go straight to the bidder")
    bench.record("market.sell_extra_order_gas", (g[f"sell.{1 + EXTRA}"] - g["sell.1"]) / EXTRA,
                 note="one share transfer per bidder")
    bench.record("market.withdraw_proceeds_gas", g["withdraw"])
    bench.record("market.lease_list_gas", g["lease.list"])
    bench.record("market.lease_buy_gas", g["lease.buy"], note="price pulled, position moved, seller credited")


def _measure() -> dict[str, int]:
    from brownie import Token18, accounts, chain

    from scripts.deploy import SuiteConfig, deploy_suite
    from scripts.samples import H100_CLUSTER, register_asset, shares, usd
    from tests.support.actors import Actors

    a = Actors.from_accounts(accounts)
    suite = deploy_suite(a.admin, SuiteConfig(compliance=a.compliance))
    coin, venue = suite.stablecoin, suite.share_venue
    g: dict[str, int] = {}

    # --- the baseline: a plain OpenZeppelin ERC-20, both legs, receivers already holding ---------------------
    plain = Token18.deploy({"from": a.admin})
    plain.mint(a.alice, 10**24, {"from": a.admin})
    plain.mint(a.bob, 10**24, {"from": a.admin})
    plain.approve(a.carol, MAX_UINT, {"from": a.bob})
    g["erc20.transfer"] = plain.transfer(a.bob, 10**18, {"from": a.alice}).gas_used
    g["erc20.transferFrom"] = plain.transferFrom(a.bob, a.alice, 10**18, {"from": a.carol}).gas_used

    # --- one asset, six verified traders holding shares, the market open ---------------------------------------
    asset = register_asset(suite, a.admin, a.operator, H100_CLUSTER)
    token = asset.shares
    token.openOffering(usd(100), shares(1_000_000), chain.time() + 86_400, {"from": a.operator})
    makers = [a.alice, a.carol, a.lessee, a.lessee2, a.keeper]
    taker = a.bob
    expiry = chain.time() + 365 * 86_400
    for who in [taker, *makers, a.operator2]:
        suite.investor_registry.addInvestor(who, expiry, 756, {"from": a.compliance})
        coin.mint(who, usd(10_000_000), {"from": a.admin})
        coin.approve(token, MAX_UINT, {"from": who})
        token.subscribe(shares(1_000), usd(100_000), {"from": who})
        token.approve(venue, MAX_UINT, {"from": who})
        coin.approve(venue, MAX_UINT, {"from": who})
    venue.openMarket(asset.asset_id, {"from": a.keeper})
    # An earning asset: revenue was distributed before the book opened, so every share transfer moves the token's
    # revenue corrections too (nothing rests in escrow yet, so no fill below forwards revenue but the one named so).
    coin.approve(token, MAX_UINT, {"from": a.operator})
    coin.mint(a.operator, usd(2_000), {"from": a.admin})
    token.depositRevenue(usd(1_000), b"LEASE".ljust(32, b"\0"), {"from": a.operator})
    order_expiry = chain.time() + 30 * 86_400

    def place(maker: Any, side: int, price: int = usd(100), amount: int = shares(10)) -> Any:
        return venue.placeOrder(token, side, price, amount, order_expiry, {"from": maker})

    def buy(ids: list[int]) -> int:
        chain.sleep(1)
        return venue.buy(token, ids, usd(100), shares(10) * len(ids), MAX_UINT, {"from": taker}).gas_used

    def sell(ids: list[int]) -> int:
        chain.sleep(1)
        return venue.sell(token, ids, usd(100), shares(10) * len(ids), {"from": taker}).gas_used

    def withdraw_all() -> None:
        for maker in makers:
            if venue.proceedsOf(maker):
                venue.withdrawProceeds({"from": maker})

    # Warm-up: the first trade writes the market's price slot from zero and the taker's first shares in.
    buy([place(a.alice, SELL).return_value])
    withdraw_all()
    # Depth on both sides, as in any live market: a resting bid (the venue holds stablecoin) and a resting ask
    # (the venue holds shares), from a trader who is not among the measured makers.
    for side in (BUY, SELL):
        venue.placeOrder(token, side, usd(90) if side == BUY else usd(110), shares(10), order_expiry,
                         {"from": a.operator2})

    # --- place and cancel -----------------------------------------------------------------------------------
    tx = place(a.alice, SELL)
    g["place.ask"] = tx.gas_used
    g["cancel.ask"] = venue.cancelOrder(token, tx.return_value, {"from": a.alice}).gas_used
    tx = place(a.alice, BUY)
    g["place.bid"] = tx.gas_used
    g["cancel.bid"] = venue.cancelOrder(token, tx.return_value, {"from": a.alice}).gas_used

    # --- buy: one ask, then 1 + EXTRA asks of distinct makers --------------------------------------------------
    g["fill.1"] = buy([place(a.alice, SELL).return_value])
    withdraw_all()
    ids = [place(m, SELL).return_value for m in makers[: 1 + EXTRA]]
    g[f"fill.{1 + EXTRA}"] = buy(ids)
    g["withdraw"] = venue.withdrawProceeds({"from": a.alice}).gas_used
    withdraw_all()

    # --- a fill that forwards revenue earned in escrow ----------------------------------------------------------
    order = place(a.alice, SELL).return_value
    token.depositRevenue(usd(1_000), b"LEASE".ljust(32, b"\0"), {"from": a.operator})
    g["fill.revenue"] = buy([order])
    withdraw_all()

    # --- sell into bids: one, then 1 + EXTRA of distinct bidders (each receives its first venue shares) -------
    g["sell.1"] = sell([place(a.alice, BUY).return_value])
    ids = [place(m, BUY).return_value for m in makers[: 1 + EXTRA]]
    g[f"sell.{1 + EXTRA}"] = sell(ids)

    # --- a lease position listed and bought ----------------------------------------------------------------------
    market, listings = suite.lease_market, suite.lease_listings
    offer = market.createOffer(
        (asset.asset_id, 8, usd(2), 1, 100, 0, 9_900, 1_000, 500, 0, (False, 0, 0, 0, 0)), {"from": a.operator}
    ).return_value
    for who in (a.lessee, a.lessee2):
        coin.approve(market, MAX_UINT, {"from": who})
        coin.approve(listings, MAX_UINT, {"from": who})
    lease = market.openLease(offer, 2, 10, usd(2), {"from": a.lessee}).events["LeaseOpened"]["leaseId"]
    suite.lease_positions.approve(listings, lease, {"from": a.lessee})
    g["lease.list"] = listings.list(lease, usd(30), order_expiry, {"from": a.lessee}).gas_used
    g["lease.buy"] = listings.buy(lease, usd(30), {"from": a.lessee2}).gas_used
    return g
