"""The post stage without a chain: the fixed order in which :class:`oracle.daemon.posting.Poster` runs the two
posting strategies, and the contiguous planning both share."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace

import pytest

from oracle.chain import BlockView, Deployment
from oracle.daemon import ChainView, StageContext, build_aggregator
from oracle.daemon.context import Blocked
from oracle.daemon.posting import Poster, PostingStrategy, pipeline_view, plan_contiguous
from oracle.eip712 import Eip712Domain, report_struct_hash
from oracle.metrics import HealthState, OracleMetrics
from oracle.models import AssetMap, Report
from oracle.outbox import BatchRow, Outbox
from oracle.settings import load_settings

G = 1_760_000_000
ORACLE = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
ASSETS = AssetMap.model_validate(
    {"genesis": G, "epochLength": 60, "assets": {str(a): {"hostname": f"h{a}", "gpus": [f"GPU-{a}"]} for a in (1, 2, 3)}}
)


def report(asset_id: int, epoch: int) -> Report:
    return Report(asset_id=asset_id, epoch=epoch, gpu_seconds=60, curtailed_gpu_seconds=0, utilization_bps=5_000, energy_wh=10)


class Pending:
    """The transaction manager as the poster sees it: the pending transactions, and sending adds one."""

    def __init__(self, pending: list[object]) -> None:
        self._pending = pending

    def pending(self) -> list[object]:
        return self._pending


def tx_in_flight(nonce: int, kind: str = "submit", batch_id: int | None = None) -> SimpleNamespace:
    """A pending transaction as :class:`oracle.outbox.TxRow` shows it to the poster."""
    return SimpleNamespace(nonce=nonce, kind=kind, batch_id=batch_id)


def context(
    tmp_path: Path, mode: str = "batch", pending: list[object] | None = None, max_in_flight: int = 16
) -> StageContext:
    settings = load_settings(
        None,
        {
            "chain": {"chain_id": 31337, "oracle_address": ORACLE},
            "source": {"kind": "simulator", "simulator": {"start": G}},
            "assets": {"map": str(tmp_path / "assets.json")},
            "submission": {
                "mode": mode,
                "max_in_flight": max_in_flight,
                "publish_dir": str(tmp_path / "epochs") if mode == "root_only" else None,
            },
        },
    )
    return StageContext(
        settings=settings,
        chain=None,  # type: ignore[arg-type]
        deployment=Deployment(31337, ORACLE, None, "test"),
        assets=ASSETS,
        outbox=Outbox(tmp_path / "outbox.sqlite"),
        aggregator=build_aggregator(settings, None, ASSETS),  # type: ignore[arg-type]
        signers=[],
        peers=[],
        metrics=OracleMetrics(),
        health=HealthState(),
        domain=Eip712Domain(31337, ORACLE),
        crash=lambda step: None,
        txm=Pending(pending or []),  # type: ignore[arg-type]
    )


def view(cursors: dict[int, int], t: int = G + 10_000) -> ChainView:
    return ChainView(BlockView(100, t, 1), time.monotonic(), 1, 2, [], {a: (e, True) for a, e in cursors.items()})


class Recorder(PostingStrategy):
    """A strategy that records what the poster asked of it and answers as told."""

    def __init__(
        self,
        ctx: StageContext,
        kind: str,
        calls: list[str],
        *,
        resume: bool = False,
        post: bool = False,
        dropped: bool = False,
    ):
        super().__init__(ctx)
        self.kind = kind
        self.calls = calls
        self._resume, self._post = resume, post
        self._dropped = dropped
        """Its transactions are dropped as soon as they are sent (their nonce already taken): never pending."""

    def calldata(self, batch: BatchRow, reports: Sequence[Report]) -> bytes:
        return b""

    def resume(self, view: ChainView) -> bool:
        self.calls.append(f"{self.kind}.resume")
        return self._sent(self._resume)

    def post(self, view: ChainView) -> bool:
        self.calls.append(f"{self.kind}.post")
        return self._sent(self._post)

    def _sent(self, sent: bool) -> bool:
        """A transaction sent is pending from then on (a root strategy's is a ``commit``)."""
        if sent and not self._dropped:
            pending = self.ctx.tx.pending()
            pending.append(tx_in_flight(len(pending), "submit" if self.kind == "submit" else "commit"))
        return sent


@pytest.mark.parametrize(
    ("mode", "roots_resume", "roots_post", "expected"),
    [
        ("batch", False, False, ["prove.resume", "submit.resume", "submit.post"]),
        ("batch", True, False, ["prove.resume"]),
        ("root", False, False, ["prove.resume", "submit.resume", "prove.post", "submit.post"]),
        ("root", False, True, ["prove.resume", "submit.resume", "prove.post"]),
    ],
)
def test_work_in_flight_comes_first_then_the_modes_new_work_then_signed_batches(
    tmp_path: Path, mode: str, roots_resume: bool, roots_post: bool, expected: list[str]
) -> None:
    ctx = context(tmp_path, mode)
    calls: list[str] = []
    poster = Poster(
        ctx,
        Recorder(ctx, "submit", calls),
        Recorder(ctx, "prove", calls, resume=roots_resume, post=roots_post),
    )
    poster.post(view({1: 0, 2: 0, 3: 0}))
    assert calls == expected


def test_nothing_new_is_posted_while_a_transaction_is_pending_with_one_in_flight(tmp_path: Path) -> None:
    ctx = context(tmp_path, pending=[tx_in_flight(0)], max_in_flight=1)
    calls: list[str] = []
    poster = Poster(ctx, Recorder(ctx, "submit", calls, post=True), Recorder(ctx, "prove", calls))
    assert poster.post(view({1: 0, 2: 0, 3: 0}))
    assert calls == []


def test_a_live_batch_whose_epochs_have_not_ended_makes_the_step_wait(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    reports = [report(1, 0)]
    ctx.outbox.add_aggregated([(r, "0x" + report_struct_hash(r).hex()) for r in reports])
    ctx.outbox.add_batch([(1, 0)], config_version=1, digest="0x", signer_set=[], signatures=[])
    calls: list[str] = []
    poster = Poster(ctx, Recorder(ctx, "submit", calls, post=True), Recorder(ctx, "prove", calls))
    assert not poster.post(view({1: 0, 2: 0, 3: 0}, t=G + 30))  # epoch 0 ends at G + 60
    assert calls == []


def test_a_live_batch_the_cursor_moved_past_is_voided_and_new_work_goes_on(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    reports = [report(1, 0)]
    ctx.outbox.add_aggregated([(r, "0x" + report_struct_hash(r).hex()) for r in reports])
    batch_id = ctx.outbox.add_batch([(1, 0)], config_version=1, digest="0x", signer_set=[], signatures=[])
    calls: list[str] = []
    poster = Poster(ctx, Recorder(ctx, "submit", calls), Recorder(ctx, "prove", calls))
    assert not poster.post(view({1: 1, 2: 0, 3: 0}))
    assert ctx.outbox.batch(batch_id).state == "void"
    assert calls == ["prove.resume", "submit.resume", "submit.post"]


def test_plans_are_contiguous_from_each_cursor_ended_unblocked_and_capped(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    keys = [(1, 0), (1, 1), (1, 3), (2, 1), (2, 2), (3, 0), (3, 1), (3, 2)]
    ctx.outbox.add_aggregated([(report(a, e), "0x" + report_struct_hash(report(a, e)).hex()) for a, e in keys])
    rows = ctx.outbox.reports_needing_batch()
    cursors = {1: 0, 2: 1, 3: 0}
    # asset 1 stops at its gap (no epoch 2); asset 2 from its cursor; epoch 2 has not ended at G + 150
    plan = plan_contiguous(ctx, view(cursors, t=G + 150), rows, 50)
    assert [(r.asset_id, r.epoch) for r in plan] == [(1, 0), (1, 1), (2, 1), (3, 0), (3, 1)]
    assert len(plan_contiguous(ctx, view(cursors, t=G + 150), rows, 3)) == 3
    ctx.blocked[2] = Blocked(1, "AssetNotActive", 1, time.monotonic() + 60)
    plan = plan_contiguous(ctx, view(cursors), rows, 50)
    assert [(r.asset_id, r.epoch) for r in plan] == [(1, 0), (1, 1), (3, 0), (3, 1), (3, 2)]


# --- several transactions in flight ----------------------------------------------------------------------


def test_signed_batches_follow_submits_in_flight_until_the_bound(tmp_path: Path) -> None:
    ctx = context(tmp_path, pending=[tx_in_flight(0), tx_in_flight(1)], max_in_flight=4)
    calls: list[str] = []
    poster = Poster(ctx, Recorder(ctx, "submit", calls, post=True), Recorder(ctx, "prove", calls))
    assert poster.post(view({1: 0, 2: 0, 3: 0}))
    # Behind transactions in flight only signed batches follow (no root work), two to fill the pipeline.
    assert calls == ["submit.post", "submit.post"]
    assert sorted(tx.nonce for tx in ctx.tx.pending()) == [0, 1, 2, 3]  # type: ignore[attr-defined]


def test_a_full_pipeline_sends_nothing_and_a_replacement_counts_as_its_nonce(tmp_path: Path) -> None:
    full = context(tmp_path / "full", pending=[tx_in_flight(n) for n in range(3)], max_in_flight=3)
    calls: list[str] = []
    poster = Poster(full, Recorder(full, "submit", calls, post=True), Recorder(full, "prove", calls))
    assert poster.post(view({1: 0, 2: 0, 3: 0}))
    assert calls == []
    replacing = [tx_in_flight(0), tx_in_flight(0), tx_in_flight(1)]
    replaced = context(tmp_path / "replaced", pending=replacing, max_in_flight=3)
    poster = Poster(replaced, Recorder(replaced, "submit", calls, post=True), Recorder(replaced, "prove", calls))
    assert poster.post(view({1: 0, 2: 0, 3: 0}))
    assert calls == ["submit.post"]


@pytest.mark.parametrize(
    ("mode", "kind"),
    [
        ("batch", "commit"),
        ("batch", "keeper"),
        ("batch", "prove"),
        ("root", "submit"),
        ("root", "commit"),
        ("root_only", "submit"),
        ("root_only", "keeper"),
    ],
)
def test_proofs_settlements_and_root_mode_go_one_transaction_at_a_time(tmp_path: Path, mode: str, kind: str) -> None:
    ctx = context(tmp_path, mode, pending=[tx_in_flight(0, kind)], max_in_flight=16)
    calls: list[str] = []
    poster = Poster(ctx, Recorder(ctx, "submit", calls, post=True), Recorder(ctx, "prove", calls, post=True))
    assert poster.post(view({1: 0, 2: 0, 3: 0}))
    assert calls == []


def test_pipeline_cursors_move_past_each_assets_epochs_in_flight_contiguously(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    keys = [(1, 0), (1, 1), (1, 2), (2, 5), (3, 2)]
    ctx.outbox.add_aggregated([(report(a, e), "0x" + report_struct_hash(report(a, e)).hex()) for a, e in keys])
    first = ctx.outbox.add_batch([(1, 0), (1, 1)], config_version=1, digest="0x", signer_set=[], signatures=[])
    second = ctx.outbox.add_batch([(1, 2), (2, 5)], config_version=1, digest="0x", signer_set=[], signatures=[])
    gap = ctx.outbox.add_batch([(3, 2)], config_version=1, digest="0x", signer_set=[], signatures=[])
    chain_view = view({1: 0, 2: 5, 3: 0})
    assert pipeline_view(ctx, chain_view) is chain_view  # nothing in flight
    in_flight = [tx_in_flight(0, batch_id=first), tx_in_flight(1, batch_id=second), tx_in_flight(2, batch_id=gap)]
    ctx.txm = Pending(in_flight)  # type: ignore[assignment]
    ahead = pipeline_view(ctx, chain_view)
    # Asset 3's epoch 2 in flight does not follow its cursor (0): it cannot land, the cursor stays.
    assert {a: ahead.next_epoch(a) for a in (1, 2, 3)} == {1: 3, 2: 6, 3: 0}
    assert chain_view.next_epoch(1) == 0  # the chain's view is left as it is


def test_a_batch_in_flight_is_not_resent_or_voided_as_a_live_one(tmp_path: Path) -> None:
    ctx = context(tmp_path, max_in_flight=2)
    ctx.outbox.add_aggregated([(report(1, 0), "0x" + report_struct_hash(report(1, 0)).hex())])
    batch_id = ctx.outbox.add_batch([(1, 0)], config_version=1, digest="0x", signer_set=[], signatures=[])
    ctx.txm = Pending([tx_in_flight(0, batch_id=batch_id)])  # type: ignore[assignment]
    calls: list[str] = []
    poster = Poster(ctx, Recorder(ctx, "submit", calls), Recorder(ctx, "prove", calls))
    assert poster.post(view({1: 0, 2: 0, 3: 0}))  # pending: True, though nothing new was sent
    assert calls == ["submit.post"]
    assert ctx.outbox.batch(batch_id).state == "signed"


def test_root_only_mode_commits_the_next_epochs_roots_behind_commits_in_flight(tmp_path: Path) -> None:
    ctx = context(tmp_path, "root_only", pending=[tx_in_flight(0, "commit")], max_in_flight=3)
    calls: list[str] = []
    poster = Poster(ctx, Recorder(ctx, "submit", calls, post=True), Recorder(ctx, "prove", calls, post=True))
    assert poster.post(view({1: 0, 2: 0, 3: 0}))
    # Live roots first, then a new root, twice to fill the pipeline; never a signed batch behind them.
    assert calls == ["prove.resume", "prove.post", "prove.resume", "prove.post"]
    assert sorted(tx.nonce for tx in ctx.tx.pending()) == [0, 1, 2]  # type: ignore[attr-defined]


def test_a_transaction_gone_as_soon_as_sent_ends_the_steps_sends(tmp_path: Path) -> None:
    ctx = context(tmp_path, max_in_flight=16)
    calls: list[str] = []
    poster = Poster(ctx, Recorder(ctx, "submit", calls, post=True, dropped=True), Recorder(ctx, "prove", calls))
    assert poster.post(view({1: 0, 2: 0, 3: 0}))
    # Nothing is pending after the first send: the next step reconciles before sending anything else.
    assert calls == ["prove.resume", "submit.resume", "submit.post"]
