"""The app's indexer on the demo world: resumable from its last committed block, complete and duplicate-free
after a restart mid-way, snapshots that match the chain, and an API that answers from SQLite alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.errors import BadRequest, IndexerError
from app.indexer import Indexer, connect
from app.manifest import load_manifest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def manifest(world, tmp_path_factory):
    return load_manifest(world.manifest(tmp_path_factory.mktemp("manifest")), ROOT / "build" / "contracts")


def _w3():
    from brownie import web3
    from web3 import HTTPProvider, Web3

    return Web3(HTTPProvider(web3.provider.endpoint_uri))


def _events(db) -> list[tuple]:
    return db.execute("SELECT block, log_index, name, args FROM events ORDER BY block, log_index").fetchall()


def test_run_once_resumes_after_a_restart_with_complete_history_and_no_duplicates(manifest, tmp_path):
    head = _w3().eth.block_number
    reference = Indexer(_w3(), manifest, connect(tmp_path / "reference.sqlite"))
    reference.run_once(to_block=head)

    path = tmp_path / "restarted.sqlite"
    first = Indexer(_w3(), manifest, connect(path), chunk_blocks=7)
    first.run_once(to_block=head, max_chunks=3)  # stopped mid-way (a crash after its third commit)
    assert first.last_block == manifest.deployed_at_block + 3 * 7 - 1
    first.db.close()

    second = Indexer(_w3(), manifest, connect(path), chunk_blocks=7)
    assert second.last_block == manifest.deployed_at_block + 3 * 7 - 1
    second.run_once(to_block=head)

    assert second.last_block == head
    assert _events(second.db) == _events(reference.db)
    assert len(_events(second.db)) > 100
    # Replaying blocks already indexed (the cursor moved back) stores nothing twice.
    second.db.execute("UPDATE meta SET value=? WHERE key='last_block'", (str(manifest.deployed_at_block + 10),))
    second.run_once(to_block=head)
    assert _events(second.db) == _events(reference.db)


def test_snapshots_match_the_chain(world, manifest, tmp_path):
    indexer = Indexer(_w3(), manifest, connect(tmp_path / "index.sqlite"))
    indexer.run_once()
    h100 = world.assets[0]
    (snapshot,) = indexer.db.execute("SELECT snapshot FROM assets WHERE asset_id=1").fetchone()
    asset = json.loads(snapshot)
    assert asset["name"] == h100.shares.name()
    assert int(asset["totalSupply"]) == h100.shares.totalSupply()
    assert int(asset["valuation"]["price"]) == world.suite.valuation.quote(1)[0]
    assert asset["offerIds"] == [1]
    epochs = [json.loads(s) for (s,) in indexer.db.execute("SELECT snapshot FROM epochs WHERE asset_id=1 ORDER BY epoch")]
    assert len(epochs) == 6
    for epoch in epochs:
        settled = world.suite.lease_market.settlementOf(1, epoch["epoch"])
        assert int(epoch["net"]) == settled["net"] and int(epoch["credits"]) == settled["credits"]
    # The third settled epoch ran at 70% uptime: 70% of 8 GPU-hours were healthy, and lessees were credited.
    assert epochs[2]["gpuSeconds"] == 8 * 3600 * 7 // 10 and int(epochs[2]["credits"]) > 0
    owners = dict(indexer.db.execute("SELECT lease_id, owner FROM lease_owners").fetchall())
    assert owners == {1: world.who["lessee"].address.lower(), 2: world.who["lessee2"].address.lower(),
                      3: world.who["lessee"].address.lower()}


def test_an_index_of_another_chain_is_refused(manifest, tmp_path):
    path = tmp_path / "other.sqlite"
    db = connect(path)
    db.execute("INSERT INTO meta VALUES ('chain_id', '1')")
    with pytest.raises(IndexerError, match="belongs to chain 1"):
        Indexer(_w3(), manifest, db)


def test_an_account_path_with_a_malformed_address_is_a_bad_request():
    from app.server import _address_param

    class _Request:
        path_params = {"address": "0x1234"}

    with pytest.raises(BadRequest, match="address='0x1234' is not a 20-byte hex address"):
        _address_param(_Request())  # type: ignore[arg-type]
