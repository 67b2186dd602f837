"""commitRoot + proveReports: a quorum signs one Merkle root of an epoch's reports (leaves: EIP-712 struct
hashes, OpenZeppelin's commutative sorted-pair keccak256); anyone then stores reports against it."""

from __future__ import annotations

from brownie import chain

from tests.contracts.oracle._quorum import (
    FIRST_EPOCH,
    THRESHOLD,
    as_bytes,
    full_h100,
    full_l40s,
)
from tests.contracts.oracle._reverts import reverts
from tests.contracts.oracle._signing import (
    Report,
    merkle_tree,
    recover,
    report_struct_hash,
    root_digest,
    verify_proof,
)

EPOCH = FIRST_EPOCH


def _epoch_tree(reports):
    leaves = [report_struct_hash(r) for r in reports]
    root, proofs = merkle_tree(leaves)
    assert all(verify_proof(p, root, leaf) for p, leaf in zip(proofs, leaves))
    return root, proofs


def _fleet(h100, l40s, epoch=EPOCH):
    """The epoch's reports: the two real assets and three more (ids 100..102) that stay unproven here."""
    return [full_h100(h100, epoch), full_l40s(l40s, epoch)] + [
        Report(asset_id, epoch, 3_600, 0, 5_000, 500) for asset_id in (100, 101, 102)
    ]


def _commit(oracle, quorum, keeper, epoch, reports, signers=None):
    root, proofs = _epoch_tree(reports)
    signatures = quorum.sign_root(epoch, len(reports), root, signers)
    tx = oracle.commitRoot(quorum.version(), (epoch, len(reports), root), oracle.signers(), signatures,
                           {"from": keeper})
    return tx, root, proofs


def test_commit_root_stores_root_and_emits_with_digest(oracle, quorum, started, keeper):
    h100, l40s = started
    reports = _fleet(h100, l40s)
    tx, root, _ = _commit(oracle, quorum, keeper, EPOCH, reports)

    stored_root, stored_count = oracle.rootOf(EPOCH)
    assert as_bytes(stored_root) == root and stored_count == len(reports)
    event = tx.events["RootCommitted"]
    assert event["epoch"] == EPOCH and as_bytes(event["root"]) == root and event["reportCount"] == len(reports)
    assert as_bytes(event["digest"]) == root_digest(quorum.domain, 1, EPOCH, len(reports), root)
    assert as_bytes(oracle.rootDigest(1, (EPOCH, len(reports), root))) == as_bytes(event["digest"])
    assert "ReportAccepted" not in tx.events  # a root stores no report by itself
    assert not oracle.hasReport(h100, EPOCH)


def test_prove_reports_stores_proven_reports_for_anyone(oracle, quorum, started, keeper, actors):
    h100, l40s = started
    reports = _fleet(h100, l40s)
    _, _, proofs = _commit(oracle, quorum, keeper, EPOCH, reports)

    tx = oracle.proveReports(reports[:2], proofs[:2], {"from": actors.mallory})

    for report in reports[:2]:
        assert tuple(oracle.getReport(report.assetId, EPOCH)[0]) == tuple(report)
        assert as_bytes(oracle.reportHashOf(report.assetId, EPOCH)) == report_struct_hash(report)
    assert [(e["assetId"], e["epoch"], as_bytes(e["reportHash"])) for e in tx.events["ReportAccepted"]] == [
        (r.assetId, r.epoch, report_struct_hash(r)) for r in reports[:2]
    ]
    assert "BatchAccepted" not in tx.events
    assert tuple(oracle.cursorOf(h100)) == (EPOCH + 1, True)
    assert tuple(oracle.cursorOf(l40s)) == (EPOCH + 1, True)


def test_prove_reports_one_at_a_time_and_across_epochs(oracle, quorum, started, keeper):
    h100, l40s = started
    first = _fleet(h100, l40s, EPOCH)
    second = _fleet(h100, l40s, EPOCH + 1)
    _, _, proofs1 = _commit(oracle, quorum, keeper, EPOCH, first)
    _, _, proofs2 = _commit(oracle, quorum, keeper, EPOCH + 1, second)

    oracle.proveReports([first[1]], [proofs1[1]], {"from": keeper})
    oracle.proveReports([first[0], second[0]], [proofs1[0], proofs2[0]], {"from": keeper})

    assert tuple(oracle.cursorOf(h100)) == (EPOCH + 2, True)
    assert tuple(oracle.cursorOf(l40s)) == (EPOCH + 1, True)


def test_prove_reports_accepts_a_single_leaf_root(oracle, quorum, started, keeper):
    h100, _ = started
    report = full_h100(h100, EPOCH)
    _, root, proofs = _commit(oracle, quorum, keeper, EPOCH, [report])
    assert root == report_struct_hash(report) and proofs == [[]]

    oracle.proveReports([report], [[]], {"from": keeper})
    assert oracle.hasReport(h100, EPOCH)


def test_prove_reports_reverts_on_a_wrong_proof(oracle, quorum, started, keeper):
    h100, l40s = started
    reports = _fleet(h100, l40s)
    _, _, proofs = _commit(oracle, quorum, keeper, EPOCH, reports)

    with reverts("InvalidProof(uint256,uint64)", h100, EPOCH):
        oracle.proveReports([reports[0]], [proofs[1]], {"from": keeper})  # another leaf's proof
    with reverts("InvalidProof(uint256,uint64)", h100, EPOCH):
        oracle.proveReports([reports[0]], [[]], {"from": keeper})  # no proof at all
    tampered = reports[0]._replace(gpuSeconds=reports[0].gpuSeconds + 1)
    with reverts("InvalidProof(uint256,uint64)", h100, EPOCH):
        oracle.proveReports([tampered], [proofs[0]], {"from": keeper})  # values not what the quorum signed
    with reverts("InvalidProof(uint256,uint64)", l40s, EPOCH):
        oracle.proveReports([reports[0], reports[1]], [proofs[0], proofs[0]], {"from": keeper})


def test_prove_reports_reverts_against_an_uncommitted_epoch(oracle, quorum, started, keeper):
    h100, l40s = started
    reports = _fleet(h100, l40s)
    _, _, proofs = _commit(oracle, quorum, keeper, EPOCH, reports)
    moved = reports[0]._replace(epoch=EPOCH + 1)

    with reverts("RootNotCommitted(uint64)", EPOCH + 1):
        oracle.proveReports([moved], [proofs[0]], {"from": keeper})


def test_prove_reports_reverts_on_count_mismatch_and_empty_batch(oracle, quorum, started, keeper):
    h100, l40s = started
    reports = _fleet(h100, l40s)
    _, _, proofs = _commit(oracle, quorum, keeper, EPOCH, reports)

    with reverts("ProofCountMismatch(uint256,uint256)", 2, 1):
        oracle.proveReports(reports[:2], proofs[:1], {"from": keeper})
    with reverts("EmptyBatch()"):
        oracle.proveReports([], [], {"from": keeper})


def test_prove_reports_keeps_the_epoch_and_bound_checks(oracle, quorum, started, keeper):
    h100, l40s = started
    later = [full_h100(h100, EPOCH + 1), Report(l40s, EPOCH, 14_400, 1, 0, 0)]  # a gap; an out-of-bounds value
    _, _, proofs = _commit(oracle, quorum, keeper, EPOCH + 1, later[:1])
    _, _, bad_proofs = _commit(oracle, quorum, keeper, EPOCH, later[1:])

    with reverts("EpochGap(uint256,uint64,uint64)", h100, EPOCH + 1, EPOCH):
        oracle.proveReports(later[:1], proofs, {"from": keeper})
    with reverts("GpuSecondsOutOfBounds(uint256,uint64,uint256,uint256)", l40s, EPOCH, 14_401, 14_400):
        oracle.proveReports(later[1:], bad_proofs, {"from": keeper})


def test_prove_reports_reverts_on_an_epoch_already_reported(oracle, quorum, started, keeper):
    h100, l40s = started
    reports = _fleet(h100, l40s)
    _, _, proofs = _commit(oracle, quorum, keeper, EPOCH, reports)
    oracle.proveReports(reports[:1], proofs[:1], {"from": keeper})

    with reverts("EpochAlreadyReported(uint256,uint64)", h100, EPOCH):
        oracle.proveReports(reports[:1], proofs[:1], {"from": keeper})
    with reverts("EpochAlreadyReported(uint256,uint64)", h100, EPOCH):
        quorum.submit([reports[0]], keeper)  # nor through submit


def test_prove_reports_reverts_for_an_unknown_or_suspended_asset(oracle, quorum, suite, started, actors, keeper):
    h100, l40s = started
    reports = _fleet(h100, l40s)
    _, _, proofs = _commit(oracle, quorum, keeper, EPOCH, reports)

    with reverts("UnknownAsset(uint256)", 100):
        oracle.proveReports(reports[2:3], proofs[2:3], {"from": keeper})
    suite.asset_registry.setStatus(l40s, 2, {"from": actors.admin})
    with reverts("AssetNotActive(uint256,uint8)", l40s, 2):
        oracle.proveReports(reports[1:2], proofs[1:2], {"from": keeper})


def test_commit_root_reverts_for_an_epoch_not_ended(oracle, quorum, started, keeper):
    h100, _ = started
    epoch = oracle.epochAt(chain.time())
    reports = [full_h100(h100, epoch)]
    root, _ = _epoch_tree(reports)

    with reverts("RootEpochNotEnded(uint64,uint256)", epoch, oracle.epochEnd(epoch)):
        oracle.commitRoot(1, (epoch, 1, root), oracle.signers(), quorum.sign_root(epoch, 1, root), {"from": keeper})

    chain.sleep(oracle.epochEnd(epoch) - chain.time())
    chain.mine()
    oracle.commitRoot(1, (epoch, 1, root), oracle.signers(), quorum.sign_root(epoch, 1, root), {"from": keeper})
    assert as_bytes(oracle.rootOf(epoch)[0]) == root


def test_commit_root_reverts_when_committed_twice(oracle, quorum, started, keeper):
    h100, l40s = started
    _, root, _ = _commit(oracle, quorum, keeper, EPOCH, _fleet(h100, l40s))
    other, _ = _epoch_tree([full_h100(h100, EPOCH)])

    for candidate in (root, other):
        with reverts("RootAlreadyCommitted(uint64,bytes32)", EPOCH, root):
            oracle.commitRoot(1, (EPOCH, 1, candidate), oracle.signers(), quorum.sign_root(EPOCH, 1, candidate),
                              {"from": keeper})


def test_commit_root_reverts_on_an_empty_root(oracle, quorum, started, keeper):
    zero = bytes(32)
    with reverts("EmptyRoot(uint64)", EPOCH):
        oracle.commitRoot(1, (EPOCH, 0, zero), oracle.signers(), quorum.sign_root(EPOCH, 0, zero), {"from": keeper})


def test_commit_root_verifies_the_quorum(oracle, quorum, started, keeper, signer_accounts):
    h100, l40s = started
    reports = _fleet(h100, l40s)
    root, _ = _epoch_tree(reports)
    commitment = (EPOCH, len(reports), root)

    with reverts("QuorumNotReached(uint256,uint8)", 2, THRESHOLD):
        oracle.commitRoot(1, commitment, oracle.signers(), quorum.sign_root(EPOCH, 5, root, quorum.current()[:2]),
                          {"from": keeper})
    with reverts("ConfigVersionMismatch(uint64,uint64)", 2, 1):
        oracle.commitRoot(2, commitment, oracle.signers(), quorum.sign_root(EPOCH, 5, root), {"from": keeper})
    # Signed with another report count: the digest differs, so the first signature recovers a stranger.
    lying = quorum.sign_root(EPOCH, len(reports) + 1, root)
    recovered = recover(root_digest(quorum.domain, 1, *commitment), lying[0])
    with reverts("NotSigner(uint256,address)", 0, recovered):
        oracle.commitRoot(1, commitment, oracle.signers(), lying, {"from": keeper})
    stranger = signer_accounts[8]
    with reverts("NotSigner(uint256,address)", 0, stranger.address):
        oracle.commitRoot(1, commitment, oracle.signers(), quorum.sign_root(EPOCH, 5, root, [stranger]),
                          {"from": keeper})
    assert tuple(oracle.rootOf(EPOCH))[1] == 0


def test_batch_signatures_do_not_commit_a_root(oracle, quorum, started, keeper):
    """A ReportBatch signature is not a ReportRoot signature (distinct typehashes)."""
    h100, _ = started
    reports = [full_h100(h100, EPOCH)]
    root, _ = _epoch_tree(reports)
    batch_signatures = quorum.sign_batch(reports)
    recovered = recover(root_digest(quorum.domain, 1, EPOCH, 1, root), batch_signatures[0])

    with reverts("NotSigner(uint256,address)", 0, recovered):
        oracle.commitRoot(1, (EPOCH, 1, root), oracle.signers(), batch_signatures, {"from": keeper})
