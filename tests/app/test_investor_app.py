"""The investor app in Chromium, on the demo world (app/world.py): the pages, the whole journey of two
investors through the page with the chain checked after every step, and the refusals (nothing is sent).

Tests run in file order on one chain: the refusals first (they change nothing), then the journey.
"""

from __future__ import annotations

import urllib.request

import pytest

from scripts.samples import shares, usd
from tests.app.conftest import screenshot, status_text, wait_ready, wait_status

HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module", autouse=True)
def hostile_asset(world):
    """An operator names an asset with markup; the page must show it as text."""
    from scripts.samples import L40S_EDGE, AssetSpec, register_asset

    spec = AssetSpec(**{**L40S_EDGE.__dict__, "shares_name": HOSTILE, "shares_symbol": "<b>X</b>",
                        "region": "<script>alert(2)</script>", "gpu_model": "<svg onload=alert(3)>"})
    return register_asset(world.suite, world.who["admin"], world.who["operator2"], spec)


@pytest.fixture(scope="module")
def poor(world, accounts):
    """A verified investor holding 10 dev-USD (account 12)."""
    from brownie import chain

    who = accounts[12]
    world.suite.investor_registry.addInvestor(who, chain.time() + 86_400 * 30, 756, {"from": world.who["compliance"]})
    world.suite.stablecoin.mint(who, usd(10), {"from": world.who["admin"]})
    return who


# ------------------------------------------------------------------------------------------------ pages


def test_markets_page_lists_assets_with_chain_strings_as_text(open_page, app_server, hostile_asset, world):
    app_server.catch_up()
    page, wallet = open_page(world.who["alice"])
    wait_ready(page, "markets")
    names = page.locator("[data-testid='asset-name']").all_inner_texts()
    assert names[:3] == ["Wellhead H100 Node 01", "Wellhead L40S Edge 01", "Wellhead B200 Pod 07"]
    row = page.locator(f"[data-testid='asset-row-{hostile_asset.asset_id}']")
    assert row.locator("[data-testid='asset-name']").inner_text() == HOSTILE
    assert "<script>alert(2)</script>" in row.inner_text()
    assert page.locator("main img, main script, main svg[onload]").count() == 0
    assert page.errors == []  # type: ignore[attr-defined]
    assert wallet.sent() == []
    screenshot(page, "markets")


def test_every_response_carries_the_content_security_policy(app_server):
    for path in ("/", "/api/assets", "/assets/app.js"):
        with urllib.request.urlopen(app_server.url + path) as response:  # noqa: S310 (loopback)
            csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "default-src 'none'" in csp and "unsafe-inline" not in csp


def test_asset_page_shows_meter_kpis_and_valuation(open_page, world):
    page, _ = open_page(world.who["alice"], path="#/asset/1")
    wait_ready(page, "asset")
    assert page.locator("[data-testid='asset-title']").inner_text() == "Wellhead H100 Node 01"
    price, _ = world.suite.valuation.quote(1)
    assert f"{price // 10**6:,}" in page.locator("[data-testid='valuation']").inner_text()
    assert page.locator("svg.chart").count() == 2
    screenshot(page, "asset")


# ------------------------------------------------------------------------------------------------ refusals


def test_subscribe_is_refused_for_an_unverified_investor(open_page, world):
    mallory = world.who["mallory"]
    page, wallet = open_page(mallory, path="#/asset/1")
    wait_ready(page, "asset")
    assert "not verified (KYC)" in page.locator("[data-testid='subscribe-refusal']").inner_text()
    page.fill("[data-testid='subscribe-shares']", "1")
    page.click("[data-testid='subscribe-button']")
    assert wait_status(page, "subscribe") == "refused"
    assert "not verified" in status_text(page, "subscribe")
    assert wallet.sent() == []
    assert world.assets[0].shares.balanceOf(mallory) == 0


def test_wrong_chain_is_shown_and_switched(open_page, world):
    alice = world.who["alice"]
    page, wallet = open_page(alice, chain_id=1, path="#/asset/1")
    wait_ready(page, "asset")
    assert "chain 1" in page.locator("[data-testid='wrong-chain']").inner_text()
    page.fill("[data-testid='subscribe-shares']", "1")
    page.click("[data-testid='subscribe-button']")
    assert wait_status(page, "subscribe") == "refused"
    assert wallet.sent() == []
    page.click("[data-testid='switch-chain']")
    page.wait_for_selector("[data-testid='chain'].ok")
    assert "wallet_switchEthereumChain" in wallet.calls
    assert page.locator("[data-testid='wrong-chain']").count() == 0


def test_a_rejected_signature_sends_nothing(open_page, world):
    alice = world.who["alice"]
    page, wallet = open_page(alice, path="#/asset/1")
    wallet.reject.add("eth_signTypedData_v4")
    wait_ready(page, "asset")
    before = world.suite.stablecoin.balanceOf(alice)
    page.fill("[data-testid='subscribe-shares']", "1")
    page.click("[data-testid='subscribe-button']")
    assert wait_status(page, "subscribe") == "failed"
    assert "You rejected the request" in status_text(page, "subscribe")
    assert "eth_sendTransaction" not in wallet.calls
    assert world.suite.stablecoin.balanceOf(alice) == before


def test_subscribe_beyond_the_balance_is_refused(open_page, world, poor):
    page, wallet = open_page(poor, path="#/asset/1")
    wait_ready(page, "asset")
    page.fill("[data-testid='subscribe-shares']", "1")
    page.click("[data-testid='subscribe-button']")
    assert wait_status(page, "subscribe") == "failed"
    assert "Insufficient balance: you have 10.00 wUSD, this costs 100.00 wUSD" in status_text(page, "subscribe")
    assert wallet.sent() == []


def test_a_borrow_below_health_factor_one_is_refused(open_page, world):
    carol = world.who["carol"]
    market = world.lending_market
    debt = market.debtOf(carol)
    page, wallet = open_page(carol, path="#/asset/1")
    wait_ready(page, "asset")
    page.fill("[data-testid='borrow-amount']", "100000")
    page.click("[data-testid='borrow-button']")
    assert wait_status(page, "borrow") == "failed"
    assert "below 1" in status_text(page, "borrow")
    assert wallet.sent() == []
    assert market.debtOf(carol) == debt


# ------------------------------------------------------------------------------------------------ journey


def test_two_investors_subscribe_claim_lease_borrow_repay_and_lend(open_page, app_server, world):
    """Alice and Bob: subscribe with a permit (one signature, one transaction), an epoch settles, they claim,
    Alice leases with a permit, borrows against her shares and repays, Bob lends."""
    suite, h100, l40s = world.suite, world.assets[0], world.assets[1]
    coin, market = suite.stablecoin, world.lending_market
    alice, bob = world.who["alice"], world.who["bob"]

    # 1. Subscribe with permit: Alice 20 H100 shares at $100, Bob 40 L40S shares at $25.
    for who, asset, count in ((alice, h100, 20), (bob, l40s, 40)):
        page, wallet = open_page(who, path=f"#/asset/{asset.asset_id}")
        wait_ready(page, "asset")
        cash = coin.balanceOf(who)
        page.fill("[data-testid='subscribe-shares']", str(count))
        assert f"You pay {count * asset.spec.share_price // 10**6:,}.00 wUSD" in page.locator(
            "[data-testid='subscribe-preview']").inner_text()
        page.click("[data-testid='subscribe-button']")
        assert wait_status(page, "subscribe") == "done", status_text(page, "subscribe")
        assert wallet.sent() == ["eth_signTypedData_v4", "eth_sendTransaction"]
        assert asset.shares.balanceOf(who) == shares(count)
        assert coin.balanceOf(who) == cash - count * asset.spec.share_price
        assert coin.allowance(who, asset.shares) == 0

    # 2. An epoch settles: both earn.
    world.advance_epoch()
    app_server.catch_up()
    owed = {alice: h100.shares.claimable(alice), bob: l40s.shares.claimable(bob)}
    assert owed[alice] > 0 and owed[bob] > 0

    # 3. Claim from the portfolio.
    for who, asset in ((alice, h100), (bob, l40s)):
        page, wallet = open_page(who, path="#/portfolio")
        wait_ready(page, "portfolio")
        assert wallet.calls.count("eth_call") == 1  # the whole portfolio in one lens call
        cash = coin.balanceOf(who)
        page.click(f"[data-testid='claim-{asset.asset_id}']")
        assert wait_status(page, f"claim-{asset.asset_id}") == "done", status_text(page, f"claim-{asset.asset_id}")
        assert asset.shares.claimedBy(who) == owed[who]
        assert coin.balanceOf(who) == cash + owed[who]

    # 4. Alice leases 1 GPU of offer 1 for 3 epochs with a permit.
    page, wallet = open_page(alice, path="#/asset/1")
    wait_ready(page, "asset")
    positions_before = suite.lease_positions.balanceOf(alice)
    page.fill("[data-testid='lease-gpus-1']", "1")
    page.fill("[data-testid='lease-epochs-1']", "3")
    page.click("[data-testid='lease-button-1']")
    assert wait_status(page, "lease-1") == "done", status_text(page, "lease-1")
    assert wallet.sent() == ["eth_signTypedData_v4", "eth_sendTransaction"]
    assert suite.lease_positions.balanceOf(alice) == positions_before + 1
    assert coin.allowance(alice, suite.lease_market) == 0  # the permit was for the exact escrow, all pulled

    # 5. Alice posts 10 shares and borrows $300 (value 10 x price; health factor stays above the market's floor).
    wallet.calls.clear()
    page.fill("[data-testid='borrow-collateral']", "10")
    page.fill("[data-testid='borrow-amount']", "300")
    page.click("[data-testid='borrow-button']")
    assert wait_status(page, "borrow") == "done", status_text(page, "borrow")
    assert market.positionOf(alice)[1] == shares(10)
    assert market.debtOf(alice) >= usd(300)
    assert market.healthFactor(alice) > 10**18

    # 6. Alice repays $100 from the portfolio.
    app_server.catch_up()
    page, wallet = open_page(alice, path="#/portfolio")
    wait_ready(page, "portfolio")
    debt = market.debtOf(alice)
    page.fill("[data-testid='repay-amount']", "100")
    page.click("[data-testid='repay-button']")
    assert wait_status(page, f"loan-{market.address}") == "done", status_text(page, f"loan-{market.address}")
    assert debt - usd(100) <= market.debtOf(alice) <= debt - usd(100) + usd("0.01")
    app_server.catch_up()
    page.reload()
    wait_ready(page, "portfolio")
    history = page.locator("[data-testid='history']").inner_text()
    for words in ("Bought 20.00 shares", "Claimed", "Leased 1 GPUs", "Borrowed 300.00 wUSD", "Repaid 100.00 wUSD"):
        assert words in history
    screenshot(page, "portfolio")

    # 7. Bob lends $1,000.
    page, wallet = open_page(bob, path="#/asset/1")
    wait_ready(page, "asset")
    page.fill("[data-testid='lend-amount']", "1000")
    page.click("[data-testid='lend-button']")
    assert wait_status(page, "lend") == "done", status_text(page, "lend")
    assert usd(1000) - 1 <= market.convertToAssets(market.balanceOf(bob)) <= usd(1000)


def test_trade_tab_shows_the_order_book(open_page, world):
    page, _ = open_page(world.who["alice"], path="#/trade")
    wait_ready(page, "trade")
    assert "Order book" in page.locator("[data-testid='trade-book']").inner_text()
