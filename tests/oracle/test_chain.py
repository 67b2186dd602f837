"""The daemon's chain layer without a node: declared signatures against the compiled interfaces, custom-error
decoding, transaction signing with an oracle signer, deployment files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_abi import encode
from eth_account import Account
from eth_hash.auto import keccak
from eth_utils.address import to_checksum_address

from oracle.chain import (
    COMMIT_ROOT,
    ERRORS,
    FUNCTIONS,
    PROVE_REPORTS,
    SUBMIT,
    ChainClient,
    decode_error,
    load_deployment,
    sign_transaction,
)
from oracle.abi import SHIPPED
from oracle.errors import ConfigError, InputFileError
from oracle.signer import LocalKeySigner
from oracle_testkit import REPO_ROOT

BUILD = REPO_ROOT / "build" / "contracts"
KEY = bytes.fromhex("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")


def _abi_signatures(*names: str) -> dict[str, set[tuple[str, tuple[str, ...]]]]:
    def kind(p: dict) -> str:
        if p["type"].startswith("tuple"):
            return "(" + ",".join(kind(c) for c in p["components"]) + ")" + p["type"][5:]
        return p["type"]

    out: dict[str, set[tuple[str, tuple[str, ...]]]] = {}
    for name in names:
        for entry in json.loads((BUILD / f"{name}.json").read_text())["abi"]:
            if entry["type"] in ("function", "error"):
                signature = f"{entry['name']}({','.join(kind(p) for p in entry['inputs'])})"
                outputs = tuple(kind(p) for p in entry.get("outputs", []))
                out.setdefault(entry["name"], set()).add((signature, outputs))
    return out


def test_declared_functions_and_errors_match_the_compiled_interfaces() -> None:
    if not (BUILD / "IMeteringOracle.json").exists():
        pytest.fail("the contracts are not compiled: run `make build` (brownie compile) first")
    # the daemon's errors are every error of the shipped contracts (OpenZeppelin's included), not only the
    # interfaces' own
    compiled = _abi_signatures("IMeteringOracle", "IAssetRegistry", "ILeaseMarket", *SHIPPED)
    for name, fn in FUNCTIONS.items():
        assert (fn.signature, fn.outputs) in compiled[name], name
    assert (SUBMIT.signature, ()) in compiled["submit"]
    assert (COMMIT_ROOT.signature, ()) in compiled["commitRoot"]
    assert (PROVE_REPORTS.signature, ()) in compiled["proveReports"]
    for name, types in ERRORS.values():
        if name not in ("Error", "Panic"):
            assert f"{name}({','.join(types)})" in {s for s, _ in compiled[name]}, name


def test_compact_signatures_carry_the_recovery_bit_in_the_top_bit_of_s() -> None:
    from oracle.signer import recover_signer

    signer = LocalKeySigner(KEY)
    for i in range(8):
        digest = keccak(bytes([i]))
        signature = signer.sign_digest(digest)
        r, vs = signature.to_compact()
        value = int.from_bytes(vs, "big")
        assert (value >> 255, value & ((1 << 255) - 1)) == (signature.v - 27, signature.s)
        assert int.from_bytes(r, "big") == signature.r
        assert recover_signer(digest, signature) == signer.address


def test_custom_errors_decode_with_their_arguments() -> None:
    data = keccak(b"EpochAlreadyReported(uint256,uint64)")[:4] + encode(["uint256", "uint64"], [2, 41])
    assert decode_error(data) == ("EpochAlreadyReported", (2, 41))
    assert decode_error("0x" + data.hex()) == ("EpochAlreadyReported", (2, 41))
    assert decode_error(b"\x12\x34\x56\x78") is None
    assert decode_error(None) is None and decode_error("0x") is None


def test_transactions_signed_through_an_oracle_signer_equal_eth_accounts() -> None:
    tx = {
        "type": 2,
        "chainId": 31337,
        "nonce": 7,
        "to": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
        "value": 0,
        "gas": 300_000,
        "maxFeePerGas": 3 * 10**9,
        "maxPriorityFeePerGas": 10**9,
        "data": b"\xab\xcd",
        "accessList": [],
    }
    raw, tx_hash = sign_transaction(LocalKeySigner(KEY), tx)
    reference = Account.sign_transaction(tx, KEY)
    assert raw == bytes(reference.raw_transaction)
    assert tx_hash == "0x" + bytes(reference.hash).hex()


def test_deployment_files_and_addresses(tmp_path: Path) -> None:
    oracle = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
    path = tmp_path / "31337.json"
    path.write_text(
        json.dumps(
            {
                "chainId": 31337,
                "contracts": {
                    "MeteringOracle": {"address": oracle.lower()},
                    "LeaseMarket": {"address": "0x" + "ab" * 20},
                },
            }
        )
    )
    deployment = load_deployment(path)
    assert (deployment.chain_id, deployment.oracle) == (31337, oracle)
    assert deployment.lease_market == to_checksum_address("0x" + "ab" * 20)
    with pytest.raises(ConfigError, match="differs from the deployment file"):
        load_deployment(path, oracle_address="0x" + "11" * 20)
    with pytest.raises(InputFileError, match="no such deployment file"):
        load_deployment(tmp_path / "absent.json")
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(InputFileError, match="not a deployment file"):
        load_deployment(tmp_path / "bad.json")
    assert load_deployment(None, oracle_address=oracle).source == "settings"


def test_root_calls_encode_and_root_errors_decode() -> None:
    root = bytes(range(32))
    data = ChainClient.encode_commit_root(3, 7, 2, root, [], [])
    assert data[:4] == keccak(b"commitRoot(uint64,(uint64,uint32,bytes32),address[],(bytes32,bytes32)[])")[:4]
    revert = keccak(b"RootAlreadyCommitted(uint64,bytes32)")[:4] + encode(["uint64", "bytes32"], [7, root])
    assert decode_error(revert) == ("RootAlreadyCommitted", (7, root))
    proof = ChainClient.encode_prove_reports([], [])
    assert proof[:4] == keccak(b"proveReports((uint256,uint64,uint64,uint64,uint16,uint64)[],bytes32[][])")[:4]
