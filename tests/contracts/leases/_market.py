"""Helpers of the LeaseMarket tests: offer terms, the epoch clock, a meter that posts quorum-signed reports
with the daemon's code, and the hand-computed billing formulas of ILeaseMarket's NatSpec.

Every figure a test asserts is written out by hand in that test's comments; the functions here only restate
the NatSpec formulas so that a test can check a whole table of figures against them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scripts.samples import usd
from tests.support.meter import MeterPoster, report

HOUR = 3600
WAD = 10**18
BPS = 10_000
#: The module's chain clock starts this many whole epochs after genesis...
EPOCHS_BEFORE_NOW = 10
#: ...and this many seconds into the current epoch (so every test has most of an hour inside E0).
INTO_EPOCH = 120
#: Grace period of the tests' suite (the deploy default, 6 h).
GRACE = 6 * HOUR

FIRM, INTERRUPTIBLE = 0, 1
NONE, ACTIVE, TERMINATED, CANCELLED, CLOSED = 0, 1, 2, 3, 4
MAX_UINT = 2**256 - 1
MAX_PRICE = 2**96 - 1
LEASE_SOURCE = b"LEASE".ljust(32, b"\0")
SPOT = b"SPOT".ljust(32, b"\0")
DEMAND_RESPONSE = b"DEMAND_RESPONSE".ljust(32, b"\0")

#: A full H100 epoch: 8 GPUs x 3600 s, 90% busy, 5 kWh of IT energy.
H100_FULL = dict(gpu_seconds=8 * HOUR, utilization_bps=9_000, energy_wh=5_000)
#: A full L40S epoch: 4 GPUs x 3600 s, 80% busy, 1 kWh of IT energy.
L40S_FULL = dict(gpu_seconds=4 * HOUR, utilization_bps=8_000, energy_wh=1_000)

NO_PRICING = (False, 0, 0, 0, 0)


def pricing(target_bps: int, max_change_bps: int, min_price: int, max_price: int) -> tuple:
    """An `ILeaseMarket.DynamicPricing` tuple (enabled)."""
    return (True, target_bps, max_change_bps, min_price, max_price)


def terms(
    asset_id: int,
    gpus: int = 8,
    price: int = usd(2),
    min_term: int = 1,
    max_term: int = 100,
    notice: int = 0,
    sla_bps: int = 9_900,
    credit_bps: int = 1_000,
    penalty_bps: int = 500,
    lease_class: int = FIRM,
    dynamic: tuple = NO_PRICING,
) -> tuple:
    """An `ILeaseMarket.OfferTerms` tuple; defaults: 8 GPUs at $2/GPU-h, 1..100 epochs, no notice, 99% SLA
    with a 10% credit, 5% cancel penalty, firm, fixed price."""
    return (asset_id, gpus, price, min_term, max_term, notice, sla_bps, credit_bps, penalty_bps, lease_class, dynamic)


def energy_cost(energy_wh: int, pue_bps: int, tariff_per_kwh: int) -> int:
    """energy = Wh x PUE x tariff / (10,000 x 1,000), rounded down."""
    return energy_wh * pue_bps * tariff_per_kwh // (BPS * 1000)


def split(revenue: int, energy_wh: int, pue_bps: int, tariff: int, fee_bps: int) -> tuple[int, int, int]:
    """(energyCost, fee, net) of an epoch's revenue (charges after credits plus added revenue): energy capped
    at the revenue, the fee on what is left after energy."""
    energy = min(energy_cost(energy_wh, pue_bps, tariff), revenue)
    fee = (revenue - energy) * fee_bps // BPS
    return energy, fee, revenue - energy - fee


@dataclass
class Clock:
    """The module's epoch clock (genesis and epoch length of the deployed oracle)."""

    genesis: int
    length: int = HOUR

    def start(self, epoch: int) -> int:
        return self.genesis + epoch * self.length

    def end(self, epoch: int) -> int:
        return self.genesis + (epoch + 1) * self.length

    def goto(self, epoch: int, into: int = INTO_EPOCH) -> None:
        """Moves the chain's clock forward to `into` seconds after `epoch` starts (never backwards)."""
        self.goto_time(self.start(epoch) + into)

    def goto_time(self, timestamp: int) -> None:
        """Mines a block at exactly `timestamp` (later transactions come after it)."""
        from brownie import chain, web3

        if chain[-1].timestamp >= timestamp:
            raise AssertionError(f"the clock is already at or past {timestamp}")
        reply = web3.provider.make_request("evm_setNextBlockTimestamp", [timestamp])
        assert "error" not in reply, reply
        chain.mine()


@dataclass
class Meter:
    """Posts reports signed by a quorum with the daemon's code (MeterPoster), contiguously per asset."""

    poster: MeterPoster

    @property
    def oracle(self) -> Any:
        return self.poster.oracle

    def post(self, asset_id: int, epoch: int, gpu_seconds: int = 0, utilization_bps: int = 0, energy_wh: int = 0,
             curtailed: int = 0) -> Any:
        return self.poster.post([report(asset_id, epoch, gpu_seconds, utilization_bps, energy_wh, curtailed)])

    def fill(self, asset_id: int, through: int, **figures: int) -> Any:
        """Posts the same figures for every epoch from the asset's cursor through `through` (one batch)."""
        first = self.oracle.cursorOf(asset_id)[0]
        if first > through:
            return None
        reports = [report(asset_id, epoch, **_figures(figures)) for epoch in range(first, through + 1)]
        return self.poster.post(reports)


def _figures(figures: dict) -> dict:
    return {
        "gpu_seconds": figures.get("gpu_seconds", 0),
        "utilization_bps": figures.get("utilization_bps", 0),
        "energy_wh": figures.get("energy_wh", 0),
        "curtailed": figures.get("curtailed", 0),
    }


def lease_id_of(tx: Any) -> int:
    return tx.events["LeaseOpened"]["leaseId"]


def offer_id_of(tx: Any) -> int:
    return tx.events["OfferCreated"]["offerId"]


def plain(value: Any) -> Any:
    """A brownie return value (ReturnValue, Wei, EthAddress) as plain tuples, ints and strings, for `==`."""
    if isinstance(value, (list, tuple)):
        return tuple(plain(item) for item in value)
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, bytes):
        return bytes(value)
    return str(value) if value.__class__.__name__ == "EthAddress" else value


def make_offer(w: Any, asset_id: int | None = None, **overrides: Any) -> int:
    """Creates an offer (default terms, see `terms`) on `asset_id` (default: the H100) as its operator."""
    asset_id = w.a1 if asset_id is None else asset_id
    operator = w.registry.operatorOf(asset_id)
    return w.market.createOffer(terms(asset_id, **overrides), {"from": operator}).return_value


def open_lease(w: Any, offer: int, gpus: int, term: int, lessee: Any = None, max_price: int | None = None) -> int:
    lessee = lessee or w.actors.lessee
    price = w.market.offerTerms(offer)["pricePerGpuHour"] if max_price is None else max_price
    return lease_id_of(w.market.openLease(offer, gpus, term, price, {"from": lessee}))


def assert_record_adds_up(w: Any, asset_id: int, epoch: int) -> Any:
    """The settled epoch's audit record: its report digest is the oracle's, and gross = credits + energy + fee +
    net exactly. Returns the record."""
    record = w.market.settlementOf(asset_id, epoch)
    if record["voided"]:
        assert record["reportHash"] == "0x" + "00" * 32
    else:
        assert record["reportHash"] == w.oracle.reportHashOf(asset_id, epoch)
    assert record["gross"] == record["credits"] + record["energyCost"] + record["fee"] + record["net"]
    return record
