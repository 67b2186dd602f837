"""``wellhead-admin`` / ``python -m oracle admin``: every admin step of the operator guide, one subcommand each.

Each subcommand reads the deployment manifest, builds its call from the deployed ABI, shows what it will send,
asks for confirmation on a non-local chain (``--yes`` skips it), signs with the given key and prints the
mined transaction's events. A contract's refusal is printed in words (exit 1); a bad file, flag or key is
named (exit 2); an unreachable node exits 4.

    register-asset FILE          [asset] of an asset file           AssetRegistry.registerAsset   REGISTRAR_ROLE
    set-signers --signer A ... --threshold N                        MeteringOracle.setSigners     ORACLE_ADMIN_ROLE
    start-reporting ASSET [--first-epoch E]                         MeteringOracle.startReporting ORACLE_ADMIN_ROLE
    investor add|renew ADDRESS --kyc-expiry DATE --jurisdiction N   InvestorRegistry              COMPLIANCE_ROLE
    investor revoke ADDRESS
    configure-valuation FILE --asset ID   [valuation]               YieldValuation.configure      VALUATION_ADMIN_ROLE
    lending enable|disable --irm X --valuation X --lltv F            LendingFactory.set*Enabled    MARKET_ADMIN_ROLE
    create-market FILE            [market] of a market file         LendingFactory.createMarket   anyone
    open-offering FILE --asset ID [offering]                        AssetShares.openOffering      the operator
    create-offers FILE --asset ID [[lease_offers]]                  LeaseMarket.createOffer       the operator
    sync                          rewrite the manifest's assets and markets from the chain
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
from pathlib import Path
from typing import Any

from eth_utils.address import is_address, to_checksum_address

from oracle.admin.manifest import AssetRecord, MarketRecord, save_manifest
from oracle.admin.session import AdminSession, AdminSettings
from oracle.admin.specs import (
    LEASE_CLASSES,
    TIERS,
    AssetFile,
    MarketFile,
    load_spec,
    to_base_units,
    to_struct,
)
from oracle.errors import (
    AdminError,
    ChainUnavailable,
    ConfigError,
    KeystoreError,
    TransactionReverted,
    WellheadError,
)

__all__ = ["build_parser", "main", "register"]

logger = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 4


# --- the steps ---------------------------------------------------------------------------------------


SHARE_DECIMALS = 18
"""Every AssetShares token has 18 decimals; spec files count whole shares."""


def _decimals(session: AdminSession) -> int:
    return int(session.read("SettlementToken", "decimals"))


def register_asset(session: AdminSession, path: Path) -> int:
    """``[asset]`` -> ``AssetRegistry.registerAsset``; records the share token in the manifest."""
    spec = load_spec(path, AssetFile).asset
    if spec is None:
        raise ConfigError(f"{path}: no [asset] section")
    decimals = _decimals(session)
    values = spec.model_dump()
    values.update(
        operator=_address(spec.operator, "asset.operator"),
        tier=TIERS[spec.tier],
        energy_tariff_per_kwh=to_base_units(spec.energy_tariff_per_kwh, decimals, "asset.energy_tariff_per_kwh"),
        metadata_hash=bytes.fromhex(spec.metadata_hash[2:]),
        max_share_supply=spec.max_share_supply * 10**SHARE_DECIMALS,
    )
    params = to_struct(values, session.struct_components("AssetRegistry", "registerAsset", 0), "AssetParams")
    sent = session.send("AssetRegistry", "registerAsset", [params], what=f"register asset {spec.shares_symbol}")
    event = sent.event("AssetRegistered")
    asset_id, shares = int(event["assetId"]), str(event["shares"])
    session.manifest.assets[str(asset_id)] = AssetRecord(shares=shares, registeredAtBlock=sent.block)
    save_manifest(session.manifest, session.manifest_path)
    session.out.write(f"asset {asset_id} registered; shares {shares}; recorded in {session.manifest_path}\n")
    return EXIT_OK


def set_signers(session: AdminSession, signers: list[str], threshold: int) -> int:
    """``MeteringOracle.setSigners``: the whole new set (sorted ascending, as the contract requires)."""
    addresses = sorted({_address(s, "--signer") for s in signers}, key=lambda a: int(a, 16))
    if len(addresses) != len(signers):
        raise ConfigError("--signer: the same address is given twice")
    session.send("MeteringOracle", "setSigners", [addresses, threshold],
                 what=f"set the oracle's signers ({threshold} of {len(addresses)})")
    return EXIT_OK


def start_reporting(session: AdminSession, asset_id: int, first_epoch: int | None) -> int:
    """``MeteringOracle.startReporting``; the first epoch defaults to the one in progress."""
    if first_epoch is None:
        now = int(session.w3.eth.get_block("latest")["timestamp"])
        first_epoch = int(session.read("MeteringOracle", "epochAt", now))
    session.send("MeteringOracle", "startReporting", [asset_id, first_epoch],
                 what=f"start reporting asset {asset_id} from epoch {first_epoch}")
    return EXIT_OK


def investor(session: AdminSession, action: str, address: str, kyc_expiry: int | None, jurisdiction: int | None) -> int:
    """``InvestorRegistry.addInvestor`` / ``renewInvestor`` / ``revokeInvestor``."""
    who = _address(address, "investor address")
    if action == "revoke":
        session.send("InvestorRegistry", "revokeInvestor", [who], what=f"revoke investor {who}")
        return EXIT_OK
    if kyc_expiry is None or jurisdiction is None:
        raise ConfigError(f"investor {action} needs --kyc-expiry and --jurisdiction")
    function = "addInvestor" if action == "add" else "renewInvestor"
    session.send("InvestorRegistry", function, [who, kyc_expiry, jurisdiction],
                 what=f"{action} investor {who} until {_date(kyc_expiry)} in jurisdiction {jurisdiction}")
    return EXIT_OK


def configure_valuation(session: AdminSession, path: Path, asset_id: int) -> int:
    """``[valuation]`` -> ``YieldValuation.configure``."""
    spec = load_spec(path, AssetFile).valuation
    if spec is None:
        raise ConfigError(f"{path}: no [valuation] section")
    values = spec.model_dump()
    decimals = _decimals(session)
    price = to_base_units(values.pop("initial_price"), decimals, "valuation.initial_price")
    values["reference_price_per_gpu_hour"] = to_base_units(
        spec.reference_price_per_gpu_hour, decimals, "valuation.reference_price_per_gpu_hour"
    )
    params = to_struct(values, session.struct_components("YieldValuation", "configure", 1), "ValuationParams")
    session.send("YieldValuation", "configure", [asset_id, params, price],
                 what=f"configure the valuation of asset {asset_id}")
    return EXIT_OK


def lending(session: AdminSession, enable: bool, irms: list[str], valuations: list[str], lltvs: list[str]) -> int:
    """``LendingFactory.setIrmEnabled`` / ``setValuationEnabled`` / ``setLltvEnabled``, one transaction each."""
    from decimal import Decimal, InvalidOperation

    if not (irms or valuations or lltvs):
        raise ConfigError("lending: give at least one --irm, --valuation or --lltv")
    verb = "enable" if enable else "disable"
    for irm in irms:
        address = session.manifest.resolve(irm)
        session.send("LendingFactory", "setIrmEnabled", [address, enable], what=f"{verb} IRM {irm}")
    for valuation in valuations:
        address = session.manifest.resolve(valuation)
        session.send("LendingFactory", "setValuationEnabled", [address, enable], what=f"{verb} valuation {valuation}")
    for text in lltvs:
        try:
            fraction = Decimal(text)
        except InvalidOperation:
            raise ConfigError(f"--lltv {text!r} is not a fraction such as 0.625") from None
        if not 0 < fraction < 1:
            raise ConfigError(f"--lltv {text} must be between 0 and 1 (e.g. 0.625)")
        session.send("LendingFactory", "setLltvEnabled", [to_base_units(fraction, 18, "--lltv"), enable],
                     what=f"{verb} LLTV {text}")
    return EXIT_OK


def create_market(session: AdminSession, path: Path) -> int:
    """``[market]`` -> ``LendingFactory.createMarket``; records the market in the manifest."""
    spec = load_spec(path, MarketFile).market
    if spec.asset_id is not None:
        collateral = to_checksum_address(session.read("AssetRegistry", "sharesOf", spec.asset_id))
        if int(collateral, 16) == 0:
            raise AdminError(f"asset {spec.asset_id} is not registered (AssetRegistry.sharesOf is zero)")
    else:
        collateral = _address(str(spec.collateral_token), "market.collateral_token")
    values = {
        "loanToken": session.manifest.resolve(spec.loan_token),
        "collateralToken": collateral,
        "valuation": session.manifest.resolve(spec.valuation),
        "irm": session.manifest.resolve(spec.irm),
        "lltv": spec.lltv_wad,
    }
    params = to_struct(values, session.struct_components("LendingFactory", "createMarket", 0), "MarketParams")
    sent = session.send("LendingFactory", "createMarket", [params], what=f"create a lending market (LLTV {spec.lltv})")
    market = str(sent.event("MarketCreated")["market"])
    session.manifest.markets.append(
        MarketRecord(address=market, assetId=spec.asset_id, collateralToken=collateral, loanToken=values["loanToken"],
                     valuation=values["valuation"], irm=values["irm"], lltv=values["lltv"], createdAtBlock=sent.block)
    )
    save_manifest(session.manifest, session.manifest_path)
    session.out.write(f"market {market} created; recorded in {session.manifest_path}\n")
    return EXIT_OK


def open_offering(session: AdminSession, path: Path, asset_id: int) -> int:
    """``[offering]`` -> ``AssetShares.openOffering`` (signed by the asset's operator)."""
    spec = load_spec(path, AssetFile).offering
    if spec is None:
        raise ConfigError(f"{path}: no [offering] section")
    shares = _shares_of(session, asset_id)
    price = to_base_units(spec.price_per_share, _decimals(session), "offering.price_per_share")
    cap = spec.cap_shares * 10 ** int(session.read("AssetShares", "decimals", address=shares))
    session.send("AssetShares", "openOffering", [price, cap, spec.closes_at], address=shares,
                 what=f"open an offering of {spec.cap_shares:,} shares of asset {asset_id} until {_date(spec.closes_at)}")
    return EXIT_OK


def create_offers(session: AdminSession, path: Path, asset_id: int) -> int:
    """Each ``[[lease_offers]]`` -> ``LeaseMarket.createOffer`` (signed by the asset's operator)."""
    offers = load_spec(path, AssetFile).lease_offers
    if not offers:
        raise ConfigError(f"{path}: no [[lease_offers]]")
    decimals = _decimals(session)
    terms_components = session.struct_components("LeaseMarket", "createOffer", 0)
    pricing_components = next(c["components"] for c in terms_components if c["name"] == "pricing")
    for index, offer in enumerate(offers):
        where = f"lease_offers[{index}]"
        dynamic = offer.dynamic_pricing
        pricing = {
            "enabled": dynamic is not None,
            "targetUtilizationBps": dynamic.target_utilization_bps if dynamic else 0,
            "maxChangeBps": dynamic.max_change_bps if dynamic else 0,
            "minPricePerGpuHour": to_base_units(dynamic.min_price_per_gpu_hour, decimals, where) if dynamic else 0,
            "maxPricePerGpuHour": to_base_units(dynamic.max_price_per_gpu_hour, decimals, where) if dynamic else 0,
        }
        values = offer.model_dump(exclude={"dynamic_pricing", "lease_class"})
        values.update(
            asset_id=asset_id,
            price_per_gpu_hour=to_base_units(offer.price_per_gpu_hour, decimals, f"{where}.price_per_gpu_hour"),
            lease_class=LEASE_CLASSES[offer.lease_class],
            pricing=to_struct(pricing, pricing_components, "DynamicPricing"),
        )
        terms = to_struct(values, terms_components, "OfferTerms")
        sent = session.send("LeaseMarket", "createOffer", [terms],
                            what=f"offer {offer.gpus} GPUs of asset {asset_id} ({offer.lease_class})")
        created = next((args for name, args in sent.events if name == "OfferCreated"), None)
        if created is not None:
            session.out.write(f"offer {created.get('offerId')} created\n")
    return EXIT_OK


def sync(session: AdminSession) -> int:
    """Rewrites the manifest's ``assets`` and ``markets`` from the chain (the authority)."""
    count = int(session.read("AssetRegistry", "assetCount"))
    registered = {}
    for event in _logs(session, "AssetRegistry", "AssetRegistered"):
        registered[int(event["args"]["assetId"])] = int(event["blockNumber"])
    assets = {}
    for asset_id in range(1, count + 1):
        shares = to_checksum_address(session.read("AssetRegistry", "sharesOf", asset_id))
        assets[str(asset_id)] = AssetRecord(shares=shares, registeredAtBlock=registered.get(asset_id))
    by_shares = {record.shares: int(asset_id) for asset_id, record in assets.items()}
    markets = []
    for event in _logs(session, "LendingFactory", "MarketCreated"):
        p = event["args"]["params"]
        collateral = to_checksum_address(p["collateralToken"])
        markets.append(MarketRecord(
            address=to_checksum_address(event["args"]["market"]), assetId=by_shares.get(collateral),
            collateralToken=collateral, loanToken=to_checksum_address(p["loanToken"]),
            valuation=to_checksum_address(p["valuation"]), irm=to_checksum_address(p["irm"]), lltv=int(p["lltv"]),
            createdAtBlock=int(event["blockNumber"]),
        ))
    session.manifest.assets, session.manifest.markets = assets, markets
    save_manifest(session.manifest, session.manifest_path)
    session.out.write(f"{session.manifest_path}: {len(assets)} asset(s), {len(markets)} market(s)\n")
    return EXIT_OK


# --- helpers -----------------------------------------------------------------------------------------


def _logs(session: AdminSession, name: str, event: str) -> list[Any]:
    contract = session.contract(name)
    return list(contract.events[event]().get_logs(from_block=session.manifest.deployed_at_block))


def _shares_of(session: AdminSession, asset_id: int) -> str:
    shares = to_checksum_address(session.read("AssetRegistry", "sharesOf", asset_id))
    if int(shares, 16) == 0:
        raise AdminError(f"asset {asset_id} is not registered (AssetRegistry.sharesOf is zero)")
    return shares


def _address(value: str, what: str) -> str:
    if not is_address(value):
        raise ConfigError(f"{what}: {value!r} is not an address")
    return to_checksum_address(value)


def _date(timestamp: int) -> str:
    return dt.datetime.fromtimestamp(timestamp, tz=dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _time(text: str) -> int:
    """``--kyc-expiry``: a date (``2027-06-30``, midnight UTC), an ISO time with a zone, or Unix seconds."""
    if text.isdigit():
        return int(text)
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (2027-06-30), a time or Unix seconds") from None
    if parsed.tzinfo is None:
        if len(text) > 10:
            raise argparse.ArgumentTypeError(f"{text!r} has no time zone (add Z)")
        parsed = parsed.replace(tzinfo=dt.UTC)
    return int(parsed.timestamp())


# --- the command line --------------------------------------------------------------------------------


def _common(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("connection and key (or WELLHEAD_ADMIN_* variables)")
    group.add_argument("--rpc-url", help="the node (default http://127.0.0.1:8545; secret: never printed)")
    group.add_argument("--deployment", type=Path, help="the manifest (default deployments/<chainId>.json)")
    group.add_argument("--keystore", type=Path, help="eth-account encrypted keystore that signs")
    group.add_argument("--password-file", type=Path, help="the keystore's password (else asked on the terminal)")
    group.add_argument("--dev-account", type=int, help="local chains only: development account N signs")
    group.add_argument("--yes", action="store_true", default=None, help="do not ask for confirmation")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser], name: str = "admin") -> None:
    """Adds ``admin`` (with its own subcommands) to a command line's subparsers."""
    parser = subparsers.add_parser(name, help="admin steps: assets, signers, investors, valuations, markets, offers",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_steps(parser)


def _add_steps(parser: argparse.ArgumentParser) -> None:
    steps = parser.add_subparsers(dest="step", required=True, metavar="STEP")

    p = steps.add_parser("register-asset", help="register the [asset] of an asset file")
    p.add_argument("file", type=Path)
    p.set_defaults(admin=lambda s, a: register_asset(s, a.file))

    p = steps.add_parser("set-signers", help="set the oracle's whole signer set and threshold")
    p.add_argument("--signer", action="append", required=True, help="one signer address (repeat for each)")
    p.add_argument("--threshold", type=int, required=True)
    p.set_defaults(admin=lambda s, a: set_signers(s, a.signer, a.threshold))

    p = steps.add_parser("start-reporting", help="let the oracle take reports of an asset")
    p.add_argument("asset", type=int)
    p.add_argument("--first-epoch", type=int, help="default: the epoch in progress")
    p.set_defaults(admin=lambda s, a: start_reporting(s, a.asset, a.first_epoch))

    p = steps.add_parser("investor", help="add, renew or revoke a verified investor")
    p.add_argument("action", choices=("add", "renew", "revoke"))
    p.add_argument("address")
    p.add_argument("--kyc-expiry", type=_time, help="2027-06-30 (midnight UTC), an ISO time or Unix seconds")
    p.add_argument("--jurisdiction", type=int, help="ISO 3166-1 numeric country code (756: Switzerland)")
    p.set_defaults(admin=lambda s, a: investor(s, a.action, a.address, a.kyc_expiry, a.jurisdiction))

    p = steps.add_parser("configure-valuation", help="configure the [valuation] of an asset file")
    p.add_argument("file", type=Path)
    p.add_argument("--asset", type=int, required=True)
    p.set_defaults(admin=lambda s, a: configure_valuation(s, a.file, a.asset))

    p = steps.add_parser("lending", help="enable or disable IRMs, valuations and LLTVs in the lending factory")
    p.add_argument("action", choices=("enable", "disable"))
    p.add_argument("--irm", action="append", default=[], help="contract name or address")
    p.add_argument("--valuation", action="append", default=[], help="contract name or address")
    p.add_argument("--lltv", action="append", default=[], help="a fraction, e.g. 0.625")
    p.set_defaults(admin=lambda s, a: lending(s, a.action == "enable", a.irm, a.valuation, a.lltv))

    p = steps.add_parser("create-market", help="create the [market] of a market file")
    p.add_argument("file", type=Path)
    p.set_defaults(admin=lambda s, a: create_market(s, a.file))

    p = steps.add_parser("open-offering", help="open the [offering] of an asset file (the operator signs)")
    p.add_argument("file", type=Path)
    p.add_argument("--asset", type=int, required=True)
    p.set_defaults(admin=lambda s, a: open_offering(s, a.file, a.asset))

    p = steps.add_parser("create-offers", help="create the [[lease_offers]] of an asset file (the operator signs)")
    p.add_argument("file", type=Path)
    p.add_argument("--asset", type=int, required=True)
    p.set_defaults(admin=lambda s, a: create_offers(s, a.file, a.asset))

    p = steps.add_parser("sync", help="rewrite the manifest's assets and markets from the chain")
    p.set_defaults(admin=lambda s, a: sync(s))

    for step in steps.choices.values():
        _common(step)
        step.set_defaults(handler=run_step)


def run_step(args: argparse.Namespace, *, out: Any = None) -> int:
    """Opens a session from the flags and the environment and runs the chosen step; errors become exit codes."""
    stdout = out or sys.stdout
    flags = {k: getattr(args, k) for k in ("rpc_url", "deployment", "keystore", "password_file", "dev_account", "yes")
             if getattr(args, k, None) is not None}
    try:
        settings = AdminSettings(**flags)
        session = AdminSession.open(settings, out=stdout)
        return int(args.admin(session, args))
    except TransactionReverted as exc:
        sys.stderr.write(f"wellhead-admin {args.step}: {exc.words}\n")
        return EXIT_FAILED
    except ChainUnavailable as exc:
        sys.stderr.write(f"wellhead-admin {args.step}: {exc}\n")
        return EXIT_UNREACHABLE
    except (ConfigError, AdminError, KeystoreError) as exc:
        sys.stderr.write(f"wellhead-admin {args.step}: error: {exc}\n")
        return EXIT_USAGE
    except WellheadError as exc:
        sys.stderr.write(f"wellhead-admin {args.step}: failed: {exc}\n")
        return EXIT_FAILED


def build_parser() -> argparse.ArgumentParser:
    """The ``wellhead-admin`` parser."""
    parser = argparse.ArgumentParser(prog="wellhead-admin", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--log-level", default="WARNING", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    _add_steps(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """The ``wellhead-admin`` console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run_step(args)
