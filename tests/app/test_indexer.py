"""The app's indexer on the demo world: resumable from its last committed block, complete and duplicate-free
after a restart mid-way, snapshots that match the chain, and an API that answers from SQLite alone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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
    rows = indexer.db.execute("SELECT snapshot FROM epochs WHERE asset_id=1 ORDER BY epoch").fetchall()
    epochs = [json.loads(s) for (s,) in rows]
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


class _RecordingProvider:
    """A real HTTP provider to the test's Anvil that keeps each `eth_getLogs` request and its reply."""

    def __init__(self, endpoint: str) -> None:
        from web3 import HTTPProvider

        class _Provider(HTTPProvider):
            def make_request(inner, method, params):  # noqa: N805 (the recorder's `self` is the outer one)
                reply = super().make_request(method, params)
                if method == "eth_getLogs":
                    self.get_logs.append((params, reply))
                return reply

        self.get_logs: list[tuple[Any, Any]] = []
        self.provider = _Provider(endpoint)


def test_run_once_neither_fetches_nor_indexes_a_foreign_contract_emitting_the_suite_s_event_signature(
        world, manifest, tmp_path):
    from brownie import Token18, web3
    from web3 import Web3

    # A foreign ERC-20 emits Transfer(address,address,uint256), the very topic of the share tokens' transfers,
    # in the same blocks as a share transfer of the suite.
    carol, alice = world.who["carol"], world.who["alice"]
    foreign = Token18.deploy({"from": world.who["mallory"]})
    foreign.mint(carol, 10**18, {"from": world.who["mallory"]})
    foreign.transfer(alice, 10**17, {"from": carol})
    shares = world.assets[0].shares
    suite_tx = shares.transfer(alice, 10**18, {"from": carol})

    recorder = _RecordingProvider(web3.provider.endpoint_uri)
    # One chunk for the whole history: the share tokens are created and subscribed to inside it.
    indexer = Indexer(Web3(recorder.provider), manifest, connect(tmp_path / "filtered.sqlite"), chunk_blocks=10_000)
    indexer.run_once()

    foreign_address = foreign.address.lower()
    assert indexer.db.execute("SELECT COUNT(*) FROM events WHERE address=?", (foreign_address,)).fetchone()[0] == 0
    assert indexer.db.execute("SELECT COUNT(*) FROM contracts WHERE address=?", (foreign_address,)).fetchone()[0] == 0
    # Not filtered after the fact: every request names the suite's addresses and no reply carries a foreign log.
    assert recorder.get_logs
    watched = {a for (a,) in indexer.db.execute("SELECT address FROM contracts WHERE kind != 'SettlementToken'")}
    for params, reply in recorder.get_logs:
        requested = {a.lower() for a in params[0]["address"]}
        assert requested and requested <= watched and foreign_address not in requested
        assert all(entry["address"].lower() in watched for entry in reply["result"])
    # The share tokens were discovered on-chain (AssetRegistered) and their logs read back in the same chunk:
    # carol's first subscription to each is indexed.
    assert len(recorder.get_logs) == 2
    for asset in world.assets:
        assert asset.shares.address.lower() in watched
        assert indexer.db.execute("SELECT COUNT(*) FROM events WHERE address=? AND name='Subscribed'",
                                  (asset.shares.address.lower(),)).fetchone()[0] == 1
    (name, args) = indexer.db.execute(
        "SELECT name, args FROM events WHERE block=? AND address=?", (suite_tx.block_number, shares.address.lower())
    ).fetchone()
    assert name == "Transfer" and json.loads(args) == {"from": carol.address, "to": alice.address, "value": str(10**18)}
