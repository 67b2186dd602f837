"""The chain client's batched views against a real Anvil: one answer per asset, the same as the per-asset
call, whatever the chunking (the daemon's start-up reads a 12,500-asset fleet with them)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from live_kit import EPOCH, GENESIS, Chain, ChainTemplate, start_chain

from oracle.chain import ChainClient

UNKNOWN = 9


@pytest.fixture(scope="module")
def client(template: ChainTemplate, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChainClient]:
    node: Chain = start_chain(template, tmp_path_factory.mktemp("batched-views"), timestamp=GENESIS + 2 * EPOCH + 5)
    yield ChainClient(node.url, node.oracle)
    node.stop()


@pytest.mark.parametrize("chunk", [1, 2, 1_000])
def test_asset_statuses_match_the_per_asset_view_in_any_chunking(client: ChainClient, chunk: int) -> None:
    ids = [1, 2, 3, UNKNOWN]
    statuses = client.asset_statuses(ids, chunk=chunk)
    assert list(statuses) == ids
    assert statuses == {a: client.asset_status(a) for a in ids}
    assert statuses[1] == "Active"
    assert statuses[UNKNOWN] == "None"


def test_asset_statuses_of_no_assets_is_empty(client: ChainClient) -> None:
    assert client.asset_statuses([]) == {}


def test_cursors_match_the_per_asset_view(client: ChainClient) -> None:
    ids = [1, 2, 3]
    assert client.cursors(ids, chunk=2) == {a: client.cursor(a) for a in ids}


def test_cursors_in_several_chunks_take_one_round_trip(client: ChainClient, monkeypatch: pytest.MonkeyPatch) -> None:
    provider = client.w3.provider
    batches: list[int] = []
    calls: list[str] = []
    real_batch, real_request = provider.make_batch_request, provider.make_request

    def counting_batch(requests):  # type: ignore[no-untyped-def]
        batches.append(len(requests))
        return real_batch(requests)

    def counting_request(method, params):  # type: ignore[no-untyped-def]
        calls.append(method)
        return real_request(method, params)

    monkeypatch.setattr(provider, "make_batch_request", counting_batch)
    monkeypatch.setattr(provider, "make_request", counting_request)
    cursors = client.cursors([1, 2, 3, 1, 2], chunk=2)
    assert batches == [3]  # three chunks of cursorsOf, one HTTP request
    assert calls == []
    assert cursors == {a: client.cursor(a) for a in (1, 2, 3)}
