"""Deploys the Wellhead suite, checks it, and writes `deployments/<chainId>.json` for the daemon and clients.

Usage (after `make build`; the script needs the project's venv, where brownie is installed):
    make deploy RPC_URL=http://127.0.0.1:8545                        # an already running Anvil or Ganache
    .venv/bin/python scripts/deploy.py --rpc-url http://127.0.0.1:8545 [flags]
    .venv/bin/python scripts/deploy.py --rpc-url https://rpc.example/KEY --settlement-token 0x.. \
        --keystore deployer.json --password-file deployer.pass --signer 0x.. --signer 0x.. --threshold 2 \
        --admin-delay 172800                                          # a non-local chain
    brownie run scripts/deploy.py                                    # on the Anvil brownie starts itself

On a local chain (31337, 1337) a DevStablecoin is deployed as the settlement token and the node's first
account deploys; on any other chain pass the real stablecoin (`--settlement-token`) and the deployer's
keystore, and an existing manifest is only overwritten with `--force`. `brownie run` on a network brownie
treats as live is refused with a pointer to this command (brownie 1.22 cannot record deployments there).
Other modules (tests, demo, benches) call `deploy_suite`. To record a new contract in the manifest, add a
row to `RECORDED` (and its attribute to `Suite`, or put it in `Suite.extra`).
"""

from __future__ import annotations

import argparse
import json
import os
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

#: The manifest's `contracts`: name in the manifest -> attribute of `Suite`, in deployment order. A new
#: contract (a venue, a lens) adds one row here.
RECORDED: list[tuple[str, str]] = [
    ("SettlementToken", "stablecoin"),
    ("InvestorRegistry", "investor_registry"),
    ("AssetSharesFactory", "shares_factory"),
    ("AssetRegistry", "asset_registry"),
    ("MeteringOracle", "oracle"),
    ("LeaseMarket", "lease_market"),
    ("LeasePositions", "lease_positions"),
    ("LeaseMarketLens", "lease_lens"),
    ("YieldValuation", "valuation"),
    ("LinearKinkIrm", "irm"),
    ("LendingFactory", "lending_factory"),
    ("ShareVenue", "share_venue"),
    ("LeaseListings", "lease_listings"),
]

#: Contracts deployed per asset or per market: the manifest carries their ABIs under `abis`, and where they
#: are under `assets` / `markets` (and `discovery` says how to find them on-chain).
PER_INSTANCE_ABIS = ("AssetShares", "LendingMarket")

#: Seconds of the two-step default-admin transfer on a non-local chain unless --admin-delay says otherwise.
LIVE_ADMIN_DELAY = 2 * 86_400

EXIT_USAGE = 2


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
    deployed_at_block: int | None = None  # the block of the suite's first deployment transaction
    share_venue: Any = None  # ShareVenue: order books for the share tokens (an approved holder)
    lease_listings: Any = None  # LeaseListings: lease positions sold for stablecoin

    def contracts(self) -> dict[str, Any]:
        """Name -> contract, in deployment order, for the deployment file (`RECORDED`, then `extra`)."""
        named = {name: getattr(self, attribute) for name, attribute in RECORDED}
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
        stablecoin = Contract.from_abi("SettlementToken", config.settlement_token, DevStablecoin.abi, persist=False)

    investor_registry = InvestorRegistry.deploy(config.admin_delay, deployer, tx)
    first_deployment = stablecoin if dev_stablecoin else investor_registry
    deployed_at_block = first_deployment.tx.block_number if first_deployment.tx is not None else None
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
    # persist=False: on a network brownie treats as live, recording the deployment fails in brownie 1.22
    # ("dict object expected; got Sources"); the manifest is the record.
    lease_positions = LeasePositions.at(lease_market.positions(), persist=False)
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
        deployed_at_block=deployed_at_block,
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
    """Writes `<directory>/<chainId>.json`: what a client needs (the format is in deployments/README.md).

    `deployedAtBlock` is the block of the suite's first deployment transaction (where log queries start);
    `contracts` each recorded contract's address and ABI; `abis` the ABIs of the contracts deployed per
    asset or market; `assets` every asset registered so far with its share token (the admin CLI adds the
    next ones, and `discovery` says how to find them on-chain).
    """
    from brownie import web3
    from brownie.project import get_loaded_projects

    from oracle.admin.manifest import DISCOVERY

    containers = get_loaded_projects()[0]
    registry = suite.asset_registry
    assets = {
        str(asset_id): {"shares": str(registry.sharesOf(asset_id)), "registeredAtBlock": None}
        for asset_id in range(1, int(registry.assetCount()) + 1)
    }
    directory.mkdir(parents=True, exist_ok=True)
    document = {
        "chainId": suite.chain_id,
        "deployedAtBlock": suite.deployed_at_block if suite.deployed_at_block is not None else web3.eth.block_number,
        "deployer": suite.deployer.address,
        "devStablecoin": suite.dev_stablecoin,
        "contracts": {
            name: {"address": contract.address, "abi": contract.abi}
            for name, contract in suite.contracts().items()
            if not name.startswith("_")
        },
        "abis": {name: containers[name].abi for name in PER_INSTANCE_ABIS},
        "assets": assets,
        "markets": [],
        "discovery": DISCOVERY,
    }
    path = directory / f"{suite.chain_id}.json"
    path.write_text(json.dumps(document, indent=1) + "\n")
    return path


def main() -> Suite | None:
    """`brownie run scripts/deploy.py`: deploy from the first account and write the deployment file (into
    `$WELLHEAD_DEPLOYMENTS` when set, else deployments/). Refused on a network brownie treats as live."""
    from brownie import accounts
    from brownie._config import CONFIG

    if CONFIG.network_type == "live":
        print(
            f"error: `brownie run` on the live network '{CONFIG.active_network['id']}' is not supported (brownie "
            "1.22 cannot record deployments there); run: make deploy RPC_URL=<the node's URL>",
            file=sys.stderr,
        )
        raise SystemExit(EXIT_USAGE)
    suite = deploy_suite(accounts[0])
    path = write_deployment(suite, Path(os.environ.get("WELLHEAD_DEPLOYMENTS", DEPLOYMENTS)))
    print(f"Wellhead deployed on chain {suite.chain_id}; checks passed; wrote {path}")
    for name, contract in suite.contracts().items():
        if not name.startswith("_"):
            print(f"  {name:<20} {contract.address}")
    return suite


class UsageError(Exception):
    """A flag, the node or the chain does not allow this deployment; its message is the one line shown."""


def _shown_url(url: str) -> str:
    """`scheme://host:port/...` of a URL: never its path, query or credentials (they may hold an API key)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    tail = "/..." if (parts.path not in ("", "/") or parts.query) else ""
    return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}{tail}"


def _address(value: str, flag: str) -> str:
    from eth_utils import is_address, to_checksum_address

    if not is_address(value):
        raise UsageError(f"{flag} {value!r} is not an address")
    return to_checksum_address(value)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rpc-url", required=True, help="the node (a trailing slash or path is fine)")
    parser.add_argument("--settlement-token", help="existing stablecoin address (required on a non-local chain)")
    parser.add_argument("--admin-delay", type=int, help=f"default-admin transfer delay in seconds (default: 0 on a "
                        f"local chain, {LIVE_ADMIN_DELAY} elsewhere)")
    parser.add_argument("--signer", action="append", default=[], help="an oracle signer (repeat; default: the deployer)")
    parser.add_argument("--threshold", type=int, default=1, help="signatures an oracle report needs (default 1)")
    parser.add_argument("--genesis", type=int, help="start of oracle epoch 0, Unix seconds (default: this hour)")
    parser.add_argument("--epoch-length", type=int, default=3600, help="oracle epoch length in seconds")
    parser.add_argument("--grace-period", type=int, default=6 * 3600, help="seconds before an unreported epoch voids")
    parser.add_argument("--compliance", help="COMPLIANCE_ROLE holder (default: the deployer)")
    parser.add_argument("--registrar", help="REGISTRAR_ROLE holder (default: the deployer)")
    parser.add_argument("--oracle-admin", help="ORACLE_ADMIN_ROLE holder (default: the deployer)")
    parser.add_argument("--keystore", type=Path, help="the deployer's encrypted keystore (required on a non-local chain)")
    parser.add_argument("--password-file", type=Path, help="the keystore's password")
    parser.add_argument("--force", action="store_true", help="overwrite the manifest of a non-local chain")
    parser.add_argument("--out", type=Path, default=DEPLOYMENTS, help="folder for <chainId>.json")
    return parser


def _plan(args: argparse.Namespace) -> tuple[int, SuiteConfig, Path]:
    """Checks the flags against the node before anything is deployed: (chain id, config, manifest path).

    Raises:
        UsageError: with the one line to show.
    """
    from scripts.localnode import NodeError, rpc_call, split_local_url

    try:
        split_local_url(args.rpc_url)
        chain_id = int(str(rpc_call(args.rpc_url, "eth_chainId", timeout=10.0)), 16)
    except (OSError, ValueError, NodeError) as exc:
        reason = exc.reason if hasattr(exc, "reason") else exc
        raise UsageError(f"no node answers at {_shown_url(args.rpc_url)} ({type(exc).__name__}: "
                         f"{str(reason).replace(args.rpc_url, _shown_url(args.rpc_url))})") from None
    local = chain_id in LOCAL_CHAIN_IDS
    token = _address(args.settlement_token, "--settlement-token") if args.settlement_token else None
    if not local and token is None:
        raise UsageError(f"chain {chain_id} is not local: pass the real stablecoin with --settlement-token")
    if token is not None and rpc_call(args.rpc_url, "eth_getCode", [token, "latest"]) in ("0x", "0x0", None):
        raise UsageError(f"--settlement-token {token} has no code on chain {chain_id}")
    if not local and args.keystore is None:
        raise UsageError(f"chain {chain_id} is not local: the deployer signs with --keystore FILE --password-file FILE")
    path = args.out / f"{chain_id}.json"
    if not local and path.exists() and not args.force:
        raise UsageError(f"{path} exists: it records a deployment on chain {chain_id}; pass --force to overwrite it")
    if args.threshold < 1 or args.threshold > max(1, len(args.signer)):
        raise UsageError(f"--threshold {args.threshold} does not fit {max(1, len(args.signer))} signer(s)")
    config = SuiteConfig(
        admin_delay=args.admin_delay if args.admin_delay is not None else (0 if local else LIVE_ADMIN_DELAY),
        settlement_token=token,
        compliance=_address(args.compliance, "--compliance") if args.compliance else None,
        registrar=_address(args.registrar, "--registrar") if args.registrar else None,
        oracle_genesis=args.genesis,
        epoch_length=args.epoch_length,
        oracle_signers=[_address(a, "--signer") for a in args.signer],
        oracle_threshold=args.threshold,
        oracle_admin=_address(args.oracle_admin, "--oracle-admin") if args.oracle_admin else None,
        grace_period=args.grace_period,
    )
    return chain_id, config, path


def _brownie_records_nothing() -> None:
    """On a live network brownie 1.22 records every deployment twice, and both fail or go stale: in
    ~/.brownie/deployments.db (`TypeError: dict object expected; got Sources`) and in build/deployments/<chainId>
    (`TypeError` on its deployment map; then `ContractNotFound` on every later connection once that chain was
    reset). The manifest is this script's record, so brownie's are switched off for this process."""
    import brownie.network.contract as brownie_contract

    brownie_contract._add_deployment = lambda *args, **kwargs: None
    brownie_contract.ProjectContract._deployment_path = lambda self: None


def _connect(args: argparse.Namespace, chain_id: int) -> Any:
    """Connects brownie to the node and returns the deployer account."""
    from brownie import accounts, network
    from brownie._config import CONFIG

    from scripts.localnode import _price_transactions_for_node, attach_brownie, settle_before_judging_drops

    if chain_id in LOCAL_CHAIN_IDS:
        attach_brownie(args.rpc_url)
    else:
        # A live network of our own, in memory (never in ~/.brownie/network-config.yaml).
        _brownie_records_nothing()
        CONFIG.networks["wellhead-deploy"] = {"id": "wellhead-deploy", "name": "wellhead-deploy",
                                              "host": args.rpc_url, "chainid": str(chain_id)}
        if network.is_connected():
            network.disconnect(kill_rpc=False)
        network.connect("wellhead-deploy")
        settle_before_judging_drops()
        _price_transactions_for_node()
    if args.keystore is None:
        return accounts[0]
    try:
        password = args.password_file.read_text().rstrip("\n") if args.password_file else None
        return accounts.load(str(args.keystore.resolve()), password=password)
    except (OSError, ValueError) as exc:
        raise UsageError(f"the deployer's keystore {args.keystore} cannot be used: {exc}") from None


def _cli(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        import brownie  # noqa: F401  (the deployment is compiled and sent by brownie)
    except ImportError:
        print("error: brownie is not installed in this Python: run `make build`, then "
              "`make deploy RPC_URL=...` or `.venv/bin/python scripts/deploy.py ...`", file=sys.stderr)
        return EXIT_USAGE
    from scripts.localnode import NodeError, detach_brownie, load_project

    try:
        chain_id, config, path = _plan(args)
        # Outside `brownie run` nothing puts the project's contract containers into the `brownie` namespace,
        # and `deploy_suite` imports them from there: load_project does what `brownie run` does first.
        load_project()
        deployer = _connect(args, chain_id)
    except (UsageError, NodeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        suite = deploy_suite(deployer, config)
        path = write_deployment(suite, args.out)
    finally:
        detach_brownie()
    print(f"Wellhead deployed on chain {suite.chain_id} at {_shown_url(args.rpc_url)} from block "
          f"{suite.deployed_at_block}; checks passed; wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(_cli())
