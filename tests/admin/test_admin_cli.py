"""The admin CLI (`wellhead-admin`, `python -m oracle admin`) against a real Anvil: the suite is deployed by
`scripts/deploy.py` as a developer runs it, then every subcommand runs as an admin would (in-process through
`oracle.admin.commands.main`, and once as a subprocess), and each outcome is read back from the chain with
web3.py and the manifest's own ABIs. Refusals must come back as the contract's custom error in words."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3

from oracle.admin.commands import main as admin_main
from scripts.localnode import DEV_MNEMONIC, start_anvil

ROOT = Path(__file__).resolve().parents[2]
EPOCH_LENGTH = 600

Account.enable_unaudited_hdwallet_features()
DEV = [Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}") for i in range(10)]
ADMIN, OPERATOR, INVESTOR, STRANGER = DEV[0], DEV[1], DEV[2], DEV[5]

ASSET_TOML = f"""
[asset]
operator = "{OPERATOR.address}"
tier = "neocloud"
gpu_count = 8
power_per_gpu_w = 700
pue_bps = 12000
energy_tariff_per_kwh = "0.12"
operator_fee_bps = 1000
commissioned_at = 2026-06-01T00:00:00Z
gpu_model = "NVIDIA H100 80GB HBM3"
region = "eu-north-1 / h100-node-01"
metadata_uri = "ipfs://bafybeih100node01datasheet"
metadata_hash = "0x{'11' * 32}"
shares_name = "Wellhead H100 Node 01"
shares_symbol = "WH-H100-01"
max_share_supply = 1000000

[offering]
price_per_share = "100"
cap_shares = 10000
closes_at = {int(time.time()) + 30 * 86_400}

[valuation]
window_epochs = 6
cap_rate_bps = 2000
decay_bps_per_year = 2000
max_move_bps_per_epoch = 1000
max_silence_epochs = 3
silence_haircut_bps = 5000
suspended_haircut_bps = 5000
max_rise_bps_per_year = 5000
snapshot_epochs = 168
reference_price_per_gpu_hour = "2.50"
initial_price = "100"

[[lease_offers]]
gpus = 6
price_per_gpu_hour = "2.50"
min_term_epochs = 4
max_term_epochs = 200
notice_epochs = 2
sla_uptime_bps = 9900
sla_credit_bps = 1000
cancel_penalty_bps = 500

[[lease_offers]]
gpus = 2
price_per_gpu_hour = "1.20"
min_term_epochs = 4
max_term_epochs = 200
notice_epochs = 0
sla_uptime_bps = 9000
sla_credit_bps = 0
cancel_penalty_bps = 0
lease_class = "interruptible"
[lease_offers.dynamic_pricing]
target_utilization_bps = 8000
max_change_bps = 500
min_price_per_gpu_hour = "0.80"
max_price_per_gpu_hour = "2.00"
"""


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Anvil, the suite deployed by scripts/deploy.py (genesis 10 epochs back), and the manifest."""
    tmp = tmp_path_factory.mktemp("admin")
    node = start_anvil(log_dir=tmp / "logs")
    try:
        w3 = Web3(Web3.HTTPProvider(node.url))
        genesis = int(w3.eth.get_block("latest")["timestamp"]) // EPOCH_LENGTH * EPOCH_LENGTH - 10 * EPOCH_LENGTH
        result = subprocess.run(
            [sys.executable, "scripts/deploy.py", "--rpc-url", node.url, "--out", str(tmp),
             "--genesis", str(genesis), "--epoch-length", str(EPOCH_LENGTH)],
            cwd=ROOT, capture_output=True, text=True, timeout=600,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        yield {"url": node.url, "manifest": tmp / "31337.json", "w3": w3, "tmp": tmp}
    finally:
        node.stop()


def admin(deployed: dict, *argv: str, account: int = 0) -> int:
    """Runs one admin step against the test deployment, signed by development account `account`."""
    return admin_main([*argv, "--rpc-url", deployed["url"], "--deployment", str(deployed["manifest"]),
                       "--dev-account", str(account)])


def contract(deployed: dict, name: str, address: str | None = None) -> Any:
    """A web3 contract from the manifest (its ABI as written by deploy.py / the CLI)."""
    manifest = json.loads(deployed["manifest"].read_text())
    abi = manifest["contracts"][name]["abi"] if name in manifest["contracts"] else manifest["abis"][name]
    return deployed["w3"].eth.contract(address=address or manifest["contracts"][name]["address"], abi=abi)


@pytest.fixture(scope="module")
def asset_file(deployed: dict) -> Path:
    path = deployed["tmp"] / "h100.toml"
    path.write_text(ASSET_TOML)
    return path


@pytest.fixture(scope="module")
def asset_id(deployed: dict, asset_file: Path) -> int:
    """Asset 1, registered through the CLI."""
    assert admin(deployed, "register-asset", str(asset_file)) == 0
    return 1


def test_register_asset_registers_the_spec_and_records_the_share_token(deployed, asset_id) -> None:
    registry = contract(deployed, "AssetRegistry")
    asset = registry.functions.getAsset(asset_id).call()
    assert asset[0] == OPERATOR.address  # operator
    assert (asset[2], asset[3], asset[4], asset[5]) == (1, 8, 700, 12_000)  # tier, gpus, W, PUE
    assert asset[9] == 120_000  # 0.12 of a 6-decimal token per kWh, exactly
    assert asset[13] == "eu-north-1 / h100-node-01"
    manifest = json.loads(deployed["manifest"].read_text())
    assert manifest["assets"]["1"]["shares"] == registry.functions.sharesOf(asset_id).call()
    assert manifest["assets"]["1"]["registeredAtBlock"] > manifest["deployedAtBlock"]
    shares = contract(deployed, "AssetShares", manifest["assets"]["1"]["shares"])
    assert shares.functions.maxSupply().call() == 1_000_000 * 10**18  # whole shares in the spec, 18 decimals


def test_set_signers_sets_the_whole_set_sorted_with_its_threshold(deployed) -> None:
    oracle = contract(deployed, "MeteringOracle")
    wanted = [DEV[7].address, DEV[6].address, DEV[8].address]
    before = oracle.functions.configVersion().call()

    assert admin(deployed, "set-signers", *[a for s in wanted for a in ("--signer", s)], "--threshold", "2") == 0

    assert oracle.functions.signers().call() == sorted(wanted, key=lambda a: int(a, 16))
    assert oracle.functions.threshold().call() == 2
    assert oracle.functions.configVersion().call() == before + 1


def test_set_signers_refuses_a_threshold_above_the_set_in_words(deployed, capsys) -> None:
    assert admin(deployed, "set-signers", "--signer", DEV[6].address, "--threshold", "3") == 1
    assert "a threshold of 3 does not fit a set of 1 signers" in capsys.readouterr().err


def test_start_reporting_starts_at_the_epoch_in_progress_then_refuses_a_second_start(deployed, asset_id, capsys) -> None:
    oracle = contract(deployed, "MeteringOracle")
    now = deployed["w3"].eth.get_block("latest")["timestamp"]

    assert admin(deployed, "start-reporting", str(asset_id)) == 0
    assert tuple(oracle.functions.cursorOf(asset_id).call()) == (oracle.functions.epochAt(now).call(), True)

    capsys.readouterr()
    assert admin(deployed, "start-reporting", str(asset_id), "--first-epoch", "0") == 1
    assert f"reporting of asset {asset_id} already started" in capsys.readouterr().err


def test_investor_add_renew_revoke_change_the_registry(deployed, capsys) -> None:
    registry = contract(deployed, "InvestorRegistry")
    who = INVESTOR.address

    assert admin(deployed, "investor", "add", who, "--kyc-expiry", "2030-06-30", "--jurisdiction", "756") == 0
    assert registry.functions.isVerified(who).call()
    assert admin(deployed, "investor", "renew", who, "--kyc-expiry", "2031-01-01T00:00:00Z", "--jurisdiction", "250") == 0
    record = registry.functions.investorOf(who).call()
    assert 1_924_992_000 in record and 250 in record  # 2031-01-01 UTC, France

    capsys.readouterr()
    assert admin(deployed, "investor", "add", who, "--kyc-expiry", "2030-06-30", "--jurisdiction", "756") == 1
    assert f"{who} is already a verified investor" in capsys.readouterr().err

    assert admin(deployed, "investor", "revoke", who) == 0
    assert not registry.functions.isVerified(who).call()


def test_investor_add_refuses_an_expiry_in_the_past_and_a_missing_role_in_words(deployed, capsys) -> None:
    assert admin(deployed, "investor", "add", DEV[3].address, "--kyc-expiry", "2020-01-01",
                 "--jurisdiction", "756") == 1
    assert "the KYC expiry 2020-01-01 00:00:00 UTC (1577836800)" in capsys.readouterr().err

    assert admin(deployed, "investor", "add", DEV[3].address, "--kyc-expiry", "2030-01-01",
                 "--jurisdiction", "756", account=5) == 1
    assert f"{STRANGER.address} lacks COMPLIANCE_ROLE on this contract" in capsys.readouterr().err


def test_configure_valuation_writes_the_params_and_initial_price(deployed, asset_id, asset_file) -> None:
    assert admin(deployed, "configure-valuation", str(asset_file), "--asset", str(asset_id)) == 0
    valuation = contract(deployed, "YieldValuation")
    assert tuple(valuation.functions.paramsOf(asset_id).call()) == (6, 2000, 2000, 1000, 3, 5000, 5000, 5000, 168, 2_500_000)
    assert valuation.functions.quote(asset_id).call()[0] == 100_000_000  # 100 of a 6-decimal token


def test_lending_enable_and_disable_an_lltv_and_refuse_a_no_op_in_words(deployed, capsys) -> None:
    factory = contract(deployed, "LendingFactory")
    assert admin(deployed, "lending", "enable", "--lltv", "0.7") == 0
    assert factory.functions.isLltvEnabled(7 * 10**17).call()
    assert admin(deployed, "lending", "disable", "--lltv", "0.7") == 0
    assert not factory.functions.isLltvEnabled(7 * 10**17).call()
    capsys.readouterr()
    assert admin(deployed, "lending", "enable", "--irm", "LinearKinkIrm") == 1  # deploy.py enabled it
    assert "nothing would change" in capsys.readouterr().err


def test_create_market_creates_it_for_the_asset_shares_and_records_it(deployed, asset_id) -> None:
    path = deployed["tmp"] / "market.toml"
    path.write_text(f'[market]\nasset_id = {asset_id}\nlltv = "0.625"\n')

    assert admin(deployed, "create-market", str(path), account=4) == 0  # anyone may create a market

    manifest = json.loads(deployed["manifest"].read_text())
    (market,) = manifest["markets"]
    shares = contract(deployed, "AssetRegistry").functions.sharesOf(asset_id).call()
    assert (market["assetId"], market["collateralToken"], market["lltv"]) == (asset_id, shares, 625 * 10**15)
    lending_market = contract(deployed, "LendingMarket", market["address"])
    assert lending_market.functions.asset().call() == manifest["contracts"]["SettlementToken"]["address"]


def test_open_offering_is_the_operators_and_refused_to_others_in_words(deployed, asset_id, asset_file, capsys) -> None:
    assert admin(deployed, "open-offering", str(asset_file), "--asset", str(asset_id), account=2) == 1
    assert "is not the asset's operator" in capsys.readouterr().err

    assert admin(deployed, "open-offering", str(asset_file), "--asset", str(asset_id), account=1) == 0
    shares = contract(deployed, "AssetShares", contract(deployed, "AssetRegistry").functions.sharesOf(asset_id).call())
    _round, offering = shares.functions.currentOffering().call()
    assert offering[0] == 100_000_000 and offering[1] == 10_000 * 10**18 and offering[4] is True


def test_create_offers_creates_each_lease_offer_with_its_pricing(deployed, asset_id, asset_file) -> None:
    assert admin(deployed, "create-offers", str(asset_file), "--asset", str(asset_id), account=1) == 0
    market = contract(deployed, "LeaseMarket")
    offers = market.functions.offersOf(asset_id).call()
    assert len(offers) == 2
    firm, spot = (market.functions.offerTerms(o).call() for o in offers)
    assert (firm[1], firm[2], firm[9]) == (6, 2_500_000, 0)
    assert (spot[1], spot[2], spot[9]) == (2, 1_200_000, 1)
    assert tuple(spot[10]) == (True, 8_000, 500, 800_000, 2_000_000)


def test_sync_rebuilds_assets_and_markets_from_the_chain(deployed, asset_id) -> None:
    before = json.loads(deployed["manifest"].read_text())
    edited = dict(before, assets={}, markets=[])
    deployed["manifest"].write_text(json.dumps(edited))

    assert admin(deployed, "sync") == 0

    after = json.loads(deployed["manifest"].read_text())
    assert after["assets"] == before["assets"]
    assert [m["address"] for m in after["markets"]] == [m["address"] for m in before["markets"]]


def test_spec_errors_name_the_field_and_send_nothing(deployed, capsys) -> None:
    path = deployed["tmp"] / "bad.toml"
    path.write_text(ASSET_TOML.replace('energy_tariff_per_kwh = "0.12"', "energy_tariff_per_kwh = 0.12")
                    .replace("gpu_count = 8", "gpu_count = 0"))
    nonce = deployed["w3"].eth.get_transaction_count(ADMIN.address)

    assert admin(deployed, "register-asset", str(path)) == 2

    err = capsys.readouterr().err
    assert "asset.gpu_count: Input should be greater than 0" in err
    assert "asset.energy_tariff_per_kwh: 0.12: write amounts as a quoted decimal string" in err
    assert deployed["w3"].eth.get_transaction_count(ADMIN.address) == nonce


def test_too_many_decimals_for_the_token_is_refused_before_sending(deployed, capsys) -> None:
    path = deployed["tmp"] / "decimals.toml"
    path.write_text(ASSET_TOML.replace('energy_tariff_per_kwh = "0.12"', 'energy_tariff_per_kwh = "0.1234567"'))
    assert admin(deployed, "register-asset", str(path)) == 2
    assert "asset.energy_tariff_per_kwh 0.1234567 has more than the token's 6 decimals" in capsys.readouterr().err


def test_python_m_oracle_admin_runs_without_brownie_and_reports_an_unreachable_node(deployed, tmp_path) -> None:
    from scripts.localnode import free_port

    # -S: no site-packages beyond what we add: brownie is absent, the oracle package's deps are present
    code = ("import sys, importlib.abc\n"
            "class NoBrownie(importlib.abc.MetaPathFinder):\n"
            "    def find_spec(self, name, path, target=None):\n"
            "        if name == 'brownie' or name.startswith('brownie.'): raise ImportError('no brownie here')\n"
            "sys.meta_path.insert(0, NoBrownie())\n"
            "from oracle.cli import main\n"
            "sys.exit(main(sys.argv[1:]))\n")
    ok = subprocess.run([sys.executable, "-c", code, "admin", "investor", "add", DEV[9].address, "--kyc-expiry",
                         "2030-01-01", "--jurisdiction", "756", "--rpc-url", deployed["url"], "--deployment",
                         str(deployed["manifest"]), "--dev-account", "0"],
                        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert "addInvestor(" in ok.stdout and "mined in block" in ok.stdout
    down = subprocess.run([sys.executable, "-c", code, "admin", "sync", "--rpc-url",
                           f"http://127.0.0.1:{free_port()}/v3/SECRETKEY", "--dev-account", "0"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert down.returncode == 4
    assert "the node does not answer" in down.stderr and "SECRETKEY" not in down.stderr
