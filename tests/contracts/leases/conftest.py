"""Fixtures of the LeaseMarket tests: one suite per module whose oracle has 3 signers and a threshold of 2
(reports signed and posted with the daemon's code), genesis EPOCHS_BEFORE_NOW epochs in the past so that the
module starts INTO_EPOCH seconds into epoch E0 = 10, the two sample assets reporting from E0, share holders
on both, and funded lessees and operators.

Actors: `operator` runs the H100 cluster (asset 1: 8 GPUs, PUE 1.20, $0.12/kWh, 10% fee); `operator2` the
L40S edge node (asset 2: 4 GPUs, PUE 1.35, $0.18/kWh, 15% fee). Alice holds 600 and Bob 400 of the H100's
1,000 shares; Carol holds all 1,000 of the L40S's. `lessee` and `lessee2` rent.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from scripts.samples import shares, usd
from tests.contracts.leases._market import EPOCHS_BEFORE_NOW, GRACE, HOUR, INTO_EPOCH, MAX_UINT, Clock, Meter
from tests.support.meter import MeterPoster, make_signers


@pytest.fixture(scope="module")
def oracle_signers():
    return make_signers(3, label="lease-oracle")


@pytest.fixture(scope="module")
def genesis():
    from brownie import web3

    # The node's own clock (its latest block), not brownie's: a module that moved the clock with
    # evm_setNextBlockTimestamp leaves the node ahead of brownie's local estimate after the snapshot revert.
    return web3.eth.get_block("latest")["timestamp"] - EPOCHS_BEFORE_NOW * HOUR - INTO_EPOCH


@pytest.fixture(scope="module")
def suite(actors, oracle_signers, genesis):
    """Overrides the root `suite`: same deploy function, 3 oracle signers (threshold 2), genesis in the past."""
    from scripts.deploy import SuiteConfig, deploy_suite

    return deploy_suite(
        actors.admin,
        SuiteConfig(
            compliance=actors.compliance,
            oracle_genesis=genesis,
            oracle_signers=[s.address for s in oracle_signers],
            oracle_threshold=2,
            grace_period=GRACE,
        ),
    )


@pytest.fixture(scope="module")
def world(suite, actors, h100, l40s, oracle_signers, genesis):
    """Everything a lease test needs, as one namespace (see the module docstring)."""
    from brownie import chain

    coin, market, oracle = suite.stablecoin, suite.lease_market, suite.oracle
    e0 = market.currentEpoch()
    assert e0 == EPOCHS_BEFORE_NOW
    for asset in (h100, l40s):
        oracle.startReporting(asset.asset_id, e0, {"from": actors.admin})

    expiry = chain.time() + 5 * 365 * 86_400
    for investor in (actors.alice, actors.bob, actors.carol):
        suite.investor_registry.addInvestor(investor, expiry, 756, {"from": actors.compliance})
        coin.mint(investor, usd(1_000_000), {"from": actors.admin})
    for asset, holders in ((h100, ((actors.alice, 600), (actors.bob, 400))), (l40s, ((actors.carol, 1000),))):
        asset.shares.openOffering(asset.spec.share_price, shares(1000), chain.time() + 30 * 86_400,
                                  {"from": asset.operator})
        for holder, n in holders:
            coin.approve(asset.shares, MAX_UINT, {"from": holder})
            asset.shares.subscribe(shares(n), asset.spec.share_price * n, {"from": holder})

    for account in (actors.lessee, actors.lessee2, actors.operator, actors.operator2):
        coin.mint(account, usd(1_000_000), {"from": actors.admin})
        coin.approve(market, MAX_UINT, {"from": account})

    return SimpleNamespace(
        suite=suite,
        market=market,
        oracle=oracle,
        coin=coin,
        registry=suite.asset_registry,
        positions=suite.lease_positions,
        lens=suite.lease_lens,
        h100=h100,
        l40s=l40s,
        a1=h100.asset_id,
        a2=l40s.asset_id,
        meter=Meter(MeterPoster(oracle, oracle_signers, actors.keeper)),
        clock=Clock(genesis),
        e0=e0,
        actors=actors,
    )
