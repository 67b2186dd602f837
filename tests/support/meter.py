"""Signing and posting MeteringOracle reports from the contract tests, with the daemon's own code
(oracle.eip712 digests, oracle.signer keys), so the tests exercise the path the daemon takes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_utils import keccak

from oracle.eip712 import Eip712Domain, batch_digest, root_digest
from oracle.models import Report
from oracle.roots import EpochTree, build_epoch_tree
from oracle.signer import LocalKeySigner, sign_sorted


def make_signers(count: int, label: str = "oracle-signer") -> list[LocalKeySigner]:
    """`count` deterministic signer keys (keccak of a label), sorted by address."""
    signers = [LocalKeySigner(keccak(text=f"{label}-{index}")) for index in range(count)]
    return sorted(signers, key=lambda signer: int(signer.address, 16))


def report(asset_id: int, epoch: int, gpu_seconds: int = 0, utilization_bps: int = 0, energy_wh: int = 0,
           curtailed: int = 0) -> Report:
    return Report(
        assetId=asset_id,
        epoch=epoch,
        gpuSeconds=gpu_seconds,
        curtailedGpuSeconds=curtailed,
        utilizationBps=utilization_bps,
        energyWh=energy_wh,
    )


@dataclass
class MeterPoster:
    """Signs batches with a quorum of `signers` and submits them to `oracle` from `sender`."""

    oracle: Any
    signers: list[LocalKeySigner]
    sender: Any

    @property
    def domain(self) -> Eip712Domain:
        from brownie import chain

        return Eip712Domain(chain_id=chain.id, verifying_contract=self.oracle.address)

    def signed(self, reports: list[Report], signers: list[LocalKeySigner] | None = None,
               version: int | None = None) -> tuple[int, list[tuple], list[str], list[tuple]]:
        """The four `submit` arguments for `reports`, signed by `signers` (default: the first threshold)."""
        version = self.oracle.configVersion() if version is None else version
        chosen = signers if signers is not None else self.signers[: self.oracle.threshold()]
        digest = batch_digest(self.domain, version, reports)
        signatures = sign_sorted(digest, chosen)
        return (
            version,
            [r.as_abi_tuple() for r in reports],
            list(self.oracle.signers()),
            [s.signature.as_abi_tuple() for s in signatures],
        )

    def post(self, reports: list[Report], **kwargs: Any) -> Any:
        """Submits `reports` as one batch; returns the transaction."""
        return self.oracle.submit(*self.signed(reports, **kwargs), {"from": self.sender})

    def commit_root(self, epoch: int, reports: list[Report], signers: list[LocalKeySigner] | None = None) -> EpochTree:
        """Commits the Merkle root of `reports` (one epoch) signed by a quorum, with the daemon's tree code;
        returns the tree (its `proof(asset_id, epoch)` is what `settleWithProof` takes)."""
        tree = build_epoch_tree(reports)
        version = self.oracle.configVersion()
        chosen = signers if signers is not None else self.signers[: self.oracle.threshold()]
        digest = root_digest(self.domain, version, epoch, tree.count, tree.root)
        signatures = [s.signature.as_abi_tuple() for s in sign_sorted(digest, chosen)]
        self.oracle.commitRoot(version, (epoch, tree.count, tree.root), list(self.oracle.signers()), signatures,
                               {"from": self.sender})
        return tree
