from scripts.samples import usd, shares


def test_subscribe_deposit_claim_pays_pro_rata(suite, actors, h100, funded):
    token = h100.shares
    coin = suite.stablecoin
    from brownie import chain
    token.openOffering(usd(100), shares(1000), chain.time() + 3600, {"from": actors.operator})
    for investor, n in ((actors.alice, 300), (actors.bob, 100)):
        coin.approve(token, usd(100) * n, {"from": investor})
        token.subscribe(shares(n), usd(100) * n, {"from": investor})
    coin.mint(actors.admin, usd(400), {"from": actors.admin})
    coin.approve(token, usd(400), {"from": actors.admin})
    token.depositRevenue(usd(400), b"LEASE".ljust(32, b"\0"), {"from": actors.admin})
    assert token.claimable(actors.alice) == usd(300)
    assert token.claimable(actors.bob) == usd(100)
