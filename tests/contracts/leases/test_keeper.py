"""The settlement keeper (`python -m oracle keep`, oracle/keeper.py) against a real Anvil and the real
contracts: it reads each epoch's published leaves and proofs, reads every asset's cursor through the lens in
one call, and settles with `settleMany` in batches under a gas cap with several transactions in flight; a
second run settles nothing twice; a publication that does not verify is never sent."""

from __future__ import annotations

import json

from eth_utils import keccak
from pydantic import SecretStr

from oracle.keeper import Cursor, Keeper, KeepSettings, plan_settlements
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


def test_plan_follows_each_assets_cursor_contiguously_in_epoch_order(tmp_path):
    trees = [build_epoch_tree([report(a, e, **L40S_FULL) for a in (1, 2, 3)]) for e in (5, 6, 7)]
    publications = [EpochPublication.from_tree(t) for t in trees]
    cursors = {1: Cursor(5, True), 2: Cursor(7, True), 3: Cursor(6, False), 4: Cursor(5, True)}

    plan, waiting = plan_settlements(publications, cursors)

    assert [(r.asset_id, r.epoch) for r, _ in plan] == [(1, 5), (1, 6), (1, 7), (2, 7)]
    assert waiting == {4: 5}  # enrolled, never published
    assert DirectorySource(tmp_path / "missing").epochs() == []  # nothing published yet
