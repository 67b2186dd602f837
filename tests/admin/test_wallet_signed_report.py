"""docs/oracle-clients.md, followed literally by an outsider: reports signed by ordinary wallets with
eth-account's `sign_typed_data` (no code of the `oracle` package), each 65-byte signature turned into the
contract's `(r, vs)`, signatures in ascending signer order, `signers` the whole configured set, are accepted
by the MeteringOracle. And each rule the doc states is enforced by the error it names."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3
from web3.exceptions import ContractCustomError

from oracle.admin.commands import main as admin_main
from oracle.admin.words import decode_revert
from scripts.localnode import DEV_MNEMONIC, start_anvil

ROOT = Path(__file__).resolve().parents[2]
EPOCH_LENGTH = 600

Account.enable_unaudited_hdwallet_features()
DEV = [Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}") for i in range(10)]
WALLETS = [DEV[6], DEV[7], DEV[8]]  # the oracle's signer set: three wallets, any two of them a quorum

ASSET = """
[asset]
operator = "{operator}"
tier = "edge"
gpu_count = 4
power_per_gpu_w = 350
pue_bps = 13500
energy_tariff_per_kwh = "0.18"
operator_fee_bps = 1500
commissioned_at = 2026-09-01
gpu_model = "NVIDIA L40S"
region = "us-west / edge-l40s-01"
shares_name = "Wellhead L40S Edge 01"
shares_symbol = "WH-L40S-01"
max_share_supply = 100000
"""


def typed_data(chain_id: int, oracle: str, config_version: int, reports: list[dict[str, int]]) -> dict[str, Any]:
    """The EIP-712 message exactly as docs/oracle-clients.md writes it."""
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "ReportBatch": [
                {"name": "configVersion", "type": "uint64"},
                {"name": "reports", "type": "Report[]"},
            ],
            "Report": [
                {"name": "assetId", "type": "uint256"},
                {"name": "epoch", "type": "uint64"},
                {"name": "gpuSeconds", "type": "uint64"},
                {"name": "curtailedGpuSeconds", "type": "uint64"},
                {"name": "utilizationBps", "type": "uint16"},
                {"name": "energyWh", "type": "uint64"},
            ],
        },
        "primaryType": "ReportBatch",
        "domain": {"name": "Wellhead MeteringOracle", "version": "1", "chainId": chain_id, "verifyingContract": oracle},
        "message": {"configVersion": config_version, "reports": reports},
    }


def compact(signature: bytes) -> tuple[bytes, bytes]:
    """A wallet's 65-byte r || s || v as the contract's (r, vs): v - 27 goes into the top bit of s."""
    r, s, v = signature[:32], int.from_bytes(signature[32:64], "big"), signature[64]
    return r, (s | ((v - 27) << 255)).to_bytes(32, "big")


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Anvil; the suite with the three wallets as signers (threshold 2); one asset reporting from epoch 0."""
    tmp = tmp_path_factory.mktemp("wallet")
    node = start_anvil(log_dir=tmp / "logs")
    try:
        w3 = Web3(Web3.HTTPProvider(node.url))
        genesis = int(w3.eth.get_block("latest")["timestamp"]) // EPOCH_LENGTH * EPOCH_LENGTH - 10 * EPOCH_LENGTH
        signers = [a for wallet in WALLETS for a in ("--signer", wallet.address)]
        result = subprocess.run([sys.executable, "scripts/deploy.py", "--rpc-url", node.url, "--out", str(tmp),
                                 "--genesis", str(genesis), "--epoch-length", str(EPOCH_LENGTH), *signers,
                                 "--threshold", "2"], cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
        manifest_path = tmp / "31337.json"
        (tmp / "edge.toml").write_text(ASSET.format(operator=DEV[2].address))
        common = ["--rpc-url", node.url, "--deployment", str(manifest_path), "--dev-account", "0"]
        assert admin_main(["register-asset", str(tmp / "edge.toml"), *common]) == 0
        assert admin_main(["start-reporting", "1", "--first-epoch", "0", *common]) == 0
        manifest = json.loads(manifest_path.read_text())
        entry = manifest["contracts"]["MeteringOracle"]
        yield w3, w3.eth.contract(address=entry["address"], abi=entry["abi"])
    finally:
        node.stop()


def report(epoch: int) -> dict[str, int]:
    return {"assetId": 1, "epoch": epoch, "gpuSeconds": 2_400, "curtailedGpuSeconds": 0, "utilizationBps": 7_500,
            "energyWh": 200}


def submit(w3: Web3, oracle: Any, reports: list[dict[str, int]], signing: list[Any], signer_set: list[str]) -> Any:
    version = oracle.functions.configVersion().call()
    message = typed_data(w3.eth.chain_id, oracle.address, version, reports)
    signatures = [compact(bytes(Account.sign_typed_data(w.key, full_message=message).signature)) for w in signing]
    as_tuples = [tuple(r.values()) for r in reports]
    tx = oracle.functions.submit(version, as_tuples, signer_set, signatures).transact({"from": DEV[3].address})
    return w3.eth.wait_for_transaction_receipt(tx)


def error_of(call: Any) -> str:
    with pytest.raises(ContractCustomError) as raised:
        call()
    decoded = decode_revert(raised.value.data)
    assert decoded is not None
    return decoded.name


def ascending(addresses: list[str]) -> list[str]:
    return sorted(addresses, key=lambda a: int(a, 16))


def test_wallet_signed_report_in_ascending_order_with_the_whole_set_is_accepted(chain) -> None:
    w3, oracle = chain
    whole_set = ascending([w.address for w in WALLETS])
    signing = sorted(WALLETS[:2], key=lambda w: int(w.address, 16))

    receipt = submit(w3, oracle, [report(0)], signing, whole_set)

    assert receipt["status"] == 1
    assert oracle.functions.hasReport(1, 0).call()
    stored, _posted_at = oracle.functions.getReport(1, 0).call()
    assert tuple(stored) == tuple(report(0).values())


def test_signatures_out_of_ascending_order_are_refused(chain) -> None:
    w3, oracle = chain
    whole_set = ascending([w.address for w in WALLETS])
    descending = sorted(WALLETS[:2], key=lambda w: int(w.address, 16), reverse=True)
    assert error_of(lambda: submit(w3, oracle, [report(1)], descending, whole_set)) == "SignersNotAscending"


def test_signers_must_be_the_whole_configured_set(chain) -> None:
    w3, oracle = chain
    signing = sorted(WALLETS[:2], key=lambda w: int(w.address, 16))
    only_the_signing = ascending([w.address for w in signing])
    assert error_of(lambda: submit(w3, oracle, [report(1)], signing, only_the_signing)) == "SignerSetMismatch"


def test_a_65_byte_signature_passed_without_conversion_recovers_another_address(chain) -> None:
    w3, oracle = chain
    whole_set = ascending([w.address for w in WALLETS])
    version = oracle.functions.configVersion().call()
    signer = WALLETS[0]
    # a report whose signature has v = 28 (half of them do): dropping v then loses the recovery bit
    for energy in range(200, 264):
        candidate = dict(report(1), energyWh=energy)
        message = typed_data(w3.eth.chain_id, oracle.address, version, [candidate])
        raw = bytes(Account.sign_typed_data(signer.key, full_message=message).signature)
        if raw[64] == 28:
            break
    else:
        pytest.fail("no signature with v = 28 among 64 reports")
    wrong = [(raw[:32], raw[32:64])]  # the common mistake: s passed as vs, v dropped
    call = oracle.functions.submit(version, [tuple(candidate.values())], whole_set, wrong)
    assert error_of(lambda: call.transact({"from": DEV[3].address})) == "NotSigner"
    right = [compact(raw)]
    assert error_of(lambda: oracle.functions.submit(version, [tuple(candidate.values())], whole_set, right)
                    .transact({"from": DEV[3].address})) == "QuorumNotReached"  # recovered, but 1 of 2
