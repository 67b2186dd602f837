"""LendingFactory: permissionless creation from admin-enabled parameters only, every revert with its exact
error, the admin switches and their events, and the market approved as a share holder."""

from __future__ import annotations

import pytest
from brownie import DevStablecoin, LendingFactory, LendingMarket
from eth_abi import encode as abi_encode
from eth_utils import keccak

from tests.contracts.lending._world import LLTV_50, LLTV_625, MARGIN, WAD, lif
from tests.support.events import assert_event
from tests.support.reverts import reverts_with

LLTV_10 = 10**17
LLTV_77 = 77 * 10**16


def market_id(params: tuple) -> bytes:
    """keccak256(abi.encode(MarketParams)): a static struct encodes as its five words."""
    loan, collateral, valuation, irm, lltv = params
    words = [str(getattr(x, "address", x)) for x in (loan, collateral, valuation, irm)] + [lltv]
    return keccak(abi_encode(["address", "address", "address", "address", "uint256"], words))


@pytest.fixture
def params(world):
    """A parameter set no market has yet: the kink IRM at LLTV 50%."""
    return (world.coin, world.token, world.valuation, world.irm, LLTV_50)


# ------------------------------------------------------------------------------------------ creation


def test_create_market_by_anyone_deploys_emits_and_approves_holder(world, params):
    a, factory, investors = world.actors, world.factory, world.suite.investor_registry
    before = list(factory.markets())

    # Mallory is not even a verified investor: creation is permissionless.
    tx = factory.createMarket(params, {"from": a.mallory})

    address = tx.return_value
    mid = market_id(params)
    assert factory.marketId(params) == "0x" + mid.hex()
    assert factory.marketOf(mid) == address
    assert list(factory.markets()) == before + [address]
    assert_event(tx, "MarketCreated", emitter=factory, id=mid, market=address, params=list(params))
    # The factory (holder manager) approves the market as a share holder in the same transaction.
    assert_event(tx, "HolderApprovalSet", emitter=investors, holder=address, approved=True)
    assert investors.canHold(address)
    assert investors.investorOf(address)[3] is True  # approvedHolder


def test_created_market_takes_its_parameters_and_the_current_margin(world, params):
    tx = world.factory.createMarket(params, {"from": world.actors.keeper})
    m = LendingMarket.at(tx.return_value)

    assert m.loanToken() == world.coin and m.asset() == world.coin
    assert m.collateralToken() == world.token
    assert m.assetId() == world.asset_id == 1
    assert m.valuation() == world.valuation
    assert m.irm() == world.irm
    assert m.lltv() == LLTV_50
    # borrowLtv = LLTV - margin = 0.50 - 0.05 = 0.45
    assert m.borrowLtv() == 45 * 10**16
    # LIF = min(1.15, 1 / (1 - 0.3 x 0.5)) = min(1.15, 1.1765) = 1.15
    assert m.liquidationIncentiveFactor() == 115 * 10**16
    # The valuation quotes in the loan token, which is also the collateral's settlement token.
    assert m.yieldRepaysDebt() is True
    assert m.name() == "Wellhead Lending WH-H100-01"
    assert m.symbol() == "wlWH-H100-01"
    # 6 (dev-USD) + the 6-decimal virtual offset
    assert m.decimals() == 12
    assert m.totalAssets() == 0 and m.totalSupply() == 0 and m.totalCollateral() == 0


@pytest.mark.parametrize(
    "lltv, expected",
    [
        # 1 / (1 - 0.3 x 0.5) = 1.17647... capped at 1.15
        (LLTV_50, 1_150_000_000_000_000_000),
        # 1 / (1 - 0.3 x 0.375) = 1 / 0.8875 = 1.12676056338028169...
        (LLTV_625, 1_126_760_563_380_281_690),
        # 1 / (1 - 0.3 x 0.23) = 1 / 0.931 = 1.07411385606874328...
        (LLTV_77, 1_074_113_856_068_743_286),
        # 1 / (1 - 0.3 x 0.14) = 1 / 0.958 = 1.04384133611691022...
        (86 * 10**16, 1_043_841_336_116_910_229),
        # 1 / (1 - 0.3 x 0.085) = 1 / 0.9745 = 1.02616726526423807...
        (915 * 10**15, 1_026_167_265_264_238_070),
        # 1 / (1 - 0.3 x 0.055) = 1 / 0.9835 = 1.01677681748856126... (floored at each step)
        (945 * 10**15, 1_016_776_817_488_561_260),
    ],
)
def test_liquidation_incentive_factor_for_each_enabled_lltv(world, lltv, expected):
    if not world.factory.isLltvEnabled(lltv):
        world.factory.setLltvEnabled(lltv, True, {"from": world.actors.admin})
    existing = world.factory.marketOf(market_id((world.coin, world.token, world.valuation, world.flat_irm, lltv)))
    m = LendingMarket.at(existing) if int(existing, 16) else world.create_market(lltv, world.flat_irm)
    assert m.liquidationIncentiveFactor() == expected == lif(lltv)


def test_create_market_reverts_when_irm_not_enabled(world, params):
    other = world.actors.keeper  # any address that was never enabled
    bad = (params[0], params[1], params[2], other, params[4])
    with reverts_with(world.factory, "IrmNotEnabled", other):
        world.factory.createMarket(bad, {"from": world.actors.keeper})


def test_create_market_reverts_when_irm_was_disabled_but_existing_markets_keep_working(world, params, flat):
    a = world.actors
    world.factory.setIrmEnabled(world.flat_irm, False, {"from": a.admin})
    with reverts_with(world.factory, "IrmNotEnabled", world.flat_irm):
        world.factory.createMarket((params[0], params[1], params[2], world.flat_irm, LLTV_50), {"from": a.keeper})
    # The market made with it earlier is untouched.
    flat.deposit(1_000_000, a.bob, {"from": a.bob})
    assert flat.totalAssets() == 1_000_000


def test_create_market_reverts_when_valuation_not_enabled(world, params):
    a = world.actors
    world.factory.setValuationEnabled(world.valuation, False, {"from": a.admin})
    with reverts_with(world.factory, "ValuationNotEnabled", world.valuation):
        world.factory.createMarket(params, {"from": a.keeper})


def test_create_market_reverts_when_lltv_not_enabled(world, params):
    bad = params[:4] + (LLTV_77,)
    with reverts_with(world.factory, "LltvNotEnabled", LLTV_77):
        world.factory.createMarket(bad, {"from": world.actors.keeper})


def test_create_market_reverts_when_lltv_no_longer_leaves_room_for_the_margin(world, params):
    a = world.actors
    # LLTV 10% enabled under the 5% margin; then the margin rises to 20%.
    world.factory.setLltvEnabled(LLTV_10, True, {"from": a.admin})
    world.factory.setBorrowMargin(2 * 10**17, {"from": a.admin})
    with reverts_with(world.factory, "InvalidLltv", LLTV_10, 2 * 10**17):
        world.factory.createMarket(params[:4] + (LLTV_10,), {"from": a.keeper})


def test_create_market_reverts_when_loan_token_is_not_the_valuation_quote(world, params, actors):
    coin2 = DevStablecoin.deploy("Other USD", "oUSD", 0, actors.admin, {"from": actors.admin})
    bad = (coin2,) + params[1:]
    with reverts_with(world.factory, "LoanTokenMismatch", coin2, world.coin):
        world.factory.createMarket(bad, {"from": actors.keeper})


def test_create_market_reverts_when_valuation_not_configured_for_the_asset(world, params, actors):
    from scripts.samples import L40S_EDGE, register_asset

    edge = register_asset(world.suite, actors.admin, actors.operator2, L40S_EDGE)
    bad = (params[0], edge.shares, params[2], params[3], params[4])
    with reverts_with(world.factory, "ValuationNotConfigured", world.valuation, edge.asset_id):
        world.factory.createMarket(bad, {"from": actors.keeper})


def test_create_market_reverts_when_collateral_has_no_asset_id(world, params):
    # The stablecoin has no assetId(): the call reverts inside the try and is caught.
    bad = (params[0], world.coin, params[2], params[3], params[4])
    with reverts_with(world.factory, "NotAssetShares", world.coin):
        world.factory.createMarket(bad, {"from": world.actors.keeper})


def test_create_market_reverts_when_collateral_is_not_the_registry_share_token(world, params, flat):
    # A lending market answers assetId() == 1, but the registry's shares of asset 1 are another token.
    assert flat.assetId() == 1
    bad = (params[0], flat, params[2], params[3], params[4])
    with reverts_with(world.factory, "NotAssetShares", flat):
        world.factory.createMarket(bad, {"from": world.actors.keeper})


def test_create_market_reverts_not_asset_shares_when_collateral_is_not_a_contract(world, params):
    # An address without code would "answer" assetId() with no data, which fails to decode outside the try:
    # the factory checks for code first and reverts NotAssetShares like for any other non-share token.
    eoa = world.actors.mallory
    bad = (params[0], eoa, params[2], params[3], params[4])
    with reverts_with(world.factory, "NotAssetShares", eoa):
        world.factory.createMarket(bad, {"from": world.actors.keeper})
    # The zero address and a precompile have no code either.
    for nothing in ("0x" + "00" * 20, "0x" + "00" * 19 + "01"):
        with reverts_with(world.factory, "NotAssetShares", nothing):
            world.factory.createMarket((params[0], nothing) + params[2:], {"from": world.actors.keeper})


def test_create_market_reverts_when_market_exists(world, market):
    params = (world.coin, world.token, world.valuation, world.irm, LLTV_625)
    mid = market_id(params)
    assert world.factory.marketOf(mid) == market
    with reverts_with(world.factory, "MarketExists", mid, market):
        world.factory.createMarket(params, {"from": world.actors.keeper})


def test_create_market_checks_in_documented_order(world, actors):
    # Everything wrong at once: the IRM is checked first, then the valuation, then the LLTV.
    coin2 = DevStablecoin.deploy("Other USD", "oUSD", 0, actors.admin, {"from": actors.admin})
    k = actors.keeper
    with reverts_with(world.factory, "IrmNotEnabled", k):
        world.factory.createMarket((coin2, world.coin, k, k, 1), {"from": k})
    with reverts_with(world.factory, "ValuationNotEnabled", k):
        world.factory.createMarket((coin2, world.coin, k, world.irm, 1), {"from": k})
    with reverts_with(world.factory, "LltvNotEnabled", 1):
        world.factory.createMarket((coin2, world.coin, world.valuation, world.irm, 1), {"from": k})
    with reverts_with(world.factory, "NotAssetShares", world.coin):
        world.factory.createMarket((coin2, world.coin, world.valuation, world.irm, LLTV_50), {"from": k})
    with reverts_with(world.factory, "LoanTokenMismatch", coin2, world.coin):
        world.factory.createMarket((coin2, world.token, world.valuation, world.irm, LLTV_50), {"from": k})


def test_create_market_reverts_when_factory_cannot_approve_holders(world, params):
    investors, a = world.suite.investor_registry, world.actors
    role = investors.HOLDER_MANAGER_ROLE()
    investors.revokeRole(role, world.factory, {"from": a.admin})
    with reverts_with(investors, "AccessControlUnauthorizedAccount", world.factory, role):
        world.factory.createMarket(params, {"from": a.keeper})


def test_new_markets_use_the_margin_at_creation_and_old_ones_keep_theirs(world, params, flat):
    a = world.actors
    tx = world.factory.setBorrowMargin(10**17, {"from": a.admin})
    assert_event(tx, "BorrowMarginSet", borrowMarginWad=10**17)
    m = LendingMarket.at(world.factory.createMarket(params, {"from": a.keeper}).return_value)
    assert m.borrowLtv() == LLTV_50 - 10**17  # 0.40
    assert flat.borrowLtv() == LLTV_625 - MARGIN  # 0.575, unchanged


# ------------------------------------------------------------------------------------------ admin


def test_admin_switches_emit_and_take_effect(world):
    f, admin, k = world.factory, world.actors.admin, world.actors.keeper
    assert_event(f.setIrmEnabled(k, True, {"from": admin}), "IrmEnabled", irm=k, enabled=True)
    assert f.isIrmEnabled(k)
    assert_event(f.setIrmEnabled(k, False, {"from": admin}), "IrmEnabled", irm=k, enabled=False)
    assert_event(f.setValuationEnabled(k, True, {"from": admin}), "ValuationEnabled", valuation=k, enabled=True)
    assert f.isValuationEnabled(k)
    assert_event(f.setLltvEnabled(LLTV_77, True, {"from": admin}), "LltvEnabled", lltv=LLTV_77, enabled=True)
    assert f.isLltvEnabled(LLTV_77)
    assert_event(f.setLltvEnabled(LLTV_77, False, {"from": admin}), "LltvEnabled", lltv=LLTV_77, enabled=False)
    assert not f.isLltvEnabled(LLTV_77)


def test_admin_setters_revert_when_nothing_changes(world):
    f, admin = world.factory, world.actors.admin
    with reverts_with(f, "NothingChanged"):
        f.setIrmEnabled(world.irm, True, {"from": admin})
    with reverts_with(f, "NothingChanged"):
        f.setValuationEnabled(world.valuation, True, {"from": admin})
    with reverts_with(f, "NothingChanged"):
        f.setLltvEnabled(LLTV_50, True, {"from": admin})
    with reverts_with(f, "NothingChanged"):
        f.setLltvEnabled(LLTV_77, False, {"from": admin})
    with reverts_with(f, "NothingChanged"):
        f.setBorrowMargin(MARGIN, {"from": admin})


@pytest.mark.parametrize("lltv", [WAD, WAD + 1, MARGIN, MARGIN - 1, 0])
def test_set_lltv_enabled_reverts_outside_margin_and_one(world, lltv):
    with reverts_with(world.factory, "InvalidLltv", lltv, MARGIN):
        world.factory.setLltvEnabled(lltv, True, {"from": world.actors.admin})


@pytest.mark.parametrize("margin", [0, 5 * 10**17 + 1])
def test_set_borrow_margin_reverts_when_zero_or_above_half(world, margin):
    with reverts_with(world.factory, "InvalidBorrowMargin", margin):
        world.factory.setBorrowMargin(margin, {"from": world.actors.admin})


def test_set_borrow_margin_accepts_the_maximum(world):
    world.factory.setBorrowMargin(5 * 10**17, {"from": world.actors.admin})
    assert world.factory.borrowMarginWad() == 5 * 10**17


def test_admin_setters_revert_for_non_admin(world):
    f, k = world.factory, world.actors.keeper
    role = f.MARKET_ADMIN_ROLE()
    assert role == "0x" + keccak(text="MARKET_ADMIN_ROLE").hex()
    for call in (
        lambda: f.setIrmEnabled(k, True, {"from": k}),
        lambda: f.setValuationEnabled(k, True, {"from": k}),
        lambda: f.setLltvEnabled(LLTV_77, True, {"from": k}),
        lambda: f.setBorrowMargin(10**17, {"from": k}),
    ):
        with reverts_with(f, "AccessControlUnauthorizedAccount", k, role):
            call()


@pytest.mark.parametrize("margin", [0, 5 * 10**17 + 1])
def test_constructor_reverts_on_invalid_margin(world, margin):
    a = world.actors
    with reverts_with(LendingFactory, "InvalidBorrowMargin", margin):
        LendingFactory.deploy(world.suite.asset_registry, margin, 0, a.admin, {"from": a.admin})


def test_factory_reads_its_registries(world):
    f = world.factory
    assert f.assetRegistry() == world.suite.asset_registry
    assert f.investorRegistry() == world.suite.investor_registry
    assert f.borrowMarginWad() == MARGIN
    assert f.MAX_BORROW_MARGIN_WAD() == 5 * 10**17
