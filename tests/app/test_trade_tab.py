"""The trade tab in Chromium, on its own demo world: Carol offers H100 shares from the page (one permit signature,
one transaction), Bob sees the depth and buys part of it with a permit, the last trades and the price chart
follow, Carol cancels the rest and withdraws her proceeds, an unverified visitor is refused before anything is
sent, and Bob buys a lease position listed for sale. The chain is checked after every step.

Tests run in file order on one chain.
"""

from __future__ import annotations

from scripts.samples import shares, usd
from tests.app.conftest import screenshot, status_text, wait_ready, wait_status

SELL = 1


def _venue(world):
    return world.suite.share_venue


def test_a_verified_holder_places_an_ask_with_one_signature(open_page, app_server, world):
    carol, h100 = world.who["carol"], world.assets[0]
    venue = _venue(world)
    held = h100.shares.balanceOf(carol)
    page, wallet = open_page(carol, path=f"#/trade/{h100.asset_id}")
    wait_ready(page, "trade")
    page.select_option("[data-testid='place-side']", str(SELL))
    page.fill("[data-testid='place-shares']", "10")
    page.fill("[data-testid='place-price']", "105")
    page.click("[data-testid='place-button']")
    assert wait_status(page, "place") == "done", status_text(page, "place")
    assert wallet.sent() == ["eth_signTypedData_v4", "eth_sendTransaction"]
    assert h100.shares.balanceOf(carol) == held - shares(10)
    assert h100.shares.balanceOf(venue) == shares(10)
    order = venue.orderOf(h100.shares, 1)
    assert (order["maker"], order["side"], order["pricePerShare"], order["remaining"]) == (
        carol, SELL, usd(105), shares(10))


def test_an_unverified_visitor_is_refused_before_anything_is_sent(open_page, app_server, world):
    page, wallet = open_page(world.who["mallory"], path="#/trade/1")
    wait_ready(page, "trade")
    page.fill("[data-testid='take-shares']", "1")
    page.fill("[data-testid='take-limit']", "105")
    page.click("[data-testid='take-buy']")
    assert wait_status(page, "take") == "refused"
    assert wallet.sent() == []


def test_a_buyer_sees_the_depth_and_takes_with_one_signature(open_page, app_server, world):
    bob, carol, h100 = world.who["bob"], world.who["carol"], world.assets[0]
    venue, coin = _venue(world), world.suite.stablecoin
    app_server.catch_up()
    page, wallet = open_page(bob, path="#/trade/1")
    wait_ready(page, "trade")
    asks = page.locator("[data-testid='book-asks']").inner_text()
    assert "105.00 wUSD" in asks and "10.00" in asks
    cash = coin.balanceOf(bob)
    page.fill("[data-testid='take-shares']", "4")
    page.fill("[data-testid='take-limit']", "105")
    assert "Buy now: 4.00 shares for 420.00 wUSD" in page.locator("[data-testid='take-preview']").inner_text()
    page.click("[data-testid='take-buy']")
    assert wait_status(page, "take") == "done", status_text(page, "take")
    assert wallet.sent() == ["eth_signTypedData_v4", "eth_sendTransaction"]
    assert h100.shares.balanceOf(bob) == shares(4)
    assert coin.balanceOf(bob) == cash - usd(420)
    assert venue.proceedsOf(carol) == usd(420)
    assert venue.orderOf(h100.shares, 1)["remaining"] == shares(6)

    # A second fill, then the trades table and the chart show both.
    page.fill("[data-testid='take-shares']", "1")
    page.fill("[data-testid='take-limit']", "105")
    page.click("[data-testid='take-buy']")
    assert wait_status(page, "take") == "done", status_text(page, "take")
    app_server.catch_up()
    page.reload()
    wait_ready(page, "trade")
    trades = page.locator("[data-testid='last-trades']").inner_text()
    assert trades.count("bought") == 2 and "420.00 wUSD" in trades
    assert page.locator("[data-testid='trade-chart'] svg").count() == 1
    assert "5.00" in page.locator("[data-testid='book-asks']").inner_text()
    screenshot(page, "trade")


def test_the_maker_cancels_the_rest_and_withdraws_the_proceeds(open_page, app_server, world):
    carol, h100 = world.who["carol"], world.assets[0]
    venue, coin = _venue(world), world.suite.stablecoin
    held = h100.shares.balanceOf(carol)
    page, _ = open_page(carol, path="#/trade/1")
    wait_ready(page, "trade")
    page.click("[data-testid='cancel-1']")
    assert wait_status(page, "cancel-1") == "done", status_text(page, "cancel-1")
    assert h100.shares.balanceOf(carol) == held + shares(5)
    assert h100.shares.balanceOf(venue) == 0
    cash = coin.balanceOf(carol)
    page.click("[data-testid='withdraw-proceeds']")
    assert wait_status(page, "withdraw-proceeds") == "done", status_text(page, "withdraw-proceeds")
    assert coin.balanceOf(carol) == cash + usd(525)
    assert venue.proceedsOf(carol) == 0


def test_a_listed_lease_position_is_bought_from_the_page(open_page, app_server, world):
    from brownie import chain

    suite, lessee, bob = world.suite, world.who["lessee"], world.who["bob"]
    listings, positions = suite.lease_listings, suite.lease_positions
    assert positions.ownerOf(1) == lessee
    positions.approve(listings, 1, {"from": lessee})
    listings.list(1, usd(250), chain.time() + 86_400, {"from": lessee})
    app_server.catch_up()
    page, wallet = open_page(bob, path="#/trade/1")
    wait_ready(page, "trade")
    assert "#1" in page.locator("[data-testid='lease-listings']").inner_text()
    cash = suite.stablecoin.balanceOf(bob)
    page.click("[data-testid='buy-listing-1']")
    assert wait_status(page, "listing-1") == "done", status_text(page, "listing-1")
    assert positions.ownerOf(1) == bob
    assert suite.stablecoin.balanceOf(bob) == cash - usd(250)
    assert listings.proceedsOf(lessee) == usd(250)
    assert wallet.sent() == ["eth_sendTransaction", "eth_sendTransaction"]  # approve, then buy
