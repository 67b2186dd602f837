"""The meter issue's attack list: every attack on `submit` fails with its exact custom error and arguments.

Signatures are checked before anything about the reports (Chainlink OCR2's order): the set must hash to the
committed one, each signature must recover (low s), signers must strictly ascend and each be in the set,
then the quorum; then, per report, the asset, the epoch and the values.
"""

from __future__ import annotations

from eth_account import Account
from brownie import MeteringOracle, chain
from eth_utils import keccak

from tests.contracts.oracle._quorum import (
    EPOCH_LENGTH,
    FIRST_EPOCH,
    THRESHOLD,
    full_h100,
    full_l40s,
)
from tests.contracts.oracle._reverts import reverts
from tests.contracts.oracle._signing import (
    SECP256K1_N,
    Domain,
    Report,
    Signature,
    batch_digest,
    by_address,
    recover,
    sign_digest,
    signer_set_hash,
)
from scripts.samples import H100_CLUSTER, STATUS_ACTIVE, STATUS_RETIRED, STATUS_SUSPENDED, register_asset

NOT_SIGNER = "NotSigner(uint256,address)"


def _digest_here(quorum, reports, version=1) -> bytes:
    return batch_digest(quorum.domain, version, reports)


def _rotate_out_lowest(oracle, quorum, actors, signer_accounts):
    """Replaces the lowest-address signer with spare key 5 (threshold stays 3); returns (removed, new set)."""
    old = quorum.current()
    removed = old[0]
    new_set = by_address(old[1:] + [signer_accounts[5]])
    oracle.setSigners([a.address for a in new_set], THRESHOLD, {"from": actors.admin})
    return removed, new_set


# ---------------------------------------------------------------------------------------------- replay


def test_submit_reverts_when_report_replayed_from_another_chain_id(oracle, quorum, started, keeper):
    h100, _ = started
    reports = [full_h100(h100, FIRST_EPOCH)]
    elsewhere = Domain(chain.id + 1, oracle.address)
    signatures = quorum.sign_batch(reports, domain=elsewhere)
    # The contract hashes with its own chain id, so the first signature recovers some unrelated address.
    recovered = recover(_digest_here(quorum, reports), signatures[0])
    assert recovered.lower() not in {a.lower() for a in oracle.signers()}

    with reverts(NOT_SIGNER, 0, recovered):
        oracle.submit(1, reports, oracle.signers(), signatures, {"from": keeper})


def test_submit_reverts_when_report_replayed_to_a_second_oracle(oracle, quorum, suite, started, actors, keeper):
    h100, _ = started
    second = MeteringOracle.deploy(
        suite.asset_registry, oracle.genesis(), EPOCH_LENGTH, oracle.energyMarginBps(), oracle.signers(),
        THRESHOLD, 0, actors.admin, {"from": actors.admin},
    )
    second.startReporting(h100, FIRST_EPOCH, {"from": actors.admin})
    reports = [full_h100(h100, FIRST_EPOCH)]
    signatures = quorum.sign_batch(reports)  # made for the first oracle's domain
    recovered = recover(batch_digest(Domain(chain.id, second.address), 1, reports), signatures[0])

    with reverts(NOT_SIGNER, 0, recovered):
        second.submit(1, reports, second.signers(), signatures, {"from": keeper})

    oracle.submit(1, reports, oracle.signers(), signatures, {"from": keeper})  # where they belong: accepted
    assert oracle.hasReport(h100, FIRST_EPOCH) and not second.hasReport(h100, FIRST_EPOCH)


def test_submit_reverts_when_removed_signer_signs_with_the_old_set(
    oracle, quorum, started, actors, keeper, signer_accounts
):
    h100, _ = started
    old_set = quorum.current()
    removed, new_set = _rotate_out_lowest(oracle, quorum, actors, signer_accounts)
    reports = [full_h100(h100, FIRST_EPOCH)]
    signatures = quorum.sign_batch(reports, [removed] + old_set[1:3], version=2)

    with reverts(
        "SignerSetMismatch(bytes20,bytes20)",
        signer_set_hash(a.address for a in old_set),
        signer_set_hash(a.address for a in new_set),
    ):
        oracle.submit(2, reports, [a.address for a in old_set], signatures, {"from": keeper})


def test_submit_reverts_when_removed_signer_signs_with_the_new_set(
    oracle, quorum, started, actors, keeper, signer_accounts
):
    h100, _ = started
    old_set = quorum.current()
    removed, new_set = _rotate_out_lowest(oracle, quorum, actors, signer_accounts)
    group = by_address([removed] + new_set[:2])
    reports = [full_h100(h100, FIRST_EPOCH)]
    signatures = quorum.sign_batch(reports, group, version=2)

    with reverts(NOT_SIGNER, group.index(removed), removed.address):
        oracle.submit(2, reports, oracle.signers(), signatures, {"from": keeper})

    assert not oracle.isSigner(removed.address)
    # The remaining and the new signers form a quorum of the new set.
    quorum.submit(reports, keeper, new_set[:3])
    assert oracle.hasReport(h100, FIRST_EPOCH)


def test_submit_reverts_when_signed_for_an_old_config_version(
    oracle, quorum, started, actors, keeper, signer_accounts
):
    h100, _ = started
    reports = [full_h100(h100, FIRST_EPOCH)]
    staying = quorum.current()[1:4]  # all three stay in the set through the rotation
    old_signatures = quorum.sign_batch(reports, staying, version=1)
    _rotate_out_lowest(oracle, quorum, actors, signer_accounts)
    assert oracle.configVersion() == 2

    with reverts("ConfigVersionMismatch(uint64,uint64)", 1, 2):
        oracle.submit(1, reports, oracle.signers(), old_signatures, {"from": keeper})

    # The same signatures passed with the new version: the digest differs, so they recover strangers.
    recovered = recover(_digest_here(quorum, reports, version=2), old_signatures[0])
    with reverts(NOT_SIGNER, 0, recovered):
        oracle.submit(2, reports, oracle.signers(), old_signatures, {"from": keeper})


def test_submit_reverts_when_version_is_from_the_future(oracle, quorum, started, keeper):
    h100, _ = started
    reports = [full_h100(h100, FIRST_EPOCH)]
    with reverts("ConfigVersionMismatch(uint64,uint64)", 2, 1):
        oracle.submit(2, reports, oracle.signers(), quorum.sign_batch(reports, version=2), {"from": keeper})


def test_submit_reverts_when_values_differ_from_what_was_signed(oracle, quorum, started, keeper):
    h100, _ = started
    signed = full_h100(h100, FIRST_EPOCH)
    signatures = quorum.sign_batch([signed])
    inflated = signed._replace(gpuSeconds=signed.gpuSeconds + 1)

    with reverts(NOT_SIGNER, 0, recover(_digest_here(quorum, [inflated]), signatures[0])):
        oracle.submit(1, [inflated], oracle.signers(), signatures, {"from": keeper})


def test_submit_reverts_when_signed_batch_is_reordered_or_cut(oracle, quorum, started, keeper):
    h100, l40s = started
    signed = [full_h100(h100, FIRST_EPOCH), full_l40s(l40s, FIRST_EPOCH)]
    signatures = quorum.sign_batch(signed)

    for altered in (signed[::-1], signed[:1]):
        with reverts(NOT_SIGNER, 0, recover(_digest_here(quorum, altered), signatures[0])):
            oracle.submit(1, altered, oracle.signers(), signatures, {"from": keeper})


# ---------------------------------------------------------------------------------------------- signer set


def test_submit_reverts_when_signer_set_passed_is_not_the_committed_one(
    oracle, quorum, started, keeper, signer_accounts
):
    h100, _ = started
    reports = [full_h100(h100, FIRST_EPOCH)]
    committed = list(oracle.signers())
    forged = [a.address for a in by_address(quorum.current() + [signer_accounts[6]])]

    for given in (forged, committed[:-1], committed[::-1], []):
        with reverts("SignerSetMismatch(bytes20,bytes20)", signer_set_hash(given), signer_set_hash(committed)):
            oracle.submit(1, reports, given, quorum.sign_batch(reports), {"from": keeper})


def test_submit_reverts_when_a_stranger_signs(oracle, quorum, started, keeper, signer_accounts):
    h100, _ = started
    stranger = signer_accounts[7]
    group = by_address(quorum.current()[:2] + [stranger])
    reports = [full_h100(h100, FIRST_EPOCH)]

    with reverts(NOT_SIGNER, group.index(stranger), stranger.address):
        oracle.submit(1, reports, oracle.signers(), quorum.sign_batch(reports, group), {"from": keeper})


def test_submit_reverts_when_signer_repeats(oracle, quorum, started, keeper):
    h100, _ = started
    reports = [full_h100(h100, FIRST_EPOCH)]
    first, second = quorum.current()[:2]
    signatures = quorum.sign_batch(reports, [first, first, second], keep_order=True)

    with reverts("SignersNotAscending(uint256,address,address)", 1, first.address, first.address):
        oracle.submit(1, reports, oracle.signers(), signatures, {"from": keeper})


def test_submit_reverts_when_signer_repeats_with_another_valid_signature(oracle, quorum, started, keeper):
    h100, _ = started
    reports = [full_h100(h100, FIRST_EPOCH)]
    first, second = quorum.current()[:2]
    digest = _digest_here(quorum, reports)
    genuine = sign_digest(first, digest)
    # The same signer again through its other, upper-half signature (r, n - s, v flipped): n - s does not fit
    # the 255 bits of the compact form, so a second vote from it cannot even be encoded...
    assert genuine.malleable_twin_s() >= 2**255
    # ...and any upper-half s that does fit is refused before recovery.
    upper = Signature.of(55 - genuine.v, int.from_bytes(genuine.r, "big"), SECP256K1_N // 2 + 1)
    signatures = [genuine, sign_digest(second, digest), upper]

    with reverts("HighSSignature(uint256,bytes32)", 2, upper.s):
        oracle.submit(1, reports, oracle.signers(), signatures, {"from": keeper})


def test_submit_reverts_when_signers_are_out_of_order(oracle, quorum, started, keeper):
    h100, _ = started
    reports = [full_h100(h100, FIRST_EPOCH)]
    low, middle, high = quorum.current()[:3]
    signatures = quorum.sign_batch(reports, [low, high, middle], keep_order=True)

    with reverts("SignersNotAscending(uint256,address,address)", 2, high.address, middle.address):
        oracle.submit(1, reports, oracle.signers(), signatures, {"from": keeper})

    descending = quorum.sign_batch(reports, [high, middle, low], keep_order=True)
    with reverts("SignersNotAscending(uint256,address,address)", 1, high.address, middle.address):
        oracle.submit(1, reports, oracle.signers(), descending, {"from": keeper})


def test_submit_reverts_one_signature_short_of_quorum(oracle, quorum, started, keeper):
    h100, _ = started
    reports = [full_h100(h100, FIRST_EPOCH)]
    for count in (THRESHOLD - 1, 1, 0):
        signatures = quorum.sign_batch(reports, quorum.current()[:count])
        with reverts("QuorumNotReached(uint256,uint8)", count, THRESHOLD):
            oracle.submit(1, reports, oracle.signers(), signatures, {"from": keeper})


def test_submit_checks_signatures_before_the_reports(oracle, quorum, started, keeper):
    h100, _ = started
    reports = [Report(h100, FIRST_EPOCH + 5, 10**9, 0, 20_000, 10**12)]  # gap and every bound broken
    signatures = quorum.sign_batch(reports, quorum.current()[:2])

    with reverts("QuorumNotReached(uint256,uint8)", 2, THRESHOLD):
        oracle.submit(1, reports, oracle.signers(), signatures, {"from": keeper})


# ---------------------------------------------------------------------------------------------- malformed


def test_submit_reverts_on_high_s_malleable_signature(oracle, quorum, started, keeper):
    h100, _ = started
    reports = [full_h100(h100, FIRST_EPOCH)]
    signatures = quorum.sign_batch(reports)
    genuine = signatures[1]
    digest = _digest_here(quorum, reports)
    # The malleable twin (r, n - s, v flipped) recovers the same signer...
    twin_vrs = (55 - genuine.v, genuine.r, genuine.malleable_twin_s().to_bytes(32, "big"))
    assert Account._recover_hash(digest, vrs=twin_vrs) == quorum.current()[1].address
    # ...but its s needs 256 bits: the compact form cannot carry it. An upper-half s that fits is refused with
    # the exact error, whatever it would recover to.
    assert genuine.malleable_twin_s() >= 2**255
    high = Signature.of(genuine.v, int.from_bytes(genuine.r, "big"), SECP256K1_N // 2 + 1)
    assert high.s_int > SECP256K1_N // 2
    signatures[1] = high

    with reverts("HighSSignature(uint256,bytes32)", 1, high.s):
        oracle.submit(1, reports, oracle.signers(), signatures, {"from": keeper})


def _garbage_signature(digest: bytes) -> tuple[Signature, str]:
    """Deterministic random bytes (low s) that recover to some address over `digest`."""
    for seed in range(1000):
        r = int.from_bytes(keccak(text=f"garbage-r-{seed}"), "big") % SECP256K1_N
        s = int.from_bytes(keccak(text=f"garbage-s-{seed}"), "big") % (SECP256K1_N // 2)
        signature = Signature.of(27 + seed % 2, r, s)
        try:
            return signature, recover(digest, signature)
        except Exception:  # noqa: BLE001 (r is not the x of a curve point: try the next seed)
            continue
    raise AssertionError("no recoverable garbage found")


def test_submit_reverts_on_garbage_that_recovers_to_a_random_address(oracle, quorum, started, keeper):
    h100, _ = started
    reports = [full_h100(h100, FIRST_EPOCH)]
    garbage, recovered = _garbage_signature(_digest_here(quorum, reports))
    signatures = [garbage] + quorum.sign_batch(reports)

    with reverts(NOT_SIGNER, 0, recovered):
        oracle.submit(1, reports, oracle.signers(), signatures, {"from": keeper})


def test_submit_reverts_on_bytes_that_recover_to_nothing(oracle, quorum, started, keeper):
    h100, _ = started
    reports = [full_h100(h100, FIRST_EPOCH)]
    valid = quorum.sign_batch(reports)
    nothing = [
        Signature.of(27, 0, 1),  # r = 0: ecrecover returns address(0)
        Signature.of(28, 0, 0),  # all zero
        # r = 5 is not the x coordinate of any curve point (5**3 + 7 = 132 is not a square mod p)
        Signature.of(27, 5, 1),
        Signature.of(28, 5, 1),
        # (a v other than 27 or 28 has no compact encoding: the recovery bit is one bit)
    ]
    for index, bad in ((0, nothing[0]), (0, nothing[1]), (0, nothing[2]), (0, nothing[3])):
        with reverts("InvalidSignature(uint256)", index):
            oracle.submit(1, reports, oracle.signers(), [bad] + valid, {"from": keeper})
    # ...at any position: the first two valid signatures pass, the third is the bad one.
    with reverts("InvalidSignature(uint256)", 2):
        oracle.submit(1, reports, oracle.signers(), valid[:2] + [nothing[0]], {"from": keeper})


# ---------------------------------------------------------------------------------------------- epochs


def test_submit_reverts_on_a_future_epoch(oracle, quorum, started, keeper):
    h100, _ = started
    for epoch in (oracle.epochAt(chain.time()), oracle.epochAt(chain.time()) + 1, 2**64 - 2):
        reports = [full_h100(h100, epoch)]
        with reverts("EpochNotEnded(uint256,uint64,uint256)", h100, epoch, oracle.epochEnd(epoch)):
            quorum.submit(reports, keeper)


def test_submit_reverts_on_a_skipped_epoch(oracle, quorum, started, keeper):
    h100, _ = started
    with reverts("EpochGap(uint256,uint64,uint64)", h100, FIRST_EPOCH + 1, FIRST_EPOCH):
        quorum.submit([full_h100(h100, FIRST_EPOCH + 1)], keeper)
    with reverts("EpochGap(uint256,uint64,uint64)", h100, FIRST_EPOCH + 2, FIRST_EPOCH + 1):
        quorum.submit([full_h100(h100, FIRST_EPOCH), full_h100(h100, FIRST_EPOCH + 2)], keeper)


def test_submit_reverts_on_the_same_epoch_twice(oracle, quorum, started, keeper):
    h100, _ = started
    report = full_h100(h100, FIRST_EPOCH)
    with reverts("EpochAlreadyReported(uint256,uint64)", h100, FIRST_EPOCH):
        quorum.submit([report, report], keeper)  # twice in one batch

    quorum.submit([report], keeper)
    with reverts("EpochAlreadyReported(uint256,uint64)", h100, FIRST_EPOCH):
        quorum.submit([report], keeper)  # again in a later batch
    changed = report._replace(gpuSeconds=1, utilizationBps=1)
    with reverts("EpochAlreadyReported(uint256,uint64)", h100, FIRST_EPOCH):
        quorum.submit([changed], keeper)  # a different value for a reported epoch
    assert tuple(oracle.getReport(h100, FIRST_EPOCH)[0]) == tuple(report)


def test_submit_reverts_on_an_epoch_before_the_first(oracle, quorum, started, keeper):
    h100, _ = started
    with reverts("EpochAlreadyReported(uint256,uint64)", h100, FIRST_EPOCH - 1):
        quorum.submit([full_h100(h100, FIRST_EPOCH - 1)], keeper)


def test_submit_reverts_when_one_asset_goes_back_after_another(oracle, quorum, started, keeper):
    h100, l40s = started
    batch = [full_h100(h100, 10), full_l40s(l40s, 10), full_h100(h100, 11), full_h100(h100, 11)]
    with reverts("EpochAlreadyReported(uint256,uint64)", h100, 11):
        quorum.submit(batch, keeper)


# ---------------------------------------------------------------------------------------------- assets


def test_submit_reverts_on_an_unknown_asset(oracle, quorum, started, keeper):
    h100, _ = started
    with reverts("UnknownAsset(uint256)", 99):
        quorum.submit([Report(99, FIRST_EPOCH, 1, 0, 1, 1)], keeper)
    with reverts("UnknownAsset(uint256)", 99):
        quorum.submit([full_h100(h100, FIRST_EPOCH), Report(99, FIRST_EPOCH, 1, 0, 1, 1)], keeper)
    with reverts("UnknownAsset(uint256)", 0):
        quorum.submit([full_h100(h100, FIRST_EPOCH), Report(0, 0, 0, 0, 0, 0)], keeper)


# Asset ids start at 1; an asset id 0 leading a batch must be refused like any unknown asset (it once skipped
# every per-report check because 0 doubled as "no asset loaded yet").
def test_submit_reverts_on_asset_zero_first_in_batch(oracle, quorum, started, keeper):
    with reverts("UnknownAsset(uint256)", 0):
        quorum.submit([Report(0, FIRST_EPOCH, 1, 0, 1, 1)], keeper)
    with reverts("UnknownAsset(uint256)", 0):
        quorum.submit([Report(0, 0, 0, 0, 0, 0)], keeper)


def test_submit_reverts_on_a_suspended_asset_and_accepts_it_once_reactivated(
    oracle, quorum, suite, started, actors, keeper
):
    h100, l40s = started
    suite.asset_registry.setStatus(h100, STATUS_SUSPENDED, {"from": actors.admin})
    with reverts("AssetNotActive(uint256,uint8)", h100, STATUS_SUSPENDED):
        quorum.submit([full_l40s(l40s, FIRST_EPOCH), full_h100(h100, FIRST_EPOCH)], keeper)

    suite.asset_registry.setStatus(h100, STATUS_ACTIVE, {"from": actors.admin})
    quorum.submit([full_l40s(l40s, FIRST_EPOCH), full_h100(h100, FIRST_EPOCH)], keeper)
    assert oracle.hasReport(h100, FIRST_EPOCH)


def test_submit_reverts_on_a_retired_asset(oracle, quorum, suite, started, actors, keeper):
    h100, _ = started
    suite.asset_registry.setStatus(h100, STATUS_RETIRED, {"from": actors.admin})
    with reverts("AssetNotActive(uint256,uint8)", h100, STATUS_RETIRED):
        quorum.submit([full_h100(h100, FIRST_EPOCH)], keeper)


def test_submit_reverts_when_reporting_has_not_started(oracle, quorum, suite, started, actors, keeper):
    fresh = register_asset(suite, actors.admin, actors.operator, H100_CLUSTER)
    with reverts("ReportingNotStarted(uint256)", fresh.asset_id):
        quorum.submit([full_h100(fresh.asset_id, 0)], keeper)
    with reverts("ReportingNotStarted(uint256)", fresh.asset_id):
        quorum.submit([full_h100(fresh.asset_id, FIRST_EPOCH)], keeper)
