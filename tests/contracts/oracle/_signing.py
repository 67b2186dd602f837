"""EIP-712 typed data, digests and quorum signatures for the MeteringOracle tests, built with eth-account alone.

Everything here is computed independently of the contract (eth-account's `encode_typed_data` over the exact
type strings of IMeteringOracle), so a test that compares it with the contract's views checks the contract.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, NamedTuple, Sequence

from eth_account import Account
from eth_account.messages import _hash_eip191_message, encode_typed_data
from eth_utils import keccak, to_checksum_address

#: secp256k1 group order: a signature with s > N // 2 is the malleable twin of (N - s).
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

DOMAIN_NAME = "Wellhead MeteringOracle"
DOMAIN_VERSION = "1"

_DOMAIN_TYPE = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
_REPORT_TYPE = [
    {"name": "assetId", "type": "uint256"},
    {"name": "epoch", "type": "uint64"},
    {"name": "gpuSeconds", "type": "uint64"},
    {"name": "curtailedGpuSeconds", "type": "uint64"},
    {"name": "utilizationBps", "type": "uint16"},
    {"name": "energyWh", "type": "uint64"},
]
_BATCH_TYPE = [{"name": "configVersion", "type": "uint64"}, {"name": "reports", "type": "Report[]"}]
_ROOT_TYPE = [
    {"name": "configVersion", "type": "uint64"},
    {"name": "epoch", "type": "uint64"},
    {"name": "reportCount", "type": "uint32"},
    {"name": "root", "type": "bytes32"},
]

#: The exact type strings of the interface's NatSpec (the contract's typehashes are keccak256 of these).
REPORT_TYPE_STRING = (
    "Report(uint256 assetId,uint64 epoch,uint64 gpuSeconds,uint64 curtailedGpuSeconds,"
    "uint16 utilizationBps,uint64 energyWh)"
)


class Report(NamedTuple):
    """IMeteringOracle.Report, in ABI order (brownie takes it as a tuple)."""

    assetId: int
    epoch: int
    gpuSeconds: int
    curtailedGpuSeconds: int = 0
    utilizationBps: int = 0
    energyWh: int = 0

    def as_message(self) -> dict:
        return dict(self._asdict())


@dataclass(frozen=True)
class Domain:
    chain_id: int
    verifying_contract: str

    def as_message(self) -> dict:
        return {
            "name": DOMAIN_NAME,
            "version": DOMAIN_VERSION,
            "chainId": self.chain_id,
            "verifyingContract": to_checksum_address(str(self.verifying_contract)),
        }


def _digest(full_message: dict) -> bytes:
    return bytes(_hash_eip191_message(encode_typed_data(full_message=full_message)))


def batch_digest(domain: Domain, config_version: int, reports: Sequence[Report]) -> bytes:
    """The EIP-712 digest of ReportBatch(configVersion, reports) under `domain`."""
    return _digest(
        {
            "types": {"EIP712Domain": _DOMAIN_TYPE, "ReportBatch": _BATCH_TYPE, "Report": _REPORT_TYPE},
            "primaryType": "ReportBatch",
            "domain": domain.as_message(),
            "message": {"configVersion": config_version, "reports": [Report(*r).as_message() for r in reports]},
        }
    )


def root_digest(domain: Domain, config_version: int, epoch: int, report_count: int, root: bytes) -> bytes:
    """The EIP-712 digest of ReportRoot(configVersion, epoch, reportCount, root) under `domain`."""
    return _digest(
        {
            "types": {"EIP712Domain": _DOMAIN_TYPE, "ReportRoot": _ROOT_TYPE},
            "primaryType": "ReportRoot",
            "domain": domain.as_message(),
            "message": {"configVersion": config_version, "epoch": epoch, "reportCount": report_count, "root": root},
        }
    )


def report_struct_hash(report: Report) -> bytes:
    """EIP-712 hashStruct(Report): the body of a typed-data message whose primary type is Report."""
    signable = encode_typed_data(
        full_message={
            "types": {"EIP712Domain": _DOMAIN_TYPE, "Report": _REPORT_TYPE},
            "primaryType": "Report",
            "domain": Domain(1, "0x" + "00" * 20).as_message(),
            "message": Report(*report).as_message(),
        }
    )
    return bytes(signable.body)


def domain_separator(domain: Domain) -> bytes:
    """hashStruct(EIP712Domain) for `domain`."""
    signable = encode_typed_data(
        full_message={
            "types": {"EIP712Domain": _DOMAIN_TYPE, "Report": _REPORT_TYPE},
            "primaryType": "Report",
            "domain": domain.as_message(),
            "message": Report(0, 0, 0).as_message(),
        }
    )
    return bytes(signable.header)


def signer_set_hash(addresses: Iterable[str]) -> bytes:
    """The contract's committed set hash: the first 20 bytes of keccak256(abi.encodePacked(address[])),
    where abi.encodePacked pads each array element to 32 bytes."""
    return keccak(b"".join(bytes(12) + bytes.fromhex(str(a)[2:]) for a in addresses))[:20]


def signer_key(index: int) -> bytes:
    """The deterministic private key of oracle signer `index` (test keys only)."""
    return keccak(text=f"oracle-signer-{index}")


def signer_account(index: int):
    return Account.from_key(signer_key(index))


def by_address(accounts: Iterable) -> list:
    """Accounts (or addresses) sorted ascending by address, as the contract wants them."""
    return sorted(accounts, key=lambda a: int(str(getattr(a, "address", a)), 16))


class Signature(NamedTuple):
    """IMeteringOracle.Signature in EIP-2098's compact form (r, vs): vs = s | (v - 27) << 255."""

    r: bytes
    vs: bytes

    @classmethod
    def of(cls, v: int, r: int, s: int) -> "Signature":
        if v not in (27, 28) or s >= 2**255:
            raise ValueError(f"(v={v}, s={s:#x}) has no compact form")
        return cls(r.to_bytes(32, "big"), (s | ((v - 27) << 255)).to_bytes(32, "big"))

    @property
    def v(self) -> int:
        return 27 + (int.from_bytes(self.vs, "big") >> 255)

    @property
    def s_int(self) -> int:
        return int.from_bytes(self.vs, "big") & (2**255 - 1)

    @property
    def s(self) -> bytes:
        return self.s_int.to_bytes(32, "big")

    def malleable_twin_s(self) -> int:
        """n - s: the upper-half s that recovers the same address (with v flipped)."""
        return SECP256K1_N - self.s_int


def sign_digest(account, digest: bytes) -> Signature:
    signed = Account.unsafe_sign_hash(digest, account.key)
    return Signature.of(signed.v, signed.r, signed.s)


def sign_all(accounts: Sequence, digest: bytes, *, keep_order: bool = False) -> list[Signature]:
    """Signatures of `digest` by `accounts`, sorted by signer address unless `keep_order`."""
    ordered = list(accounts) if keep_order else by_address(accounts)
    return [sign_digest(account, digest) for account in ordered]


def recover(digest: bytes, signature: Signature) -> str:
    """The address ecrecover gives for `signature` over `digest` (eth-keys; raises when nothing recovers)."""
    return Account._recover_hash(digest, vrs=(signature.v, signature.r, signature.s))


def _hash_pair(a: bytes, b: bytes) -> bytes:
    """OpenZeppelin's commutative keccak256 of a sorted pair."""
    return keccak(a + b) if a < b else keccak(b + a)


def merkle_tree(leaves: Sequence[bytes]) -> tuple[bytes, list[list[bytes]]]:
    """The root and one proof per leaf of a sorted-pair Merkle tree (an odd node is carried up unchanged)."""
    if not leaves:
        raise ValueError("no leaves")
    levels = [list(leaves)]
    while len(levels[-1]) > 1:
        level = levels[-1]
        levels.append(
            [_hash_pair(level[i], level[i + 1]) if i + 1 < len(level) else level[i] for i in range(0, len(level), 2)]
        )
    proofs = []
    for index in range(len(leaves)):
        proof, position = [], index
        for level in levels[:-1]:
            sibling = position ^ 1
            if sibling < len(level):
                proof.append(level[sibling])
            position //= 2
        proofs.append(proof)
    return levels[-1][0], proofs


def verify_proof(proof: Sequence[bytes], root: bytes, leaf: bytes) -> bool:
    computed = leaf
    for node in proof:
        computed = _hash_pair(computed, node)
    return computed == root
