"""Constants of the oracle test deployment and the `Quorum` helper that signs batches and roots for it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from tests.contracts.oracle._signing import (
    Domain,
    Report,
    Signature,
    batch_digest,
    by_address,
    root_digest,
    sign_all,
)

SIGNER_COUNT = 5
THRESHOLD = 3
EPOCH_LENGTH = 3600
#: Genesis lies this many epochs before the deployment, so many epochs have already ended.
EPOCHS_BEFORE_NOW = 48
#: Both sample assets start reporting here (well in the past).
FIRST_EPOCH = 10
ENERGY_MARGIN_BPS = 2_000  # the deploy script's default
#: Extra deterministic signers (indices 5..) used for rotations.
SPARE_SIGNERS = 4


@dataclass
class Quorum:
    """The oracle's signer keys and the EIP-712 domain: signs batches and roots for tests."""

    oracle: Any
    domain: Domain
    accounts: list  # every known signer key (current set first), LocalAccounts

    def current(self) -> list:
        """The accounts of the oracle's current signer set, ascending."""
        current = {str(a).lower() for a in self.oracle.signers()}
        return by_address([a for a in self.accounts if a.address.lower() in current])

    def version(self) -> int:
        return self.oracle.configVersion()

    def sign_batch(
        self,
        reports: Sequence[Report],
        signers: Sequence | None = None,
        *,
        version: int | None = None,
        domain: Domain | None = None,
        keep_order: bool = False,
    ) -> list[Signature]:
        """Signatures over the batch digest, by `signers` (default: the first `threshold` current signers)."""
        version = self.version() if version is None else version
        signers = self.current()[: self.oracle.threshold()] if signers is None else signers
        digest = batch_digest(domain or self.domain, version, reports)
        return sign_all(signers, digest, keep_order=keep_order)

    def sign_root(self, epoch: int, report_count: int, root: bytes, signers: Sequence | None = None,
                  *, version: int | None = None) -> list[Signature]:
        version = self.version() if version is None else version
        signers = self.current()[: self.oracle.threshold()] if signers is None else signers
        return sign_all(signers, root_digest(self.domain, version, epoch, report_count, root))

    def submit(self, reports: Sequence[Report], sender: Any, signers: Sequence | None = None):
        """Signs `reports` with the current quorum and submits them with the current set."""
        signatures = self.sign_batch(reports, signers)
        return self.oracle.submit(self.version(), list(reports), self.oracle.signers(), signatures, {"from": sender})

#: Physical limits of the sample assets, worked out by hand (scripts/samples.py):
#: H100 cluster: 8 GPUs x 700 W.  GPU-seconds <= 8 x 3600 = 28,800;
#: energy <= 8 x 700 W x 3600 s x (10,000 + 2,000) / (3600 x 10,000) = 6,720 Wh.
H100_MAX_GPU_SECONDS = 28_800
H100_MAX_ENERGY_WH = 6_720
#: L40S edge node: 4 GPUs x 350 W.  GPU-seconds <= 14,400; energy <= 4 x 350 x 1.2 = 1,680 Wh.
L40S_MAX_GPU_SECONDS = 14_400
L40S_MAX_ENERGY_WH = 1_680


def as_bytes(value: Any) -> bytes:
    """bytes32/bytes20 values as brownie returns them (HexString, str or bytes) to bytes."""
    from hexbytes import HexBytes

    return bytes(HexBytes(value))


def full_h100(asset_id: int, epoch: int) -> Report:
    """A healthy, busy epoch of the H100 cluster (every value well inside its limits)."""
    return Report(asset_id, epoch, 28_000, 0, 8_125, 5_400)


def full_l40s(asset_id: int, epoch: int) -> Report:
    """A healthy epoch of the L40S node."""
    return Report(asset_id, epoch, 14_000, 200, 6_000, 1_100)
