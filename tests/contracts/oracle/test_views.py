"""MeteringOracle views, each checked against a value computed independently in Python (eth-account's EIP-712
encoder, the epoch formula of DESIGN.md)."""

from __future__ import annotations

import pytest
from brownie import ZERO_ADDRESS, chain

from tests.contracts.oracle._quorum import (
    ENERGY_MARGIN_BPS,
    EPOCH_LENGTH,
    FIRST_EPOCH,
    THRESHOLD,
    as_bytes,
    full_h100,
    full_l40s,
)
from tests.contracts.oracle._reverts import assert_call_reverts
from tests.contracts.oracle._signing import (
    DOMAIN_NAME,
    DOMAIN_VERSION,
    Domain,
    Report,
    batch_digest,
    domain_separator,
    report_struct_hash,
    root_digest,
    signer_set_hash,
)


def test_configuration_views(oracle, suite, genesis, initial_signers):
    assert oracle.assetRegistry() == suite.asset_registry.address
    assert oracle.genesis() == genesis
    assert oracle.epochLength() == EPOCH_LENGTH
    assert oracle.MAX_SIGNERS() == 31
    assert oracle.configVersion() == 1
    assert oracle.threshold() == THRESHOLD
    assert oracle.energyMarginBps() == ENERGY_MARGIN_BPS
    addresses = [a.address for a in initial_signers]
    assert list(oracle.signers()) == addresses
    assert sorted(addresses, key=lambda a: int(a, 16)) == addresses
    assert as_bytes(oracle.signerSetHash()) == signer_set_hash(addresses)


def test_is_signer(oracle, initial_signers, signer_accounts, actors):
    for account in initial_signers:
        assert oracle.isSigner(account.address)
    for outsider in (signer_accounts[5].address, actors.admin.address, ZERO_ADDRESS):
        assert not oracle.isSigner(outsider)


def test_is_signer_follows_rotation(oracle, actors, initial_signers, signer_accounts):
    removed = initial_signers[0]
    added = signer_accounts[5]
    new = sorted([a.address for a in initial_signers[1:]] + [added.address], key=lambda a: int(a, 16))
    oracle.setSigners(new, THRESHOLD, {"from": actors.admin})
    assert not oracle.isSigner(removed.address)
    assert oracle.isSigner(added.address)
    assert all(oracle.isSigner(a.address) for a in initial_signers[1:])


def test_epoch_at_and_epoch_end_follow_the_formula(oracle, genesis):
    for offset, epoch in ((0, 0), (EPOCH_LENGTH - 1, 0), (EPOCH_LENGTH, 1), (10 * EPOCH_LENGTH + 7, 10)):
        assert oracle.epochAt(genesis + offset) == epoch
    now = chain.time()
    assert oracle.epochAt(now) == (now - genesis) // EPOCH_LENGTH
    for epoch in (0, 1, FIRST_EPOCH, 2**64 - 1):
        assert oracle.epochEnd(epoch) == genesis + (epoch + 1) * EPOCH_LENGTH
        assert oracle.epochAt(oracle.epochEnd(epoch) - 1) == epoch


def test_epoch_at_reverts_before_genesis(oracle, genesis):
    assert_call_reverts(oracle.epochAt, (genesis - 1,), "BeforeGenesis(uint256,uint64)", genesis - 1, genesis)
    assert_call_reverts(oracle.epochAt, (0,), "BeforeGenesis(uint256,uint64)", 0, genesis)


def test_cursor_of(oracle, quorum, started, keeper):
    h100, l40s = started
    assert tuple(oracle.cursorOf(h100)) == (FIRST_EPOCH, True)
    assert tuple(oracle.cursorOf(99)) == (0, False)
    quorum.submit([full_h100(h100, FIRST_EPOCH)], keeper)
    assert tuple(oracle.cursorOf(h100)) == (FIRST_EPOCH + 1, True)
    assert tuple(oracle.cursorOf(l40s)) == (FIRST_EPOCH, True)


def test_has_report_get_report_and_report_hash_of(oracle, quorum, started, keeper):
    h100, l40s = started
    report = Report(h100, FIRST_EPOCH, 27_001, 1_799, 9_999, 6_719)
    assert not oracle.hasReport(h100, FIRST_EPOCH)
    tx = quorum.submit([report, full_l40s(l40s, FIRST_EPOCH)], keeper)

    assert oracle.hasReport(h100, FIRST_EPOCH) and oracle.hasReport(l40s, FIRST_EPOCH)
    assert not oracle.hasReport(h100, FIRST_EPOCH + 1) and not oracle.hasReport(l40s, FIRST_EPOCH - 1)
    stored, posted_at = oracle.getReport(h100, FIRST_EPOCH)
    assert tuple(stored) == tuple(report)
    assert posted_at == chain[tx.block_number].timestamp
    assert as_bytes(oracle.reportHashOf(h100, FIRST_EPOCH)) == report_struct_hash(report)
    assert as_bytes(oracle.reportHashOf(l40s, FIRST_EPOCH)) == report_struct_hash(full_l40s(l40s, FIRST_EPOCH))


def test_get_report_and_report_hash_of_revert_when_not_found(oracle, started):
    h100, _ = started
    for fn in (oracle.getReport, oracle.reportHashOf):
        assert_call_reverts(fn, (h100, FIRST_EPOCH), "ReportNotFound(uint256,uint64)", h100, FIRST_EPOCH)
        assert_call_reverts(fn, (99, 0), "ReportNotFound(uint256,uint64)", 99, 0)


@pytest.mark.parametrize(
    "report",
    [
        Report(1, 0, 0, 0, 0, 0),
        Report(2, 17, 14_400, 0, 10_000, 1_680),
        Report(2**256 - 1, 2**64 - 1, 2**64 - 1, 2**64 - 1, 2**16 - 1, 2**64 - 1),
    ],
)
def test_hash_report_equals_the_eip712_struct_hash(oracle, report):
    assert as_bytes(oracle.hashReport(report)) == report_struct_hash(report)


@pytest.mark.parametrize("size", [0, 1, 2, 7])
def test_batch_digest_equals_the_python_digest(oracle, quorum, size):
    reports = [Report(1 + i % 3, 20 + i, 1_000 * i, i, 100 * i, 10 * i) for i in range(size)]
    for version in (1, 2, 2**64 - 1):
        assert as_bytes(oracle.batchDigest(version, reports)) == batch_digest(quorum.domain, version, reports)


def test_root_digest_equals_the_python_digest(oracle, quorum):
    root = bytes(range(32))
    for version, epoch, count in ((1, 0, 1), (3, 99, 100_000), (2**64 - 1, 2**64 - 1, 2**32 - 1)):
        assert as_bytes(oracle.rootDigest(version, (epoch, count, root))) == root_digest(
            quorum.domain, version, epoch, count, root
        )


def test_domain_separator_binds_name_version_chain_and_contract(oracle, quorum):
    assert as_bytes(oracle.domainSeparator()) == domain_separator(Domain(chain.id, oracle.address))
    fields, name, version, chain_id, contract, salt, extensions = oracle.eip712Domain()
    assert (name, version, chain_id, contract) == (DOMAIN_NAME, DOMAIN_VERSION, chain.id, oracle.address)
    assert quorum.domain == Domain(chain.id, oracle.address)


def test_root_of_is_empty_until_committed(oracle):
    root, count = oracle.rootOf(FIRST_EPOCH)
    assert as_bytes(root) == bytes(32) and count == 0


# The epoch containing a timestamp far beyond uint64 epochs is not representable: epochAt refuses instead of
# wrapping to a small epoch long past.
def test_epoch_at_reverts_past_uint64_epochs(oracle, genesis):
    wrapped = genesis + 2**64 * EPOCH_LENGTH
    assert_call_reverts(oracle.epochAt, (wrapped,), "SafeCastOverflowedUintDowncast(uint8,uint256)", 64, 2**64)
