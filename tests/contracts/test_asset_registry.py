"""AssetRegistry: registering GPU assets (with their share token), status transitions, economics, operator
hand-over, metadata, the views the oracle and the lease market read, and the roles that guard each action."""

from __future__ import annotations

import pytest
from brownie import ZERO_ADDRESS, AssetRegistry, AssetShares, chain

from scripts.samples import (
    H100_CLUSTER,
    L40S_EDGE,
    STATUS_ACTIVE,
    STATUS_NONE,
    STATUS_RETIRED,
    STATUS_SUSPENDED,
    TIER_HYPERSCALE,
    usd,
)
from tests.support.events import assert_event
from tests.support.reverts import reverts_with

# Asset tuple indexes (IAssetRegistry.Asset field order).
OPERATOR, STATUS, TIER, GPU_COUNT, POWER, PUE, SHARES, COMMISSIONED, FEE, TARIFF, REGISTERED, HASH, MODEL, REGION, URI = (
    range(15)
)


@pytest.fixture(scope="module")
def registry(asset_registry, h100, l40s):
    """The suite's registry with both sample assets registered (ids 1 and 2) in every test."""
    return asset_registry


def params(operator, now, **changes):
    """A valid `AssetParams` tuple (a hyperscale B200 rack) with `changes` applied by field name."""
    fields = dict(
        operator=operator,
        tier=TIER_HYPERSCALE,
        gpuCount=72,
        powerPerGpuW=1_000,
        pueBps=11_000,
        energyTariffPerKWh=usd("0.08"),
        operatorFeeBps=500,
        commissionedAt=now - 86_400,
        gpuModel="NVIDIA B200",
        region="us-east / rack-07",
        metadataURI="ipfs://bafyb200rack07",
        metadataHash="0x" + "33" * 32,
        sharesName="Wellhead B200 Rack 07",
        sharesSymbol="WH-B200-07",
        maxShareSupply=10**6 * 10**18,
    )
    fields.update(changes)
    return tuple(fields.values())


# ------------------------------------------------------------------------------------------------ deployment


def test_constructor_links_token_and_investor_registry(registry, suite):
    assert registry.settlementToken() == suite.stablecoin
    assert registry.investorRegistry() == suite.investor_registry


def test_constructor_reverts_for_a_zero_settlement_token(suite, actors):
    with reverts_with(AssetRegistry, "ZeroAddress"):
        AssetRegistry.deploy(ZERO_ADDRESS, suite.investor_registry, 0, actors.admin, {"from": actors.admin})


def test_constructor_reverts_for_a_zero_investor_registry(suite, actors):
    with reverts_with(AssetRegistry, "ZeroAddress"):
        AssetRegistry.deploy(suite.stablecoin, ZERO_ADDRESS, 0, actors.admin, {"from": actors.admin})


def test_bounds_are_exposed_as_constants(registry):
    assert registry.MAX_GPU_COUNT() == 1_000_000
    assert registry.MAX_POWER_PER_GPU_W() == 10_000
    assert registry.MIN_PUE_BPS() == 10_000
    assert registry.MAX_PUE_BPS() == 30_000
    assert registry.MAX_OPERATOR_FEE_BPS() == 5_000


# ------------------------------------------------------------------------------------------------ registerAsset


def test_register_asset_stores_the_record_deploys_shares_and_emits(registry, suite, actors, next_block_time):
    now = next_block_time()
    p = params(actors.operator2, now)
    tx = registry.registerAsset(p, {"from": actors.admin})

    asset_id, shares_address = tx.return_value
    assert asset_id == 3 and registry.assetCount() == 3
    assert_event(
        tx,
        "AssetRegistered",
        assetId=3,
        operator=actors.operator2,
        shares=shares_address,
        tier=TIER_HYPERSCALE,
        gpuCount=72,
        gpuModel="NVIDIA B200",
    )
    asset = registry.getAsset(3)
    assert tuple(asset) == (
        actors.operator2,
        STATUS_ACTIVE,
        TIER_HYPERSCALE,
        72,
        1_000,
        11_000,
        shares_address,
        now - 86_400,
        500,
        usd("0.08"),
        now,
        "0x" + "33" * 32,
        "NVIDIA B200",
        "us-east / rack-07",
        "ipfs://bafyb200rack07",
    )
    shares = AssetShares.at(shares_address)
    assert shares.name() == "Wellhead B200 Rack 07"
    assert shares.symbol() == "WH-B200-07"
    assert shares.decimals() == 18
    assert shares.assetId() == 3
    assert shares.registry() == registry
    assert shares.settlementToken() == suite.stablecoin
    assert shares.totalSupply() == 0


def test_register_asset_deploys_one_distinct_share_token_per_asset(registry, h100, l40s):
    assert h100.asset_id == 1 and l40s.asset_id == 2
    assert registry.sharesOf(1) == h100.shares != l40s.shares == registry.sharesOf(2)
    assert h100.shares.assetId() == 1 and l40s.shares.assetId() == 2


def test_register_asset_reverts_without_registrar_role(registry, actors):
    with reverts_with(registry, "AccessControlUnauthorizedAccount", actors.operator, registry.REGISTRAR_ROLE()):
        registry.registerAsset(params(actors.operator, chain[-1].timestamp), {"from": actors.operator})


def test_register_asset_reverts_for_a_zero_operator(registry, actors):
    with reverts_with(registry, "ZeroAddress"):
        registry.registerAsset(params(ZERO_ADDRESS, chain[-1].timestamp), {"from": actors.admin})


@pytest.mark.parametrize("gpu_count", [0, 1_000_001])
def test_register_asset_reverts_for_a_gpu_count_out_of_range(registry, actors, gpu_count):
    with reverts_with(registry, "InvalidGpuCount", gpu_count):
        registry.registerAsset(params(actors.operator, chain[-1].timestamp, gpuCount=gpu_count), {"from": actors.admin})


@pytest.mark.parametrize("power", [0, 10_001])
def test_register_asset_reverts_for_a_power_per_gpu_out_of_range(registry, actors, power):
    with reverts_with(registry, "InvalidPowerPerGpu", power):
        registry.registerAsset(params(actors.operator, chain[-1].timestamp, powerPerGpuW=power), {"from": actors.admin})


@pytest.mark.parametrize("pue", [0, 9_999, 30_001])
def test_register_asset_reverts_for_a_pue_out_of_range(registry, actors, pue):
    with reverts_with(registry, "InvalidPue", pue):
        registry.registerAsset(params(actors.operator, chain[-1].timestamp, pueBps=pue), {"from": actors.admin})


def test_register_asset_reverts_for_an_operator_fee_above_half(registry, actors):
    with reverts_with(registry, "InvalidOperatorFee", 5_001):
        registry.registerAsset(params(actors.operator, chain[-1].timestamp, operatorFeeBps=5_001), {"from": actors.admin})


def test_register_asset_reverts_for_a_zero_commission_date(registry, actors):
    with reverts_with(registry, "InvalidCommissionDate", 0):
        registry.registerAsset(params(actors.operator, chain[-1].timestamp, commissionedAt=0), {"from": actors.admin})


def test_register_asset_reverts_for_a_commission_date_in_the_future(registry, actors, next_block_time):
    now = next_block_time()
    with reverts_with(registry, "InvalidCommissionDate", now + 1):
        registry.registerAsset(params(actors.operator, now, commissionedAt=now + 1), {"from": actors.admin})


def test_register_asset_accepts_every_bound_inclusive(registry, actors, next_block_time):
    now = next_block_time()
    low = params(actors.operator, now, gpuCount=1, powerPerGpuW=1, pueBps=10_000, operatorFeeBps=0, commissionedAt=now)
    registry.registerAsset(low, {"from": actors.admin})
    high = params(
        actors.operator,
        chain[-1].timestamp,
        gpuCount=1_000_000,
        powerPerGpuW=10_000,
        pueBps=30_000,
        operatorFeeBps=5_000,
        sharesName="High",
        sharesSymbol="HI",
    )
    registry.registerAsset(high, {"from": actors.admin})
    assert registry.assetCount() == 4
    assert tuple(registry.meteringProfile(4)) == (STATUS_ACTIVE, 1_000_000, 10_000)


# ------------------------------------------------------------------------------------------------ setStatus


@pytest.mark.parametrize(
    "path",
    [
        [STATUS_SUSPENDED, STATUS_ACTIVE, STATUS_SUSPENDED],
        [STATUS_RETIRED],
        [STATUS_SUSPENDED, STATUS_RETIRED],
    ],
    ids=["active-suspended-active-suspended", "active-retired", "active-suspended-retired"],
)
def test_set_status_follows_the_allowed_transitions(registry, actors, path):
    current = STATUS_ACTIVE
    for status in path:
        tx = registry.setStatus(1, status, {"from": actors.admin})
        assert_event(tx, "AssetStatusChanged", assetId=1, previous=current, current=status)
        assert registry.statusOf(1) == status
        current = status


@pytest.mark.parametrize(
    "setup, requested",
    [
        ([], STATUS_ACTIVE),  # Active -> Active
        ([], STATUS_NONE),
        ([STATUS_SUSPENDED], STATUS_SUSPENDED),
        ([STATUS_SUSPENDED], STATUS_NONE),
        ([STATUS_RETIRED], STATUS_ACTIVE),  # Retired is final
        ([STATUS_RETIRED], STATUS_SUSPENDED),
        ([STATUS_RETIRED], STATUS_RETIRED),
        ([STATUS_RETIRED], STATUS_NONE),
    ],
)
def test_set_status_reverts_for_a_transition_that_is_not_allowed(registry, actors, setup, requested):
    for status in setup:
        registry.setStatus(1, status, {"from": actors.admin})
    current = registry.statusOf(1)
    with reverts_with(registry, "InvalidStatusChange", 1, current, requested):
        registry.setStatus(1, requested, {"from": actors.admin})


def test_set_status_reverts_for_an_unknown_asset(registry, actors):
    with reverts_with(registry, "UnknownAsset", 99):
        registry.setStatus(99, STATUS_SUSPENDED, {"from": actors.admin})


def test_set_status_reverts_without_registrar_role(registry, actors):
    # The operator cannot suspend or retire its own asset: the registrar (asset manager) decides.
    with reverts_with(registry, "AccessControlUnauthorizedAccount", actors.operator, registry.REGISTRAR_ROLE()):
        registry.setStatus(1, STATUS_SUSPENDED, {"from": actors.operator})


# ------------------------------------------------------------------------------------------------ setEconomics


def test_set_economics_updates_and_emits(registry, actors):
    tx = registry.setEconomics(1, 12_500, usd("0.15"), 2_000, {"from": actors.admin})
    assert_event(tx, "AssetEconomicsUpdated", assetId=1, pueBps=12_500, energyTariffPerKWh=usd("0.15"), operatorFeeBps=2_000)
    assert tuple(registry.economicsOf(1)) == (
        actors.operator,
        registry.sharesOf(1),
        12_500,
        usd("0.15"),
        2_000,
    )


@pytest.mark.parametrize("field", ["pue", "tariff", "fee"])
def test_set_economics_changing_one_field_is_enough(registry, actors, field):
    spec = H100_CLUSTER
    pue, tariff, fee = spec.pue_bps, spec.energy_tariff_per_kwh, spec.operator_fee_bps
    pue, tariff, fee = {"pue": (pue + 1, tariff, fee), "tariff": (pue, tariff + 1, fee), "fee": (pue, tariff, fee + 1)}[
        field
    ]
    registry.setEconomics(1, pue, tariff, fee, {"from": actors.admin})
    assert tuple(registry.economicsOf(1))[2:] == (pue, tariff, fee)


def test_set_economics_reverts_when_nothing_changes(registry, actors):
    spec = H100_CLUSTER
    with reverts_with(registry, "NothingChanged", 1):
        registry.setEconomics(1, spec.pue_bps, spec.energy_tariff_per_kwh, spec.operator_fee_bps, {"from": actors.admin})


def test_set_economics_reverts_for_an_invalid_pue(registry, actors):
    with reverts_with(registry, "InvalidPue", 30_001):
        registry.setEconomics(1, 30_001, 1, 0, {"from": actors.admin})


def test_set_economics_reverts_for_an_invalid_operator_fee(registry, actors):
    with reverts_with(registry, "InvalidOperatorFee", 10_000):
        registry.setEconomics(1, 12_000, 1, 10_000, {"from": actors.admin})


def test_set_economics_reverts_for_an_unknown_asset(registry, actors):
    with reverts_with(registry, "UnknownAsset", 0):
        registry.setEconomics(0, 12_000, 1, 0, {"from": actors.admin})


def test_set_economics_reverts_without_registrar_role(registry, actors):
    with reverts_with(registry, "AccessControlUnauthorizedAccount", actors.operator, registry.REGISTRAR_ROLE()):
        registry.setEconomics(1, 12_000, 1, 0, {"from": actors.operator})


# ------------------------------------------------------------------------------------------------ setOperator


def test_set_operator_hands_the_asset_over_and_emits(registry, actors):
    tx = registry.setOperator(1, actors.keeper, {"from": actors.admin})
    assert_event(tx, "AssetOperatorChanged", assetId=1, previous=actors.operator, current=actors.keeper)
    assert registry.operatorOf(1) == actors.keeper
    assert registry.getAsset(1)[OPERATOR] == actors.keeper


def test_set_operator_reverts_for_the_zero_address(registry, actors):
    with reverts_with(registry, "ZeroAddress"):
        registry.setOperator(1, ZERO_ADDRESS, {"from": actors.admin})


def test_set_operator_reverts_for_the_same_operator(registry, actors):
    with reverts_with(registry, "NothingChanged", 1):
        registry.setOperator(1, actors.operator, {"from": actors.admin})


def test_set_operator_reverts_for_an_unknown_asset(registry, actors):
    with reverts_with(registry, "UnknownAsset", 3):
        registry.setOperator(3, actors.keeper, {"from": actors.admin})


def test_set_operator_reverts_without_registrar_role(registry, actors):
    with reverts_with(registry, "AccessControlUnauthorizedAccount", actors.operator, registry.REGISTRAR_ROLE()):
        registry.setOperator(1, actors.keeper, {"from": actors.operator})


# ------------------------------------------------------------------------------------------------ updateMetadata


def test_update_metadata_by_the_operator_stores_and_emits(registry, actors):
    new_hash = "0x" + "ab" * 32
    tx = registry.updateMetadata(1, "ipfs://bafynewdatasheet", new_hash, {"from": actors.operator})
    assert_event(tx, "AssetMetadataUpdated", assetId=1, metadataURI="ipfs://bafynewdatasheet", metadataHash=new_hash)
    asset = registry.getAsset(1)
    assert asset[URI] == "ipfs://bafynewdatasheet"
    assert asset[HASH] == new_hash


@pytest.mark.parametrize("change", ["uri", "hash"])
def test_update_metadata_changing_uri_or_hash_alone_is_enough(registry, actors, change):
    uri, digest = H100_CLUSTER.metadata_uri, H100_CLUSTER.metadata_hash
    if change == "uri":
        uri += "-v2"
    else:
        digest = "0x" + "12" * 32
    registry.updateMetadata(1, uri, digest, {"from": actors.operator})
    assert registry.getAsset(1)[URI] == uri and registry.getAsset(1)[HASH] == digest


def test_update_metadata_reverts_when_nothing_changes(registry, actors):
    with reverts_with(registry, "NothingChanged", 1):
        registry.updateMetadata(1, H100_CLUSTER.metadata_uri, H100_CLUSTER.metadata_hash, {"from": actors.operator})


def test_update_metadata_reverts_for_anyone_but_the_operator(registry, actors):
    # Not even the admin: the operator publishes its own asset's documents.
    with reverts_with(registry, "NotOperator", 1, actors.admin):
        registry.updateMetadata(1, "ipfs://x", "0x" + "00" * 32, {"from": actors.admin})
    with reverts_with(registry, "NotOperator", 1, actors.operator2):
        registry.updateMetadata(1, "ipfs://x", "0x" + "00" * 32, {"from": actors.operator2})


def test_update_metadata_follows_the_operator_hand_over(registry, actors):
    registry.setOperator(1, actors.keeper, {"from": actors.admin})
    with reverts_with(registry, "NotOperator", 1, actors.operator):
        registry.updateMetadata(1, "ipfs://x", "0x" + "00" * 32, {"from": actors.operator})
    registry.updateMetadata(1, "ipfs://x", "0x" + "00" * 32, {"from": actors.keeper})


def test_update_metadata_reverts_for_an_unknown_asset(registry, actors):
    with reverts_with(registry, "UnknownAsset", 7):
        registry.updateMetadata(7, "ipfs://x", "0x" + "00" * 32, {"from": actors.operator})


# ------------------------------------------------------------------------------------------------ views


def test_views_of_the_sample_assets(registry, actors, h100, l40s):
    assert registry.assetCount() == 2
    spec = L40S_EDGE
    assert registry.operatorOf(2) == actors.operator2
    assert registry.statusOf(2) == STATUS_ACTIVE
    assert registry.sharesOf(2) == l40s.shares
    assert tuple(registry.meteringProfile(2)) == (STATUS_ACTIVE, spec.gpu_count, spec.power_per_gpu_w)
    assert tuple(registry.economicsOf(2)) == (
        actors.operator2,
        l40s.shares,
        spec.pue_bps,
        spec.energy_tariff_per_kwh,
        spec.operator_fee_bps,
    )
    asset = registry.getAsset(2)
    assert asset[TIER] == spec.tier and asset[MODEL] == spec.gpu_model and asset[REGION] == spec.region
    assert registry.commissionedAtOf(2) == asset[COMMISSIONED] > 0


def test_views_of_an_unknown_asset_revert_or_report_none(registry):
    for view in (registry.getAsset, registry.economicsOf, registry.operatorOf, registry.sharesOf, registry.commissionedAtOf):
        with reverts_with(registry, "UnknownAsset", 3):
            view(3)
    # The oracle's and the lease market's one-read views name status None instead of reverting.
    assert registry.statusOf(3) == STATUS_NONE
    assert tuple(registry.meteringProfile(3)) == (STATUS_NONE, 0, 0)
    assert registry.statusOf(0) == STATUS_NONE


def test_metering_profile_follows_the_status(registry, actors):
    registry.setStatus(1, STATUS_SUSPENDED, {"from": actors.admin})
    assert tuple(registry.meteringProfile(1)) == (STATUS_SUSPENDED, 8, 700)


def test_registrar_role_can_be_granted_to_an_asset_manager(registry, actors):
    registry.grantRole(registry.REGISTRAR_ROLE(), actors.keeper, {"from": actors.admin})
    registry.setStatus(1, STATUS_SUSPENDED, {"from": actors.keeper})
    assert registry.statusOf(1) == STATUS_SUSPENDED
