"""LeaseMarket offers: createOffer (enrolment, terms checks, capacity across an asset's offers, the offer cap),
setOfferActive and retireOffer, with every revert's exact custom error."""

from __future__ import annotations

import dataclasses

import pytest

from scripts.samples import H100_CLUSTER, STATUS_ACTIVE, STATUS_RETIRED, STATUS_SUSPENDED, register_asset, usd
from tests.contracts.leases._market import (
    FIRM,
    H100_FULL,
    INTERRUPTIBLE,
    MAX_PRICE,
    lease_id_of,
    offer_id_of,
    plain,
    pricing,
    terms,
)
from tests.support.events import assert_event, assert_no_event
from tests.support.reverts import reverts_with


def test_create_offer_enrols_the_asset_and_records_its_terms(world):
    w, a = world, world.actors
    offer_terms = terms(w.a1, gpus=6, price=usd("2.5"), min_term=2, max_term=48, notice=3, sla_bps=9_500,
                        credit_bps=2_000, penalty_bps=1_000, lease_class=INTERRUPTIBLE,
                        dynamic=pricing(8_000, 1_250, usd(2), usd(3)))
    assert not w.market.isEnrolled(w.a1)

    tx = w.market.createOffer(offer_terms, {"from": a.operator})

    assert tx.return_value == 1
    assert_event(tx, "AssetEnrolled", assetId=w.a1, firstEpoch=w.e0)
    assert_event(tx, "OfferCreated", offerId=1, assetId=w.a1, gpus=6, pricePerGpuHour=usd("2.5"),
                 leaseClass=INTERRUPTIBLE)
    assert plain(w.market.offerTerms(1)) == offer_terms
    state = w.market.offerState(1)
    # A new offer: active, not retired, nothing leased or billed yet.
    assert plain(state) == (0, 0, True, False, 0, 0)
    assert list(w.market.offersOf(w.a1)) == [1]
    assert w.market.isEnrolled(w.a1)
    # Settlement starts with the epoch in progress (leases start after it).
    assert w.market.firstEpochOf(w.a1) == w.e0
    assert w.market.nextSettleEpoch(w.a1) == w.e0
    assert w.market.leasedGpusAt(1, w.e0 + 1) == 0


def test_create_offer_enrols_only_once(world):
    w, a = world, world.actors
    w.market.createOffer(terms(w.a1, gpus=4), {"from": a.operator})
    w.clock.goto(w.e0 + 1)

    tx = w.market.createOffer(terms(w.a1, gpus=4, lease_class=INTERRUPTIBLE), {"from": a.operator})

    assert_no_event(tx, "AssetEnrolled")
    assert_event(tx, "OfferCreated", offerId=2, assetId=w.a1, gpus=4, pricePerGpuHour=usd(2), leaseClass=INTERRUPTIBLE)
    assert w.market.firstEpochOf(w.a1) == w.e0
    assert list(w.market.offersOf(w.a1)) == [1, 2]


def test_create_offer_accepts_the_boundary_terms(world):
    w, a = world, world.actors
    # 100% SLA with a 100% credit and a 100% penalty, the highest price, a one-epoch term, and a dynamic
    # band that is a single price: all valid.
    edge = terms(w.a1, gpus=8, price=MAX_PRICE, min_term=1, max_term=1, sla_bps=10_000, credit_bps=10_000,
                 penalty_bps=10_000, dynamic=pricing(10_000, 10_000, MAX_PRICE, MAX_PRICE))
    tx = w.market.createOffer(edge, {"from": a.operator})
    assert plain(w.market.offerTerms(offer_id_of(tx))) == edge


@pytest.mark.parametrize("status", [STATUS_SUSPENDED, STATUS_RETIRED])
def test_create_offer_reverts_when_asset_not_active(world, status):
    w, a = world, world.actors
    w.registry.setStatus(w.a1, status, {"from": a.admin})
    with reverts_with(w.market, "AssetNotActive", w.a1, status):
        w.market.createOffer(terms(w.a1), {"from": a.operator})


def test_create_offer_reverts_when_asset_unknown(world):
    w, a = world, world.actors
    # An unknown asset has status None (0).
    with reverts_with(w.market, "AssetNotActive", 99, 0):
        w.market.createOffer(terms(99), {"from": a.operator})


def test_create_offer_reverts_when_caller_is_not_the_operator(world):
    w, a = world, world.actors
    with reverts_with(w.market, "NotOperator", w.a1, a.operator2):
        w.market.createOffer(terms(w.a1), {"from": a.operator2})
    with reverts_with(w.market, "NotOperator", w.a1, a.lessee):
        w.market.createOffer(terms(w.a1), {"from": a.lessee})


INVALID_TERMS = [
    # (overrides, error, args)
    (dict(gpus=0), "InvalidOfferGpus", (0,)),
    (dict(price=0), "InvalidOfferPrice", (0, MAX_PRICE)),
    (dict(price=MAX_PRICE + 1), "InvalidOfferPrice", (MAX_PRICE + 1, MAX_PRICE)),
    (dict(min_term=0), "InvalidOfferTerm", (0, 100)),
    (dict(min_term=5, max_term=4), "InvalidOfferTerm", (5, 4)),
    (dict(sla_bps=10_001), "InvalidOfferSla", (10_001, 1_000)),
    (dict(credit_bps=10_001), "InvalidOfferSla", (9_900, 10_001)),
    (dict(penalty_bps=10_001), "InvalidCancelPenalty", (10_001,)),
    (dict(dynamic=pricing(0, 1_000, usd(1), usd(3))), "InvalidDynamicPricing", (0, 1_000, usd(1), usd(3))),
    (dict(dynamic=pricing(10_001, 1_000, usd(1), usd(3))), "InvalidDynamicPricing", (10_001, 1_000, usd(1), usd(3))),
    (dict(dynamic=pricing(8_000, 0, usd(1), usd(3))), "InvalidDynamicPricing", (8_000, 0, usd(1), usd(3))),
    (dict(dynamic=pricing(8_000, 10_001, usd(1), usd(3))), "InvalidDynamicPricing", (8_000, 10_001, usd(1), usd(3))),
    (dict(dynamic=pricing(8_000, 1_000, 0, usd(3))), "InvalidDynamicPricing", (8_000, 1_000, 0, usd(3))),
    # the floor above the starting price ($2)
    (dict(dynamic=pricing(8_000, 1_000, usd("2.01"), usd(3))), "InvalidDynamicPricing",
     (8_000, 1_000, usd("2.01"), usd(3))),
    # the ceiling below the starting price
    (dict(dynamic=pricing(8_000, 1_000, usd(1), usd("1.99"))), "InvalidDynamicPricing",
     (8_000, 1_000, usd(1), usd("1.99"))),
    # the ceiling above the market's maximum price
    (dict(dynamic=pricing(8_000, 1_000, usd(1), MAX_PRICE + 1)), "InvalidDynamicPricing",
     (8_000, 1_000, usd(1), MAX_PRICE + 1)),
]


@pytest.mark.parametrize("overrides, error, args", INVALID_TERMS, ids=[f"{e}-{i}" for i, (_, e, _) in
                                                                       enumerate(INVALID_TERMS)])
def test_create_offer_reverts_on_invalid_terms(world, overrides, error, args):
    w, a = world, world.actors
    with reverts_with(w.market, error, *args):
        w.market.createOffer(terms(w.a1, **overrides), {"from": a.operator})


def test_disabled_dynamic_pricing_is_not_checked(world):
    w, a = world, world.actors
    # With `enabled` false the pricing fields are ignored, whatever they hold.
    tx = w.market.createOffer(terms(w.a1, dynamic=(False, 0, 0, 0, 0)), {"from": a.operator})
    assert offer_id_of(tx) == 1


def test_offers_of_an_asset_never_sum_to_more_than_its_gpus(world):
    w, a = world, world.actors
    w.market.createOffer(terms(w.a1, gpus=5), {"from": a.operator})
    # 8 GPUs - 5 offered = 3 left.
    with reverts_with(w.market, "OfferCapacityExceeded", w.a1, 4, 3):
        w.market.createOffer(terms(w.a1, gpus=4), {"from": a.operator})
    w.market.createOffer(terms(w.a1, gpus=3, lease_class=INTERRUPTIBLE), {"from": a.operator})
    with reverts_with(w.market, "OfferCapacityExceeded", w.a1, 1, 0):
        w.market.createOffer(terms(w.a1, gpus=1), {"from": a.operator})
    # The other asset's capacity is its own.
    w.market.createOffer(terms(w.a2, gpus=4), {"from": a.operator2})


def test_create_offer_reverts_beyond_the_offer_cap(world):
    w, a = world, world.actors
    big = register_asset(w.suite, a.admin, a.operator, dataclasses.replace(H100_CLUSTER, gpu_count=16))
    assert w.market.MAX_OFFERS_PER_ASSET() == 8
    for _ in range(8):
        w.market.createOffer(terms(big.asset_id, gpus=1), {"from": a.operator})
    # 8 GPUs are still free, but settlement walks every offer: a ninth is refused.
    with reverts_with(w.market, "TooManyOffers", big.asset_id, 8):
        w.market.createOffer(terms(big.asset_id, gpus=1), {"from": a.operator})


def test_set_offer_active_pauses_and_resumes_new_leases(world):
    w, a = world, world.actors
    w.market.createOffer(terms(w.a1), {"from": a.operator})

    tx = w.market.setOfferActive(1, False, {"from": a.operator})
    assert_event(tx, "OfferActiveSet", offerId=1, active=False)
    assert w.market.offerState(1)["active"] is False
    with reverts_with(w.market, "OfferNotActive", 1):
        w.market.openLease(1, 1, 1, usd(2), {"from": a.lessee})

    tx = w.market.setOfferActive(1, True, {"from": a.operator})
    assert_event(tx, "OfferActiveSet", offerId=1, active=True)
    w.market.openLease(1, 1, 1, usd(2), {"from": a.lessee})


def test_set_offer_active_reverts_when_unchanged_unknown_or_not_operator(world):
    w, a = world, world.actors
    w.market.createOffer(terms(w.a1), {"from": a.operator})
    with reverts_with(w.market, "OfferUnchanged", 1):
        w.market.setOfferActive(1, True, {"from": a.operator})
    with reverts_with(w.market, "UnknownOffer", 0):
        w.market.setOfferActive(0, False, {"from": a.operator})
    with reverts_with(w.market, "UnknownOffer", 2):
        w.market.setOfferActive(2, False, {"from": a.operator})
    with reverts_with(w.market, "NotOperator", w.a1, a.operator2):
        w.market.setOfferActive(1, False, {"from": a.operator2})


def test_retire_offer_frees_its_gpus_for_other_offers(world):
    w, a = world, world.actors
    w.market.createOffer(terms(w.a1, gpus=5), {"from": a.operator})
    w.market.createOffer(terms(w.a1, gpus=3), {"from": a.operator})

    tx = w.market.retireOffer(1, {"from": a.operator})

    assert_event(tx, "OfferRetired", offerId=1)
    state = w.market.offerState(1)
    assert state["retired"] is True and state["active"] is False
    assert list(w.market.offersOf(w.a1)) == [2]
    # Its 5 GPUs are free again: a new 5-GPU offer fits, a 6-GPU one does not.
    with reverts_with(w.market, "OfferCapacityExceeded", w.a1, 6, 5):
        w.market.createOffer(terms(w.a1, gpus=6), {"from": a.operator})
    w.market.createOffer(terms(w.a1, gpus=5), {"from": a.operator})
    # A retired offer takes no lease and cannot be changed any more.
    with reverts_with(w.market, "OfferNotActive", 1):
        w.market.openLease(1, 1, 1, usd(2), {"from": a.lessee})
    with reverts_with(w.market, "OfferUnchanged", 1):
        w.market.setOfferActive(1, True, {"from": a.operator})
    with reverts_with(w.market, "OfferUnchanged", 1):
        w.market.retireOffer(1, {"from": a.operator})


def test_retire_offer_reverts_for_unknown_offer_or_other_caller(world):
    w, a = world, world.actors
    w.market.createOffer(terms(w.a1), {"from": a.operator})
    with reverts_with(w.market, "UnknownOffer", 7):
        w.market.retireOffer(7, {"from": a.operator})
    with reverts_with(w.market, "NotOperator", w.a1, a.lessee):
        w.market.retireOffer(1, {"from": a.lessee})


def test_retire_offer_waits_until_its_leases_have_ended_and_settled(world):
    w, a, m = world, world.actors, world.market
    m.createOffer(terms(w.a1), {"from": a.operator})
    m.openLease(1, 8, 2, usd(2), {"from": a.lessee})  # epochs E0+1 and E0+2
    with reverts_with(m, "OfferHasLeases", 1, 8):
        m.retireOffer(1, {"from": a.operator})

    # In E0+3 nothing is leased from E0+4 on, but E0+3, where the lease's end takes effect, is unsettled:
    # the offer's running rate still holds the lease.
    w.clock.goto(w.e0 + 3)
    w.meter.fill(w.a1, w.e0 + 2, **H100_FULL)
    m.settleThrough(w.a1, w.e0 + 2, {"from": a.keeper})
    assert m.offerState(1)["rateSum"] == 8 * usd(2)
    with reverts_with(m, "OfferHasLeases", 1, 8):
        m.retireOffer(1, {"from": a.operator})

    w.clock.goto(w.e0 + 4)
    w.meter.fill(w.a1, w.e0 + 3, **H100_FULL)
    m.settle(w.a1, w.e0 + 3, {"from": a.keeper})
    assert m.offerState(1)["rateSum"] == 0
    m.retireOffer(1, {"from": a.operator})


# A lease whose epochs settlement has not reached yet (here: running in E0+1 while E0 awaits its report) keeps
# its offer in settlement: retiring it then would bill the delivered epoch nothing.
def test_retire_offer_reverts_while_a_lease_runs_in_an_unsettled_epoch(world):
    w, a, m = world, world.actors, world.market
    m.createOffer(terms(w.a1), {"from": a.operator})
    lease = lease_id_of(m.openLease(1, 8, 1, usd(2), {"from": a.lessee}))  # epoch E0+1 only
    w.clock.goto(w.e0 + 1)
    assert m.leasedGpusAt(1, w.e0 + 1) == 8

    with reverts_with(m, "OfferHasLeases", 1, 8):
        m.retireOffer(1, {"from": a.operator})
    # Once the lease's epoch is settled (and billed), the offer can go.
    w.clock.goto(w.e0 + 3)
    w.meter.fill(w.a1, w.e0 + 2, **H100_FULL)
    m.settleThrough(w.a1, w.e0 + 2, {"from": a.keeper})
    assert m.settlementOf(w.a1, w.e0 + 1)["gross"] == m.leaseAccount(lease)["billed"] > 0
    m.retireOffer(1, {"from": a.operator})


def test_offer_views_revert_for_unknown_offers(world):
    from tests.support.reverts import encode_error, revert_data
    from brownie.exceptions import VirtualMachineError

    w = world
    for view in (w.market.offerTerms, w.market.offerState):
        with pytest.raises(VirtualMachineError) as info:
            view(3)
        assert revert_data(info.value) == encode_error(w.market, "UnknownOffer", 3)
    with pytest.raises(VirtualMachineError) as info:
        w.market.leasedGpusAt(0, w.e0)
    assert revert_data(info.value) == encode_error(w.market, "UnknownOffer", 0)


def test_offer_class_is_recorded_firm_by_default(world):
    w, a = world, world.actors
    tx = w.market.createOffer(terms(w.a1), {"from": a.operator})
    assert tx.events["OfferCreated"]["leaseClass"] == FIRM
    assert w.registry.statusOf(w.a1) == STATUS_ACTIVE
