"""Co-signing: a peer recomputes a batch from its own meters and signs only an exact match."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from oracle.aggregate import AggregationConfig
from oracle.cosign import CosignServer, CosignService, NotReady, PeerClient, collect_quorum
from oracle.daemon import EpochAggregator
from oracle.eip712 import Eip712Domain, batch_digest, build_report_tree, root_digest
from oracle.errors import CosignError, PeerRefused
from oracle.models import Report
from oracle.signer import LocalKeySigner, recover_signer
from oracle.sources.simulator import FleetSimulator, GpuWindow, make_asset_map

G = 1_760_000_000
ORACLE = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
KEYS = [bytes([i]) * 32 for i in (1, 2, 3)]
ASSETS = make_asset_map(seed=5, genesis=G, epoch_length=60, gpus_per_asset={1: 2, 2: 2})
DOMAIN = Eip712Domain(31337, ORACLE)


def fleet(**events: object) -> FleetSimulator:
    return FleetSimulator(ASSETS, start_s=G - 600, end_s=G + 300, seed=5, **events)  # type: ignore[arg-type]


def service(source: FleetSimulator, key: bytes) -> CosignService:
    aggregator = EpochAggregator(source, ASSETS, config=AggregationConfig(), lookback_ms=600_000)
    return CosignService(
        chain_id=31337,
        oracle=ORACLE,
        signers=[LocalKeySigner(key)],
        recompute=aggregator.reports_for,
        known_assets=set(ASSETS.assets),
    )


@pytest.fixture
def reports() -> list[Report]:
    aggregator = EpochAggregator(fleet(), ASSETS, config=AggregationConfig())
    computed = aggregator.compute(0, 2).reports()
    return [computed[k] for k in sorted(computed)]


@pytest.fixture
def peers() -> Iterator[dict[str, CosignServer]]:
    servers = {
        "same": CosignServer(service(fleet(), KEYS[1])),
        # Its meters saw an XID error on a GPU of asset 1 in epoch 1: fewer healthy GPU-seconds.
        "different": CosignServer(service(fleet(xid=[GpuWindow(ASSETS.assets[1].gpus[0], G + 70, G + 80)]), KEYS[2])),
        "guarded": CosignServer(service(fleet(), KEYS[2]), auth_token="s3cret"),
        "behind": CosignServer(service(FleetSimulator(ASSETS, start_s=G - 600, end_s=G + 100, seed=5), KEYS[2])),
    }
    for server in servers.values():
        server.start()
    yield servers
    for server in servers.values():
        server.stop()


def _post(
    url: str, body: object, token: str | None = None, path: str = "/v1/sign"
) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(
        url + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _body(reports: list[Report], **changes: object) -> dict[str, object]:
    return {
        "chainId": 31337,
        "oracle": ORACLE,
        "configVersion": 1,
        "reports": [r.model_dump(mode="json") for r in reports],
        **changes,
    }


def test_a_peer_with_the_same_meter_view_signs_the_batch_digest(
    peers: dict[str, CosignServer], reports: list[Report]
) -> None:
    status, answer = _post(peers["same"].url, _body(reports))
    digest = batch_digest(DOMAIN, 1, reports)
    assert status == 200 and answer["digest"] == "0x" + digest.hex()
    signatures = PeerClient("same", peers["same"].url).request(DOMAIN, 1, reports, digest)
    assert [recover_signer(digest, s.signature) for s in signatures] == [LocalKeySigner(KEYS[1]).address]


def test_a_peer_with_a_different_meter_view_refuses_with_409_and_the_differing_field(
    peers: dict[str, CosignServer], reports: list[Report]
) -> None:
    status, answer = _post(peers["different"].url, _body(reports))
    assert status == 409 and answer["error"] == "mismatch"
    ours = {(r.asset_id, r.epoch): r for r in reports}
    differences = answer["differences"]
    assert {(d["assetId"], d["epoch"]) for d in differences} == {(1, 1)}  # type: ignore[index, union-attr]
    assert {
        "assetId": 1,
        "epoch": 1,
        "field": "gpuSeconds",
        "ours": ours[(1, 1)].gpu_seconds - 15,
        "theirs": ours[(1, 1)].gpu_seconds,
    } in differences  # type: ignore[operator]
    assert {d["field"] for d in differences} <= {"gpuSeconds", "utilizationBps"}  # type: ignore[index, union-attr]
    with pytest.raises(PeerRefused) as refused:
        PeerClient("auditor", peers["different"].url).request(DOMAIN, 1, reports, batch_digest(DOMAIN, 1, reports))
    assert refused.value.differences == answer["differences"]
    assert "asset 1 epoch 1 gpuSeconds" in str(refused.value)


def test_a_tampered_report_is_refused_field_by_field(peers: dict[str, CosignServer], reports: list[Report]) -> None:
    forged = [
        r.model_copy(update={"energy_wh": r.energy_wh + 1}) if (r.asset_id, r.epoch) == (2, 0) else r for r in reports
    ]
    status, answer = _post(peers["same"].url, _body(forged))
    assert status == 409
    assert [(d["assetId"], d["epoch"], d["field"]) for d in answer["differences"]] == [(2, 0, "energyWh")]  # type: ignore[union-attr, index]


def test_requests_for_another_domain_a_wrong_digest_or_without_the_token_are_refused(
    peers: dict[str, CosignServer], reports: list[Report]
) -> None:
    assert _post(peers["same"].url, _body(reports, chainId=1))[1]["error"] == "wrong_domain"
    assert _post(peers["same"].url, _body(reports, oracle="0x" + "22" * 20))[0] == 400
    assert _post(peers["same"].url, _body(reports, digest="0x" + "00" * 32))[1]["error"] == "digest_mismatch"
    assert _post(peers["same"].url, {"reports": "nope"})[0] == 400
    assert _post(peers["guarded"].url, _body(reports))[0] == 401
    assert _post(peers["guarded"].url, _body(reports), token="s3cret")[0] == 200
    unknown = [Report(asset_id=9, epoch=0, gpu_seconds=0, curtailed_gpu_seconds=0, utilization_bps=0, energy_wh=0)]
    status, answer = _post(peers["same"].url, _body(unknown))
    assert status == 409 and answer["differences"][0]["field"] == "assetId"  # type: ignore[index]


def test_a_peer_whose_source_does_not_cover_the_epochs_yet_answers_503(
    peers: dict[str, CosignServer], reports: list[Report]
) -> None:
    status, answer = _post(peers["behind"].url, _body(reports))
    assert (status, answer["error"]) == (503, "not_ready")
    with pytest.raises(CosignError, match="HTTP 503: not_ready"):
        PeerClient("behind", peers["behind"].url).request(DOMAIN, 1, reports, batch_digest(DOMAIN, 1, reports))


def test_quorum_takes_local_then_peer_signatures_skipping_refusals_ordered_by_address(
    peers: dict[str, CosignServer], reports: list[Report]
) -> None:
    local = LocalKeySigner(KEYS[0])
    signer_set = sorted((LocalKeySigner(k).address for k in KEYS), key=lambda a: int(a, 16))
    digest = batch_digest(DOMAIN, 1, reports)
    clients = [
        PeerClient("different", peers["different"].url),
        PeerClient("down", "http://127.0.0.1:9"),
        PeerClient("same", peers["same"].url),
    ]
    chosen, problems = collect_quorum(
        digest,
        local=[local],
        peers=clients,
        signer_set=signer_set,
        threshold=2,
        domain=DOMAIN,
        config_version=1,
        reports=reports,
    )
    assert sorted([s.signer for s in chosen]) == sorted([local.address, LocalKeySigner(KEYS[1]).address])
    assert [s.signer for s in chosen] == sorted((s.signer for s in chosen), key=lambda a: int(a, 16))
    assert len(problems) == 2 and "refused to sign" in problems[0] and "unreachable" in problems[1]
    short, _ = collect_quorum(
        digest,
        local=[local],
        peers=clients[:2],
        signer_set=signer_set,
        threshold=2,
        domain=DOMAIN,
        config_version=1,
        reports=reports,
    )
    assert len(short) == 1


# --- root mode: POST /v1/sign-root ----------------------------------------------------------------------------


def _root_body(leaves: list[Report], **changes: object) -> dict[str, object]:
    tree = build_report_tree(leaves)
    epoch = leaves[0].epoch
    return {
        "chainId": 31337,
        "oracle": ORACLE,
        "configVersion": 1,
        "epoch": epoch,
        "reportCount": len(leaves),
        "root": "0x" + tree.root.hex(),
        "reports": [r.model_dump(mode="json") for r in leaves],
        "digest": "0x" + root_digest(DOMAIN, 1, epoch, len(leaves), tree.root).hex(),
        **changes,
    }


def test_a_peer_with_the_same_meter_view_rebuilds_the_tree_and_signs_the_root_digest(
    peers: dict[str, CosignServer], reports: list[Report]
) -> None:
    leaves = [r for r in reports if r.epoch == 1]
    root = build_report_tree(leaves).root
    digest = root_digest(DOMAIN, 1, 1, len(leaves), root)
    status, answer = _post(peers["same"].url, _root_body(leaves), path="/v1/sign-root")
    assert status == 200 and (answer["digest"], answer["root"]) == ("0x" + digest.hex(), "0x" + root.hex())
    signatures = PeerClient("same", peers["same"].url).request_root(DOMAIN, 1, 1, leaves, root, digest)
    assert [recover_signer(digest, s.signature) for s in signatures] == [LocalKeySigner(KEYS[1]).address]


def test_a_peer_with_a_different_meter_view_refuses_the_root_with_409_and_the_differing_assets(
    peers: dict[str, CosignServer], reports: list[Report]
) -> None:
    leaves = [r for r in reports if r.epoch == 1]
    body = _root_body(leaves)
    status, answer = _post(peers["different"].url, body, path="/v1/sign-root")
    assert (status, answer["error"], answer["assets"]) == (409, "mismatch", [1])
    assert {(d["assetId"], d["epoch"]) for d in answer["differences"]} == {(1, 1)}  # type: ignore[index, union-attr]
    assert answer["root"] not in (None, body["root"])  # the root of its own view
    root = build_report_tree(leaves).root
    digest = root_digest(DOMAIN, 1, 1, len(leaves), root)
    with pytest.raises(PeerRefused) as refused:
        PeerClient("auditor", peers["different"].url).request_root(DOMAIN, 1, 1, leaves, root, digest)
    assert refused.value.differences == answer["differences"]
    # Its view of epoch 0 matches: that root it signs.
    epoch_0 = [r for r in reports if r.epoch == 0]
    assert _post(peers["different"].url, _root_body(epoch_0), path="/v1/sign-root")[0] == 200


def test_root_requests_must_be_self_consistent(peers: dict[str, CosignServer], reports: list[Report]) -> None:
    leaves = [r for r in reports if r.epoch == 2]
    url = peers["same"].url

    def ask(body: dict[str, object]) -> tuple[int, object]:
        status, answer = _post(url, body, path="/v1/sign-root")
        return status, answer.get("error")

    assert ask(_root_body(leaves, reportCount=3)) == (400, "malformed")
    assert ask(_root_body(leaves, root="0x" + "11" * 32)) == (400, "root_mismatch")
    assert ask(_root_body(leaves, digest="0x" + "00" * 32)) == (400, "digest_mismatch")
    assert ask(_root_body(leaves, epoch=1)) == (400, "malformed")
    assert ask(_root_body(list(reversed(leaves)))) == (400, "leaf_order")
    assert ask(_root_body(leaves, chainId=5)) == (400, "wrong_domain")
    assert ask(_root_body(leaves)) == (200, None)
    assert _post(peers["behind"].url, _root_body(leaves), path="/v1/sign-root")[0] == 503


def test_quorum_for_a_root_asks_the_peers_with_the_root_and_skips_a_refusal(
    peers: dict[str, CosignServer], reports: list[Report]
) -> None:
    local = LocalKeySigner(KEYS[0])
    signer_set = sorted((LocalKeySigner(k).address for k in KEYS), key=lambda a: int(a, 16))
    leaves = [r for r in reports if r.epoch == 1]
    root = build_report_tree(leaves).root
    digest = root_digest(DOMAIN, 1, 1, len(leaves), root)
    chosen, problems = collect_quorum(
        digest,
        local=[local],
        peers=[PeerClient("different", peers["different"].url), PeerClient("same", peers["same"].url)],
        signer_set=signer_set,
        threshold=2,
        domain=DOMAIN,
        config_version=1,
        reports=leaves,
        epoch=1,
        root=root,
    )
    assert {s.signer for s in chosen} == {local.address, LocalKeySigner(KEYS[1]).address}
    assert all(recover_signer(digest, s.signature) == s.signer for s in chosen)
    assert len(problems) == 1 and "refused to sign" in problems[0]


# --- the server facing the network -----------------------------------------------------------------------


@pytest.mark.parametrize("token", ["wrong", "s3cre", "s3cret-and-more", "S3CRET", ""])
def test_a_wrong_or_missing_token_is_refused_before_the_body_is_read(
    peers: dict[str, CosignServer], reports: list[Report], token: str
) -> None:
    status, answer = _post(peers["guarded"].url, _body(reports), token=token or None)
    assert (status, answer) == (401, {"error": "unauthorised"})


def _raw(port: int, payload: bytes, *, wait_s: float = 5.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=wait_s) as conn:
        conn.sendall(payload)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def test_a_request_without_a_length_or_over_the_limit_is_refused_unread() -> None:
    server = CosignServer(service(fleet(), KEYS[1]), max_body_bytes=2_048)
    server.start()
    try:
        no_length = _raw(server.port, b"POST /v1/sign HTTP/1.1\r\nHost: x\r\n\r\n")
        assert no_length.startswith(b"HTTP/1.0 411")
        too_large = _raw(server.port, b"POST /v1/sign HTTP/1.1\r\nHost: x\r\nContent-Length: 2049\r\n\r\n")
        assert too_large.startswith(b"HTTP/1.0 413") and b"at most 2048 bytes" in too_large
    finally:
        server.stop()


def test_a_slow_loris_client_is_cut_off_and_others_are_served_meanwhile(reports: list[Report]) -> None:
    server = CosignServer(service(fleet(), KEYS[1]), read_timeout_s=1.0, max_connections=4)
    server.start()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as loris:
            loris.sendall(b"POST /v1/sign HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
            started = time.monotonic()
            closed = False
            while time.monotonic() - started < 6:
                try:
                    loris.sendall(b" ")  # one byte at a time, each well within any per-read timeout
                    if loris.recv(1, socket.MSG_DONTWAIT) == b"":
                        closed = True
                        break
                except BlockingIOError:
                    pass
                except OSError:
                    closed = True
                    break
                # a normal client is served while the slow one trickles
                assert _post(server.url, _body(reports))[0] == 200
                time.sleep(0.2)
            assert closed, "the slow client was never cut off"
            assert time.monotonic() - started < 4
    finally:
        server.stop()


def test_connections_over_the_cap_are_closed_at_once_and_slots_free_up(reports: list[Report]) -> None:
    server = CosignServer(service(fleet(), KEYS[1]), read_timeout_s=1.0, max_connections=2)
    server.start()
    try:
        idle = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(2)]
        time.sleep(0.2)
        assert _raw(server.port, b"GET /health HTTP/1.0\r\n\r\n") == b""  # no slot: closed unanswered
        time.sleep(1.5)  # the idle ones are cut off by the read timeout
        assert _post(server.url, _body(reports))[0] == 200
        for conn in idle:
            conn.close()
    finally:
        server.stop()


def test_a_peer_refuses_a_report_that_may_still_change_until_its_horizon_passes() -> None:
    """A GPU silent since before epoch 1's end: the peer answers 'not ready' rather than sign numbers a later
    scrape could change; once its source covers the end plus the horizon it signs the outage as measured."""
    gpu = ASSETS.assets[1].gpus[0]
    silent = FleetSimulator(ASSETS, start_s=G - 600, end_s=G + 300, seed=5, vanished=[GpuWindow(gpu, G + 100, G + 400)])
    early = EpochAggregator(silent, ASSETS, config=AggregationConfig(outage_after_ms=600_000))
    with pytest.raises(NotReady, match=f"report 1/1 may still change: GPU\\(s\\) {gpu}"):
        early.reports_for([(1, 1), (2, 1)])
    assert set(early.reports_for([(2, 1)])) == {(2, 1)}  # the other asset is signed meanwhile
    late = EpochAggregator(silent, ASSETS, config=AggregationConfig(outage_after_ms=60_000))
    assert late.reports_for([(1, 1)])[(1, 1)].gpu_seconds < 2 * 60  # posted as measured: an outage
