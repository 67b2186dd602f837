"""Signers: keystore and development keys, canonical signatures, and the contract's signer order."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from eth_account import Account
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from oracle.eip712 import Eip712Domain, batch_digest
from oracle.errors import DevKeyError, KeystoreError, SignerOrderError, SigningError
from oracle.models import Report
from oracle.signer import (
    SECP256K1_N,
    EnvSigner,
    KeystoreSigner,
    LocalKeySigner,
    Signature,
    Signer,
    recover_signer,
    sign_sorted,
)

# Named signers: the operator, an auditor and the utility meter (deterministic test keys).
OPERATOR_KEY = keccak(text="wellhead-test-operator")
AUDITOR_KEY = keccak(text="wellhead-test-auditor")
UTILITY_KEY = keccak(text="wellhead-test-utility")
PASSWORD = "correct horse battery staple"

DIGEST = batch_digest(
    Eip712Domain(chain_id=31337, verifying_contract="0x5FbDB2315678afecb367f032d93F642f64180aa3"),
    1,
    [Report(asset_id=1, epoch=0, gpu_seconds=27480, curtailed_gpu_seconds=0, utilization_bps=8435, energy_wh=4687)],
)


def write_keystore(directory: Path, key: bytes, password: str = PASSWORD, *, newline: str = "\n") -> tuple[Path, Path]:
    keystore = directory / "oracle.keystore.json"
    keystore.write_text(json.dumps(Account.encrypt(key, password, kdf="scrypt", iterations=2**10)))
    keystore.chmod(0o600)
    password_file = directory / "oracle.password"
    password_file.write_text(password + newline)
    password_file.chmod(0o600)
    return keystore, password_file


def test_keystore_signer_round_trip(tmp_path: Path) -> None:
    keystore, password_file = write_keystore(tmp_path, OPERATOR_KEY)
    signer = KeystoreSigner(keystore, password_file)

    assert isinstance(signer, Signer)
    assert signer.address == Account.from_key(OPERATOR_KEY).address
    signature = signer.sign_digest(DIGEST)
    assert recover_signer(DIGEST, signature) == signer.address
    # Same RFC 6979 signature as eth-account's own hash signing, recovered by eth-account too.
    reference = Account.unsafe_sign_hash(DIGEST, OPERATOR_KEY)
    assert (signature.v, signature.r, signature.s) == (reference.v, reference.r, reference.s)
    assert Account._recover_hash(DIGEST, signature=signature.to_bytes()) == signer.address


def test_keystore_password_file_may_end_with_crlf(tmp_path: Path) -> None:
    keystore, password_file = write_keystore(tmp_path, OPERATOR_KEY, newline="\r\n")
    assert KeystoreSigner(keystore, password_file).address == Account.from_key(OPERATOR_KEY).address


def test_wrong_password_raises_keystore_error_without_the_password(tmp_path: Path) -> None:
    keystore, password_file = write_keystore(tmp_path, OPERATOR_KEY)
    password_file.write_text("not the password\n")
    with pytest.raises(KeystoreError) as raised:
        KeystoreSigner(keystore, password_file)
    assert raised.value.path == keystore
    assert "does not decrypt" in raised.value.reason
    assert "not the password" not in str(raised.value)


@pytest.mark.parametrize(
    "broken", ["keystore-missing", "password-missing", "keystore-not-json", "keystore-not-a-keystore"]
)
def test_unusable_keystore_files_raise_keystore_error(tmp_path: Path, broken: str) -> None:
    keystore, password_file = write_keystore(tmp_path, OPERATOR_KEY)
    if broken == "keystore-missing":
        keystore.unlink()
    elif broken == "password-missing":
        password_file.unlink()
    elif broken == "keystore-not-json":
        keystore.write_text("{oops")
    else:
        keystore.write_text(json.dumps({"version": 3}))
    with pytest.raises(KeystoreError):
        KeystoreSigner(keystore, password_file)


def test_world_readable_password_file_is_accepted_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    keystore, password_file = write_keystore(tmp_path, OPERATOR_KEY)
    password_file.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="oracle.signer"):
        KeystoreSigner(keystore, password_file)
    assert "accessible by group or others" in caplog.text


def test_env_signer_reads_the_variable_and_warns_it_is_for_development(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="oracle.signer"):
        signer = EnvSigner("WELLHEAD_DEV_KEY", environ={"WELLHEAD_DEV_KEY": "0x" + AUDITOR_KEY.hex()})
    assert signer.address == Account.from_key(AUDITOR_KEY).address
    assert "DEVELOPMENT ONLY" in caplog.text
    assert AUDITOR_KEY.hex() not in caplog.text
    assert recover_signer(DIGEST, signer.sign_digest(DIGEST)) == signer.address


def test_env_signer_defaults_to_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WELLHEAD_TEST_KEY", UTILITY_KEY.hex())
    assert EnvSigner("WELLHEAD_TEST_KEY").address == Account.from_key(UTILITY_KEY).address


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "is not set"),
        ("  ", "is not set"),
        ("0xzz", "not a hex"),
        ("0x" + "11" * 31, "holds 31 bytes"),
        ("00" * 32, "not a valid"),
    ],
)
def test_env_signer_rejects_missing_or_invalid_keys(value: str | None, reason: str) -> None:
    environ = {} if value is None else {"DEV_KEY": value}
    with pytest.raises(DevKeyError) as raised:
        EnvSigner("DEV_KEY", environ=environ)
    assert raised.value.variable == "DEV_KEY"
    assert reason in raised.value.reason


@settings(max_examples=40, deadline=None)
@given(key=st.integers(1, SECP256K1_N - 1), digest=st.binary(min_size=32, max_size=32))
def test_coincurve_and_native_backends_give_the_same_canonical_signature(key: int, digest: bytes) -> None:
    secret = key.to_bytes(32, "big")
    fast = LocalKeySigner(secret).sign_digest(digest)
    slow = LocalKeySigner(secret, backend="native").sign_digest(digest)
    assert fast == slow
    assert fast.v in (27, 28) and fast.s <= SECP256K1_N // 2
    assert recover_signer(digest, fast) == LocalKeySigner(secret).address


def test_signature_encodings_for_the_contract() -> None:
    signature = LocalKeySigner(OPERATOR_KEY).sign_digest(DIGEST)
    raw = signature.to_bytes()
    assert len(raw) == 65 and raw[64] == signature.v
    r, vs = signature.as_abi_tuple()  # EIP-2098 compact (r, vs)
    packed = int.from_bytes(vs, "big")
    assert int.from_bytes(r, "big") == signature.r
    assert packed & (2**255 - 1) == signature.s
    assert 27 + (packed >> 255) == signature.v


@pytest.mark.parametrize(
    ("v", "r", "s"),
    [(29, 1, 1), (27, 0, 1), (27, 1, SECP256K1_N // 2 + 1), (28, SECP256K1_N, 1)],
    ids=["bad-v", "zero-r", "high-s", "r-too-large"],
)
def test_non_canonical_signature_is_refused(v: int, r: int, s: int) -> None:
    with pytest.raises(SigningError):
        Signature(v=v, r=r, s=s)


def test_digest_must_be_32_bytes() -> None:
    with pytest.raises(SigningError, match="32 bytes"):
        LocalKeySigner(OPERATOR_KEY).sign_digest(b"\x00" * 31)


def test_sign_sorted_orders_signers_by_strictly_ascending_address() -> None:
    signers = [LocalKeySigner(OPERATOR_KEY), LocalKeySigner(AUDITOR_KEY), LocalKeySigner(UTILITY_KEY)]
    signed = sign_sorted(DIGEST, signers)

    addresses = [int(s.signer, 16) for s in signed]
    assert addresses == sorted(addresses) and len(set(addresses)) == 3
    assert {s.signer for s in signed} == {signer.address for signer in signers}
    for entry in signed:
        assert recover_signer(DIGEST, entry.signature) == entry.signer
    assert sign_sorted(DIGEST, reversed(signers)) == signed


def test_sign_sorted_refuses_a_signer_twice() -> None:
    with pytest.raises(SignerOrderError) as raised:
        sign_sorted(DIGEST, [LocalKeySigner(OPERATOR_KEY), LocalKeySigner(AUDITOR_KEY), LocalKeySigner(OPERATOR_KEY)])
    assert raised.value.address == Account.from_key(OPERATOR_KEY).address


def test_signer_repr_hides_the_key() -> None:
    signer = LocalKeySigner(OPERATOR_KEY)
    assert OPERATOR_KEY.hex() not in repr(signer)
    assert signer.address in repr(signer)
