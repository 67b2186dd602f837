"""scripts/deploy.py as a developer meets it: URLs with a trailing slash, every configuration flag, the first
deployment block, one-line errors (exit 2) instead of tracebacks, a non-local chain (an Anvil with another
chain id) that needs a real token, a keystore and --force, a Python without brownie, and `brownie run` on a
network brownie treats as live. Each deployment is read back from the node with the manifest's ABIs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3

from scripts.localnode import DEV_MNEMONIC, free_port, start_anvil

ROOT = Path(__file__).resolve().parents[2]
LIVE_CHAIN_ID = 11_155_111  # Sepolia's id: not a local chain for the script

Account.enable_unaudited_hdwallet_features()
DEV = [Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}") for i in range(8)]


def deploy(*argv: str, python: list[str] | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*(python or [sys.executable]), "scripts/deploy.py", *argv], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, env=env)


def admin_cli(*argv: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "oracle", "admin", *argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, input=stdin)


def contract(w3: Web3, manifest: dict, name: str) -> Any:
    entry = manifest["contracts"][name]
    return w3.eth.contract(address=entry["address"], abi=entry["abi"])


def one_line_error(result: subprocess.CompletedProcess) -> str:
    """The single `error: ...` line of a refused run (and no traceback)."""
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture
def anvil(tmp_path: Path) -> Any:
    node = start_anvil(log_dir=tmp_path / "logs")
    yield node
    node.stop()


@pytest.fixture
def live_anvil(tmp_path: Path) -> Any:
    """An Anvil that says it is another chain, with EIP-1559 fees (as a real chain has)."""
    node = start_anvil(chain_id=LIVE_CHAIN_ID, base_fee=None, log_dir=tmp_path / "logs")
    yield node
    node.stop()


def test_deploy_takes_every_flag_a_trailing_slash_and_records_the_first_deployment_block(anvil, tmp_path) -> None:
    w3 = Web3(Web3.HTTPProvider(anvil.url))
    w3.provider.make_request("anvil_mine", [5])  # blocks before the deployment: deployedAtBlock is not 1 by chance
    signers = [DEV[6].address, DEV[5].address, DEV[7].address]
    genesis = int(w3.eth.get_block("latest")["timestamp"]) // 600 * 600 - 6_000

    result = deploy("--rpc-url", anvil.url + "/", "--out", str(tmp_path), "--genesis", str(genesis),
                    "--epoch-length", "600", "--grace-period", "1800", "--admin-delay", "3600",
                    *[a for s in signers for a in ("--signer", s)], "--threshold", "2",
                    "--compliance", DEV[2].address, "--registrar", DEV[3].address, "--oracle-admin", DEV[4].address)

    assert result.returncode == 0, result.stderr[-3000:]
    manifest = json.loads((tmp_path / "31337.json").read_text())
    oracle = contract(w3, manifest, "MeteringOracle")
    assert oracle.functions.signers().call() == sorted(signers, key=lambda a: int(a, 16))
    assert (oracle.functions.threshold().call(), oracle.functions.epochLength().call()) == (2, 600)
    assert oracle.functions.genesis().call() == genesis
    assert oracle.functions.hasRole(oracle.functions.ORACLE_ADMIN_ROLE().call(), DEV[4].address).call()
    registry = contract(w3, manifest, "AssetRegistry")
    assert registry.functions.hasRole(registry.functions.REGISTRAR_ROLE().call(), DEV[3].address).call()
    assert registry.functions.defaultAdminDelay().call() == 3600
    investors = contract(w3, manifest, "InvestorRegistry")
    assert investors.functions.hasRole(investors.functions.COMPLIANCE_ROLE().call(), DEV[2].address).call()
    assert contract(w3, manifest, "LeaseMarket").functions.gracePeriod().call() == 1800

    first = manifest["deployedAtBlock"]
    token = manifest["contracts"]["SettlementToken"]["address"]
    assert first == 6  # the 5 mined blocks, then the first deployment
    assert w3.eth.get_code(token, first - 1) == b"" and w3.eth.get_code(token, first) != b""
    # what a client needs beyond the fixed contracts: the per-asset ABIs and how to find the instances
    assert {"AssetShares", "LendingMarket"} <= set(manifest["abis"])
    assert any(e.get("name") == "openOffering" for e in manifest["abis"]["AssetShares"])
    assert manifest["assets"] == {} and manifest["markets"] == []
    assert "sharesOf" in manifest["discovery"]["assets"] and "MarketCreated" in manifest["discovery"]["markets"]


def test_deploy_refuses_a_bad_url_and_a_bad_address_in_one_line(anvil, tmp_path) -> None:
    assert "is not an http(s) URL" in one_line_error(deploy("--rpc-url", "127.0.0.1:8545", "--out", str(tmp_path)))
    line = one_line_error(deploy("--rpc-url", anvil.url, "--out", str(tmp_path), "--signer", "0x1234"))
    assert line == "error: --signer '0x1234' is not an address"
    line = one_line_error(deploy("--rpc-url", anvil.url, "--out", str(tmp_path), "--threshold", "2"))
    assert line == "error: --threshold 2 does not fit 1 signer(s)"
    secret = f"http://127.0.0.1:{free_port()}/v3/SECRETKEY"
    line = one_line_error(deploy("--rpc-url", secret, "--out", str(tmp_path)))
    assert line.startswith("error: no node answers at http://127.0.0.1:") and "SECRETKEY" not in line
    assert not list(tmp_path.glob("*.json"))


def test_deploy_on_a_non_local_chain_needs_a_token_with_code_a_keystore_and_force(live_anvil, tmp_path) -> None:
    url = live_anvil.url
    w3 = Web3(Web3.HTTPProvider(url))
    assert "--settlement-token" in one_line_error(deploy("--rpc-url", url, "--out", str(tmp_path)))
    empty = DEV[7].address
    line = one_line_error(deploy("--rpc-url", url, "--out", str(tmp_path), "--settlement-token", empty))
    assert line == f"error: --settlement-token {empty} has no code on chain {LIVE_CHAIN_ID}"

    # a real token on that chain (the dev stablecoin's bytecode, deployed by hand from an unlocked account)
    build = json.loads((ROOT / "build" / "contracts" / "DevStablecoin.json").read_text())
    factory = w3.eth.contract(abi=build["abi"], bytecode=build["bytecode"])
    tx = factory.constructor("Real USD", "rUSD", 0, DEV[0].address).transact({"from": DEV[0].address})
    token = w3.eth.wait_for_transaction_receipt(tx)["contractAddress"]
    line = one_line_error(deploy("--rpc-url", url, "--out", str(tmp_path), "--settlement-token", token))
    assert "--keystore" in line

    keystore, password = tmp_path / "deployer.json", tmp_path / "deployer.pass"
    password.write_text("correct horse\n")
    keystore.write_text(json.dumps(Account.encrypt(DEV[1].key, "correct horse")))
    wrong = tmp_path / "wrong.pass"
    wrong.write_text("incorrect horse\n")
    line = one_line_error(deploy("--rpc-url", url, "--out", str(tmp_path), "--settlement-token", token,
                                 "--keystore", str(keystore), "--password-file", str(wrong)))
    assert line.startswith(f"error: the deployer's keystore {keystore} cannot be used")
    args = ["--rpc-url", url, "--out", str(tmp_path), "--settlement-token", token, "--keystore", str(keystore),
            "--password-file", str(password)]
    result = deploy(*args)
    assert result.returncode == 0, result.stderr[-3000:]
    manifest = json.loads((tmp_path / f"{LIVE_CHAIN_ID}.json").read_text())
    assert manifest["deployer"] == DEV[1].address and manifest["devStablecoin"] is False
    assert manifest["contracts"]["SettlementToken"]["address"] == token
    registry = contract(w3, manifest, "AssetRegistry")
    assert registry.functions.owner().call() == DEV[1].address
    assert registry.functions.defaultAdminDelay().call() == 2 * 86_400  # the non-local default
    # brownie recorded nothing of it (the manifest is the record): a later run is not haunted by stale artifacts
    assert not list((ROOT / "build" / "deployments").glob(f"{LIVE_CHAIN_ID}/*.json"))

    line = one_line_error(deploy(*args))
    assert line.endswith("pass --force to overwrite it")
    assert deploy(*args, "--force").returncode == 0

    # the admin CLI on that chain: no development keys, and nothing is sent without a yes at the prompt
    manifest_path = tmp_path / f"{LIVE_CHAIN_ID}.json"
    manifest = json.loads(manifest_path.read_text())
    investors = contract(w3, manifest, "InvestorRegistry")
    step = ["investor", "add", DEV[5].address, "--kyc-expiry", "2030-01-01", "--jurisdiction", "756",
            "--rpc-url", url, "--deployment", str(manifest_path)]
    refused = admin_cli(*step, "--dev-account", "1")
    assert refused.returncode == 2 and "development accounts are public keys" in refused.stderr
    key = ["--keystore", str(keystore), "--password-file", str(password)]
    nonce = w3.eth.get_transaction_count(DEV[1].address)
    declined = admin_cli(*step, *key, stdin="n\n")
    assert declined.returncode == 2, declined.stderr
    assert f"send this transaction on chain {LIVE_CHAIN_ID}? [y/N]" in declined.stdout
    assert f"on chain {LIVE_CHAIN_ID} (NOT local)" in declined.stdout and "call addInvestor(" in declined.stdout
    assert "not sent: declined at the prompt" in declined.stderr
    assert w3.eth.get_transaction_count(DEV[1].address) == nonce
    accepted = admin_cli(*step, *key, stdin="y\n")
    assert accepted.returncode == 0, accepted.stderr
    assert investors.functions.isVerified(DEV[5].address).call()


def test_deploy_outside_the_project_venv_says_how_to_run_it(tmp_path) -> None:
    # -S: no site-packages, so no brownie (as under a system Python)
    line = one_line_error(deploy("--rpc-url", "http://127.0.0.1:8545", python=[sys.executable, "-S"]))
    assert "brownie is not installed in this Python" in line and "make deploy RPC_URL=" in line


def test_brownie_run_on_a_live_network_is_refused_with_a_pointer(anvil, tmp_path) -> None:
    # brownie's per-user settings in a throw-away HOME: the network a brownie user would add for their Anvil
    home = tmp_path / "home"
    (home / ".brownie").mkdir(parents=True)
    user_config = Path.home() / ".brownie" / "network-config.yaml"
    if user_config.exists():
        shutil.copy(user_config, home / ".brownie" / "network-config.yaml")
    env = dict(os.environ, HOME=str(home))
    brownie = str(Path(sys.executable).parent / "brownie")
    added = subprocess.run([brownie, "networks", "add", "Ethereum", "wellhead-anvil", f"host={anvil.url}",
                            "chainid=31337"], cwd=ROOT, capture_output=True, text=True, env=env, timeout=120)
    assert added.returncode == 0, added.stdout + added.stderr

    result = subprocess.run([brownie, "run", "scripts/deploy.py", "--network", "wellhead-anvil"], cwd=ROOT,
                            capture_output=True, text=True, env=env, timeout=300)

    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "`brownie run` on the live network 'wellhead-anvil' is not supported" in output
    assert "make deploy RPC_URL=" in output
    assert Web3(Web3.HTTPProvider(anvil.url)).eth.get_transaction_count(DEV[0].address) == 0  # nothing deployed
