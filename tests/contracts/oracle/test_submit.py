"""MeteringOracle.submit: what an accepted batch stores and emits, in every shape a batch may take."""

from __future__ import annotations

import pytest
from brownie import chain

from tests.contracts.oracle._quorum import (
    FIRST_EPOCH,
    H100_MAX_ENERGY_WH,
    H100_MAX_GPU_SECONDS,
    L40S_MAX_ENERGY_WH,
    L40S_MAX_GPU_SECONDS,
    THRESHOLD,
    as_bytes,
    full_h100,
    full_l40s,
)
from tests.contracts.oracle._reverts import reverts
from tests.contracts.oracle._signing import Report, batch_digest, report_struct_hash
from scripts.samples import H100_CLUSTER, register_asset


def _stored(oracle, report: Report) -> tuple:
    stored, posted_at = oracle.getReport(report.assetId, report.epoch)
    return tuple(stored), posted_at


def test_submit_stores_report_and_emits_report_and_batch_events(oracle, quorum, started, keeper):
    h100, _ = started
    report = Report(h100, FIRST_EPOCH, 27_500, 300, 7_512, 5_123)
    signatures = quorum.sign_batch([report])

    tx = oracle.submit(1, [report], oracle.signers(), signatures, {"from": keeper})

    assert _stored(oracle, report) == (tuple(report), chain[tx.block_number].timestamp)
    assert oracle.hasReport(h100, FIRST_EPOCH)
    assert tuple(oracle.cursorOf(h100)) == (FIRST_EPOCH + 1, True)
    accepted = tx.events["ReportAccepted"]
    assert len(accepted) == 1
    assert accepted[0]["assetId"] == h100 and accepted[0]["epoch"] == FIRST_EPOCH
    assert as_bytes(accepted[0]["reportHash"]) == report_struct_hash(report)
    # No batch event: the signatures are in the calldata and their digest is recomputable on-chain.
    assert "BatchAccepted" not in tx.events
    assert as_bytes(oracle.batchDigest(1, [report])) == batch_digest(quorum.domain, 1, [report])


@pytest.mark.parametrize("subset", [(0, 1, 2), (0, 2, 4), (1, 3, 4), (2, 3, 4), (0, 1, 2, 3), (0, 1, 2, 3, 4)])
def test_submit_accepts_any_quorum_subset_in_ascending_order(oracle, quorum, started, keeper, subset):
    h100, _ = started
    current = quorum.current()
    report = full_h100(h100, FIRST_EPOCH)

    tx = oracle.submit(1, [report], oracle.signers(), quorum.sign_batch([report], [current[i] for i in subset]),
                       {"from": keeper})

    assert len(tx.events["ReportAccepted"]) == 1
    assert oracle.hasReport(h100, FIRST_EPOCH)


def test_submit_accepts_batch_mixing_assets_and_epochs_and_moves_each_cursor(oracle, quorum, started, keeper):
    h100, l40s = started
    reports = [
        full_h100(h100, 10),
        full_l40s(l40s, 10),
        full_h100(h100, 11),
        full_h100(h100, 12),
        full_l40s(l40s, 11),
        full_h100(h100, 13),
    ]

    tx = quorum.submit(reports, keeper)

    assert tuple(oracle.cursorOf(h100)) == (14, True)
    assert tuple(oracle.cursorOf(l40s)) == (12, True)
    events = tx.events["ReportAccepted"]
    assert [(e["assetId"], e["epoch"]) for e in events] == [(r.assetId, r.epoch) for r in reports]
    assert [as_bytes(e["reportHash"]) for e in events] == [report_struct_hash(r) for r in reports]
    for report in reports:
        assert _stored(oracle, report)[0] == tuple(report)
    assert len(events) == len(reports)
    assert not oracle.hasReport(h100, 14) and not oracle.hasReport(l40s, 12)


def test_submit_catches_up_many_epochs_of_one_asset(oracle, quorum, started, keeper):
    h100, _ = started
    current = oracle.epochAt(chain.time())
    reports = [full_h100(h100, epoch) for epoch in range(FIRST_EPOCH, current)]

    quorum.submit(reports, keeper)

    assert tuple(oracle.cursorOf(h100)) == (current, True)
    assert all(oracle.hasReport(h100, epoch) for epoch in range(FIRST_EPOCH, current))
    assert not oracle.hasReport(h100, current)


def test_submit_continues_from_the_cursor_across_batches(oracle, quorum, started, keeper):
    h100, l40s = started
    quorum.submit([full_h100(h100, 10), full_h100(h100, 11)], keeper)
    quorum.submit([full_l40s(l40s, 10), full_h100(h100, 12)], keeper)
    quorum.submit([full_h100(h100, 13)], keeper)

    assert tuple(oracle.cursorOf(h100)) == (14, True)
    assert tuple(oracle.cursorOf(l40s)) == (11, True)


def test_submit_accepts_an_outage_as_zero_gpu_seconds_with_energy(oracle, quorum, started, keeper):
    h100, _ = started
    outage = Report(h100, FIRST_EPOCH, 0, 0, 0, 35)  # idle power still draws energy

    quorum.submit([outage], keeper)

    assert _stored(oracle, outage)[0] == tuple(outage)


def test_submit_accepts_values_exactly_at_the_physical_limits(oracle, quorum, started, keeper):
    h100, l40s = started
    h_edge = Report(h100, FIRST_EPOCH, H100_MAX_GPU_SECONDS - 600, 600, 10_000, H100_MAX_ENERGY_WH)
    l_edge = Report(l40s, FIRST_EPOCH, L40S_MAX_GPU_SECONDS, 0, 10_000, L40S_MAX_ENERGY_WH)

    quorum.submit([h_edge, l_edge], keeper)

    assert _stored(oracle, h_edge)[0] == tuple(h_edge)
    assert _stored(oracle, l_edge)[0] == tuple(l_edge)


def test_submit_is_open_to_anyone_with_a_quorum(oracle, quorum, started, actors):
    h100, _ = started

    quorum.submit([full_h100(h100, FIRST_EPOCH)], actors.mallory)

    assert oracle.hasReport(h100, FIRST_EPOCH)


def test_submit_accepts_an_epoch_once_it_has_ended(oracle, quorum, suite, actors, keeper):
    fresh = register_asset(suite, actors.admin, actors.operator, H100_CLUSTER)
    current = oracle.epochAt(chain.time())
    oracle.startReporting(fresh.asset_id, current, {"from": actors.admin})
    report = full_h100(fresh.asset_id, current)
    ends_at = oracle.epochEnd(current)

    with reverts("EpochNotEnded(uint256,uint64,uint256)", fresh.asset_id, current, ends_at):
        quorum.submit([report], keeper)

    chain.sleep(ends_at - chain.time())
    chain.mine()
    quorum.submit([report], keeper)

    assert oracle.hasReport(fresh.asset_id, current)
    assert tuple(oracle.cursorOf(fresh.asset_id)) == (current + 1, True)


def test_submit_reverts_on_empty_batch(oracle, quorum, started, keeper):
    with reverts("EmptyBatch()"):
        oracle.submit(1, [], oracle.signers(), quorum.sign_batch([]), {"from": keeper})


def test_submit_reverting_report_stores_nothing_of_its_batch(oracle, quorum, started, keeper):
    h100, _ = started
    good = full_h100(h100, 10)
    bad = Report(h100, 11, H100_MAX_GPU_SECONDS + 1, 0, 5_000, 100)

    with reverts("GpuSecondsOutOfBounds(uint256,uint64,uint256,uint256)", h100, 11, H100_MAX_GPU_SECONDS + 1,
                 H100_MAX_GPU_SECONDS):
        quorum.submit([good, bad], keeper)

    assert not oracle.hasReport(h100, 10)
    assert tuple(oracle.cursorOf(h100)) == (10, True)
