"""Signers: objects that sign a 32-byte EIP-712 digest with one oracle key.

* :class:`KeystoreSigner`: the production signer; an eth-account encrypted keystore (JSON) unlocked with a
  password read from a file (never from configuration).
* :class:`EnvSigner`: a raw private key from an environment variable, for development only (it says so,
  loudly, in the log).

Both sign the digest directly with libsecp256k1 through coincurve (tens of thousands of signatures per
second on one core; eth-keys' pure-Python backend can be forced with ``backend="native"`` for comparison).
Signatures are canonical: ``s`` in the lower half of the curve order and ``v`` in {27, 28}, as
OpenZeppelin's ``ECDSA.recover`` requires.

The contract takes signatures as ``(v, r, s)`` structs ordered by strictly ascending signer address:
:func:`sign_sorted` produces exactly that.
"""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

import coincurve
from eth_account import Account
from eth_hash.auto import keccak
from eth_keys.backends.native.main import NativeECCBackend
from eth_keys.datatypes import PrivateKey as EthKeysPrivateKey
from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address

from oracle.errors import DevKeyError, KeystoreError, SignerOrderError, SigningError

__all__ = [
    "SECP256K1_N",
    "EnvSigner",
    "KeystoreSigner",
    "LocalKeySigner",
    "Signature",
    "Signer",
    "SignerSignature",
    "recover_signer",
    "sign_sorted",
]

logger = logging.getLogger(__name__)

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
"""The order of secp256k1's group."""
_HALF_N = SECP256K1_N // 2

Backend = Literal["coincurve", "native"]


@dataclass(frozen=True, slots=True)
class Signature:
    """A canonical secp256k1 signature of a digest: ``v`` in {27, 28}, ``r`` and low ``s`` as integers."""

    v: int
    r: int
    s: int

    def __post_init__(self) -> None:
        if self.v not in (27, 28):
            raise SigningError(f"signature v {self.v} is not 27 or 28")
        if not (0 < self.r < SECP256K1_N and 0 < self.s <= _HALF_N):
            raise SigningError("signature r or s out of range (s must be in the lower half order)")

    def to_bytes(self) -> bytes:
        """The 65-byte ``r ‖ s ‖ v`` encoding (what ``ECDSA.recover(bytes32, bytes)`` takes)."""
        return self.r.to_bytes(32, "big") + self.s.to_bytes(32, "big") + bytes([self.v])

    def to_compact(self) -> tuple[bytes, bytes]:
        """EIP-2098's compact form ``(r, vs)``: ``vs`` is ``s`` with ``v - 27`` in its top bit (``s`` is low, so
        its top bit is free)."""
        return self.r.to_bytes(32, "big"), (self.s | ((self.v - 27) << 255)).to_bytes(32, "big")

    def as_abi_tuple(self) -> tuple[bytes, bytes]:
        """The contract's ``Signature { bytes32 r; bytes32 vs; }`` (EIP-2098 compact) as a web3 tuple."""
        return self.to_compact()


@runtime_checkable
class Signer(Protocol):
    """Anything that holds one oracle key and can sign a 32-byte digest with it."""

    @property
    def address(self) -> ChecksumAddress:
        """The signer's Ethereum address."""
        ...

    def sign_digest(self, digest: bytes) -> Signature:
        """Sign a 32-byte digest (already EIP-712 hashed; no prefix is added)."""
        ...


@dataclass(frozen=True, slots=True)
class SignerSignature:
    """One signer's signature, with the address the contract will recover from it."""

    signer: ChecksumAddress
    signature: Signature


class LocalKeySigner:
    """Signs with a private key held in this process's memory.

    Args:
        private_key: the 32-byte secret.
        backend: ``"coincurve"`` (libsecp256k1, fast) or ``"native"`` (eth-keys' pure Python, slow).

    Raises:
        SigningError: the key is not a valid secp256k1 secret.
    """

    __slots__ = ("_address", "_backend", "_key")

    def __init__(self, private_key: bytes, *, backend: Backend = "coincurve") -> None:
        if len(private_key) != 32 or not 0 < int.from_bytes(private_key, "big") < SECP256K1_N:
            raise SigningError("a private key must be 32 bytes in 1..n-1")
        self._backend = backend
        if backend == "coincurve":
            key = coincurve.PrivateKey(private_key)
            public = key.public_key.format(compressed=False)[1:]
            self._key: coincurve.PrivateKey | EthKeysPrivateKey = key
        elif backend == "native":
            native_key = EthKeysPrivateKey(private_key, backend=NativeECCBackend())
            public = native_key.public_key.to_bytes()
            self._key = native_key
        else:
            raise SigningError(f"unknown signing backend {backend!r}")
        self._address: ChecksumAddress = to_checksum_address(keccak(public)[-20:])

    @property
    def address(self) -> ChecksumAddress:
        """The signer's Ethereum address."""
        return self._address

    def sign_digest(self, digest: bytes) -> Signature:
        """Sign a 32-byte digest; the signature is canonical (low ``s``, ``v`` in {27, 28}).

        Raises:
            SigningError: the digest is not 32 bytes.
        """
        if not isinstance(digest, bytes) or len(digest) != 32:
            raise SigningError("the digest must be 32 bytes")
        if isinstance(self._key, coincurve.PrivateKey):
            raw = self._key.sign_recoverable(digest, hasher=None)
            r = int.from_bytes(raw[:32], "big")
            s = int.from_bytes(raw[32:64], "big")
            recovery = raw[64]
        else:
            signed = self._key.sign_msg_hash(digest)
            r, s, recovery = signed.r, signed.s, signed.v
        if s > _HALF_N:  # libsecp256k1 and eth-keys already normalise; keep the guarantee local
            s = SECP256K1_N - s
            recovery ^= 1
        return Signature(v=27 + recovery, r=r, s=s)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(address={self._address})"


class KeystoreSigner(LocalKeySigner):
    """A signer whose key comes from an eth-account encrypted keystore file and a password file.

    The password file's content is the password, without one trailing newline. A password or keystore file
    readable by group or others is accepted with a warning.

    Raises:
        KeystoreError: a file is missing or unreadable, the keystore is not valid JSON, or the password does not
            decrypt it. The message never contains the password.
    """

    __slots__ = ()

    def __init__(self, keystore_path: str | Path, password_file: str | Path, *, backend: Backend = "coincurve") -> None:
        keystore_path = Path(keystore_path)
        password_file = Path(password_file)
        raw = _read_private_file(keystore_path)
        try:
            keystore = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise KeystoreError(keystore_path, "not a JSON keystore") from None
        if not isinstance(keystore, dict):
            raise KeystoreError(keystore_path, "not a JSON keystore")
        raw_password = _read_private_file(password_file)
        if raw_password.endswith(b"\r\n"):
            raw_password = raw_password[:-2]
        elif raw_password.endswith(b"\n"):
            raw_password = raw_password[:-1]
        try:
            password = raw_password.decode("utf-8")
        except UnicodeDecodeError:
            raise KeystoreError(password_file, "the password file is not UTF-8 text") from None
        try:
            private_key = bytes(Account.decrypt(keystore, password))
        except ValueError:
            raise KeystoreError(
                keystore_path, "the password does not decrypt this keystore (or it is corrupt)"
            ) from None
        except (KeyError, TypeError):
            raise KeystoreError(keystore_path, "not an eth-account keystore (missing fields)") from None
        super().__init__(private_key, backend=backend)
        declared = keystore.get("address")
        if isinstance(declared, str) and declared.lower().removeprefix("0x") != self.address[2:].lower():
            raise KeystoreError(keystore_path, f"key decrypts to {self.address}, not the declared address {declared}")
        logger.info("loaded keystore signer %s from %s", self.address, keystore_path)


class EnvSigner(LocalKeySigner):
    """DEVELOPMENT ONLY: a signer whose hex private key is read from an environment variable.

    Args:
        variable: the environment variable's name (e.g. ``WELLHEAD_DEV_KEY``).
        environ: the environment to read (defaults to ``os.environ``).

    Raises:
        DevKeyError: the variable is unset, empty or not a 32-byte hex key.
    """

    __slots__ = ()

    def __init__(
        self, variable: str, *, environ: Mapping[str, str] | None = None, backend: Backend = "coincurve"
    ) -> None:
        env = os.environ if environ is None else environ
        value = env.get(variable, "").strip()
        if not value:
            raise DevKeyError(variable, "is not set")
        try:
            private_key = bytes.fromhex(value.removeprefix("0x"))
        except ValueError:
            raise DevKeyError(variable, "is not a hex private key") from None
        if len(private_key) != 32:
            raise DevKeyError(variable, f"holds {len(private_key)} bytes, a private key has 32")
        try:
            super().__init__(private_key, backend=backend)
        except SigningError:
            raise DevKeyError(variable, "is not a valid secp256k1 private key") from None
        logger.warning(
            "DEVELOPMENT ONLY: signer %s uses a raw private key from $%s; use a KeystoreSigner in production",
            self.address,
            variable,
        )


def recover_signer(digest: bytes, signature: Signature) -> ChecksumAddress:
    """The address that produced ``signature`` over ``digest`` (what ``ECDSA.recover`` returns).

    Raises:
        SigningError: the digest is not 32 bytes or the signature recovers to no key.
    """
    if not isinstance(digest, bytes) or len(digest) != 32:
        raise SigningError("the digest must be 32 bytes")
    recoverable = signature.to_bytes()[:64] + bytes([signature.v - 27])
    try:
        public = coincurve.PublicKey.from_signature_and_message(recoverable, digest, hasher=None)
    except ValueError as exc:
        raise SigningError(f"signature does not recover: {exc}") from None
    return to_checksum_address(keccak(public.format(compressed=False)[1:])[-20:])


def sign_sorted(digest: bytes, signers: Iterable[Signer]) -> list[SignerSignature]:
    """Sign ``digest`` with every signer and return the signatures by strictly ascending signer address,
    the order the MeteringOracle requires.

    Raises:
        SignerOrderError: two signers share an address (the contract would count it once, or reject it).
        SigningError: a signer failed.
    """
    ordered = sorted(signers, key=lambda signer: int(signer.address, 16))
    for previous, current in pairwise(ordered):
        if int(previous.address, 16) == int(current.address, 16):
            raise SignerOrderError(current.address)
    return [SignerSignature(signer=signer.address, signature=signer.sign_digest(digest)) for signer in ordered]


def _read_private_file(path: Path) -> bytes:
    try:
        data = path.read_bytes()
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise KeystoreError(path, "no such file") from None
    except IsADirectoryError:
        raise KeystoreError(path, "is a directory") from None
    except OSError as exc:
        raise KeystoreError(path, f"cannot read: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        logger.warning("%s is accessible by group or others (mode %o); restrict it to its owner", path, mode & 0o777)
    return data
