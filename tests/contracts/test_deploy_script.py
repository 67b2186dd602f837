"""The deploy script as a deployer runs it: `python scripts/deploy.py --rpc-url URL --out DIR`, in a
subprocess, against a node started separately (Ganache, Anvil as `start_anvil` starts it, and a plain Anvil
that keeps its EIP-1559 base fee). The written `deployments/<chainId>.json` is then checked against the node
itself over JSON-RPC: chain id, code at every address, ABIs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.localnode import DEV_MNEMONIC, rpc_call, start_anvil, start_ganache

ROOT = Path(__file__).resolve().parents[2]
#: The first account of the development mnemonic: the deployer.
FIRST_DEV_ACCOUNT = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"

#: Contracts every deployment must contain, with a function its ABI must carry (None: a library).
REQUIRED = {
    "SettlementToken": "transfer",
    "InvestorRegistry": "canTransfer",
    "AssetSharesFactory": None,
    "AssetRegistry": "registerAsset",
}
#: External libraries: reached only by linked DELEGATECALL, solc gives them an empty ABI.
LIBRARIES = {"AssetSharesFactory"}

NODES = {
    "ganache": (lambda log_dir: start_ganache(log_dir=log_dir), 1337),
    "anvil": (lambda log_dir: start_anvil(log_dir=log_dir), 31337),
    # A plain `anvil` keeps its EIP-1559 base fee: brownie's zero-priced development transactions would be
    # refused there, so the script must price its transactions from the node.
    "anvil-with-base-fee": (lambda log_dir: start_anvil(base_fee=None, log_dir=log_dir), 31337),
}


@pytest.fixture(params=sorted(NODES))
def node(request, tmp_path):
    start, chain_id = NODES[request.param]
    started = start(tmp_path / "logs")
    try:
        yield started, chain_id
    finally:
        started.stop()
    assert started.process.poll() is not None, "node still running after stop()"


def run_deploy(url: str, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "scripts/deploy.py", "--rpc-url", url, "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_deploy_script_deploys_to_a_separately_started_node_and_writes_the_deployment(node, tmp_path):
    local, chain_id = node
    out = tmp_path / "deployments"

    result = run_deploy(local.url, out)

    assert result.returncode == 0, f"deploy failed:\nstdout:\n{result.stdout[-4000:]}\nstderr:\n{result.stderr[-4000:]}"
    assert "checks passed" in result.stdout
    path = out / f"{chain_id}.json"
    assert sorted(p.name for p in out.iterdir()) == [path.name]
    document = json.loads(path.read_text())

    assert document["chainId"] == chain_id == int(rpc_call(local.url, "eth_chainId"), 16)
    assert document["deployer"].lower() == FIRST_DEV_ACCOUNT.lower()
    assert document["devStablecoin"] is True
    assert 0 < document["deployedAtBlock"] <= int(rpc_call(local.url, "eth_blockNumber"), 16)

    contracts = document["contracts"]
    assert set(REQUIRED) <= set(contracts)
    addresses = [entry["address"] for entry in contracts.values()]
    assert len(set(a.lower() for a in addresses)) == len(addresses), "two contracts share an address"
    for name, entry in contracts.items():
        code = rpc_call(local.url, "eth_getCode", [entry["address"], "latest"])
        assert isinstance(code, str) and len(code) > 2, f"{name} at {entry['address']} has no code on the node"
        assert isinstance(entry["abi"], list), f"{name} has no ABI"
        assert entry["abi"] or name in LIBRARIES, f"{name} has an empty ABI"
    for name, function in REQUIRED.items():
        if function is None:
            continue
        names = {item.get("name") for item in contracts[name]["abi"] if item.get("type") == "function"}
        assert function in names, f"{name} ABI lacks {function}"

    # The links the daemon relies on, read from the node with the written addresses alone.
    registry = contracts["AssetRegistry"]["address"]
    selector = "0x" + _selector("settlementToken()")
    token_word = rpc_call(local.url, "eth_call", [{"to": registry, "data": selector}, "latest"])
    assert int(token_word, 16) == int(contracts["SettlementToken"]["address"], 16)
    decimals = rpc_call(local.url, "eth_call", [{"to": contracts["SettlementToken"]["address"], "data": "0x" + _selector("decimals()")}, "latest"])
    assert int(decimals, 16) == 6


def test_deploy_script_fails_cleanly_when_no_node_answers(tmp_path):
    from scripts.localnode import free_port

    url = f"http://127.0.0.1:{free_port()}"
    result = run_deploy(url, tmp_path / "out")
    # Not a deployment to a throw-away node that brownie would launch on that port.
    assert result.returncode == 2
    assert f"error: no node answers at {url}" in result.stderr
    assert not (tmp_path / "out").exists()


def _selector(signature: str) -> str:
    from eth_utils import keccak

    return keccak(text=signature)[:4].hex()


def test_dev_mnemonic_first_account_is_the_expected_deployer():
    from eth_account import Account

    Account.enable_unaudited_hdwallet_features()
    assert Account.from_mnemonic(DEV_MNEMONIC).address == FIRST_DEV_ACCOUNT
