"""The settlement keeper (`python -m oracle keep`, oracle/keeper.py) against a real Anvil and the real
contracts: it reads each epoch's published leaves and proofs, reads every asset's cursor through the lens in
one call, and settles contiguous runs of each epoch's leaves with `settleRange` (one range proof per batch) in
batches under a gas cap with several transactions in flight; a second run settles nothing twice; a publication
that does not verify is never sent."""

from __future__ import annotations

import json

from eth_utils import keccak
from pydantic import SecretStr

from oracle.keeper import Cursor, Keeper, KeepSettings, plan_runs
from oracle.publication import DirectorySource, EpochPublication, publication_path, write_publication
from oracle.roots import build_epoch_tree
from oracle.signer import LocalKeySigner
from scripts.samples import usd
from tests.contracts.leases._market import L40S_FULL, make_offer, open_lease
from tests.support.meter import report

H100 = dict(gpu_seconds=8 * 3600, utilization_bps=9_000, energy_wh=5_000)


def _keeper(w, tmp_path, **overrides):
    from brownie import web3

    sender = LocalKeySigner(keccak(text="keeper-test"))
    w.actors.admin.transfer(sender.address, "10 ether")
    settings = KeepSettings(rpc_url=SecretStr("http://unused"), lease_market=w.market.address,
                              lens=w.lens.address, publications=str(tmp_path), **overrides)
    return Keeper(web3, sender, settings)


def _publish(w, tmp_path, epoch):
    reports = [report(w.a1, epoch, **H100), report(w.a2, epoch, **L40S_FULL)]
    tree = w.meter.poster.commit_root(epoch, reports)
    write_publication(tmp_path, EpochPublication.from_tree(tree))
    return tree


def test_keeper_settles_every_published_epoch_in_batches_then_nothing_twice(world, tmp_path):
    w, m = world, world.market
    lease = open_lease(w, make_offer(w), 8, 2)  # the H100 is enrolled; the L40S (no offer) is not
    w.clock.goto(w.e0 + 3)
    for epoch in (w.e0, w.e0 + 1, w.e0 + 2):
        _publish(w, tmp_path, epoch)
    keeper = _keeper(w, tmp_path, gas_cap=600_000, probe_size=1, max_in_flight=2)

    result = keeper.run_once()

    assert (result.planned, result.settled, result.failed) == (3, 3, [])
    assert result.transactions >= 2  # the gas cap split the plan
    assert m.nextSettleEpoch(w.a1) == w.e0 + 3
    assert m.leaseAccount(lease)["billed"] == usd(32)  # 8 GPUs x $2 x 2 fully delivered epochs
    assert not m.isEnrolled(w.a2)
    assert not w.oracle.hasReport(w.a1, w.e0 + 1)  # settled with proofs, nothing stored

    again = keeper.run_once()
    assert (again.planned, again.transactions, again.settled) == (0, 0, 0)


def test_keeper_skips_a_publication_that_does_not_verify_and_waits_there(world, tmp_path):
    w, m = world, world.market
    make_offer(w)
    w.clock.goto(w.e0 + 2)
    _publish(w, tmp_path, w.e0)
    _publish(w, tmp_path, w.e0 + 1)
    path = publication_path(tmp_path, w.e0)
    document = json.loads(path.read_text())
    document["reports"][0]["gpuSeconds"] -= 1  # no longer what the quorum signed
    path.write_text(json.dumps(document))

    result = _keeper(w, tmp_path).run_once()

    # E0 is unusable, so the H100 waits at E0 and E0+1 cannot be settled before it.
    assert (result.planned, result.transactions) == (0, 0)
    assert result.waiting == {w.a1: w.e0}
    assert m.nextSettleEpoch(w.a1) == w.e0


def test_keeper_settles_runs_across_assets_around_a_settled_leaf(world, tmp_path):
    w, a, m = world, world.actors, world.market
    make_offer(w)
    make_offer(w, w.a2, gpus=4)
    w.clock.goto(w.e0 + 2)
    first = _publish(w, tmp_path, w.e0)
    _publish(w, tmp_path, w.e0 + 1)
    h100 = first.reports[0]
    m.settleWithProof(h100.as_abi_tuple(), first.proof(h100.asset_id, w.e0), {"from": a.keeper})

    result = _keeper(w, tmp_path).run_once()

    # E0: the L40S alone (the settled H100 leads the leaves, so no run starts there); E0+1: both in one run.
    assert (result.planned, result.settled, result.transactions, result.failed) == (3, 3, 2, [])
    assert (m.nextSettleEpoch(w.a1), m.nextSettleEpoch(w.a2)) == (w.e0 + 2, w.e0 + 2)
    assert _keeper(w, tmp_path).run_once().planned == 0


def _runs(publications, cursors, max_gap_leaves=4):
    runs, waiting = plan_runs(publications, cursors, max_gap_leaves)
    return [(run.epoch, run.first, [r.asset_id for r in run.reports], sorted(run.due_at)) for run in runs], waiting


def test_plan_runs_follow_each_assets_cursor_and_split_where_settle_range_would_revert(tmp_path):
    trees = [build_epoch_tree([report(a, e, **L40S_FULL) for a in range(1, 7)]) for e in (5, 6, 7)]
    publications = [EpochPublication.from_tree(t) for t in trees]
    # 1 and 3 settle from 5; 2 is settled through 6; 4 through 5; 5 is not enrolled; 6 has a stored report at 5
    # (it settles with `settle`); 7 is enrolled but never published.
    cursors = {1: Cursor(5, True), 2: Cursor(7, True), 3: Cursor(5, True), 4: Cursor(6, True),
               5: Cursor(5, False), 6: Cursor(5, True, 6), 7: Cursor(5, True)}

    runs, waiting = _runs(publications, cursors)

    assert runs == [
        (5, 0, [1, 2, 3], [0, 2]),  # the settled 2 stays inside; 4 (settled) trails and is left out
        (6, 0, [1, 2, 3, 4], [0, 2, 3]),
        (7, 0, [1, 2, 3, 4], [0, 1, 2, 3]),  # 5 (not enrolled) ends it, 6 (behind) too
    ]
    assert waiting == {7: 5}  # enrolled, never published; 6 waits on its stored report, not a publication
    assert _runs(publications, cursors, max_gap_leaves=0)[0][:2] == [(5, 0, [1], [0]), (5, 2, [3], [2])]
    assert DirectorySource(tmp_path / "missing").epochs() == []  # nothing published yet


def test_leaf_run_batches_start_and_end_on_leaves_that_settle():
    tree = build_epoch_tree([report(a, 6, **L40S_FULL) for a in range(1, 9)])
    publication = EpochPublication.from_tree(tree)
    runs, _ = plan_runs([publication], {a: Cursor(7 if a in (2, 5, 6) else 6, True) for a in range(1, 9)})
    (run,) = runs
    assert (run.first, len(run.reports), sorted(run.due_at), run.due) == (0, 8, [0, 2, 3, 6, 7], 5)

    batches = run.batches(3)

    assert [(b.first, [r.asset_id for r in b.reports], b.due) for b in batches] == [
        (0, [1, 2, 3], 2),  # the settled asset 2 inside
        (3, [4], 1),  # [3, 6) would end on settled leaves: cut back to leaf 3
        (6, [7, 8], 2),  # the settled assets 5 and 6 are skipped at the cut
    ]
    for b in batches:
        assert tree.tree.range_proof(b.first, len(b.reports)) == b.proof()
