"""Fixtures of the lending tests: one world per module.

The suite is deployed by the deploy script's own function (one oracle signer, genesis EPOCHS_BEFORE_START
epochs in the past) and the clock set INTO_EPOCH seconds into epoch e0 = 11. Asset 1 is the sample H100
cluster (commissioned 180 days before registration): 1,000 shares sold at $100 (Alice 600, Carol 300, the
liquidator 100), reporting from e0, valued by the suite's YieldValuation with CLEAN_PARAMS (no age decay, a
silence threshold that never trips) from a $100 anchor; without settled lease history the price stays at
that anchor, so every figure below is exact until a test moves it.

Actors: Bob lends; Alice and Carol borrow; the liquidator is verified and holds shares and stablecoin;
Mallory is funded but never verified; the keeper is anyone (creates markets, pays revenue, pokes).
Markets: `market` (the deploy script's kink IRM, LLTV 62.5%) and `flat` (a zero-rate kink IRM the admin
enabled, LLTV 62.5%) for figures without interest. Every actor has approved both for both tokens.
"""

from __future__ import annotations

import pytest

from scripts.samples import H100_CLUSTER, register_asset, shares, usd
from tests.contracts.lending._world import (
    ANCHOR_PRICE,
    CLEAN_PARAMS,
    EPOCHS_BEFORE_START,
    HOUR,
    INTO_EPOCH,
    LLTV_625,
    MAX_UINT,
    Clock,
    World,
    now,
)
from tests.support.meter import MeterPoster, make_signers


@pytest.fixture(scope="module")
def world(actors) -> World:
    from brownie import LinearKinkIrm, chain

    from scripts.deploy import SuiteConfig, deploy_suite

    signers = make_signers(1, label="lending-oracle")
    genesis = chain.time() // HOUR * HOUR - (EPOCHS_BEFORE_START - 1) * HOUR
    suite = deploy_suite(
        actors.admin,
        SuiteConfig(
            compliance=actors.compliance,
            oracle_genesis=genesis,
            oracle_signers=[s.address for s in signers],
            oracle_threshold=1,
        ),
    )
    clock = Clock(genesis)
    e0 = EPOCHS_BEFORE_START
    t0 = clock.goto(e0, INTO_EPOCH)
    coin, admin = suite.stablecoin, actors.admin

    asset = register_asset(suite, admin, actors.operator, H100_CLUSTER)
    token = asset.shares
    expiry = t0 + 5 * 365 * 86_400
    for who in (actors.alice, actors.bob, actors.carol, actors.liquidator):
        suite.investor_registry.addInvestor(who, expiry, 756, {"from": actors.compliance})
    for who in (actors.alice, actors.bob, actors.carol, actors.liquidator, actors.keeper, actors.mallory):
        coin.mint(who, usd(1_000_000), {"from": admin})
    token.openOffering(usd(100), shares(1_000), t0 + 30 * 86_400, {"from": actors.operator})
    for who, n in ((actors.alice, 600), (actors.carol, 300), (actors.liquidator, 100)):
        coin.approve(token, MAX_UINT, {"from": who})
        token.subscribe(shares(n), usd(100) * n, {"from": who})
    coin.approve(token, MAX_UINT, {"from": actors.keeper})

    suite.oracle.startReporting(asset.asset_id, e0, {"from": admin})
    suite.valuation.configure(asset.asset_id, CLEAN_PARAMS, ANCHOR_PRICE, {"from": admin})
    flat_irm = LinearKinkIrm.deploy(0, 0, 0, 8 * 10**17, {"from": admin})
    suite.lending_factory.setIrmEnabled(flat_irm, True, {"from": admin})

    w = World(
        suite=suite,
        coin=coin,
        token=token,
        asset_id=asset.asset_id,
        asset=asset,
        valuation=suite.valuation,
        factory=suite.lending_factory,
        irm=suite.irm,
        flat_irm=flat_irm,
        clock=clock,
        e0=e0,
        t0=t0,
        poster=MeterPoster(suite.oracle, signers, actors.keeper),
        actors=actors,
    )
    w.markets["market"] = w.create_market(LLTV_625, suite.irm)
    w.markets["flat"] = w.create_market(LLTV_625, flat_irm)
    assert clock.epoch_at(now()) == e0
    return w


@pytest.fixture
def market(world):
    return world.markets["market"]


@pytest.fixture
def flat(world):
    return world.markets["flat"]
