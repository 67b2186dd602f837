"""Range proofs at settlement: `MeteringOracle.verifyReportRange` proves a contiguous run of one epoch's leaves with
one range proof (at most two hashes per tree layer, built by `oracle.eip712.MerkleTree.range_proof`) and applies
`verifyReport`'s per-report checks; `LeaseMarket.settleRange` settles the run with one oracle call.

The fleet here: the two sample assets plus six more 8x H100 clusters (ids 3..8), all reporting from E0. Trees are
committed over these eight real reports placed at chosen positions among reports of unregistered assets (ids from
1,000; never in a tested run), in the order given: the contract takes the committed leaf order as it is.
"""

from __future__ import annotations

import pytest

from oracle.eip712 import build_report_tree, report_struct_hash, root_digest
from oracle.signer import sign_sorted
from scripts.samples import H100_CLUSTER, register_asset
from tests.contracts.leases._market import H100_FULL, L40S_FULL, make_offer
from tests.support.events import count_events
from tests.support.meter import report
from tests.support.reverts import reverts_with

EXTRA_ASSETS = 6
PADDING_ID = 1_000


@pytest.fixture(scope="module")
def fleet(world):
    """`world` with six more H100 clusters reporting from E0; the eight real asset ids, ascending."""
    ids = [world.a1, world.a2]
    for _ in range(EXTRA_ASSETS):
        asset = register_asset(world.suite, world.actors.admin, world.actors.operator, H100_CLUSTER)
        world.oracle.startReporting(asset.asset_id, world.e0, {"from": world.actors.admin})
        ids.append(asset.asset_id)
    return ids


def _real(w, asset_id, epoch):
    figures = L40S_FULL if asset_id == w.a2 else H100_FULL
    return report(asset_id, epoch, **figures)


def _commit(w, epoch, reports):
    """Commits the root of `reports` in this leaf order (quorum-signed); returns the tree."""
    tree = build_report_tree(reports)
    poster = w.meter.poster
    version = w.oracle.configVersion()
    digest = root_digest(poster.domain, version, epoch, len(reports), tree.root)
    signatures = [s.signature.as_abi_tuple() for s in sign_sorted(digest, poster.signers[: w.oracle.threshold()])]
    w.oracle.commitRoot(version, (epoch, len(reports), tree.root), list(w.oracle.signers()), signatures,
                        {"from": w.actors.keeper})
    return tree


def _layout(w, ids, epoch, size, offset):
    """`size` reports of `epoch`: the real assets' from position `offset` on (as many as fit), padding around."""
    real = [_real(w, a, epoch) for a in ids[: max(0, min(len(ids), size - offset))]]
    padding = [report(PADDING_ID + i, epoch, gpu_seconds=i) for i in range(size - len(real))]
    return padding[:offset] + real + padding[offset:]


def _offer(w, assets):
    """An offer of all its GPUs on each asset (which enrols it in the market)."""
    for asset in assets:
        make_offer(w, asset, gpus=4 if asset == w.a2 else 8)


def _oracle_calls(tx, oracle):
    """The 4-byte selectors of every call the transaction made to `oracle` (Anvil's call tracer), in order."""
    from brownie import web3

    trace = web3.provider.make_request("debug_traceTransaction", [tx.txid, {"tracer": "callTracer"}])["result"]
    found, frames = [], [trace]
    while frames:
        frame = frames.pop(0)
        if frame.get("to", "").lower() == oracle.address.lower():
            found.append(frame["input"][:10])
        frames.extend(frame.get("calls", []))
    return found


def _abi(reports):
    return [r.as_abi_tuple() for r in reports]


# ------------------------------------------------------------------------------------------ verifyReportRange


def test_verify_report_range_accepts_pythons_range_proofs_for_every_run_of_real_leaves(world, fleet):
    w = world
    # (tree size, position of the first real report): trees of 1..100 leaves, real runs at the front, middle, end.
    shapes = [(1, 0), (2, 1), (3, 0), (5, 2), (8, 0), (9, 1), (13, 5), (37, 29), (64, 17), (100, 3)]
    w.clock.goto(w.e0 + len(shapes))
    checked = 0
    for k, (size, offset) in enumerate(shapes):
        epoch = w.e0 + k
        reports = _layout(w, fleet, epoch, size, offset)
        tree = _commit(w, epoch, reports)
        real_end = offset + min(len(fleet), size - offset)
        for first in range(offset, real_end):
            for count in range(1, real_end - first + 1):
                run = reports[first : first + count]
                hashes = w.oracle.verifyReportRange(_abi(run), first, tree.range_proof(first, count))
                assert [bytes(h) for h in hashes] == [report_struct_hash(r) for r in run]
                checked += 1
    assert checked == 1 + 1 + 6 + 6 + 36 * 6  # 1, 1, 3, 3 and then 8 real leaves: n(n+1)/2 runs each


def test_verify_report_range_rejects_tampered_proofs_and_reports_with_exact_errors(world, fleet):
    w = world
    epoch = w.e0
    w.clock.goto(w.e0 + 1)
    reports = _layout(w, fleet, epoch, 21, 6)  # real reports at leaves 6..13
    first, count = 7, 5
    run = reports[first : first + count]
    with reverts_with(w.oracle, "RootNotCommitted", epoch):
        w.oracle.verifyReportRange(_abi(run), first, [])
    tree = _commit(w, epoch, reports)
    proof = tree.range_proof(first, count)
    # [7, 11] of 21 (left), [3, 5] of 11 (left), [1, 2] of 6 (left, right), [0, 1] of 3, [0, 0] of 2 (right).
    assert len(proof) == 5

    with reverts_with(w.oracle, "EmptyBatch"):
        w.oracle.verifyReportRange([], first, proof)
    with reverts_with(w.oracle, "RangeOutOfBounds", epoch, 19, 3, 21):
        w.oracle.verifyReportRange(_abi(reports[18:21]), 19, proof)
    with reverts_with(w.oracle, "RangeOutOfBounds", epoch, 21, 1, 21):
        w.oracle.verifyReportRange(_abi(run[:1]), 21, proof)
    other_epoch = _real(w, fleet[3], epoch + 1)
    with reverts_with(w.oracle, "MixedEpochs", 2, epoch + 1, epoch):
        w.oracle.verifyReportRange(_abi([*run[:2], other_epoch, *run[3:]]), first, proof)
    with reverts_with(w.oracle, "RangeProofLength", epoch, 4, 5):
        w.oracle.verifyReportRange(_abi(run), first, proof[:-1])
    with reverts_with(w.oracle, "RangeProofLength", epoch, 6, 5):
        w.oracle.verifyReportRange(_abi(run), first, [*proof, proof[0]])
    for at in range(len(proof)):
        flipped = [*proof]
        flipped[at] = flipped[at][:-1] + bytes([flipped[at][-1] ^ 1])
        with reverts_with(w.oracle, "InvalidRangeProof", epoch, first, count):
            w.oracle.verifyReportRange(_abi(run), first, flipped)
    tampered = run[2].model_copy(update={"energy_wh": run[2].energy_wh - 1})
    with reverts_with(w.oracle, "InvalidRangeProof", epoch, first, count):
        w.oracle.verifyReportRange(_abi([*run[:2], tampered, *run[3:]]), first, proof)
    with reverts_with(w.oracle, "InvalidRangeProof", epoch, first, count - 1):  # a leaf left out
        w.oracle.verifyReportRange(_abi(run[:1] + run[2:]), first, tree.range_proof(first, count - 1))
    # The right hashes in the wrong order (the proof is consumed layer by layer, left sibling first).
    with reverts_with(w.oracle, "InvalidRangeProof", epoch, first, count):
        w.oracle.verifyReportRange(_abi(run), first, proof[::-1])

    assert len(w.oracle.verifyReportRange(_abi(run), first, proof)) == count


def test_verify_report_range_applies_verify_reports_checks_to_every_report(world, fleet):
    w, a = world, world.actors
    epoch = w.e0
    w.clock.goto(w.e0 + 1)
    # Leaf 3 (asset fleet[3]) is physically impossible: 9 GPUs' worth of seconds on an 8-GPU cluster.
    reports = [_real(w, asset, epoch) for asset in fleet]
    reports[3] = report(fleet[3], epoch, gpu_seconds=9 * 3600)
    tree = _commit(w, epoch, reports)

    with reverts_with(w.oracle, "GpuSecondsOutOfBounds", fleet[3], epoch, 9 * 3600, 8 * 3600):
        w.oracle.verifyReportRange(_abi(reports[2:6]), 2, tree.range_proof(2, 4))
    w.oracle.verifyReportRange(_abi(reports[4:8]), 4, tree.range_proof(4, 4))

    # Stored by `proveReports` (the stored report governs): a run holding it is refused.
    w.oracle.proveReports(_abi(reports[5:6]), [tree.proof(5)], {"from": a.mallory})
    with reverts_with(w.oracle, "EpochAlreadyReported", fleet[5], epoch):
        w.oracle.verifyReportRange(_abi(reports[4:8]), 4, tree.range_proof(4, 4))

    w.registry.setStatus(fleet[7], 2, {"from": a.admin})  # Suspended
    with reverts_with(w.oracle, "AssetNotActive", fleet[7], 2):
        w.oracle.verifyReportRange(_abi(reports[6:8]), 6, tree.range_proof(6, 2))

    w.oracle.voidRoot(epoch, {"from": a.admin})
    with reverts_with(w.oracle, "RootVoid", epoch, 1, 1):
        w.oracle.verifyReportRange(_abi(reports[0:2]), 0, tree.range_proof(0, 2))


# ------------------------------------------------------------------------------------------ settleRange


def test_settle_range_settles_a_run_with_one_oracle_call_and_replays_as_a_no_op(world, fleet):
    w, a, m = world, world.actors, world.market
    _offer(w, fleet)
    w.clock.goto(w.e0 + 1)
    reports = [_real(w, asset, w.e0) for asset in fleet]
    tree = _commit(w, w.e0, reports)

    tx = m.settleRange(_abi(reports[1:7]), 1, tree.range_proof(1, 6), {"from": a.mallory})

    assert tx.return_value == 6
    assert count_events(tx, "EpochSettled") == 6
    for r, event in zip(reports[1:7], tx.events["EpochSettled"]):
        assert (event["assetId"], event["epoch"]) == (r.asset_id, w.e0)
        assert bytes(event["reportHash"]) == report_struct_hash(r)
        assert bytes(m.settlementOf(r.asset_id, w.e0)["reportHash"]) == report_struct_hash(r)
        assert m.nextSettleEpoch(r.asset_id) == w.e0 + 1
    assert _oracle_calls(tx, w.oracle) == [w.oracle.verifyReportRange.signature]
    assert not w.oracle.hasReport(reports[1].asset_id, w.e0)  # nothing stored in the oracle
    assert m.nextSettleEpoch(fleet[0]) == w.e0 and m.nextSettleEpoch(fleet[7]) == w.e0

    # The whole tree, replayed over the settled middle: only the two ends settle.
    replay = m.settleRange(_abi(reports), 0, [], {"from": a.keeper})
    assert replay.return_value == 2
    assert [e["assetId"] for e in replay.events["EpochSettled"]] == [fleet[0], fleet[7]]
    again = m.settleRange(_abi(reports), 0, [], {"from": a.keeper})
    assert again.return_value == 0 and count_events(again, "EpochSettled") == 0


def test_settle_range_reverts_for_an_asset_ahead_or_not_enrolled_and_on_a_bad_proof(world, fleet):
    w, a, m = world, world.actors, world.market
    _offer(w, fleet[:4])
    w.clock.goto(w.e0 + 2)
    tree0 = _commit(w, w.e0, [_real(w, asset, w.e0) for asset in fleet])
    reports = [_real(w, asset, w.e0 + 1) for asset in fleet]
    tree1 = _commit(w, w.e0 + 1, reports)
    m.settleRange(_abi([_real(w, asset, w.e0) for asset in fleet[:2]]), 0, tree0.range_proof(0, 2),
                  {"from": a.keeper})

    # fleet[2] still has E0 open: its E0+1 is ahead.
    with reverts_with(m, "EpochNotSettleable", fleet[2], w.e0 + 1, w.e0):
        m.settleRange(_abi(reports[0:4]), 0, tree1.range_proof(0, 4), {"from": a.keeper})
    # fleet[4] has no offer: never enrolled.
    with reverts_with(m, "AssetNotEnrolled", fleet[4]):
        m.settleRange(_abi(reports[4:6]), 4, tree1.range_proof(4, 2), {"from": a.keeper})
    with reverts_with(w.oracle, "InvalidRangeProof", w.e0 + 1, 0, 2):  # the other epoch's proof
        m.settleRange(_abi(reports[0:2]), 0, tree0.range_proof(0, 2), {"from": a.keeper})
    assert m.settleRange(_abi(reports[0:2]), 0, tree1.range_proof(0, 2), {"from": a.keeper}).return_value == 2


def test_settle_range_costs_less_than_settle_many_for_the_same_run(world, fleet):
    w, a, m = world, world.actors, world.market
    _offer(w, fleet)
    w.clock.goto(w.e0 + 3)
    epochs = [[_real(w, asset, w.e0 + k) for asset in fleet] for k in range(3)]
    trees = [_commit(w, w.e0 + k, reports) for k, reports in enumerate(epochs)]
    # Each asset's first epoch settles with cold first writes; compare the two steady ones after it.
    m.settleRange(_abi(epochs[0]), 0, [], {"from": a.keeper})
    many = m.settleMany(_abi(epochs[1]), [trees[1].proof(i) for i in range(len(fleet))], {"from": a.keeper})
    ranged = m.settleRange(_abi(epochs[2]), 0, trees[2].range_proof(0, len(fleet)), {"from": a.keeper})

    assert many.return_value == ranged.return_value == len(fleet)
    assert ranged.gas_used < many.gas_used
