"""EIP-712 typed data for the MeteringOracle, byte for byte as the contract hashes it.

Domain: ``EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)`` with name
``"Wellhead MeteringOracle"``, version ``"1"``, the chain id and the oracle's address.

Types::

    Report(uint256 assetId,uint64 epoch,uint64 gpuSeconds,uint64 curtailedGpuSeconds,uint16 utilizationBps,uint64 energyWh)
    ReportBatch(uint64 configVersion,Report[] reports)
    ReportRoot(uint64 configVersion,uint64 epoch,uint32 reportCount,bytes32 root)

``ReportBatch``'s type hash covers its referenced ``Report`` type (``keccak256("ReportBatch(...)Report(...)")``)
and its ``reports`` member is ``keccak256`` of the concatenated report struct hashes. ``ReportRoot`` commits to
a Merkle tree whose leaves are the reports' struct hashes, built to OpenZeppelin ``MerkleProof``'s
convention (each parent is the keccak of its two children sorted, so proofs need no left/right flags).

The digests here are computed directly with keccak over 32-byte words (fast); the ``*_typed_data``
functions return the same messages as eth-account typed-data dicts, and the tests prove they agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from eth_hash.auto import keccak
from eth_utils.address import is_address, to_checksum_address

from oracle.errors import Eip712Error, MerkleError
from oracle.models import UINT32_MAX, UINT64_MAX, UINT256_MAX, Report

__all__ = [
    "DOMAIN_NAME",
    "DOMAIN_VERSION",
    "EIP712_DOMAIN_TYPE",
    "EIP712_DOMAIN_TYPEHASH",
    "REPORT_BATCH_TYPE",
    "REPORT_BATCH_TYPEHASH",
    "REPORT_ROOT_TYPE",
    "REPORT_ROOT_TYPEHASH",
    "REPORT_TYPE",
    "REPORT_TYPEHASH",
    "Eip712Domain",
    "MerkleTree",
    "batch_digest",
    "batch_struct_hash",
    "batch_typed_data",
    "build_merkle_tree",
    "build_report_tree",
    "range_proof_length",
    "range_root",
    "report_struct_hash",
    "report_typed_data",
    "root_digest",
    "root_struct_hash",
    "root_typed_data",
    "typed_data_digest",
]

DOMAIN_NAME = "Wellhead MeteringOracle"
DOMAIN_VERSION = "1"
EIP712_DOMAIN_TYPE = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
REPORT_TYPE = (
    "Report(uint256 assetId,uint64 epoch,uint64 gpuSeconds,uint64 curtailedGpuSeconds,"
    "uint16 utilizationBps,uint64 energyWh)"
)
REPORT_BATCH_TYPE = "ReportBatch(uint64 configVersion,Report[] reports)"
REPORT_ROOT_TYPE = "ReportRoot(uint64 configVersion,uint64 epoch,uint32 reportCount,bytes32 root)"

EIP712_DOMAIN_TYPEHASH: bytes = keccak(EIP712_DOMAIN_TYPE.encode())
REPORT_TYPEHASH: bytes = keccak(REPORT_TYPE.encode())
REPORT_BATCH_TYPEHASH: bytes = keccak((REPORT_BATCH_TYPE + REPORT_TYPE).encode())
REPORT_ROOT_TYPEHASH: bytes = keccak(REPORT_ROOT_TYPE.encode())

_EIP712_DOMAIN_FIELDS = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
_REPORT_FIELDS = [
    {"name": "assetId", "type": "uint256"},
    {"name": "epoch", "type": "uint64"},
    {"name": "gpuSeconds", "type": "uint64"},
    {"name": "curtailedGpuSeconds", "type": "uint64"},
    {"name": "utilizationBps", "type": "uint16"},
    {"name": "energyWh", "type": "uint64"},
]
_REPORT_BATCH_FIELDS = [
    {"name": "configVersion", "type": "uint64"},
    {"name": "reports", "type": "Report[]"},
]
_REPORT_ROOT_FIELDS = [
    {"name": "configVersion", "type": "uint64"},
    {"name": "epoch", "type": "uint64"},
    {"name": "reportCount", "type": "uint32"},
    {"name": "root", "type": "bytes32"},
]


@dataclass(frozen=True)
class Eip712Domain:
    """The oracle's EIP-712 domain.

    Raises:
        Eip712Error: on construction, when the chain id is out of range or the contract is not an address.
    """

    chain_id: int
    verifying_contract: str
    """The oracle's address (any case; stored checksummed)."""
    name: str = DOMAIN_NAME
    version: str = DOMAIN_VERSION

    def __post_init__(self) -> None:
        if not isinstance(self.chain_id, int) or not 0 <= self.chain_id <= UINT256_MAX:
            raise Eip712Error(f"chain id {self.chain_id!r} is not a uint256")
        if not isinstance(self.verifying_contract, str) or not is_address(self.verifying_contract):
            raise Eip712Error(f"verifying contract {self.verifying_contract!r} is not an address")
        object.__setattr__(self, "verifying_contract", to_checksum_address(self.verifying_contract))

    @cached_property
    def separator(self) -> bytes:
        """The domain separator, ``hashStruct(EIP712Domain)``."""
        return keccak(
            EIP712_DOMAIN_TYPEHASH
            + keccak(self.name.encode())
            + keccak(self.version.encode())
            + _word(self.chain_id)
            + bytes(12)
            + bytes.fromhex(self.verifying_contract[2:])
        )

    def as_dict(self) -> dict[str, Any]:
        """The domain as an eth-account typed-data ``domain`` object."""
        return {
            "name": self.name,
            "version": self.version,
            "chainId": self.chain_id,
            "verifyingContract": self.verifying_contract,
        }


# --- struct hashes and digests ---------------------------------------------------------------------


def report_struct_hash(report: Report) -> bytes:
    """``hashStruct(Report)``: the EIP-712 struct hash of one report (also the report's Merkle leaf)."""
    return keccak(
        REPORT_TYPEHASH
        + _word(report.asset_id)
        + _word(report.epoch)
        + _word(report.gpu_seconds)
        + _word(report.curtailed_gpu_seconds)
        + _word(report.utilization_bps)
        + _word(report.energy_wh)
    )


def batch_struct_hash(config_version: int, reports: Sequence[Report]) -> bytes:
    """``hashStruct(ReportBatch)`` for ``config_version`` and ``reports`` in the given order."""
    _check_uint(config_version, UINT64_MAX, "configVersion")
    members = keccak(b"".join(report_struct_hash(report) for report in reports))
    return keccak(REPORT_BATCH_TYPEHASH + _word(config_version) + members)


def batch_digest(domain: Eip712Domain, config_version: int, reports: Sequence[Report]) -> bytes:
    """The 32-byte digest the signers sign for a batch of reports: ``keccak(0x1901 ‖ domain ‖ struct)``."""
    return typed_data_digest(domain, batch_struct_hash(config_version, reports))


def root_struct_hash(config_version: int, epoch: int, report_count: int, root: bytes) -> bytes:
    """``hashStruct(ReportRoot)``: the commitment to ``report_count`` reports of ``epoch`` under ``root``."""
    _check_uint(config_version, UINT64_MAX, "configVersion")
    _check_uint(epoch, UINT64_MAX, "epoch")
    _check_uint(report_count, UINT32_MAX, "reportCount")
    _check_bytes32(root, "root")
    return keccak(REPORT_ROOT_TYPEHASH + _word(config_version) + _word(epoch) + _word(report_count) + root)


def root_digest(domain: Eip712Domain, config_version: int, epoch: int, report_count: int, root: bytes) -> bytes:
    """The 32-byte digest the signers sign for a Merkle commitment of an epoch's reports."""
    return typed_data_digest(domain, root_struct_hash(config_version, epoch, report_count, root))


def typed_data_digest(domain: Eip712Domain, struct_hash: bytes) -> bytes:
    """``keccak256(0x19 0x01 ‖ domainSeparator ‖ structHash)``."""
    _check_bytes32(struct_hash, "struct hash")
    return keccak(b"\x19\x01" + domain.separator + struct_hash)


# --- eth-account typed data ------------------------------------------------------------------------


def report_typed_data(domain: Eip712Domain, report: Report) -> dict[str, Any]:
    """One report as a full typed-data message (``primaryType`` Report) for eth-account."""
    return {
        "types": {"EIP712Domain": _EIP712_DOMAIN_FIELDS, "Report": _REPORT_FIELDS},
        "primaryType": "Report",
        "domain": domain.as_dict(),
        "message": _report_message(report),
    }


def batch_typed_data(domain: Eip712Domain, config_version: int, reports: Sequence[Report]) -> dict[str, Any]:
    """A report batch as a full typed-data message for ``eth_account.messages.encode_typed_data``."""
    _check_uint(config_version, UINT64_MAX, "configVersion")
    return {
        "types": {
            "EIP712Domain": _EIP712_DOMAIN_FIELDS,
            "ReportBatch": _REPORT_BATCH_FIELDS,
            "Report": _REPORT_FIELDS,
        },
        "primaryType": "ReportBatch",
        "domain": domain.as_dict(),
        "message": {"configVersion": config_version, "reports": [_report_message(r) for r in reports]},
    }


def root_typed_data(
    domain: Eip712Domain, config_version: int, epoch: int, report_count: int, root: bytes
) -> dict[str, Any]:
    """A Merkle commitment as a full typed-data message for eth-account."""
    root_struct_hash(config_version, epoch, report_count, root)  # range checks
    return {
        "types": {"EIP712Domain": _EIP712_DOMAIN_FIELDS, "ReportRoot": _REPORT_ROOT_FIELDS},
        "primaryType": "ReportRoot",
        "domain": domain.as_dict(),
        "message": {"configVersion": config_version, "epoch": epoch, "reportCount": report_count, "root": root},
    }


def _report_message(report: Report) -> dict[str, int]:
    return {
        "assetId": report.asset_id,
        "epoch": report.epoch,
        "gpuSeconds": report.gpu_seconds,
        "curtailedGpuSeconds": report.curtailed_gpu_seconds,
        "utilizationBps": report.utilization_bps,
        "energyWh": report.energy_wh,
    }


# --- Merkle commitment -----------------------------------------------------------------------------


@dataclass(frozen=True)
class MerkleTree:
    """A Merkle tree in OpenZeppelin ``MerkleProof`` convention (sorted-pair keccak, leaves as given).

    ``layers[0]`` are the leaves, ``layers[-1] == [root]``. A node without a sibling moves up unchanged.
    """

    layers: tuple[tuple[bytes, ...], ...]

    @property
    def root(self) -> bytes:
        """The tree's root."""
        return self.layers[-1][0]

    @property
    def leaves(self) -> tuple[bytes, ...]:
        """The leaves, in the order given to the builder."""
        return self.layers[0]

    def proof(self, index: int) -> list[bytes]:
        """The sibling hashes from leaf ``index`` up to the root (what ``MerkleProof.verify`` takes).

        Raises:
            MerkleError: ``index`` is not a leaf's index.
        """
        if not 0 <= index < len(self.leaves):
            raise MerkleError(f"leaf index {index} out of range 0..{len(self.leaves) - 1}")
        proof: list[bytes] = []
        for layer in self.layers[:-1]:
            sibling = index ^ 1
            if sibling < len(layer):
                proof.append(layer[sibling])
            index //= 2
        return proof

    def proofs(self) -> list[list[bytes]]:
        """Every leaf's proof, in leaf order."""
        return [self.proof(i) for i in range(len(self.leaves))]

    def range_proof(self, first: int, count: int) -> list[bytes]:
        """The range proof of the leaves ``[first, first + count)`` (what ``verifyReportRange`` takes).

        Walking the layers from the leaves up, with the run at positions ``[lo, hi]`` of a layer (then
        ``[lo // 2, hi // 2]`` of the next), each layer gives, in this order: its left sibling (node ``lo - 1``)
        when ``lo`` is odd, and its right sibling (node ``hi + 1``) when ``hi`` is even and not the layer's last
        node (that one is promoted). At most two hashes per layer for the whole run; none for the whole tree.

        Raises:
            MerkleError: ``count`` is below 1 or the run is not within the leaves.
        """
        size = len(self.leaves)
        if count < 1 or first < 0 or first + count > size:
            raise MerkleError(f"leaf range [{first}, {first + count}) is not a non-empty range within 0..{size}")
        lo, hi = first, first + count - 1
        proof: list[bytes] = []
        for layer in self.layers[:-1]:
            if lo % 2 == 1:
                proof.append(layer[lo - 1])
            if hi % 2 == 0 and hi + 1 < len(layer):
                proof.append(layer[hi + 1])
            lo //= 2
            hi //= 2
        return proof


def build_merkle_tree(leaves: Sequence[bytes]) -> MerkleTree:
    """Build the tree over 32-byte ``leaves`` (in this order).

    Raises:
        MerkleError: no leaves, a leaf that is not 32 bytes, or a repeated leaf.
    """
    if not leaves:
        raise MerkleError("a Merkle tree needs at least one leaf")
    seen: set[bytes] = set()
    for i, leaf in enumerate(leaves):
        if not isinstance(leaf, bytes) or len(leaf) != 32:
            raise MerkleError(f"leaf {i} is not 32 bytes")
        if leaf in seen:
            raise MerkleError(f"leaf {i} ({leaf.hex()}) is repeated")
        seen.add(leaf)
    layers = [tuple(leaves)]
    while len(layers[-1]) > 1:
        layer = layers[-1]
        parents = [_hash_pair(layer[i], layer[i + 1]) for i in range(0, len(layer) - 1, 2)]
        if len(layer) % 2:
            parents.append(layer[-1])
        layers.append(tuple(parents))
    return MerkleTree(layers=tuple(layers))


def build_report_tree(reports: Sequence[Report]) -> MerkleTree:
    """The Merkle tree whose leaves are ``report_struct_hash(report)`` for each report, in order.

    Use ``len(reports)`` as ``reportCount`` and ``tree.root`` as ``root`` in :func:`root_digest`.

    Raises:
        MerkleError: no reports, or two identical reports.
    """
    return build_merkle_tree([report_struct_hash(report) for report in reports])


def range_proof_length(first: int, count: int, size: int) -> int:
    """How many hashes the range proof of leaves ``[first, first + count)`` of a ``size``-leaf tree holds.

    Raises:
        MerkleError: the run is empty or not within ``size`` leaves.
    """
    if count < 1 or first < 0 or first + count > size:
        raise MerkleError(f"leaf range [{first}, {first + count}) is not a non-empty range within 0..{size}")
    lo, hi, length = first, first + count - 1, 0
    while size > 1:
        length += lo % 2 == 1
        length += hi % 2 == 0 and hi + 1 < size
        lo, hi, size = lo // 2, hi // 2, (size + 1) // 2
    return length


def range_root(leaves: Sequence[bytes], first: int, size: int, proof: Sequence[bytes]) -> bytes:
    """The root that a range proof gives for ``leaves`` at positions ``[first, first + len(leaves))`` of a
    ``size``-leaf tree: the verifier's side of :meth:`MerkleTree.range_proof`, step for step as
    ``MeteringOracle.verifyReportRange`` computes it (compare the result with the committed root).

    Raises:
        MerkleError: the run is not within the tree, or ``proof`` is not exactly as long as the run needs.
    """
    expected = range_proof_length(first, len(leaves), size)
    if len(proof) != expected:
        raise MerkleError(f"a range proof of leaves [{first}, {first + len(leaves)}) of {size} holds {expected} "
                          f"hashes, not {len(proof)}")
    nodes = list(leaves)
    siblings = iter(proof)
    lo = first
    while size > 1:
        parents: list[bytes] = []
        i = 0
        if lo % 2 == 1:
            parents.append(_hash_pair(next(siblings), nodes[0]))
            i = 1
        while i + 1 < len(nodes):
            parents.append(_hash_pair(nodes[i], nodes[i + 1]))
            i += 2
        if i < len(nodes):
            parents.append(_hash_pair(nodes[i], next(siblings)) if lo + i + 1 < size else nodes[i])
        nodes, lo, size = parents, lo // 2, (size + 1) // 2
    return nodes[0]


def _hash_pair(a: bytes, b: bytes) -> bytes:
    """OpenZeppelin ``Hashes.commutativeKeccak256``: keccak of the two nodes, smaller first."""
    return keccak(a + b) if a < b else keccak(b + a)


def _word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def _check_uint(value: int, maximum: int, what: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= maximum:
        raise Eip712Error(f"{what} {value!r} is out of range 0..{maximum}")


def _check_bytes32(value: bytes, what: str) -> None:
    if not isinstance(value, bytes) or len(value) != 32:
        raise Eip712Error(f"{what} must be 32 bytes")
