"""oracle.publication: each epoch's leaves and proofs as published for keepers (root-only posting).

A document round-trips through its file, verifies only when every report rebuilds the root and every proof
holds, and a reader names what is wrong with a bad one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from oracle.errors import InputFileError, MerkleError, SourceUnavailable
from oracle.models import Report
from oracle.publication import DirectorySource, EpochPublication, HttpSource, publication_path, write_publication
from oracle.roots import build_epoch_tree, verify_proof


def _reports(epoch: int = 7, count: int = 5) -> list[Report]:
    return [
        Report(asset_id=a, epoch=epoch, gpu_seconds=1_000 * a, curtailed_gpu_seconds=0, utilization_bps=5_000,
               energy_wh=100 + a)
        for a in range(1, count + 1)
    ]


def test_publication_of_a_tree_round_trips_through_its_file_and_verifies(tmp_path: Path) -> None:
    tree = build_epoch_tree(_reports())
    publication = EpochPublication.from_tree(tree)

    path = write_publication(tmp_path, publication)

    assert path == publication_path(tmp_path, 7) == tmp_path / "epoch-7.json"
    document = json.loads(path.read_text())
    assert (document["epoch"], document["reportCount"], document["root"]) == (7, 5, "0x" + tree.root.hex())
    assert document["reports"][0]["assetId"] == 1  # camelCase, as the contracts name the fields
    loaded = DirectorySource(tmp_path).get(7).verified()
    assert loaded == publication
    for i, report in enumerate(loaded.reports):
        assert verify_proof(loaded.proof_bytes(i), tree.root, report)
    assert not list(tmp_path.glob(".epoch-*"))  # no temporary file left behind


def test_directory_source_lists_only_epoch_documents_in_order(tmp_path: Path) -> None:
    for epoch in (12, 3, 7):
        write_publication(tmp_path, EpochPublication.from_tree(build_epoch_tree(_reports(epoch, 2))))
    (tmp_path / "notes.txt").write_text("not a publication")

    assert DirectorySource(tmp_path).epochs() == [3, 7, 12]
    assert DirectorySource(tmp_path / "missing").epochs() == []


def test_verified_rejects_a_tampered_report_proof_or_count(tmp_path: Path) -> None:
    publication = EpochPublication.from_tree(build_epoch_tree(_reports()))
    changed = publication.reports[2].model_copy(update={"gpu_seconds": 1})
    tampered = publication.model_copy(update={"reports": (*publication.reports[:2], changed, *publication.reports[3:])})
    with pytest.raises(MerkleError, match="do not give root"):
        tampered.verified()
    proofs = list(publication.proofs)
    proofs[1] = proofs[0]
    with pytest.raises(MerkleError, match="proof of asset 2 does not verify"):
        publication.model_copy(update={"proofs": tuple(proofs)}).verified()
    with pytest.raises(MerkleError, match="reportCount 6"):
        publication.model_copy(update={"report_count": 6}).verified()


def test_reading_a_malformed_or_missing_document_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "epoch-4.json").write_text('{"epoch": 4}')
    with pytest.raises(InputFileError, match="epoch-4.json.*not an epoch publication"):
        DirectorySource(tmp_path).get(4)
    with pytest.raises(InputFileError, match="epoch-5.json"):
        DirectorySource(tmp_path).get(5)


def test_http_source_reports_an_unreachable_daemon() -> None:
    with pytest.raises(SourceUnavailable):
        HttpSource("http://127.0.0.1:9", timeout_s=2).epochs()
