"""`make bench` section: MeteringOracle gas, next to a bare baseline measured in the same run.

Figures (whole-transaction gas from receipts):
- `submit` of one report with 1, 3 and 5 signatures, and the marginal gas per extra signature ((g5 - g1) / 4);
- batches of 1, 10 and 100 reports (3 signatures) in two shapes: `catchup` (consecutive epochs of ONE asset)
  and `fleet` (one epoch of many assets), and the marginal gas per extra report in each ((g100 - g1) / 99);
- `commitRoot` of a 1,024-leaf Merkle root, and `proveReports` gas per report (1 and 100 reports);
- the same submit and batch figures for `BaselineReportStore` (contracts/bench): ecrecover k signatures over a
  given digest and store one word per report, nothing else; each oracle figure carries its ratio to it.

The section deploys its own suite (5 signers, threshold 1 so that 1, 3 and 5 signatures are all a quorum: the
threshold value itself costs nothing, it sits in the config slot either way) with its genesis 300 epochs back.
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

from eth_account import Account
from eth_utils import keccak

from scripts.benchmarks.core import Bench, quiet

log = logging.getLogger(__name__)

SIGNER_COUNT = 5
EPOCH_LENGTH = 3600
EPOCHS_BACK = 300
BATCH_SIZES = (1, 10, 100)
SIGNATURE_COUNTS = (1, 3, 5)
BATCH_SIGNATURES = 3
ROOT_LEAVES = 1024

#: GOALS.md, gas on Anvil.
GOAL_MARGINAL_PER_SIGNATURE = "<= 5650"
GOAL_REPORT_3_SIGNATURES = "<= 82000"
GOAL_MARGINAL_PER_REPORT = "<= 25000"


def _report(asset_id: int, epoch: int, salt: int = 0) -> tuple:
    """A plausible report for any registered sample-sized asset (8 GPUs or more): nonzero everywhere."""
    return (asset_id, epoch, 27_000 + salt % 1_000, 300, 7_500 + salt % 2_000, 5_000 + salt % 500)


class _Signers:
    def __init__(self, count: int) -> None:
        self.accounts = sorted(
            (Account.from_key(keccak(text=f"bench-oracle-signer-{i}")) for i in range(count)),
            key=lambda a: int(a.address, 16),
        )

    @property
    def addresses(self) -> list[str]:
        return [a.address for a in self.accounts]

    def sign(self, digest: bytes, count: int) -> list[tuple]:
        signatures = []
        for account in self.accounts[:count]:
            signed = Account.unsafe_sign_hash(digest, account.key)
            signatures.append((signed.v, signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big")))
        return signatures

    def sign_compact(self, digest: bytes, count: int) -> list[tuple]:
        """EIP-2098 (r, vs) for the oracle."""
        signatures = []
        for account in self.accounts[:count]:
            signed = Account.unsafe_sign_hash(digest, account.key)
            vs = signed.s | ((signed.v - 27) << 255)
            signatures.append((signed.r.to_bytes(32, "big"), vs.to_bytes(32, "big")))
        return signatures


def _hash_pair(a: bytes, b: bytes) -> bytes:
    return keccak(a + b) if a < b else keccak(b + a)


def _merkle(leaves: Sequence[bytes]) -> tuple[bytes, list[list[bytes]]]:
    """Root and proofs of OpenZeppelin's sorted-pair tree (odd nodes carried up)."""
    levels = [list(leaves)]
    while len(levels[-1]) > 1:
        level = levels[-1]
        levels.append([_hash_pair(level[i], level[i + 1]) if i + 1 < len(level) else level[i]
                       for i in range(0, len(level), 2)])
    proofs = []
    for index in range(len(leaves)):
        proof, position = [], index
        for level in levels[:-1]:
            if position ^ 1 < len(level):
                proof.append(level[position ^ 1])
            position //= 2
        proofs.append(proof)
    return levels[-1][0], proofs


class _Harness:
    """The deployed oracle, the baseline, the signers and helpers that submit and return gas used."""

    def __init__(self, bench: Bench) -> None:
        from brownie import BaselineReportStore, accounts, chain

        from scripts.deploy import SuiteConfig, deploy_suite

        self.bench = bench
        self.deployer = accounts[0]
        self.keeper = accounts[1]
        self.signers = _Signers(SIGNER_COUNT)
        genesis = chain.time() // EPOCH_LENGTH * EPOCH_LENGTH - EPOCHS_BACK * EPOCH_LENGTH
        self.suite = deploy_suite(
            self.deployer,
            SuiteConfig(
                oracle_genesis=genesis,
                epoch_length=EPOCH_LENGTH,
                oracle_signers=self.signers.addresses,
                oracle_threshold=1,
            ),
        )
        self.oracle = self.suite.oracle
        self.baseline = BaselineReportStore.deploy({"from": self.deployer})

    def new_asset(self, first_epoch: int = 0) -> int:
        from scripts.samples import H100_CLUSTER, register_asset

        asset = register_asset(self.suite, self.deployer, self.deployer, H100_CLUSTER)
        self.oracle.startReporting(asset.asset_id, first_epoch, {"from": self.deployer})
        return asset.asset_id

    def submit(self, reports: list[tuple], signature_count: int) -> int:
        version = self.oracle.configVersion()
        digest = bytes(self.oracle.batchDigest(version, reports))
        signatures = self.signers.sign_compact(digest, signature_count)
        tx = self.oracle.submit(version, reports, self.signers.addresses, signatures, {"from": self.keeper})
        if tx.status != 1 or len(tx.events["ReportAccepted"]) != len(reports):
            raise RuntimeError(f"oracle submit of {len(reports)} reports failed")
        return tx.gas_used

    def submit_baseline(self, reports: list[tuple], signature_count: int) -> int:
        # any digest works for the baseline; this one is what the oracle would sign for the same batch
        digest = bytes(self.oracle.batchDigest(self.oracle.configVersion(), reports))
        tx = self.baseline.submit(digest, reports, self.signers.sign(digest, signature_count),
                                  {"from": self.keeper})
        if tx.status != 1:
            raise RuntimeError("baseline submit failed")
        return tx.gas_used


def _compare(bench: Bench, name: str, value: float, baseline: float, *, goal: str | None = None,
             unit: str = "gas") -> None:
    """Records the baseline figure, the oracle figure with its ratio, and (when there is one) the goal row:
    the GOALS.md gas goals are absolute numbers, so they are checked on the value, not on the ratio."""
    base_name = f"oracle.baseline.{name}"
    bench.record(base_name, baseline, unit)
    bench.compare(f"oracle.{name}", value, base_name, baseline, unit)
    if goal is not None:
        bench.record(f"oracle.{name}.goal", value, unit, goal=goal, note="GOALS.md, absolute gas")


def _signature_figures(bench: Bench, h: _Harness) -> None:
    asset = h.new_asset()
    h.submit([_report(asset, 0)], 1)  # warm-up: nothing in later figures depends on it, but keep it equal
    gas, base = {}, {}
    for index, count in enumerate(SIGNATURE_COUNTS, start=1):
        gas[count] = h.submit([_report(asset, index)], count)
        base[count] = h.submit_baseline([_report(asset, index)], count)
    for count in SIGNATURE_COUNTS:
        goal = GOAL_REPORT_3_SIGNATURES if count == 3 else None
        _compare(bench, f"submit.1report.{count}sig", gas[count], base[count], goal=goal)
    per_signature = (gas[5] - gas[1]) / 4
    base_per_signature = (base[5] - base[1]) / 4
    _compare(bench, "marginal_per_signature", per_signature, base_per_signature, goal=GOAL_MARGINAL_PER_SIGNATURE)


def _batch_figures(bench: Bench, h: _Harness) -> dict[str, Any]:
    # catchup: each size on its own asset, epochs 0..n-1
    catchup, catchup_base = {}, {}
    for size in BATCH_SIZES:
        asset = h.new_asset()
        reports = [_report(asset, epoch, epoch) for epoch in range(size)]
        catchup[size] = h.submit(reports, BATCH_SIGNATURES)
        catchup_base[size] = h.submit_baseline(reports, BATCH_SIGNATURES)

    # fleet: one epoch of many assets (the 100-asset batch at epoch 0, then 10 of them at 1, then 1 at 2)
    fleet_assets = [h.new_asset() for _ in range(max(BATCH_SIZES))]
    fleet, fleet_base = {}, {}
    for epoch, size in enumerate(sorted(BATCH_SIZES, reverse=True)):
        reports = [_report(asset, epoch, asset) for asset in fleet_assets[:size]]
        fleet[size] = h.submit(reports, BATCH_SIGNATURES)
        fleet_base[size] = h.submit_baseline(reports, BATCH_SIGNATURES)

    for shape, gas, base in (("catchup", catchup, catchup_base), ("fleet", fleet, fleet_base)):
        for size in BATCH_SIZES:
            _compare(bench, f"batch.{shape}.{size}reports.{BATCH_SIGNATURES}sig", gas[size], base[size])
        largest, smallest = max(BATCH_SIZES), min(BATCH_SIZES)
        per_report = (gas[largest] - gas[smallest]) / (largest - smallest)
        base_per_report = (base[largest] - base[smallest]) / (largest - smallest)
        _compare(bench, f"marginal_per_report.{shape}", per_report, base_per_report, goal=GOAL_MARGINAL_PER_REPORT)
    return {"fleet_assets": fleet_assets, "next_epoch": len(BATCH_SIZES)}


def _report_leaf(report: tuple) -> bytes:
    """The EIP-712 struct hash of a report (a leaf of a committed root)."""
    from eth_abi import encode

    typehash = keccak(
        text="Report(uint256 assetId,uint64 epoch,uint64 gpuSeconds,uint64 curtailedGpuSeconds,"
        "uint16 utilizationBps,uint64 energyWh)"
    )
    return keccak(encode(["bytes32", "uint256", "uint64", "uint64", "uint64", "uint16", "uint64"], [typehash, *report]))


def _align(h: _Harness, assets: list[int], epoch: int) -> None:
    """Reports every asset up to `epoch` - 1 (not measured), so all of them can be proven at `epoch`."""
    reports = []
    for asset in assets:
        reports += [_report(asset, e, asset) for e in range(h.oracle.cursorOf(asset)[0], epoch)]
    if reports:
        h.submit(reports, BATCH_SIGNATURES)


def _root_figures(bench: Bench, h: _Harness, fleet_assets: list[int], epoch: int) -> None:
    _align(h, fleet_assets, epoch)
    reports = [_report(asset, epoch, asset) for asset in fleet_assets]
    # the rest of a 1,024-leaf tree: reports of assets this chain does not know (a larger fleet's leaves)
    fillers = [_report(1_000_000 + i, epoch, i) for i in range(ROOT_LEAVES - len(reports))]
    local = [_report_leaf(r) for r in reports + fillers]
    for report, leaf in zip(reports[:3] + fillers[:1], local[:3] + local[len(reports):len(reports) + 1]):
        if bytes(h.oracle.hashReport(report)) != leaf:
            raise RuntimeError("local report hash differs from the contract's hashReport")
    root, proofs = _merkle(local)

    version = h.oracle.configVersion()
    commitment = (epoch, len(local), root)
    digest = bytes(h.oracle.rootDigest(version, commitment))
    tx = h.oracle.commitRoot(version, commitment, h.signers.addresses, h.signers.sign_compact(digest, BATCH_SIGNATURES),
                             {"from": h.keeper})
    bench.record(f"oracle.commitRoot.{BATCH_SIGNATURES}sig", tx.gas_used, note=f"{len(local)}-leaf root")

    one = h.oracle.proveReports(reports[:1], proofs[:1], {"from": h.keeper})
    bench.record("oracle.proveReports.1report.per_report", one.gas_used, note="proof of 10 hashes")
    size = len(reports) - 1
    many = h.oracle.proveReports(reports[1:], proofs[1 : 1 + size], {"from": h.keeper})
    if len(many.events["ReportAccepted"]) != size:
        raise RuntimeError("proveReports did not store every report")
    bench.record(f"oracle.proveReports.{size}reports.per_report", many.gas_used / size,
                 note="proofs of 10 hashes")


def _wait_for_brownie_bookkeeping(timeout: float = 10.0) -> None:
    """brownie records each transaction for `chain.undo` in a thread of its own; wait for them, so that none
    is still querying the node when bench.py stops it (they print a ConnectionResetError traceback)."""
    import threading

    from brownie.network.state import Chain

    for thread in threading.enumerate():
        # brownie is compiled: the bound method has no __name__, but it is bound to the Chain
        owner = getattr(getattr(thread, "_target", None), "__self__", None)
        if thread is not threading.current_thread() and isinstance(owner, Chain):
            thread.join(timeout)


def run(bench: Bench) -> None:
    """Deploys an oracle suite and a baseline, and records the oracle's gas figures."""
    with quiet():
        harness = _Harness(bench)
        _signature_figures(bench, harness)
        state = _batch_figures(bench, harness)
        _root_figures(bench, harness, state["fleet_assets"], state["next_epoch"])
    _wait_for_brownie_bookkeeping()
