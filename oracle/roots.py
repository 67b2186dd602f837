"""Root mode's Merkle trees: one per epoch over that epoch's reports, leaves ordered by ascending assetId.

Every party builds the same tree from the same reports: the leaves are the reports' EIP-712 struct hashes
(:func:`oracle.eip712.report_struct_hash`) in ascending assetId order, combined as OpenZeppelin's
``MerkleProof`` does (:func:`oracle.eip712.build_report_tree`). The daemon stores a root's leaf order in the
outbox and rebuilds the tree from the stored reports when it needs proofs (:func:`rebuild_tree`), checking
that it still gives the stored root; a co-signing peer rebuilds it from its own meters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from eth_hash.auto import keccak

from oracle.eip712 import MerkleTree, build_report_tree, range_root, report_struct_hash
from oracle.errors import MerkleError, OutboxError
from oracle.models import Report

__all__ = [
    "EpochTree",
    "build_epoch_tree",
    "leaf_order",
    "leaves_digest",
    "rebuild_tree",
    "verify_proof",
    "verify_range_proof",
]


@dataclass(frozen=True)
class EpochTree:
    """An epoch's reports in leaf order and their Merkle tree."""

    epoch: int
    reports: tuple[Report, ...]
    tree: MerkleTree
    _index: dict[tuple[int, int], int] = field(repr=False, compare=False, default_factory=dict)

    @property
    def root(self) -> bytes:
        """The Merkle root."""
        return self.tree.root

    @property
    def count(self) -> int:
        """``reportCount``: the number of leaves."""
        return len(self.reports)

    @property
    def keys(self) -> list[tuple[int, int]]:
        """(assetId, epoch) of each leaf, in leaf order."""
        return [(r.asset_id, r.epoch) for r in self.reports]

    def range_proof(self, first: int, count: int) -> list[bytes]:
        """The range proof of leaves ``[first, first + count)`` (what ``settleRange`` takes for them).

        Raises:
            MerkleError: the run is empty or not within the leaves.
        """
        return self.tree.range_proof(first, count)

    def proof(self, asset_id: int, epoch: int) -> list[bytes]:
        """The proof of one report (what ``proveReports`` takes for it).

        Raises:
            MerkleError: the report is not a leaf of this tree.
        """
        index = self._index.get((asset_id, epoch))
        if index is None:
            raise MerkleError(f"report {asset_id}/{epoch} is not a leaf of epoch {self.epoch}'s tree")
        return self.tree.proof(index)


def leaf_order(reports: Sequence[Report]) -> list[Report]:
    """The reports in leaf order (ascending assetId).

    Raises:
        MerkleError: no reports, reports of several epochs, or two reports of one asset.
    """
    if not reports:
        raise MerkleError("a root needs at least one report")
    epochs = {r.epoch for r in reports}
    if len(epochs) != 1:
        raise MerkleError(f"a root covers one epoch, these reports cover {sorted(epochs)}")
    ordered = sorted(reports, key=lambda r: r.asset_id)
    for a, b in zip(ordered, ordered[1:], strict=False):
        if a.asset_id == b.asset_id:
            raise MerkleError(f"two reports of asset {a.asset_id} in epoch {a.epoch}")
    return ordered


def build_epoch_tree(reports: Sequence[Report]) -> EpochTree:
    """The tree of one epoch's reports (put in leaf order first).

    Raises:
        MerkleError: see :func:`leaf_order`.
    """
    ordered = leaf_order(reports)
    tree = build_report_tree(ordered)
    index = {(r.asset_id, r.epoch): i for i, r in enumerate(ordered)}
    return EpochTree(epoch=ordered[0].epoch, reports=tuple(ordered), tree=tree, _index=index)


def rebuild_tree(root: str | bytes, reports: Sequence[Report]) -> EpochTree:
    """Rebuild a stored root's tree from its reports (given in the stored leaf order).

    Raises:
        OutboxError: the reports are not in leaf order or do not give the stored root (a corrupt outbox).
    """
    expected = root if isinstance(root, bytes) else bytes.fromhex(root.removeprefix("0x"))
    try:
        tree = build_epoch_tree(reports)
    except MerkleError as exc:
        raise OutboxError(f"the stored leaves of a root cannot be rebuilt: {exc}") from None
    if list(tree.reports) != list(reports) or tree.root != expected:
        raise OutboxError(
            f"the stored leaves of epoch {tree.epoch} give root 0x{tree.root.hex()}, not 0x{expected.hex()}"
        )
    return tree


def verify_proof(proof: Sequence[bytes], root: bytes, report: Report) -> bool:
    """OpenZeppelin ``MerkleProof.verify`` of ``report``'s leaf against ``root`` (sorted-pair keccak)."""
    node = report_struct_hash(report)
    for sibling in proof:
        node = keccak(node + sibling) if node < sibling else keccak(sibling + node)
    return node == root


def verify_range_proof(
    proof: Sequence[bytes], root: bytes, reports: Sequence[Report], first: int, report_count: int
) -> bool:
    """``MeteringOracle.verifyReportRange``'s proof check: ``reports`` are the leaves ``[first, first +
    len(reports))`` of ``root``'s ``report_count``-leaf tree (false also for an empty run, one not within the
    tree, or a proof of the wrong length)."""
    try:
        return range_root([report_struct_hash(r) for r in reports], first, report_count, proof) == root
    except MerkleError:
        return False


def leaves_digest(reports: Sequence[Report]) -> str:
    """A proof batch's identifier in the outbox: keccak of its leaves, in batch order (0x-hex)."""
    return "0x" + keccak(b"".join(report_struct_hash(r) for r in reports)).hex()
