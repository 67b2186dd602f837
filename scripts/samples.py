"""The two sample assets of the demo and the tests, and unit helpers for amounts.

Asset 1 is the 8x H100 NeoCloud cluster and asset 2 the 4x L40S edge node of the DCGM recording in
tests/data (their GPU UUIDs are in dcgm-sample-assets.json).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: Settlement-token decimals of the DevStablecoin (USDC-like).
USD_DECIMALS = 6
#: Share-token decimals.
SHARE_DECIMALS = 18

TIER_HYPERSCALE, TIER_NEOCLOUD, TIER_EDGE = 0, 1, 2
STATUS_NONE, STATUS_ACTIVE, STATUS_SUSPENDED, STATUS_RETIRED = 0, 1, 2, 3


def usd(amount: float | int | str, decimals: int = USD_DECIMALS) -> int:
    """Whole dollars (or a decimal string such as "2.50") to settlement-token base units, exactly."""
    from decimal import Decimal

    value = Decimal(str(amount)) * (Decimal(10) ** decimals)
    if value != value.to_integral_value():
        raise ValueError(f"{amount} has more than {decimals} decimals")
    return int(value)


def shares(amount: float | int | str) -> int:
    """Whole shares to share base units (18 decimals), exactly."""
    return usd(amount, SHARE_DECIMALS)


@dataclass(frozen=True)
class AssetSpec:
    """Everything `AssetRegistry.registerAsset` takes except the operator."""

    tier: int
    gpu_count: int
    power_per_gpu_w: int
    pue_bps: int
    energy_tariff_per_kwh: int  # settlement-token base units per kWh
    operator_fee_bps: int
    commissioned_days_ago: int
    gpu_model: str
    region: str
    metadata_uri: str
    metadata_hash: str
    shares_name: str
    shares_symbol: str
    share_price: int  # settlement-token base units per whole share in the first offering
    share_cap: int  # whole shares offered
    max_shares: int  # whole shares that may ever exist (fixed by the registrar at registration)

    def params(self, operator: Any, now: int) -> tuple:
        """The `AssetParams` tuple for `registerAsset`."""
        return (
            operator,
            self.tier,
            self.gpu_count,
            self.power_per_gpu_w,
            self.pue_bps,
            self.energy_tariff_per_kwh,
            self.operator_fee_bps,
            now - self.commissioned_days_ago * 86_400,
            self.gpu_model,
            self.region,
            self.metadata_uri,
            self.metadata_hash,
            self.shares_name,
            self.shares_symbol,
            self.max_shares * 10**18,
        )


H100_CLUSTER = AssetSpec(
    tier=TIER_NEOCLOUD,
    gpu_count=8,
    power_per_gpu_w=700,
    pue_bps=12_000,  # PUE 1.20
    energy_tariff_per_kwh=usd("0.12"),
    operator_fee_bps=1_000,  # 10% of revenue after energy
    commissioned_days_ago=180,
    gpu_model="NVIDIA H100 80GB HBM3",
    region="eu-north-1 / h100-node-01",
    metadata_uri="ipfs://bafybeih100node01datasheet",
    metadata_hash="0x" + "11" * 32,
    shares_name="Wellhead H100 Node 01",
    shares_symbol="WH-H100-01",
    share_price=usd(100),
    share_cap=10_000,
    max_shares=1_000_000,
)

L40S_EDGE = AssetSpec(
    tier=TIER_EDGE,
    gpu_count=4,
    power_per_gpu_w=350,
    pue_bps=13_500,  # PUE 1.35: an edge site cools less efficiently
    energy_tariff_per_kwh=usd("0.18"),
    operator_fee_bps=1_500,
    commissioned_days_ago=90,
    gpu_model="NVIDIA L40S",
    region="us-west / edge-l40s-01",
    metadata_uri="ipfs://bafybeiedgel40s01datasheet",
    metadata_hash="0x" + "22" * 32,
    shares_name="Wellhead L40S Edge 01",
    shares_symbol="WH-L40S-01",
    share_price=usd(25),
    share_cap=8_000,
    max_shares=1_000_000,
)


@dataclass
class RegisteredAsset:
    """A registered asset: its id, share token, operator and spec."""

    asset_id: int
    shares: Any
    operator: Any
    spec: AssetSpec


def register_asset(suite: Any, registrar: Any, operator: Any, spec: AssetSpec) -> RegisteredAsset:
    """Registers `spec` operated by `operator`; returns the id and the share token."""
    from brownie import AssetShares, chain

    tx = suite.asset_registry.registerAsset(spec.params(operator, chain.time()), {"from": registrar})
    asset_id = tx.events["AssetRegistered"]["assetId"]
    shares_token = AssetShares.at(tx.events["AssetRegistered"]["shares"])
    return RegisteredAsset(asset_id, shares_token, operator, spec)
