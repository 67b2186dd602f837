"""The investor app's demo world on a local Anvil: the suite deployed, three assets with open offerings and
lease offers, a lending market, and a few settled epochs of metered yield. `make app` shows it; the browser
tests and the app bench start from it.

Development only (it needs brownie and moves the chain's clock); the server never imports it. Reports are
signed by the oracle package's own signer and EIP-712 code, as the daemon signs them.

Accounts (Anvil's dev mnemonic, by index): 0 admin, 1 compliance, 2 operator (H100, B200), 3 operator2 (L40S),
4 alice and 5 bob (verified, funded, no position: the investors the app's journey drives), 6 carol (verified,
holds shares of every asset, borrows against H100 shares), 7 mallory (funded, never verified), 8 lessee, 9 lessee2,
10 lender, 11 keeper (settles epochs).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_utils import keccak

from oracle.eip712 import Eip712Domain, batch_digest, root_digest
from oracle.models import Report
from oracle.roots import build_epoch_tree
from oracle.signer import LocalKeySigner, sign_sorted
from scripts.samples import H100_CLUSTER, L40S_EDGE, TIER_HYPERSCALE, AssetSpec, register_asset, shares, usd

log = logging.getLogger("wellhead.app.world")

HOUR = 3600
MAX_UINT = 2**256 - 1
YEAR = 365 * 86_400
ROLES = ("admin", "compliance", "operator", "operator2", "alice", "bob", "carol", "mallory", "lessee",
         "lessee2", "lender", "keeper")


def valuation_params(reference_price_per_gpu_hour: int) -> tuple[int, ...]:
    """IShareValuation.ValuationParams: 24-epoch window, 15% cap rate, no age decay, 10%/epoch max move, silence
    after 3 epochs without a report (half the value cut), suspended: half cut; wash guards: the price rises at
    most 50% a year from a weekly snapshot, and revenue counts up to `reference_price_per_gpu_hour` (the asset's
    own offer price here)."""
    return (24, 1_500, 0, 1_000, 3, 5_000, 5_000, 5_000, 168, reference_price_per_gpu_hour)


LLTV = 625 * 10**15
NO_PRICING = (False, 0, 0, 0, 0)
SPOT = b"SPOT".ljust(32, b"\0")

B200_HYPERSCALE = AssetSpec(
    tier=TIER_HYPERSCALE,
    gpu_count=16,
    power_per_gpu_w=1_000,
    pue_bps=11_000,
    energy_tariff_per_kwh=usd("0.08"),
    operator_fee_bps=800,
    commissioned_days_ago=30,
    gpu_model="NVIDIA B200 180GB",
    region="us-east-1 / b200-pod-07",
    metadata_uri="ipfs://bafybeib200pod07datasheet",
    metadata_hash="0x" + "33" * 32,
    shares_name="Wellhead B200 Pod 07",
    shares_symbol="WH-B200-07",
    share_price=usd(250),
    share_cap=20_000,
    max_shares=100_000,
)


def _now() -> int:
    """The latest block's timestamp (the chain's clock, which this module moves)."""
    from brownie import web3

    return int(web3.eth.get_block("latest")["timestamp"])


def _warp(timestamp: int) -> None:
    """Mines one block at exactly `timestamp`."""
    from brownie import chain, web3

    reply = web3.provider.make_request("evm_setNextBlockTimestamp", [int(timestamp)])
    if "error" in reply:
        raise RuntimeError(f"evm_setNextBlockTimestamp({timestamp}) failed: {reply['error']}")
    chain.mine()


@dataclass
class Meter:
    """Signs report batches with the oracle's signer and posts them, as the daemon would."""

    oracle: Any
    signer: LocalKeySigner
    sender: Any

    def post(self, reports: list[Report]) -> Any:
        from brownie import chain

        domain = Eip712Domain(chain_id=chain.id, verifying_contract=self.oracle.address)
        version = self.oracle.configVersion()
        signatures = sign_sorted(batch_digest(domain, version, reports), [self.signer])
        return self.oracle.submit(
            version,
            [r.as_abi_tuple() for r in reports],
            list(self.oracle.signers()),
            [s.signature.as_abi_tuple() for s in signatures],
            {"from": self.sender},
        )

    def settle_with_proofs(self, market: Any, epoch: int, reports: list[Report]) -> Any:
        """Root-only posting, as the daemon's root mode does: commits the signed Merkle root of the epoch's
        `reports` and settles them all with their proofs in one `settleMany` (nothing stored in the oracle)."""
        from brownie import chain

        domain = Eip712Domain(chain_id=chain.id, verifying_contract=self.oracle.address)
        version = self.oracle.configVersion()
        tree = build_epoch_tree(reports)
        signatures = sign_sorted(root_digest(domain, version, epoch, tree.count, tree.root), [self.signer])
        self.oracle.commitRoot(version, (epoch, tree.count, tree.root), list(self.oracle.signers()),
                               [s.signature.as_abi_tuple() for s in signatures], {"from": self.sender})
        return market.settleMany([r.as_abi_tuple() for r in reports],
                                 [tree.proof(r.asset_id, r.epoch) for r in reports], {"from": self.sender})


@dataclass
class World:
    """The deployed suite and the demo's cast."""

    suite: Any
    who: dict[str, Any]
    meter: Meter
    genesis: int
    #: The block before the suite's first contract: where an indexer starts.
    start_block: int = 0
    assets: list[Any] = field(default_factory=list)
    lending_market: Any = None
    #: Per asset id: (gpuSeconds, utilizationBps, energyWh) of a healthy epoch.
    healthy: dict[int, tuple[int, int, int]] = field(default_factory=dict)

    def epoch_now(self) -> int:
        return (_now() - self.genesis) // HOUR

    def advance_epoch(self, uptime_bps: int = 10_000, curtailed_bps: int = 0, proof_at_settlement: bool = False) -> int:
        """Ends the current epoch, posts every asset's report for it (at `uptime_bps` of healthy and
        `curtailed_bps` of capacity idled for grid demand response), settles it and updates the valuations;
        returns the epoch settled. With `proof_at_settlement` the reports are never stored: a root is committed
        and `settleMany` proves them (root-only posting); otherwise `submit` stores them and `settle` uses them."""
        epoch = self.epoch_now()
        _warp(self.genesis + (epoch + 1) * HOUR + 60)
        reports = []
        for asset in self.assets:
            gpu_seconds, util, energy = self.healthy[asset.asset_id]
            reports.append(Report(
                assetId=asset.asset_id, epoch=epoch, gpuSeconds=gpu_seconds * uptime_bps // 10_000,
                curtailedGpuSeconds=gpu_seconds * curtailed_bps // 10_000, utilizationBps=util,
                energyWh=energy * uptime_bps // 10_000,
            ))
        keeper = {"from": self.who["keeper"]}
        if proof_at_settlement:
            self.meter.settle_with_proofs(self.suite.lease_market, epoch, reports)
        else:
            self.meter.post(reports)
            for asset in self.assets:
                self.suite.lease_market.settle(asset.asset_id, epoch, keeper)
        for asset in self.assets:
            self.suite.valuation.update(asset.asset_id, keeper)
        return epoch

    def manifest(self, directory: Path) -> Path:
        """Writes `<directory>/<chainId>.json` with the deploy script's own writer, from the world's first block."""
        import json

        from scripts.deploy import write_deployment

        path = write_deployment(self.suite, directory)
        document = json.loads(path.read_text())
        document["deployedAtBlock"] = self.start_block
        path.write_text(json.dumps(document, indent=1) + "\n")
        return path


def build_world(accounts: Any, *, epochs: int = 6) -> World:
    """Deploys and populates the demo world from brownie's `accounts`; settles `epochs` epochs (the third
    one with a 70% uptime, so that lessees see an SLA credit)."""
    from brownie import LendingMarket, chain

    from scripts.deploy import SuiteConfig, deploy_suite

    who = {name: accounts[i] for i, name in enumerate(ROLES)}
    admin = who["admin"]
    signer = LocalKeySigner(keccak(text="wellhead-app-oracle"))
    genesis = _now() // HOUR * HOUR - 2 * HOUR
    start_block = chain.height
    suite = deploy_suite(admin, SuiteConfig(
        compliance=who["compliance"], oracle_genesis=genesis, oracle_signers=[signer.address], oracle_threshold=1))
    world = World(suite=suite, who=who, meter=Meter(suite.oracle, signer, who["keeper"]), genesis=genesis,
                  start_block=start_block)
    coin = suite.stablecoin
    now = _now()

    for name in ("alice", "bob", "carol", "lender"):
        suite.investor_registry.addInvestor(who[name], now + YEAR, 756, {"from": who["compliance"]})
    for name in ("alice", "bob", "carol", "mallory", "lessee", "lessee2", "lender", "keeper"):
        coin.mint(who[name], usd(3_000_000 if name == "carol" else 1_000_000), {"from": admin})

    specs = ((H100_CLUSTER, "operator", (8 * HOUR, 9_000, 5_000), usd(2)),
             (L40S_EDGE, "operator2", (4 * HOUR, 8_000, 1_300), usd("0.9")),
             (B200_HYPERSCALE, "operator", (16 * HOUR, 9_500, 14_000), usd(5)))
    epoch = world.epoch_now()
    for spec, operator, healthy, rate in specs:
        asset = register_asset(suite, admin, who[operator], spec)
        world.assets.append(asset)
        world.healthy[asset.asset_id] = healthy
        op = {"from": who[operator]}
        asset.shares.openOffering(spec.share_price, shares(spec.share_cap), now + 30 * 86_400, op)
        suite.lease_market.createOffer(
            (asset.asset_id, spec.gpu_count, rate, 1, 500, 0, 9_900, 1_000, 500, 0, NO_PRICING), op)
        suite.oracle.startReporting(asset.asset_id, epoch, {"from": admin})
        suite.valuation.configure(asset.asset_id, valuation_params(rate), spec.share_price, {"from": admin})
        suite.share_venue.openMarket(asset.asset_id, {"from": who["keeper"]})  # the trade tab's order book

    carol = {"from": who["carol"]}
    for asset, whole in zip(world.assets, (3_000, 4_000, 8_000), strict=True):
        coin.approve(asset.shares, MAX_UINT, carol)
        asset.shares.subscribe(shares(whole), asset.spec.share_price * whole, carol)
    for lessee, offer_id, gpus in (("lessee", 1, 6), ("lessee2", 2, 4), ("lessee", 3, 12)):
        coin.approve(suite.lease_market, MAX_UINT, {"from": who[lessee]})
        suite.lease_market.openLease(offer_id, gpus, 200, 2**128 - 1, {"from": who[lessee]})

    h100 = world.assets[0]
    tx = suite.lending_factory.createMarket(
        (coin, h100.shares, suite.valuation, suite.irm, LLTV), {"from": who["keeper"]})
    world.lending_market = LendingMarket.at(tx.return_value)
    lender = {"from": who["lender"]}
    coin.approve(world.lending_market, MAX_UINT, lender)
    world.lending_market.deposit(usd(200_000), who["lender"], lender)

    for index in range(epochs):
        world.advance_epoch(uptime_bps=7_000 if index == 2 else 10_000)

    h100.shares.approve(world.lending_market, MAX_UINT, carol)
    world.lending_market.supplyCollateral(shares(200), who["carol"], carol)
    world.lending_market.borrow(usd(5_000), who["carol"], carol)
    if h100.shares.claimable(who["carol"]) > 0:  # none when only the enrolment epoch has settled
        h100.shares.claim(carol)
    log.info("world built: %d assets, %d epochs settled, block %d", len(world.assets), epochs, chain.height)
    return world
