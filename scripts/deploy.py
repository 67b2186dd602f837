"""Deploys the Wellhead suite, checks it, and writes `deployments/<chainId>.json` for the daemon and clients.

Usage:
    brownie run scripts/deploy.py                       # on the Anvil that brownie starts (development)
    python scripts/deploy.py --rpc-url http://127.0.0.1:8545   # on an already running Anvil or Ganache

On a local chain a DevStablecoin is deployed as the settlement token; on a real chain pass the real
stablecoin's address (`--settlement-token`). Other modules (tests, demo, benches) call `deploy_suite`.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ROOT = Path(__file__).resolve().parent.parent
DEPLOYMENTS = ROOT / "deployments"

#: Chains treated as local: a DevStablecoin is deployed there and roles default to the deployer.
LOCAL_CHAIN_IDS = {31337, 1337}

#: ISO 3166-1 numeric code used for development investors (Switzerland).
DEFAULT_JURISDICTION = 756


class DeploymentCheckFailed(RuntimeError):
    """The deployed suite's roles or links are not what they should be."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("deployment check failed:\n  - " + "\n  - ".join(problems))
        self.problems = problems


@dataclass
class SuiteConfig:
    """What a deployment is made of. Defaults suit a local chain."""

    admin_delay: int = 0  # seconds of the two-step default-admin transfer (use days on a real chain)
    settlement_token: str | None = None  # None: deploy a DevStablecoin (local chains only)
    stablecoin_name: str = "Wellhead Dev USD"
    stablecoin_symbol: str = "wUSD"
    compliance: Any = None  # account granted COMPLIANCE_ROLE (default: deployer)
    registrar: Any = None  # account granted REGISTRAR_ROLE (default: deployer)
    # MeteringOracle
    oracle_genesis: int | None = None  # start of epoch 0 (default: the start of the current hour, UTC)
    epoch_length: int = 3600
    energy_margin_bps: int = 2_000  # metered energy may exceed rated power by 20% (transient boost)
    oracle_signers: list[str] = field(default_factory=list)  # default: the deployer alone (local chains)
    oracle_threshold: int = 1
    oracle_admin: Any = None  # ORACLE_ADMIN_ROLE (default: deployer)
    # LeaseMarket
    grace_period: int = 6 * 3600  # an epoch unreported this long after its end settles as void
    # Lending
    borrow_margin_wad: int = 5 * 10**16  # borrowing stops 5 points below the liquidation LTV
    lltvs: tuple[int, ...] = (5 * 10**17, 625 * 10**15)  # 50% and 62.5%
    # LinearKinkIrm: 2% base, +8% up to the 80% kink, then +100% to full utilisation (annual, WAD)
    irm_params: tuple[int, int, int, int] = (2 * 10**16, 8 * 10**16, 10**18, 8 * 10**17)


@dataclass
class Suite:
    """The deployed contracts (brownie Contract objects) and where they live."""

    chain_id: int
    deployer: Any
    stablecoin: Any
    investor_registry: Any
    asset_registry: Any
    shares_factory: Any
    oracle: Any
    lease_market: Any
    lease_positions: Any
    lease_lens: Any
    valuation: Any
    irm: Any
    lending_factory: Any
    dev_stablecoin: bool
    portfolio_lens: Any = None  # the investor app's one-call portfolio view
    extra: dict[str, Any] = field(default_factory=dict)
    share_venue: Any = None  # ShareVenue: order books for the share tokens (an approved holder)
    lease_listings: Any = None  # LeaseListings: lease positions sold for stablecoin

    def contracts(self) -> dict[str, Any]:
        """Name -> contract, in deployment order, for the deployment file."""
        named = {
            "SettlementToken": self.stablecoin,
            "InvestorRegistry": self.investor_registry,
            "AssetSharesFactory": self.shares_factory,
            "AssetRegistry": self.asset_registry,
            "MeteringOracle": self.oracle,
            "LeaseMarket": self.lease_market,
            "LeasePositions": self.lease_positions,
            "LeaseMarketLens": self.lease_lens,
            "YieldValuation": self.valuation,
            "LinearKinkIrm": self.irm,
            "LendingFactory": self.lending_factory,
            "ShareVenue": self.share_venue,
            "LeaseListings": self.lease_listings,
        }
        if self.portfolio_lens is not None:
            named["PortfolioLens"] = self.portfolio_lens
        named.update(self.extra)
        return named


def deploy_suite(deployer: Any, config: SuiteConfig | None = None) -> Suite:
    """Deploys every contract of the suite from `deployer`, wires the roles, and checks the result."""
    from brownie import (
        AssetRegistry,
        AssetSharesFactory,
        Contract,
        DevStablecoin,
        InvestorRegistry,
        LeaseListings,
        LeaseMarket,
        LeaseMarketLens,
        LeasePositions,
        LeasePositionsFactory,
        LeaseSettlement,
        LendingFactory,
        LendingMarketDeployer,
        LinearKinkIrm,
        MeteringOracle,
        PortfolioLens,
        ShareVenue,
        YieldValuation,
        chain,
    )

    config = config or SuiteConfig()
    tx = {"from": deployer}
    chain_id = chain.id

    dev_stablecoin = config.settlement_token is None
    if dev_stablecoin:
        if chain_id not in LOCAL_CHAIN_IDS:
            raise ValueError(f"chain {chain_id} is not local: pass the real stablecoin's address")
        stablecoin = DevStablecoin.deploy(
            config.stablecoin_name, config.stablecoin_symbol, config.admin_delay, deployer, tx
        )
        for role in ("MINTER_ROLE", "BLOCKLISTER_ROLE", "PAUSER_ROLE"):
            stablecoin.grantRole(getattr(stablecoin, role)(), deployer, tx)
    else:
        stablecoin = Contract.from_abi("SettlementToken", config.settlement_token, DevStablecoin.abi)

    investor_registry = InvestorRegistry.deploy(config.admin_delay, deployer, tx)
    investor_registry.grantRole(investor_registry.COMPLIANCE_ROLE(), config.compliance or deployer, tx)

    shares_factory = AssetSharesFactory.deploy(tx)
    asset_registry = AssetRegistry.deploy(stablecoin, investor_registry, config.admin_delay, deployer, tx)
    asset_registry.grantRole(asset_registry.REGISTRAR_ROLE(), config.registrar or deployer, tx)

    genesis = config.oracle_genesis if config.oracle_genesis is not None else chain.time() // 3600 * 3600
    signers = sorted(config.oracle_signers or [deployer.address], key=lambda a: int(str(a), 16))
    oracle = MeteringOracle.deploy(
        asset_registry,
        genesis,
        config.epoch_length,
        config.energy_margin_bps,
        signers,
        config.oracle_threshold,
        config.admin_delay,
        deployer,
        tx,
    )
    if config.oracle_admin is not None and config.oracle_admin != deployer:
        oracle.grantRole(oracle.ORACLE_ADMIN_ROLE(), config.oracle_admin, tx)

    # External libraries first: brownie links them into the contracts that use them.
    LeaseSettlement.deploy(tx)
    LeasePositionsFactory.deploy(tx)
    lease_market = LeaseMarket.deploy(asset_registry, oracle, config.grace_period, tx)
    lease_positions = LeasePositions.at(lease_market.positions())
    lease_lens = LeaseMarketLens.deploy(lease_market, tx)

    valuation = YieldValuation.deploy(lease_market, config.admin_delay, deployer, tx)
    irm = LinearKinkIrm.deploy(*config.irm_params, tx)
    LendingMarketDeployer.deploy(tx)
    lending_factory = LendingFactory.deploy(asset_registry, config.borrow_margin_wad, config.admin_delay, deployer, tx)
    investor_registry.grantRole(investor_registry.HOLDER_MANAGER_ROLE(), lending_factory, tx)
    lending_factory.setIrmEnabled(irm, True, tx)
    lending_factory.setValuationEnabled(valuation, True, tx)
    for lltv in config.lltvs:
        lending_factory.setLltvEnabled(lltv, True, tx)

    # Secondary market. The venue holds escrowed shares, so it is approved as a holder; the deployer takes the
    # holder-manager role only for that one call.
    share_venue = ShareVenue.deploy(asset_registry, tx)
    lease_listings = LeaseListings.deploy(lease_market, tx)
    holder_manager = investor_registry.HOLDER_MANAGER_ROLE()
    investor_registry.grantRole(holder_manager, deployer, tx)
    investor_registry.setApprovedHolder(share_venue, True, tx)
    investor_registry.revokeRole(holder_manager, deployer, tx)
    portfolio_lens = PortfolioLens.deploy(lease_market, lending_factory, tx)

    suite = Suite(
        chain_id=chain_id,
        deployer=deployer,
        stablecoin=stablecoin,
        investor_registry=investor_registry,
        asset_registry=asset_registry,
        shares_factory=shares_factory,
        oracle=oracle,
        lease_market=lease_market,
        lease_positions=lease_positions,
        lease_lens=lease_lens,
        valuation=valuation,
        irm=irm,
        lending_factory=lending_factory,
        dev_stablecoin=dev_stablecoin,
        share_venue=share_venue,
        lease_listings=lease_listings,
        portfolio_lens=portfolio_lens,
    )
    check_suite(suite, config)
    return suite


def check_suite(suite: Suite, config: SuiteConfig | None = None) -> None:
    """Verifies roles and links after deployment; raises DeploymentCheckFailed listing every problem."""
    config = config or SuiteConfig()
    problems: list[str] = []

    def expect(condition: bool, problem: str) -> None:
        if not condition:
            problems.append(problem)

    registry = suite.asset_registry
    investors = suite.investor_registry
    expect(registry.settlementToken() == suite.stablecoin.address, "AssetRegistry.settlementToken is not the stablecoin")
    expect(registry.investorRegistry() == investors.address, "AssetRegistry.investorRegistry is not the InvestorRegistry")
    expect(registry.owner() == suite.deployer.address, "AssetRegistry default admin is not the deployer")
    expect(investors.owner() == suite.deployer.address, "InvestorRegistry default admin is not the deployer")
    expect(registry.defaultAdminDelay() == config.admin_delay, "AssetRegistry admin delay differs from the config")
    expect(
        registry.hasRole(registry.REGISTRAR_ROLE(), config.registrar or suite.deployer),
        "registrar lacks REGISTRAR_ROLE on AssetRegistry",
    )
    expect(
        investors.hasRole(investors.COMPLIANCE_ROLE(), config.compliance or suite.deployer),
        "compliance lacks COMPLIANCE_ROLE on InvestorRegistry",
    )
    oracle = suite.oracle
    expect(oracle.assetRegistry() == registry.address, "MeteringOracle.assetRegistry is not the AssetRegistry")
    expect(oracle.epochLength() == config.epoch_length, "MeteringOracle.epochLength differs from the config")
    expect(oracle.configVersion() == 1, "MeteringOracle signer set was not initialised exactly once")
    expect(
        oracle.hasRole(oracle.ORACLE_ADMIN_ROLE(), config.oracle_admin or suite.deployer),
        "oracle admin lacks ORACLE_ADMIN_ROLE on MeteringOracle",
    )
    expected_signers = sorted(config.oracle_signers or [suite.deployer.address], key=lambda a: int(str(a), 16))
    expect(
        [str(a).lower() for a in oracle.signers()] == [str(a).lower() for a in expected_signers],
        "MeteringOracle signer set differs from the config",
    )
    market = suite.lease_market
    expect(market.oracle() == oracle.address, "LeaseMarket.oracle is not the MeteringOracle")
    expect(market.assetRegistry() == registry.address, "LeaseMarket.assetRegistry is not the AssetRegistry")
    expect(market.settlementToken() == suite.stablecoin.address, "LeaseMarket.settlementToken is not the stablecoin")
    expect(suite.lease_positions.market() == market.address, "LeasePositions.market is not the LeaseMarket")
    expect(suite.lease_lens.market() == market.address, "LeaseMarketLens.market is not the LeaseMarket")
    expect(market.gracePeriod() == config.grace_period, "LeaseMarket.gracePeriod differs from the config")
    factory = suite.lending_factory
    expect(suite.valuation.leaseMarket() == market.address, "YieldValuation.leaseMarket is not the LeaseMarket")
    expect(
        investors.hasRole(investors.HOLDER_MANAGER_ROLE(), factory),
        "LendingFactory lacks HOLDER_MANAGER_ROLE on InvestorRegistry (markets could not hold collateral)",
    )
    expect(factory.isIrmEnabled(suite.irm), "LinearKinkIrm not enabled in the LendingFactory")
    expect(factory.isValuationEnabled(suite.valuation), "YieldValuation not enabled in the LendingFactory")
    for lltv in config.lltvs:
        expect(factory.isLltvEnabled(lltv), f"LLTV {lltv} not enabled in the LendingFactory")
    venue = suite.share_venue
    expect(venue.registry() == registry.address, "ShareVenue.registry is not the AssetRegistry")
    expect(investors.investorOf(venue)[3], "ShareVenue is not an approved holder in the InvestorRegistry")
    expect(not investors.hasRole(investors.HOLDER_MANAGER_ROLE(), suite.deployer), "deployer kept HOLDER_MANAGER_ROLE")
    expect(suite.lease_listings.market() == market.address, "LeaseListings.market is not the LeaseMarket")
    if suite.portfolio_lens is not None:
        expect(suite.portfolio_lens.leaseMarket() == market.address, "PortfolioLens.leaseMarket is not the LeaseMarket")
        expect(suite.portfolio_lens.lendingFactory() == factory.address, "PortfolioLens.lendingFactory is not the factory")
    if suite.dev_stablecoin:
        expect(suite.stablecoin.decimals() == 6, "DevStablecoin does not have 6 decimals")
        expect(
            suite.stablecoin.hasRole(suite.stablecoin.MINTER_ROLE(), suite.deployer), "deployer cannot mint DevStablecoin"
        )
    for check in suite.extra.get("_checks", []):
        problems.extend(check(suite))
    if problems:
        raise DeploymentCheckFailed(problems)


def write_deployment(suite: Suite, directory: Path = DEPLOYMENTS) -> Path:
    """Writes `<directory>/<chainId>.json`: chain id, block, and each contract's address and ABI."""
    from brownie import web3

    directory.mkdir(parents=True, exist_ok=True)
    document = {
        "chainId": suite.chain_id,
        "deployedAtBlock": web3.eth.block_number,
        "deployer": suite.deployer.address,
        "devStablecoin": suite.dev_stablecoin,
        "contracts": {
            name: {"address": contract.address, "abi": contract.abi}
            for name, contract in suite.contracts().items()
            if not name.startswith("_")
        },
    }
    path = directory / f"{suite.chain_id}.json"
    path.write_text(json.dumps(document, indent=1) + "\n")
    return path


def main() -> Suite:
    """`brownie run scripts/deploy.py`: deploy from the first account and write the deployment file."""
    from brownie import accounts

    suite = deploy_suite(accounts[0])
    path = write_deployment(suite)
    print(f"Wellhead deployed on chain {suite.chain_id}; checks passed; wrote {path.relative_to(ROOT)}")
    for name, contract in suite.contracts().items():
        if not name.startswith("_"):
            print(f"  {name:<20} {contract.address}")
    return suite


def _cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rpc-url", required=True, help="an already running local node (Anvil or Ganache)")
    parser.add_argument("--settlement-token", help="existing stablecoin address (default: deploy DevStablecoin)")
    parser.add_argument("--admin-delay", type=int, default=0, help="default-admin transfer delay in seconds")
    parser.add_argument("--out", type=Path, default=DEPLOYMENTS, help="folder for <chainId>.json")
    args = parser.parse_args(argv)

    from brownie import accounts

    from scripts.localnode import NodeError, attach_brownie, load_project

    # Outside `brownie run` nothing puts the project's contract containers into the `brownie` namespace, and
    # `deploy_suite` imports them from there (`from brownie import AssetRegistry, ...`): load_project does
    # what `brownie run` does before it runs a script.
    load_project()
    try:
        attach_brownie(args.rpc_url)
    except NodeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    suite = deploy_suite(
        accounts[0], SuiteConfig(admin_delay=args.admin_delay, settlement_token=args.settlement_token)
    )
    path = write_deployment(suite, args.out)
    print(f"Wellhead deployed on chain {suite.chain_id} at {args.rpc_url}; checks passed; wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(_cli())
