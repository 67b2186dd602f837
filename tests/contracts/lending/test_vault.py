"""The lenders' side: the market as an ERC-4626 vault over its tracked liquidity plus borrows.

Figures use the zero-rate `flat` market unless interest is the point. Vault shares carry 6 more decimals
than dev-USD (OpenZeppelin's virtual offset): on an empty vault 1 base unit buys 10^6 shares.
"""

from __future__ import annotations

from brownie import chain

from scripts.samples import shares, usd
from tests.contracts.lending._world import YEAR, at, vault_assets_for, vault_shares_for
from tests.support.events import assert_event
from tests.support.reverts import reverts_with


def test_deposit_mints_offset_shares_and_tracks_liquidity(world, flat):
    bob = world.actors.bob
    before = world.coin.balanceOf(bob)

    tx = flat.deposit(usd(1_000), bob, {"from": bob})

    # Empty vault: shares = 1,000e6 x (0 + 10^6) / (0 + 1) = 10^15
    assert tx.return_value == 10**15
    assert_event(tx, "Deposit", emitter=flat, sender=bob, owner=bob, assets=usd(1_000), shares=10**15)
    assert flat.balanceOf(bob) == flat.totalSupply() == 10**15
    assert flat.totalAssets() == flat.liquidity() == usd(1_000)
    assert world.coin.balanceOf(flat) == usd(1_000)
    assert world.coin.balanceOf(bob) == before - usd(1_000)


def test_mint_withdraw_redeem_follow_erc4626_rounding(world, flat):
    a = world.actors
    flat.deposit(usd(1_000), a.bob, {"from": a.bob})  # 10^15 shares
    # Carol: 500e6 x (10^15 + 10^6) / (1,000e6 + 1) = 500e6 x 10^6 exactly = 5 x 10^14
    assert flat.deposit(usd(500), a.carol, {"from": a.carol}).return_value == 5 * 10**14

    # mint 10^14 shares: assets = ceil(10^14 x (1,500e6 + 1) / (1.5e15 + 10^6)) = 100e6
    tx = flat.mint(10**14, a.carol, {"from": a.carol})
    assert tx.return_value == usd(100)
    assert_event(tx, "Deposit", sender=a.carol, owner=a.carol, assets=usd(100), shares=10**14)

    # withdraw 200e6: shares burned = ceil(200e6 x (1.6e15 + 10^6) / (1,600e6 + 1)) = 2 x 10^14
    tx = flat.withdraw(usd(200), a.bob, a.bob, {"from": a.bob})
    assert tx.return_value == 2 * 10**14
    assert_event(tx, "Withdraw", sender=a.bob, receiver=a.bob, owner=a.bob, assets=usd(200), shares=2 * 10**14)

    # redeem 3 x 10^14 shares: assets = floor(3e14 x (1,400e6 + 1) / (1.4e15 + 10^6)) = 300e6, paid to Alice
    tx = flat.redeem(3 * 10**14, a.alice, a.carol, {"from": a.carol})
    assert tx.return_value == usd(300)
    assert_event(tx, "Withdraw", sender=a.carol, receiver=a.alice, owner=a.carol, assets=usd(300), shares=3 * 10**14)
    assert flat.totalAssets() == flat.liquidity() == usd(1_100)
    assert world.coin.balanceOf(flat) == usd(1_100)


def test_withdraw_for_another_owner_needs_allowance(world, flat):
    a = world.actors
    flat.deposit(usd(1_000), a.bob, {"from": a.bob})
    # shares needed for 100e6: 10^14
    with reverts_with(flat, "ERC20InsufficientAllowance", a.carol, 0, 10**14):
        flat.withdraw(usd(100), a.carol, a.bob, {"from": a.carol})
    flat.approve(a.carol, 10**14, {"from": a.bob})
    flat.withdraw(usd(100), a.carol, a.bob, {"from": a.carol})
    assert flat.allowance(a.bob, a.carol) == 0


def test_empty_market_share_inflation_attack_fails(world, flat):
    """The classic first-depositor attack: deposit 1 unit, donate a fortune, let the victim's deposit round
    to nothing. Here the donation does not even enter totalAssets (liquidity is tracked internally), and the
    6-decimal virtual offset would make it cost a million times the theft anyway."""
    a, coin = world.actors, world.coin
    attacker, victim = a.mallory, a.bob  # lenders need no KYC: the attacker may be anyone

    # 1. The attacker deposits one base unit: 1 x (0 + 10^6) / (0 + 1) = 10^6 shares.
    assert flat.deposit(1, attacker, {"from": attacker}).return_value == 10**6
    # 2. ...and donates 999,999 dev-USD straight to the market.
    donation = usd(999_999)
    coin.transfer(flat, donation, {"from": attacker})
    assert coin.balanceOf(flat) == 1 + donation
    # The donation changes nothing the vault prices by.
    assert flat.totalAssets() == 1 and flat.liquidity() == 1
    assert flat.convertToAssets(10**6) == 1

    # 3. The victim deposits 1,000 dev-USD: 1,000e6 x (10^6 + 10^6) / (1 + 1) = 10^15 shares.
    victim_shares = flat.deposit(usd(1_000), victim, {"from": victim}).return_value
    assert victim_shares == 10**15
    # The victim can take out every unit: 10^15 x (1,000e6 + 2) / (10^15 + 2 x 10^6) = 1,000e6 exactly.
    assert flat.previewRedeem(victim_shares) == flat.maxWithdraw(victim) == usd(1_000)
    before = coin.balanceOf(victim)
    flat.redeem(victim_shares, victim, victim, {"from": victim})
    assert coin.balanceOf(victim) - before == usd(1_000)  # loss: 0 (at most a unit of rounding in general)
    # The attacker gets back its one unit; the donation stays stranded in the market, owed to no one.
    assert flat.previewRedeem(10**6) == 1
    flat.redeem(10**6, attacker, attacker, {"from": attacker})
    assert flat.totalSupply() == 0 and flat.totalAssets() == 0
    assert coin.balanceOf(flat) == donation


def test_donation_before_any_deposit_does_not_dilute_the_first_lender(world, flat):
    a = world.actors
    world.coin.transfer(flat, usd(50_000), {"from": a.mallory})
    assert flat.totalAssets() == 0
    # Still the empty-vault rate: 1,000e6 x 10^6 shares, all redeemable.
    assert flat.deposit(usd(1_000), a.bob, {"from": a.bob}).return_value == 10**15
    assert flat.maxWithdraw(a.bob) == usd(1_000)


def test_rounding_favours_the_market_after_interest(world, market):
    """Once interest makes assets-per-share uneven, every conversion rounds against the caller."""
    a = world.actors
    market.deposit(usd(1_000), a.bob, {"from": a.bob})
    market.supplyCollateral(shares(10), a.alice, {"from": a.alice})
    start = market.borrow(usd(500), a.alice, {"from": a.alice}).timestamp
    at(start + YEAR // 3)
    market.accrueInterest({"from": a.keeper})
    assets, supply = market.totalAssets(), market.totalSupply()
    assert assets > usd(1_000)  # interest made the share price uneven

    for amount in (1, 7, 999_999, usd(123)):
        # deposit: shares rounded down; mint: assets rounded up; withdraw: shares up; redeem: assets down.
        assert market.previewDeposit(amount) == vault_shares_for(amount, assets, supply)
        assert market.previewMint(amount) == vault_assets_for(amount, assets, supply, up=True)
        assert market.previewWithdraw(amount) == vault_shares_for(amount, assets, supply, up=True)
        assert market.previewRedeem(amount) == vault_assets_for(amount, assets, supply)

    # A deposit-then-redeem round trip never returns more than it put in.
    for amount in (1, 3, 1_000_003):
        minted = market.deposit(amount, a.carol, {"from": a.carol}).return_value
        back = market.redeem(minted, a.carol, a.carol, {"from": a.carol}).return_value
        assert back <= amount


def test_max_withdraw_and_redeem_are_limited_by_liquidity(world, flat):
    a = world.actors
    flat.deposit(usd(10_000), a.bob, {"from": a.bob})  # 10^16 shares
    flat.deposit(usd(1_000), a.carol, {"from": a.carol})  # 10^15 shares
    flat.supplyCollateral(shares(200), a.alice, {"from": a.alice})  # $20,000 of collateral
    flat.borrow(usd(7_000), a.alice, {"from": a.alice})
    assert flat.liquidity() == usd(4_000)
    assert flat.totalAssets() == usd(11_000)

    # Bob owns 10,000 but only 4,000 is not lent; Carol's 1,000 fits.
    assert flat.maxWithdraw(a.bob) == usd(4_000)
    assert flat.maxWithdraw(a.carol) == usd(1_000)
    # maxRedeem = shares of 4,000e6 rounded down: 4,000e6 x (1.1e16 + 10^6) / (11,000e6 + 1) = 4 x 10^15
    assert flat.maxRedeem(a.bob) == 4 * 10**15
    with reverts_with(flat, "ERC4626ExceededMaxWithdraw", a.bob, usd(4_000) + 1, usd(4_000)):
        flat.withdraw(usd(4_000) + 1, a.bob, a.bob, {"from": a.bob})
    with reverts_with(flat, "ERC4626ExceededMaxRedeem", a.bob, 4 * 10**15 + 1, 4 * 10**15):
        flat.redeem(4 * 10**15 + 1, a.bob, a.bob, {"from": a.bob})

    flat.withdraw(usd(4_000), a.bob, a.bob, {"from": a.bob})
    assert flat.liquidity() == 0 and flat.maxWithdraw(a.carol) == 0 and flat.maxRedeem(a.carol) == 0
    # Repayment brings the liquidity back.
    flat.repay(0, flat.positionOf(a.alice)[0], a.alice, {"from": a.alice})
    assert flat.maxWithdraw(a.bob) == usd(6_000)


def test_total_assets_includes_interest_not_yet_accrued(world, market):
    a = world.actors
    market.deposit(usd(10_000), a.bob, {"from": a.bob})
    market.supplyCollateral(shares(100), a.alice, {"from": a.alice})
    t = market.borrow(usd(5_000), a.alice, {"from": a.alice}).timestamp
    at(t + 3600)
    chain.mine()
    view = market.totalAssets()
    assert view > usd(10_000)
    at(t + 3600)  # the same second as the view above: the stored figure after accrual equals it
    market.accrueInterest({"from": a.keeper})
    assert market.totalAssets() == view


def test_max_deposit_and_max_mint_stop_at_the_uint112_liquidity_cap(world, flat):
    """EIP-4626: maxDeposit and maxMint never exceed what a deposit or mint would accept; the market keeps its
    liquidity in 112 bits, so they stop there (they were type(uint256).max)."""
    bob, admin = world.actors.bob, world.actors.admin
    flat.deposit(usd(1_000), bob, {"from": bob})
    room = 2**112 - 1 - usd(1_000)
    assert flat.maxDeposit(bob) == room
    assert flat.maxMint(bob) == vault_shares_for(room, usd(1_000), flat.totalSupply())
    assert flat.previewMint(flat.maxMint(bob)) <= room

    world.coin.mint(bob, room + 1, {"from": admin})
    world.coin.approve(flat, 2**256 - 1, {"from": bob})
    with reverts_with(flat, "ERC4626ExceededMaxDeposit", bob, room + 1, room):
        flat.deposit(room + 1, bob, {"from": bob})
    flat.deposit(room, bob, {"from": bob})
    assert flat.liquidity() == 2**112 - 1
    assert flat.maxDeposit(bob) == 0 and flat.maxMint(bob) == 0
