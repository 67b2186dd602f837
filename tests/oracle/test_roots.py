"""Root mode without a chain: the epoch trees (leaf order, proofs, rebuilding from the outbox) and the daemon's
proof batches, planned per asset from the cursors and halved until the estimate fits under the gas cap."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from eth_abi import decode

from oracle.chain import BlockView, ChainClient, Deployment
from oracle.daemon import ChainView, Daemon
from oracle.eip712 import build_report_tree, report_struct_hash
from oracle.errors import MerkleError, OutboxError, SubmissionError
from oracle.models import Report
from oracle.outbox import Outbox
from oracle.roots import build_epoch_tree, leaf_order, rebuild_tree, verify_proof
from oracle.settings import load_settings
from oracle.sources.simulator import make_asset_map

G = 1_760_000_000
ORACLE = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
ASSETS = make_asset_map(seed=3, genesis=G, epoch_length=60, gpus_per_asset={1: 2, 2: 2, 3: 2})


def report(asset_id: int, epoch: int) -> Report:
    return Report(
        asset_id=asset_id,
        epoch=epoch,
        gpu_seconds=100 + asset_id,
        curtailed_gpu_seconds=0,
        utilization_bps=4_000 + epoch,
        energy_wh=7,
    )


def test_leaves_are_in_ascending_asset_order_and_every_proof_verifies() -> None:
    reports = [report(a, 4) for a in (7, 2, 9, 3, 5)]
    tree = build_epoch_tree(reports)
    assert [r.asset_id for r in tree.reports] == [2, 3, 5, 7, 9] and tree.count == 5
    assert tree.root == build_report_tree(sorted(reports, key=lambda r: r.asset_id)).root
    assert build_epoch_tree(list(reversed(reports))).root == tree.root  # any input order, one root
    for r in reports:
        assert verify_proof(tree.proof(r.asset_id, 4), tree.root, r)
    forged = reports[0].model_copy(update={"energy_wh": 8})
    assert not verify_proof(tree.proof(7, 4), tree.root, forged)
    single = build_epoch_tree([report(1, 0)])
    assert single.proof(1, 0) == [] and verify_proof([], single.root, report(1, 0))
    with pytest.raises(MerkleError, match="not a leaf"):
        tree.proof(4, 4)


def test_a_root_covers_one_epoch_and_one_report_per_asset() -> None:
    with pytest.raises(MerkleError, match="at least one"):
        leaf_order([])
    with pytest.raises(MerkleError, match="one epoch"):
        leaf_order([report(1, 0), report(2, 1)])
    with pytest.raises(MerkleError, match="two reports of asset 1"):
        leaf_order([report(1, 0), report(1, 0).model_copy(update={"energy_wh": 9})])


def test_a_stored_root_is_rebuilt_only_from_the_very_same_leaves() -> None:
    tree = build_epoch_tree([report(a, 2) for a in (1, 2, 3)])
    assert rebuild_tree("0x" + tree.root.hex(), list(tree.reports)).root == tree.root
    with pytest.raises(OutboxError, match="give root"):
        rebuild_tree(tree.root, [tree.reports[0], tree.reports[1], tree.reports[2].model_copy(update={"energy_wh": 1})])
    with pytest.raises(OutboxError):
        rebuild_tree(tree.root, [tree.reports[1], tree.reports[0], tree.reports[2]])  # not the stored leaf order


# --- the daemon's proof batches under a gas cap ------------------------------------------------------------


class FakeChain:
    """Estimates ``proveReports`` from its calldata (checking every proof against the committed roots)."""

    encode_prove_reports = staticmethod(ChainClient.encode_prove_reports)

    def __init__(self, roots: dict[int, bytes]) -> None:
        self.roots = roots
        self.tried: list[list[tuple[int, int]]] = []

    def estimate_gas(self, sender: str, to: str, data: bytes) -> int:
        reports, proofs = decode(["(uint256,uint64,uint64,uint64,uint16,uint64)[]", "bytes32[][]"], data[4:])
        assert len(reports) == len(proofs)
        for fields, proof in zip(reports, proofs, strict=True):
            r = Report(
                asset_id=fields[0],
                epoch=fields[1],
                gpu_seconds=fields[2],
                curtailed_gpu_seconds=fields[3],
                utilization_bps=fields[4],
                energy_wh=fields[5],
            )
            assert verify_proof(list(proof), self.roots[r.epoch], r), (r.asset_id, r.epoch)
        self.tried.append([(int(f[0]), int(f[1])) for f in reports])
        return 21_000 + 16 * len(data) + 20_000 * len(reports)


class FakeTx:
    """The sender: stores each transaction in the outbox (as the real one does before broadcasting)."""

    address = "0x" + "5e" * 20

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox
        self.sent: list[dict[str, Any]] = []

    def pending(self) -> list[object]:
        return []

    def gas_limit(self, gas: int) -> int:
        return gas * 12 // 10

    def send(self, **kw: Any) -> None:
        nonce = len(self.sent)
        self.sent.append(kw)
        tx_id = self.outbox.add_transaction(
            kind=kw["kind"],
            batch_id=kw["batch_id"],
            root_id=kw.get("root_id"),
            sender=self.address,
            nonce=nonce,
            tx_hash=f"0x{nonce:064x}",
            raw="0x",
            to_address=kw["to"],
            data="0x" + kw["data"].hex(),
            gas_limit=kw["gas_limit"],
            max_fee_per_gas=1,
            max_priority_fee_per_gas=1,
            sent_block=1,
        )
        self.outbox.mark_mined(tx_id, block=2, status=1)  # lands at once


def _view(cursors: dict[int, int]) -> ChainView:
    return ChainView(
        block=BlockView(100, G + 10_000, 1),
        observed_at=time.monotonic(),
        config_version=1,
        threshold=2,
        signer_set=["0x" + "0a" * 20, "0x" + "0b" * 20],
        cursors={a: (e, True) for a, e in cursors.items()},
    )


def test_proofs_go_out_per_asset_from_the_cursors_halved_until_they_fit_the_gas_cap(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.sqlite")
    reports = [report(a, e) for a in (1, 2, 3) for e in (0, 1, 2)]
    box.add_aggregated([(r, "0x" + report_struct_hash(r).hex()) for r in reports])
    roots = {}
    for epoch in (0, 1, 2):
        tree = build_epoch_tree([r for r in reports if r.epoch == epoch])
        root_id = box.add_root(
            epoch,
            tree.keys,
            root="0x" + tree.root.hex(),
            config_version=1,
            digest="0x",
            signer_set=[],
            signatures=[],
        )
        box.mark_root_committed(root_id, by="elsewhere")
        roots[epoch] = tree.root
    settings = load_settings(
        None,
        {
            "chain": {"chain_id": 31337, "oracle_address": ORACLE},
            "source": {"kind": "simulator", "simulator": {"start": G}},
            "assets": {"map": str(tmp_path / "assets.json")},
            "submission": {"gas_cap_per_tx": 150_000, "max_reports_per_tx": 50},
        },
    )
    chain = FakeChain(roots)
    daemon = Daemon(
        settings,
        chain=chain,  # type: ignore[arg-type]
        deployment=Deployment(31337, ORACLE, None, "test"),
        source=object(),  # type: ignore[arg-type]
        assets=ASSETS,
        signers=[],
        outbox=box,
    )
    daemon.txm = FakeTx(box)  # type: ignore[assignment]

    assert daemon.poster.post(_view({1: 0, 2: 0, 3: 0}))
    # Nine reports are too many for 150,000 gas: halved once, the leading four (asset 1's epochs in order,
    # then asset 2's first) fit.
    assert [len(t) for t in chain.tried] == [9, 4]
    assert chain.tried[1] == [(1, 0), (1, 1), (1, 2), (2, 0)]
    (first,) = box.batches(("confirmed",))
    assert (first.kind, first.keys, first.config_version, first.signatures) == ("prove", chain.tried[1], 0, [])
    assert daemon.metrics.batch_splits._value.get() == 1  # noqa: SLF001
    sent = daemon.txm.sent  # type: ignore[attr-defined]
    assert sent[0]["kind"] == "prove" and sent[0]["gas_limit"] <= 150_000

    # The next step starts from the cursors the landed batch moved, with the smaller batch size learned.
    chain.tried.clear()
    assert daemon.poster.post(_view({1: 3, 2: 1, 3: 0}))
    assert chain.tried == [[(2, 1), (2, 2), (3, 0), (3, 1)]]
    assert daemon.poster.post(_view({1: 3, 2: 3, 3: 2}))
    assert chain.tried[-1] == [(3, 2)]
    assert not daemon.poster.post(_view({1: 3, 2: 3, 3: 3}))  # nothing left
    assert {r.state for r in box.reports()} == {"confirmed"}
    assert box.finish_roots() == [1, 2, 3]
    assert [t.kind for t in box.transactions()] == ["prove"] * 3


def test_a_proof_batch_waits_for_the_assets_earlier_epoch(tmp_path: Path) -> None:
    """Asset 1's epoch 0 is not in a committed root (it waits for a signed batch): its epoch 1 is not proven
    before it, while asset 2 goes on."""
    box = Outbox(tmp_path / "outbox.sqlite")
    reports = [report(a, e) for a in (1, 2) for e in (0, 1)]
    box.add_aggregated([(r, "0x" + report_struct_hash(r).hex()) for r in reports])
    tree = build_epoch_tree([r for r in reports if r.epoch == 1])
    root_id = box.add_root(
        1, tree.keys, root="0x" + tree.root.hex(), config_version=1, digest="0x", signer_set=[], signatures=[]
    )
    box.mark_root_committed(root_id, by="elsewhere")
    settings = load_settings(
        None,
        {
            "chain": {"chain_id": 31337, "oracle_address": ORACLE},
            "source": {"kind": "simulator", "simulator": {"start": G}},
            "assets": {"map": str(tmp_path / "assets.json")},
        },
    )
    chain = FakeChain({1: tree.root})
    daemon = Daemon(
        settings,
        chain=chain,  # type: ignore[arg-type]
        deployment=Deployment(31337, ORACLE, None, "test"),
        source=object(),  # type: ignore[arg-type]
        assets=ASSETS,
        signers=[],
        outbox=box,
    )
    daemon.txm = FakeTx(box)  # type: ignore[assignment]
    assert daemon.roots.post_proofs(_view({1: 0, 2: 1, 3: 0}))
    assert chain.tried == [[(2, 1)]]


class RacingChain(FakeChain):
    """``rootOf`` still reads empty, but the commit's estimate finds a root committed in between."""

    encode_commit_root = staticmethod(ChainClient.encode_commit_root)

    def __init__(self, onchain: bytes) -> None:
        super().__init__({})
        self.onchain = onchain

    def root_of(self, epoch: int) -> tuple[bytes, int]:
        return bytes(32), 0

    def estimate_gas(self, sender: str, to: str, data: bytes) -> int:
        raise SubmissionError("RootAlreadyCommitted", "RootAlreadyCommitted", (0, self.onchain))


@pytest.mark.parametrize("same", [True, False])
def test_root_already_committed_while_signing_is_done_when_it_is_ours_and_a_conflict_otherwise(
    tmp_path: Path, same: bool
) -> None:
    box = Outbox(tmp_path / "outbox.sqlite")
    reports = [report(a, 0) for a in (1, 2)]
    box.add_aggregated([(r, "0x" + report_struct_hash(r).hex()) for r in reports])
    tree = build_epoch_tree(reports)
    signatures = [{"signer": "0x" + "0a" * 20, "v": 27, "r": "0x1", "s": "0x2"}] * 2
    root_id = box.add_root(
        0, tree.keys, root="0x" + tree.root.hex(), config_version=1, digest="0x", signer_set=[], signatures=signatures
    )
    settings = load_settings(
        None,
        {
            "chain": {"chain_id": 31337, "oracle_address": ORACLE},
            "source": {"kind": "simulator", "simulator": {"start": G}},
            "assets": {"map": str(tmp_path / "assets.json")},
            "submission": {"mode": "root"},
        },
    )
    daemon = Daemon(
        settings,
        chain=RacingChain(tree.root if same else b"\xee" * 32),  # type: ignore[arg-type]
        deployment=Deployment(31337, ORACLE, None, "test"),
        source=object(),  # type: ignore[arg-type]
        assets=ASSETS,
        signers=[],
        outbox=box,
    )
    daemon.txm = FakeTx(box)  # type: ignore[assignment]
    view = _view({1: 0, 2: 0})
    view = ChainView(view.block, view.observed_at, 1, 2, [], view.cursors)
    assert daemon.roots.advance(box.root(root_id), view) == "resolved"
    root = box.root(root_id)
    if same:
        assert (root.state, root.committed_by) == ("committed", "elsewhere")
        assert daemon.metrics.roots_found_committed._value.get() == 1  # noqa: SLF001
    else:
        assert (root.state, root.onchain_root) == ("conflict", "0x" + "ee" * 32)
        assert daemon.metrics.root_conflicts._value.get() == 1  # noqa: SLF001
        assert [r.key for r in box.reports_needing_batch()] == [(1, 0), (2, 0)]
    assert daemon.txm.sent == []  # type: ignore[attr-defined]
