"""docs/contracts.md's billing formula, implemented literally and independently of the contracts, against every
payout of a mixed run to the base unit.

The model below reads only what an outsider sees (the leases' terms from `getLease`, the offers' terms, the
reports, the asset's economics) and applies the formula as docs/contracts.md writes it: which leases count in
an epoch (startEpoch <= e < endEpoch), d and a as floored WAD fractions of the leased capacity capped at 1, the
SLA credit, each offer's gross and charged amounts floored, credits = gross - revenue, the energy cost floored
then capped at the revenue, the fee floored, net the rest; a lease's bill rounded up and its credit down from
the sums of its epochs' fractions. Nothing here calls the market's maths.

The run: two offers on the H100 (firm and interruptible, odd prices so that every floor bites), four leases
opened in two epochs, one cancelled by the operator (penalty), one terminated by its lessee, revenue added
to one epoch, reports over full, over-leased, below-SLA, curtailed and outage epochs, three epochs settled
from stored reports, three with proofs against roots, and one void after the grace period.
"""

from __future__ import annotations

from dataclasses import dataclass

from tests.contracts.leases._market import FIRM, GRACE, INTERRUPTIBLE, SPOT, make_offer, open_lease
from tests.support.meter import report

WAD = 10**18
BPS = 10_000
SECONDS_PER_HOUR = 3600
WH_PER_KWH = 1000


@dataclass
class Offer:
    lease_class: int
    sla_uptime_bps: int
    sla_credit_bps: int


@dataclass
class Lease:
    offer: int
    gpus: int
    price: int
    start: int
    end: int
    escrow: int
    penalty: int
    refunded: int


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def epoch_split(epoch, rep, leases, offers, added, economics, length):
    """docs/contracts.md, per settled epoch: returns the record's figures and each offer's (charge, credit)
    fractions for the lease bills. `rep` is None for a void epoch."""
    pue_bps, tariff, fee_bps = economics
    active = [lease for lease in leases.values() if lease.start <= epoch < lease.end]
    leased = sum(lease.gpus for lease in active)
    if rep is None or leased == 0:
        d = a = 0
    else:
        d = min(WAD, rep.gpu_seconds * WAD // (leased * length))
        a = min(WAD, (rep.gpu_seconds + rep.curtailed_gpu_seconds) * WAD // (leased * length))
    gross = charged = 0
    fractions = {}
    for offer_id, offer in offers.items():
        rate_sum = sum(lease.gpus * lease.price for lease in active if lease.offer == offer_id)
        metric = d if offer.lease_class == FIRM else a
        credit_bps = offer.sla_credit_bps if metric * BPS < offer.sla_uptime_bps * WAD else 0
        charge = d * (BPS - credit_bps) // BPS
        fractions[offer_id] = (charge, d - charge)
        gross += rate_sum * length * d // (SECONDS_PER_HOUR * WAD)
        charged += rate_sum * length * charge // (SECONDS_PER_HOUR * WAD)
    gross += added
    revenue = charged + added
    credits = gross - revenue
    energy_wh = 0 if rep is None else rep.energy_wh
    energy_cost = min(energy_wh * pue_bps * tariff // (BPS * WH_PER_KWH), revenue)
    fee = (revenue - energy_cost) * fee_bps // BPS
    net = revenue - energy_cost - fee
    record = dict(gross=gross, credits=credits, energyCost=energy_cost, fee=fee, net=net, addedRevenue=added,
                  leasedGpus=leased, deliveredWad=d, availableWad=a, voided=rep is None)
    return record, fractions


def lease_account(lease, fractions_by_epoch, next_settle, length):
    """A lease's bill (up) and credit (down) from the sums of its epochs' fractions; the reserve (up) for the
    epochs not yet settled; what is refundable."""
    settled_through = min(max(next_settle, lease.start), lease.end)
    charge = sum(fractions_by_epoch[e][lease.offer][0] for e in range(lease.start, settled_through))
    credit = sum(fractions_by_epoch[e][lease.offer][1] for e in range(lease.start, settled_through))
    rate = lease.gpus * lease.price
    billed = ceil_div(rate * length * charge, SECONDS_PER_HOUR * WAD)
    credited = rate * length * credit // (SECONDS_PER_HOUR * WAD)
    reserved = ceil_div(rate * (lease.end - settled_through) * length, SECONDS_PER_HOUR)
    kept = billed + reserved + lease.refunded
    total = lease.escrow + lease.penalty
    return dict(billed=billed, credited=credited, reserved=reserved,
                refundable=total - kept if total > kept else 0, settledThrough=settled_through)


def test_every_payout_matches_the_documented_formula_to_the_base_unit(world):
    w, a, m = world, world.actors, world.market
    e0, length = w.e0, 3600
    firm = make_offer(w, gpus=5, price=1_999_999, sla_bps=9_900, credit_bps=1_000)
    spot = make_offer(w, gpus=3, price=1_370_001, sla_bps=9_500, credit_bps=2_000, lease_class=INTERRUPTIBLE,
                      penalty_bps=700)
    l1 = open_lease(w, firm, 3, 4)  # e0+1 .. e0+5
    l2 = open_lease(w, spot, 2, 2, lessee=a.lessee2)  # e0+1 .. e0+3
    w.clock.goto(e0 + 1)
    l3 = open_lease(w, firm, 2, 5)  # e0+2 .. e0+7, terminated below
    l4 = open_lease(w, spot, 1, 3, lessee=a.lessee2)  # e0+2 .. e0+5, cancelled below
    w.clock.goto(e0 + 2)
    m.cancelLease(l4, {"from": a.operator})  # ends at e0+3
    m.addRevenue(w.a1, e0 + 3, 1_234_567, SPOT, {"from": a.operator})
    w.clock.goto(e0 + 3)
    m.terminateLease(l3, {"from": a.lessee})  # ends at e0+4
    w.clock.goto(e0 + 7)

    reports = {
        e0: report(w.a1, e0, 28_800, 9_000, 5_000),  # nothing leased
        e0 + 1: report(w.a1, e0 + 1, 20_000, 9_000, 4_000, curtailed=1_000),  # over the 5 leased GPUs: d = 1
        e0 + 2: report(w.a1, e0 + 2, 27_000, 8_000, 4_500, curtailed=1_000),  # 8 leased: firm credited
        e0 + 3: report(w.a1, e0 + 3, 12_345, 7_000, 3_333, curtailed=3_000),  # 5 leased, below every SLA
        e0 + 4: report(w.a1, e0 + 4, 0, 0, 100),  # outage: 3 leased, nothing delivered
        e0 + 5: report(w.a1, e0 + 5, 1_000, 5_000, 50),  # nothing leased
    }
    # E0..E0+2 stored by `submit`; E0+3..E0+5 proven at settlement against roots; E0+6 void.
    w.meter.poster.post([reports[e] for e in (e0, e0 + 1, e0 + 2)])
    m.settleThrough(w.a1, e0 + 2, {"from": a.keeper})
    proven, proofs = [], []
    for e in (e0 + 3, e0 + 4, e0 + 5):
        tree = w.meter.poster.commit_root(e, [reports[e], report(w.a2, e, 14_400, 8_000, 1_000)])
        proven.append(reports[e].as_abi_tuple())
        proofs.append(tree.proof(w.a1, e))
    assert m.settleMany(proven, proofs, {"from": a.keeper}).return_value == 3
    w.clock.goto_time(w.clock.end(e0 + 6) + GRACE)
    m.settle(w.a1, e0 + 6, {"from": a.keeper})

    # The model, from what anyone can read.
    offers = {}
    for offer_id in (firm, spot):
        t = m.offerTerms(offer_id)
        offers[offer_id] = Offer(t["leaseClass"], t["slaUptimeBps"], t["slaCreditBps"])
    leases = {}
    for lease_id in (l1, l2, l3, l4):
        g = m.getLease(lease_id)
        leases[lease_id] = Lease(g["offerId"], g["gpus"], g["pricePerGpuHour"], g["startEpoch"], g["endEpoch"],
                                 g["escrow"], g["penalty"], g["refunded"])
    assert [(x.start, x.end) for x in leases.values()] == [
        (e0 + 1, e0 + 5), (e0 + 1, e0 + 3), (e0 + 2, e0 + 4), (e0 + 2, e0 + 3)]
    _, _, pue_bps, tariff, fee_bps = w.registry.economicsOf(w.a1)
    economics = (pue_bps, tariff, fee_bps)

    fractions_by_epoch = {}
    operator_total = 0
    for epoch in range(e0, e0 + 7):
        expected, fractions = epoch_split(epoch, reports.get(epoch), leases, offers,
                                          m.addedRevenue(w.a1, epoch), economics, length)
        fractions_by_epoch[epoch] = fractions
        record = m.settlementOf(w.a1, epoch)
        assert {key: record[key] for key in expected} == expected, f"epoch E0+{epoch - e0}"
        operator_total += expected["energyCost"] + expected["fee"]

    # Every figure the run was built to exercise really occurred.
    by_epoch = {e: m.settlementOf(w.a1, e) for e in range(e0, e0 + 7)}
    assert by_epoch[e0 + 1]["deliveredWad"] == WAD and by_epoch[e0 + 1]["leasedGpus"] == 5
    assert by_epoch[e0 + 2]["credits"] > 0 and by_epoch[e0 + 3]["credits"] > 0
    assert by_epoch[e0 + 3]["addedRevenue"] == 1_234_567
    assert by_epoch[e0 + 4]["gross"] == 0 and by_epoch[e0 + 6]["voided"]

    next_settle = m.nextSettleEpoch(w.a1)
    assert next_settle == e0 + 7
    for lease_id, lease in leases.items():
        expected = lease_account(lease, fractions_by_epoch, next_settle, length)
        account = m.leaseAccount(lease_id)
        assert {key: account[key] for key in expected} == expected, f"lease {lease_id}"
    assert m.operatorBalance(a.operator) == operator_total
