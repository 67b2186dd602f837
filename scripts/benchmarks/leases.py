"""`make bench` section: LeaseMarket gas (whole-transaction gas from receipts).

Figures:
- `createOffer` (the asset's first offer, which enrols it, and a second one), `openLease`, `openLeaseWithPermit`,
  `extendLease`, `terminateLease`, `cancelLease` (with a penalty), `claimRefund` (a refund after a partially
  delivered epoch, the lease still running) and `claimRefund` closing a lease;
- `settle` of the same epoch on twin 128-GPU assets, one with 1 lease of 100 GPUs and one with 100 leases of
  1 GPU (same rent, same report, same split), in three shapes: the epoch the leases start, a steady epoch, and
  the epoch they end; each 100-lease figure carries its ratio to the 1-lease one (goal <= 1.05, GOALS.md);
- `settle` of a void epoch (no report, after the grace period) with a lease running.

The section deploys its own suite (3 oracle signers, threshold 2, genesis 10 epochs back) and posts reports
with the daemon's code (oracle.eip712 digests signed by oracle.signer keys).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from eth_utils import keccak

from scripts.benchmarks.core import Bench, quiet
from scripts.eip2612 import sign_permit

log = logging.getLogger(__name__)

HOUR = 3600
GRACE = 6 * HOUR
E0 = 10
INTO_EPOCH = 120
MAX_UINT = 2**256 - 1
TWIN_GPUS = 128
MANY = 100
#: GOALS.md: settle with 100 leases / with 1 lease.
GOAL_SETTLE_RATIO = "<= 1.05"


def _terms(asset_id: int, gpus: int, price: int, penalty_bps: int = 500) -> tuple:
    # (assetId, gpus, pricePerGpuHour, minTerm, maxTerm, notice, slaUptimeBps, slaCreditBps, cancelPenaltyBps,
    #  leaseClass, (dynamic pricing))
    return (asset_id, gpus, price, 1, 48, 0, 9_900, 1_000, penalty_bps, 0, (False, 0, 0, 0, 0))


class _Harness:
    """Its own suite, actors, a meter that signs with the daemon's code, and the epoch clock."""

    def __init__(self) -> None:
        from brownie import accounts, chain

        from oracle.signer import LocalKeySigner
        from scripts.deploy import SuiteConfig, deploy_suite

        self.deployer, self.keeper, self.lessee = accounts[0], accounts[1], accounts[2]
        self.operators = [accounts[3], accounts[4], accounts[5], accounts[6]]
        self.investor = accounts[7]
        self.signers = sorted((LocalKeySigner(keccak(text=f"bench-lease-signer-{i}")) for i in range(3)),
                              key=lambda s: int(s.address, 16))
        self.genesis = chain.time() - E0 * HOUR - INTO_EPOCH
        self.suite = deploy_suite(self.deployer, SuiteConfig(
            oracle_genesis=self.genesis, oracle_signers=[s.address for s in self.signers], oracle_threshold=2,
            grace_period=GRACE))
        self.market, self.coin, self.oracle = self.suite.lease_market, self.suite.stablecoin, self.suite.oracle
        assert self.market.currentEpoch() == E0
        tx = {"from": self.deployer}
        self.suite.investor_registry.addInvestor(self.investor, chain.time() + 365 * 86_400, 756, tx)
        for account in (self.lessee, self.investor, *self.operators):
            self.coin.mint(account, 10**15, tx)
            self.coin.approve(self.market, MAX_UINT, {"from": account})

    def asset(self, operator: Any, gpus: int) -> int:
        """Registers an H100-like asset of `gpus` GPUs, starts its reporting at E0 and sells 100 shares."""
        from brownie import chain

        from scripts.samples import H100_CLUSTER, register_asset

        spec = dataclasses.replace(H100_CLUSTER, gpu_count=gpus)
        asset = register_asset(self.suite, self.deployer, operator, spec)
        self.oracle.startReporting(asset.asset_id, E0, {"from": self.deployer})
        asset.shares.openOffering(spec.share_price, 100 * 10**18, chain.time() + 30 * 86_400, {"from": operator})
        self.coin.approve(asset.shares, MAX_UINT, {"from": self.investor})
        asset.shares.subscribe(100 * 10**18, spec.share_price * 100, {"from": self.investor})
        return asset.asset_id

    def goto(self, epoch: int, into: int = INTO_EPOCH) -> None:
        from brownie import chain, web3

        web3.provider.make_request("evm_setNextBlockTimestamp", [self.genesis + epoch * HOUR + into])
        chain.mine()

    def post(self, asset_id: int, first: int, last: int, gpu_seconds: int, *, partial_epoch: int | None = None,
             partial_seconds: int = 0) -> None:
        """Posts [first, last] for `asset_id`, signed by 2 of the 3 signers with the daemon's code."""
        from brownie import chain

        from oracle.eip712 import Eip712Domain, batch_digest
        from oracle.models import Report
        from oracle.signer import sign_sorted

        reports = [
            Report(asset_id=asset_id, epoch=epoch,
                   gpu_seconds=partial_seconds if epoch == partial_epoch else gpu_seconds,
                   curtailed_gpu_seconds=0, utilization_bps=9_000, energy_wh=gpu_seconds // 8 * 5_000 // HOUR)
            for epoch in range(first, last + 1)
        ]
        version = self.oracle.configVersion()
        digest = batch_digest(Eip712Domain(chain_id=chain.id, verifying_contract=self.oracle.address), version,
                              reports)
        signatures = [s.signature.as_abi_tuple() for s in sign_sorted(digest, self.signers[:2])]
        self.oracle.submit(version, [r.as_abi_tuple() for r in reports], list(self.oracle.signers()), signatures,
                           {"from": self.keeper})

    def permit(self, owner_key: bytes, value: int, deadline: int) -> tuple[int, bytes, bytes]:
        return sign_permit(self.coin, owner_key, self.market.address, value, deadline)


def _gas(tx: Any, what: str) -> int:
    if tx.status != 1:
        raise RuntimeError(f"{what} failed")
    return tx.gas_used


def run(bench: Bench) -> None:
    with quiet():
        figures = _measure()
    for name in ("createOffer.first", "createOffer.second", "openLease", "openLeaseWithPermit", "extendLease",
                 "terminateLease", "cancelLease", "claimRefund.refund", "claimRefund.close", "settle.void"):
        bench.record(f"leases.{name}", figures[name])
    for shape in ("start", "steady", "end"):
        one = figures[f"settle.{shape}.1lease"]
        bench.record(f"leases.settle.{shape}.1lease", one)
        bench.compare(f"leases.settle.{shape}.{MANY}leases", figures[f"settle.{shape}.{MANY}leases"],
                      f"leases.settle.{shape}.1lease", one, goal=GOAL_SETTLE_RATIO)


def _measure() -> dict[str, int]:
    from brownie import accounts, chain

    h = _Harness()
    m, g = h.market, {}
    op, op_one, op_many, op_void = h.operators
    h100 = h.asset(op, 8)
    one_asset, many_asset = h.asset(op_one, TWIN_GPUS), h.asset(op_many, TWIN_GPUS)
    void_asset = h.asset(op_void, 8)

    # Offers: the first enrols the asset.
    tx = m.createOffer(_terms(h100, 4, 2 * 10**6), {"from": op})
    g["createOffer.first"], offer = _gas(tx, "createOffer"), tx.return_value
    tx = m.createOffer(_terms(h100, 4, 2 * 10**6), {"from": op})
    g["createOffer.second"], offer2 = _gas(tx, "createOffer"), tx.return_value

    # Leases on the H100.
    tx = m.openLease(offer, 2, 3, 2 * 10**6, {"from": h.lessee})
    g["openLease"], lease = _gas(tx, "openLease"), tx.return_value
    permit_key = keccak(text="bench-permit-lessee")
    permit_lessee = accounts.add(permit_key)
    h.deployer.transfer(permit_lessee, "1 ether")
    h.coin.mint(permit_lessee, 10**12, {"from": h.deployer})
    escrow = m.quoteEscrow(2, 2 * 10**6, 3)
    deadline = chain.time() + 3_600
    v, r, s = h.permit(permit_key, escrow, deadline)
    tx = m.openLeaseWithPermit(offer2, 2, 3, 2 * 10**6, escrow, deadline, v, r, s, {"from": permit_lessee})
    g["openLeaseWithPermit"], permit_lease = _gas(tx, "openLeaseWithPermit"), tx.return_value
    g["extendLease"] = _gas(m.extendLease(lease, 2, {"from": h.lessee}), "extendLease")
    g["terminateLease"] = _gas(m.terminateLease(permit_lease, {"from": permit_lessee}), "terminateLease")
    cancelled = m.openLease(offer, 2, 3, 2 * 10**6, {"from": h.lessee}).return_value
    g["cancelLease"] = _gas(m.cancelLease(cancelled, {"from": op}), "cancelLease")

    # Twin assets: one lease of 100 GPUs, and 100 leases of one GPU, for E0+1 and E0+2.
    twins = {}
    for asset_id, operator in ((one_asset, op_one), (many_asset, op_many)):
        twins[asset_id] = m.createOffer(_terms(asset_id, TWIN_GPUS, 10**6), {"from": operator}).return_value
    m.openLease(twins[one_asset], MANY, 2, 10**6, {"from": h.lessee})
    for _ in range(MANY):
        m.openLease(twins[many_asset], 1, 2, 10**6, {"from": h.lessee})
    m.createOffer(_terms(void_asset, 8, 10**6), {"from": op_void})
    m.openLease(m.offersOf(void_asset)[0], 8, 2, 10**6, {"from": h.lessee})

    # Reports through E0+3: the H100's E0+1 is 75% delivered (1.5 GPU-hours against the 2 GPUs leased then),
    # so its lease has a refund to claim.
    h.goto(E0 + 4)
    h.post(h100, E0, E0 + 3, 8 * HOUR, partial_epoch=E0 + 1, partial_seconds=3 * HOUR // 2)
    for asset_id in (one_asset, many_asset):
        h.post(asset_id, E0, E0 + 3, TWIN_GPUS * HOUR)
        m.settle(asset_id, E0, {"from": h.keeper})
    for shape, epoch in (("start", E0 + 1), ("steady", E0 + 2), ("end", E0 + 3)):
        g[f"settle.{shape}.1lease"] = _gas(m.settle(one_asset, epoch, {"from": h.keeper}), "settle")
        g[f"settle.{shape}.{MANY}leases"] = _gas(m.settle(many_asset, epoch, {"from": h.keeper}), "settle")
        a, b = m.settlementOf(one_asset, epoch), m.settlementOf(many_asset, epoch)
        if (a["gross"], a["net"]) != (b["gross"], b["net"]):
            raise RuntimeError(f"twin epochs differ at {epoch}: the settle figures would not compare")

    m.settleThrough(h100, E0 + 1, {"from": h.keeper})
    g["claimRefund.refund"] = _gas(m.claimRefund(lease, {"from": h.lessee}), "claimRefund")
    m.settleThrough(h100, E0 + 3, {"from": h.keeper})
    tx = m.claimRefund(cancelled, {"from": h.lessee})
    if "LeaseClosed" not in tx.events:
        raise RuntimeError("the cancelled lease did not close")
    g["claimRefund.close"] = _gas(tx, "claimRefund")

    # Void: the last asset's meter never reports; past E0's and E0+1's grace periods.
    h.goto(E0 + 8)
    m.settle(void_asset, E0, {"from": h.keeper})
    tx = m.settle(void_asset, E0 + 1, {"from": h.keeper})
    if "EpochVoided" not in tx.events:
        raise RuntimeError("the epoch did not settle void")
    g["settle.void"] = _gas(tx, "settle")
    log.info("lease figures: %s", g)
    return g
