"""The sign stage without a chain: a batch is stored only with a quorum of signatures, ascending by signer, each
recovering to its signer over the batch's EIP-712 digest."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from oracle.chain import BlockView, Deployment
from oracle.cosign import signature_from_json
from oracle.daemon import ChainView, StageContext, build_aggregator
from oracle.daemon.signing import sign_batch, sign_root
from oracle.eip712 import Eip712Domain, batch_digest, report_struct_hash, root_digest
from oracle.errors import QuorumMissing
from oracle.metrics import HealthState, OracleMetrics
from oracle.models import AssetMap, Report
from oracle.outbox import Outbox
from oracle.roots import build_epoch_tree
from oracle.settings import load_settings
from oracle.signer import LocalKeySigner, recover_signer

G = 1_760_000_000
ORACLE = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
ASSETS = AssetMap.model_validate({"genesis": G, "epochLength": 60, "assets": {"1": {"hostname": "h", "gpus": ["GPU-1"]}}})
SIGNERS = [LocalKeySigner(bytes([i]) * 32) for i in (7, 8, 9)]
REPORTS = [Report(asset_id=1, epoch=e, gpu_seconds=60, curtailed_gpu_seconds=0, utilization_bps=1, energy_wh=2) for e in (0, 1)]


def context(tmp_path: Path, signers: list[LocalKeySigner]) -> StageContext:
    settings = load_settings(
        None,
        {
            "chain": {"chain_id": 31337, "oracle_address": ORACLE},
            "source": {"kind": "simulator", "simulator": {"start": G}},
            "assets": {"map": str(tmp_path / "assets.json")},
        },
    )
    outbox = Outbox(tmp_path / "outbox.sqlite")
    outbox.add_aggregated([(r, "0x" + report_struct_hash(r).hex()) for r in REPORTS])
    return StageContext(
        settings=settings,
        chain=None,  # type: ignore[arg-type]
        deployment=Deployment(31337, ORACLE, None, "test"),
        assets=ASSETS,
        outbox=outbox,
        aggregator=build_aggregator(settings, None, ASSETS),  # type: ignore[arg-type]
        signers=list(signers),
        peers=[],
        metrics=OracleMetrics(),
        health=HealthState(),
        domain=Eip712Domain(31337, ORACLE),
        crash=lambda step: None,
    )


def view(threshold: int) -> ChainView:
    return ChainView(BlockView(1, G + 600, 1), time.monotonic(), 3, threshold, [s.address for s in SIGNERS], {1: (0, True)})


def test_a_batch_is_stored_with_exactly_the_threshold_of_signatures_ascending_and_recoverable(tmp_path: Path) -> None:
    ctx = context(tmp_path, SIGNERS)
    batch = sign_batch(ctx, REPORTS, view(threshold=2))
    digest = batch_digest(ctx.domain, 3, REPORTS)
    assert (batch.state, batch.keys, batch.config_version, batch.digest) == ("signed", [(1, 0), (1, 1)], 3, "0x" + digest.hex())
    signers = [s["signer"] for s in batch.signatures]
    assert len(signers) == 2 and signers == sorted(signers, key=lambda a: int(a, 16))
    for item in batch.signatures:
        parsed = signature_from_json(item)
        assert recover_signer(digest, parsed.signature) == parsed.signer
    assert {r.state for r in ctx.outbox.reports()} == {"signed"}


def test_without_a_quorum_nothing_is_stored(tmp_path: Path) -> None:
    ctx = context(tmp_path, SIGNERS[:1])
    with pytest.raises(QuorumMissing, match="1 of 2 signatures for 2 reports"):
        sign_batch(ctx, REPORTS, view(threshold=2))
    assert ctx.outbox.batches(("signed",)) == []
    assert {r.state for r in ctx.outbox.reports()} == {"aggregated"}


def test_a_root_is_signed_over_its_report_root_digest(tmp_path: Path) -> None:
    ctx = context(tmp_path, SIGNERS)
    tree = build_epoch_tree([REPORTS[0]])
    digest = root_digest(ctx.domain, 3, 0, tree.count, tree.root)
    signatures = sign_root(ctx, tree, digest, view(threshold=3))
    assert [recover_signer(digest, s.signature) for s in signatures] == [s.signer for s in signatures]
    assert len(signatures) == 3
    with pytest.raises(QuorumMissing, match="for the root of epoch 0"):
        sign_root(context(tmp_path / "other", SIGNERS[:2]), tree, digest, view(threshold=3))
