"""Proof at settlement and billing by leased capacity.

Root-only posting: the oracle holds one quorum-signed Merkle root per epoch and nothing else; `settleWithProof`
and `settleMany` take each report with its proof, the oracle's `verifyReport` applies every check `submit`
applies (live root, proof, asset status, reporting started, bounds) and the market keeps contiguity. The
report itself is never stored: its EIP-712 struct hash is the audit record's `reportHash`.

Figures (see test_settlement.py): H100 cluster, 8 GPUs, PUE 1.20, $0.12/kWh (energy = Wh x 144 base units),
fee 10%; the default offer is 8 GPUs at $2/GPU-h with a 99% SLA and a 10% credit.
"""

from __future__ import annotations

from scripts.samples import usd
from tests.contracts.leases._market import (
    GRACE,
    H100_FULL,
    L40S_FULL,
    assert_record_adds_up,
    make_offer,
    open_lease,
)
from tests.support.events import assert_event, assert_no_event, count_events
from tests.support.meter import report
from tests.support.reverts import reverts_with

WAD = 10**18
STATUS_ACTIVE, STATUS_SUSPENDED = 1, 2


def _root(w, epoch, **h100_figures):
    """Commits the epoch's root over both sample assets (H100 with `h100_figures`, L40S full); returns
    (tree, h100 report, l40s report)."""
    figures = {**dict(gpu_seconds=8 * 3600, utilization_bps=9_000, energy_wh=5_000), **h100_figures}
    h100 = report(w.a1, epoch, **figures)
    l40s = report(w.a2, epoch, **L40S_FULL)
    tree = w.meter.poster.commit_root(epoch, [h100, l40s])
    return tree, h100, l40s


def _args(tree, r):
    return r.as_abi_tuple(), tree.proof(r.asset_id, r.epoch)


# ------------------------------------------------------------------------------------------ settleWithProof


def test_settle_with_proof_settles_the_epoch_without_storing_the_report(world):
    w, a, m = world, world.actors, world.market
    lease = open_lease(w, make_offer(w), 4, 1)  # E0+1 only: $8
    w.clock.goto(w.e0 + 2)
    tree0, h0, _ = _root(w, w.e0)
    m.settleWithProof(*_args(tree0, h0), {"from": a.keeper})
    tree1, h1, _ = _root(w, w.e0 + 1)

    tx = m.settleWithProof(*_args(tree1, h1), {"from": a.mallory})

    # Full delivery: gross $8, energy 5,000 x 144 = $0.72, fee 10% x $7.28 = $0.728, net $6.552.
    leaf = w.oracle.hashReport(h1.as_abi_tuple())
    assert_event(tx, "EpochSettled", assetId=w.a1, epoch=w.e0 + 1, reportHash=leaf, gross=usd(8), credits=0,
                 energyCost=usd("0.72"), fee=usd("0.728"), net=usd("6.552"))
    assert_no_event(tx, "ReportAccepted")  # nothing stored in the oracle
    assert not w.oracle.hasReport(w.a1, w.e0 + 1)
    assert w.oracle.cursorOf(w.a1)[0] == w.e0  # the oracle's own cursor is for stored reports only
    record = w.market.settlementOf(w.a1, w.e0 + 1)
    assert record["reportHash"] == leaf and not record["voided"]
    assert record["gross"] == record["credits"] + record["energyCost"] + record["fee"] + record["net"]
    assert (record["leasedGpus"], record["deliveredWad"], record["availableWad"]) == (4, WAD, WAD)
    assert m.nextSettleEpoch(w.a1) == w.e0 + 2
    assert m.leaseAccount(lease)["billed"] == usd(8)


def test_settle_with_proof_reverts_on_a_wrong_or_tampered_proof(world):
    w, a, m = world, world.actors, world.market
    make_offer(w)
    w.clock.goto(w.e0 + 1)
    tree, h100, l40s = _root(w, w.e0)

    with reverts_with(w.oracle, "InvalidProof", w.a1, w.e0):
        m.settleWithProof(h100.as_abi_tuple(), tree.proof(w.a2, w.e0), {"from": a.keeper})
    tampered = h100.model_copy(update={"gpu_seconds": h100.gpu_seconds - 1})
    with reverts_with(w.oracle, "InvalidProof", w.a1, w.e0):
        m.settleWithProof(tampered.as_abi_tuple(), tree.proof(w.a1, w.e0), {"from": a.keeper})
    assert m.nextSettleEpoch(w.a1) == w.e0


def test_settle_with_proof_reverts_out_of_order_or_twice(world):
    w, a, m = world, world.actors, world.market
    make_offer(w)
    w.clock.goto(w.e0 + 2)
    tree0, h0, _ = _root(w, w.e0)
    tree1, h1, _ = _root(w, w.e0 + 1)

    with reverts_with(m, "EpochNotSettleable", w.a1, w.e0 + 1, w.e0):
        m.settleWithProof(*_args(tree1, h1), {"from": a.keeper})
    m.settleWithProof(*_args(tree0, h0), {"from": a.keeper})
    with reverts_with(m, "EpochAlreadySettled", w.a1, w.e0):
        m.settleWithProof(*_args(tree0, h0), {"from": a.keeper})


def test_settle_with_proof_reverts_without_a_root_or_for_an_unenrolled_asset(world):
    w, a, m = world, world.actors, world.market
    make_offer(w)
    w.clock.goto(w.e0 + 1)
    r = report(w.a1, w.e0, **H100_FULL)

    with reverts_with(w.oracle, "RootNotCommitted", w.e0):
        m.settleWithProof(r.as_abi_tuple(), [], {"from": a.keeper})
    with reverts_with(m, "AssetNotEnrolled", w.a2):  # the L40S has no offer: never enrolled
        m.settleWithProof(report(w.a2, w.e0, **L40S_FULL).as_abi_tuple(), [], {"from": a.keeper})


def test_settle_with_proof_applies_the_oracle_checks_asset_status_and_bounds(world):
    w, a, m = world, world.actors, world.market
    make_offer(w)
    w.clock.goto(w.e0 + 1)
    # The quorum signed a physically impossible H100 report (9 GPUs' worth of seconds).
    tree, h100, _ = _root(w, w.e0, gpu_seconds=9 * 3600)

    with reverts_with(w.oracle, "GpuSecondsOutOfBounds", w.a1, w.e0, 9 * 3600, 8 * 3600):
        m.settleWithProof(*_args(tree, h100), {"from": a.keeper})
    w.registry.setStatus(w.a1, STATUS_SUSPENDED, {"from": a.admin})
    with reverts_with(w.oracle, "AssetNotActive", w.a1, STATUS_SUSPENDED):
        m.settleWithProof(*_args(tree, h100), {"from": a.keeper})


def test_settle_with_proof_defers_to_a_stored_report(world):
    w, a, m = world, world.actors, world.market
    make_offer(w)
    w.clock.goto(w.e0 + 1)
    tree, h100, _ = _root(w, w.e0)
    w.meter.post(w.a1, w.e0, **H100_FULL)  # the same epoch stored by `submit`

    with reverts_with(w.oracle, "EpochAlreadyReported", w.a1, w.e0):
        m.settleWithProof(*_args(tree, h100), {"from": a.keeper})
    tx = m.settle(w.a1, w.e0, {"from": a.keeper})  # the stored report governs
    # No lease in E0: nothing billed.
    assert_event(tx, "EpochSettled", assetId=w.a1, epoch=w.e0, reportHash=w.oracle.reportHashOf(w.a1, w.e0),
                 gross=0, credits=0, energyCost=0, fee=0, net=0)


def test_void_epoch_still_settles_after_the_grace_period(world):
    w, a, m = world, world.actors, world.market
    lease = open_lease(w, make_offer(w), 4, 1)
    w.clock.goto(w.e0 + 1)
    tree, h0, _ = _root(w, w.e0)
    m.settleWithProof(*_args(tree, h0), {"from": a.keeper})
    w.clock.goto_time(w.clock.end(w.e0 + 1) + GRACE)  # E0+1: no root, grace over

    tx = m.settle(w.a1, w.e0 + 1, {"from": a.keeper})

    assert_event(tx, "EpochVoided", assetId=w.a1, epoch=w.e0 + 1)
    assert m.leaseAccount(lease)["billed"] == 0


# ------------------------------------------------------------------------------------------ root voiding


def test_settle_with_proof_reverts_against_a_voided_root_until_the_current_set_commits_again(world):
    w, a, m = world, world.actors, world.market
    make_offer(w)
    w.clock.goto(w.e0 + 1)
    tree, h100, _ = _root(w, w.e0, gpu_seconds=1)  # a compromised quorum under-reports
    version = w.oracle.configVersion()

    tx = w.oracle.voidRoot(w.e0, {"from": a.admin})

    assert_event(tx, "RootVoided", epoch=w.e0, root="0x" + tree.root.hex(), configVersion=version)
    assert w.oracle.rootInfo(w.e0)["voided"] is True
    with reverts_with(w.oracle, "RootVoid", w.e0, version, version):
        m.settleWithProof(*_args(tree, h100), {"from": a.keeper})
    with reverts_with(w.oracle, "RootAlreadyVoided", w.e0):
        w.oracle.voidRoot(w.e0, {"from": a.admin})

    honest, h100_honest, _ = _root(w, w.e0)  # recommitted by the current set
    m.settleWithProof(*_args(honest, h100_honest), {"from": a.keeper})
    assert w.market.settlementOf(w.a1, w.e0)["reportHash"] == w.oracle.hashReport(h100_honest.as_abi_tuple())
    assert m.nextSettleEpoch(w.a1) == w.e0 + 1


def test_rotation_voids_unused_roots_of_the_old_set_but_not_what_they_settled(world, oracle_signers):
    w, a, m = world, world.actors, world.market
    make_offer(w)
    make_offer(w, w.a2, gpus=4)
    w.clock.goto(w.e0 + 1)
    tree, h100, l40s = _root(w, w.e0)
    m.settleWithProof(*_args(tree, h100), {"from": a.keeper})  # used before the rotation
    old = w.oracle.configVersion()
    signers = sorted(s.address for s in oracle_signers)

    w.oracle.setSigners(signers, 3, {"from": a.admin})  # same set, new threshold: version + 1

    info = w.oracle.rootInfo(w.e0)
    assert (info["configVersion"], info["voided"]) == (old, True)
    with reverts_with(w.oracle, "RootVoid", w.e0, old, old + 1):
        m.settleWithProof(*_args(tree, l40s), {"from": a.keeper})
    assert m.nextSettleEpoch(w.a1) == w.e0 + 1  # what it settled stays settled
    # The new set commits the epoch again; the L40S settles against it.
    tree2 = w.meter.poster.commit_root(w.e0, [h100, l40s], signers=w.meter.poster.signers)
    m.settleWithProof(l40s.as_abi_tuple(), tree2.proof(w.a2, w.e0), {"from": a.keeper})
    assert m.nextSettleEpoch(w.a2) == w.e0 + 1


def test_void_root_is_admin_only_and_needs_a_root(world):
    w, a = world, world.actors
    w.clock.goto(w.e0 + 1)
    with reverts_with(w.oracle, "RootNotCommitted", w.e0):
        w.oracle.voidRoot(w.e0, {"from": a.admin})
    _root(w, w.e0)
    role = w.oracle.ORACLE_ADMIN_ROLE()
    with reverts_with(w.oracle, "AccessControlUnauthorizedAccount", a.mallory, role):
        w.oracle.voidRoot(w.e0, {"from": a.mallory})


# ------------------------------------------------------------------------------------------ settleMany


def test_settle_many_settles_across_assets_and_epochs_and_replays_as_a_no_op(world):
    w, a, m = world, world.actors, world.market
    open_lease(w, make_offer(w), 8, 2)  # $16 per epoch
    open_lease(w, make_offer(w, w.a2, gpus=4, price=usd(1)), 4, 2, lessee=a.lessee2)  # $4 per epoch
    w.clock.goto(w.e0 + 3)
    trees = {e: _root(w, e) for e in (w.e0, w.e0 + 1, w.e0 + 2)}
    reports, proofs = [], []
    for e in (w.e0, w.e0 + 1, w.e0 + 2):
        tree, h100, l40s = trees[e]
        for r in (h100, l40s):
            reports.append(r.as_abi_tuple())
            proofs.append(tree.proof(r.asset_id, e))

    tx = m.settleMany(reports, proofs, {"from": a.keeper})

    assert tx.return_value == 6 and count_events(tx, "EpochSettled") == 6
    assert m.nextSettleEpoch(w.a1) == m.nextSettleEpoch(w.a2) == w.e0 + 3
    for e in (w.e0 + 1, w.e0 + 2):
        assert assert_record_adds_up_proven(w, w.a1, e)["gross"] == usd(16)
        assert assert_record_adds_up_proven(w, w.a2, e)["gross"] == usd(4)
    replay = m.settleMany(reports, proofs, {"from": a.keeper})
    assert replay.return_value == 0 and count_events(replay, "EpochSettled") == 0


def test_settle_many_reverts_on_a_gap_or_a_proof_count_mismatch(world):
    w, a, m = world, world.actors, world.market
    make_offer(w)
    w.clock.goto(w.e0 + 2)
    tree1, h1, _ = _root(w, w.e0 + 1)

    with reverts_with(m, "ProofCountMismatch", 1, 0):
        m.settleMany([h1.as_abi_tuple()], [], {"from": a.keeper})
    with reverts_with(m, "EpochNotSettleable", w.a1, w.e0 + 1, w.e0):
        m.settleMany([h1.as_abi_tuple()], [tree1.proof(w.a1, w.e0 + 1)], {"from": a.keeper})


def assert_record_adds_up_proven(w, asset_id, epoch):
    """A proven epoch's record: gross = credits + energy + fee + net exactly (its report is not stored)."""
    record = w.market.settlementOf(asset_id, epoch)
    assert record["gross"] == record["credits"] + record["energyCost"] + record["fee"] + record["net"]
    return record


# ------------------------------------------------------------------------------------ leased capacity


def test_idle_faulty_gpus_do_not_lower_a_lessees_bill(world):
    w, a, m = world, world.actors, world.market
    lease = open_lease(w, make_offer(w), 4, 1)  # 4 of 8 GPUs: $8
    w.clock.goto(w.e0 + 2)
    w.meter.post(w.a1, w.e0, **H100_FULL)
    # Only 4 GPUs healthy all hour (the other 4, idle, failed): 14,400 GPU-s = the leased capacity.
    w.meter.post(w.a1, w.e0 + 1, gpu_seconds=14_400, utilization_bps=9_000, energy_wh=2_500)

    tx = m.settleThrough(w.a1, w.e0 + 1, {"from": a.keeper})

    # d = min(1, 14,400 / (4 x 3,600)) = 1: billed in full, no SLA credit (per-asset capacity said 50%).
    # energy 2,500 x 144 = $0.36; fee 10% x $7.64 = $0.764; net $6.876.
    assert_event(tx, "EpochSettled", index=1, assetId=w.a1, epoch=w.e0 + 1,
                 reportHash=w.oracle.reportHashOf(w.a1, w.e0 + 1), gross=usd(8), credits=0,
                 energyCost=usd("0.36"), fee=usd("0.764"), net=usd("6.876"))
    record = assert_record_adds_up(w, w.a1, w.e0 + 1)
    assert (record["leasedGpus"], record["deliveredWad"]) == (4, WAD)
    assert m.leaseAccount(lease)["billed"] == usd(8)


def test_healthy_capacity_below_the_leased_bills_every_lessee_alike(world):
    w, a, m = world, world.actors, world.market
    offer = make_offer(w)
    first = open_lease(w, offer, 4, 1)
    second = open_lease(w, offer, 2, 1, lessee=a.lessee2)
    w.clock.goto(w.e0 + 2)
    w.meter.post(w.a1, w.e0, **H100_FULL)
    # 6 GPUs leased (21,600 GPU-s); 3 healthy (10,800): d = 50% < 99% SLA -> 10% credit.
    w.meter.post(w.a1, w.e0 + 1, gpu_seconds=10_800, curtailed=0, utilization_bps=9_000, energy_wh=2_500)

    m.settleThrough(w.a1, w.e0 + 1, {"from": a.keeper})

    record = assert_record_adds_up(w, w.a1, w.e0 + 1)
    # gross = 6 x $2 x 0.5 = $6; charged $5.40; credits $0.60.
    assert (record["leasedGpus"], record["deliveredWad"], record["gross"], record["credits"]) == (
        6, WAD // 2, usd(6), usd("0.6"))
    # Each lease pays half its rate less 10%: $8 x 0.45 = $3.60 and $4 x 0.45 = $1.80.
    assert m.leaseAccount(first)["billed"] == usd("3.6")
    assert m.leaseAccount(second)["billed"] == usd("1.8")


# ------------------------------------------------------------------------------------------ cursors


def test_lens_cursors_of_returns_every_assets_report_and_settle_cursors_in_one_call(world):
    w, a, m = world, world.actors, world.market
    make_offer(w)  # the H100 enrols; the L40S does not
    w.clock.goto(w.e0 + 2)
    w.meter.post(w.a1, w.e0, **H100_FULL)
    m.settle(w.a1, w.e0, {"from": a.keeper})
    unknown = 999

    cursors = w.lens.cursorsOf([w.a1, w.a2, unknown])

    # (nextReportEpoch, reportingStarted, nextSettleEpoch, enrolled)
    assert [tuple(c) for c in cursors] == [(w.e0 + 1, True, w.e0 + 1, True), (w.e0, True, 0, False), (0, False, 0, False)]
    assert [tuple(c) for c in w.oracle.cursorsOf([w.a1, w.a2])] == [(w.e0 + 1, True), (w.e0, True)]
    assert w.lens.cursorsOf([]) == ()
