"""Root mode (``submission.mode = "root"``) against real parts: Anvil with the compiled contracts, SQLite, the daemon
as a subprocess or in-process, and co-signing peers on real HTTP that recompute every root from their own meters.

Each test ends with every epoch of every asset on chain exactly once, with the aggregator's own numbers."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from live_kit import (
    EPOCH,
    GENESIS,
    REPO,
    SCRAPE_MS,
    SEED,
    A,
    B,
    C,
    Actor,
    Chain,
    ChainTemplate,
    DaemonProcess,
    assert_posted_exactly_once,
    daemon_settings,
    outbox_rows,
    reference_reports,
    start_chain,
    write_settings,
)

from oracle.aggregate import AggregationConfig
from oracle.chain import ChainClient
from oracle.cosign import CosignServer, CosignService
from oracle.daemon import Daemon, EpochAggregator
from oracle.eip712 import Eip712Domain, root_digest
from oracle.models import AssetMap, Report
from oracle.outbox import Outbox
from oracle.roots import build_epoch_tree
from oracle.settings import load_settings
from oracle.signer import LocalKeySigner, sign_sorted
from oracle.sources.recording import RecordingSource
from oracle.sources.simulator import AssetWindow, FleetSimulator, GpuWindow, make_asset_map

pytestmark = pytest.mark.usefixtures("max_in_flight")

ASSET_IDS = (1, 2, 3)


# --- helpers -----------------------------------------------------------------------------------------------


def three_assets() -> AssetMap:
    """Assets 1 (8 GPUs, 700 W), 2 and 3 (4 GPUs, 350 W each: asset 3 is the template's unstarted L40S)."""
    return make_asset_map(seed=SEED, genesis=GENESIS, epoch_length=EPOCH, gpus_per_asset={1: 8, 2: 4, 3: 4})


def fleet(assets: AssetMap, *, end_epoch: int = 4, xid: list[GpuWindow] | None = None) -> FleetSimulator:
    """The three-asset fleet, with an exporter outage of asset 1 inside epoch 1."""
    return FleetSimulator(
        assets,
        start_s=GENESIS - 600,
        end_s=GENESIS + (end_epoch + 1) * EPOCH + 30,
        scrape_interval_ms=SCRAPE_MS,
        seed=SEED,
        power_w={1: 700, 2: 350, 3: 350},
        outages=[AssetWindow(1, GENESIS + 65, GENESIS + 100)],
        xid=xid or [],
    )


def start_reporting(chain: Chain, asset_id: int, first_epoch: int = 0) -> None:
    """``MeteringOracle.startReporting`` from the deployer (the oracle admin)."""
    document = json.loads(chain.deployment.read_text())
    oracle = chain.w3.eth.contract(
        address=document["contracts"]["MeteringOracle"]["address"],
        abi=document["contracts"]["MeteringOracle"]["abi"],
    )
    tx = oracle.functions.startReporting(asset_id, first_epoch).transact({"from": document["deployer"]})
    assert chain.w3.eth.wait_for_transaction_receipt(tx)["status"] == 1


class RecordingPeer(CosignService):
    """A co-signing peer that keeps what it answered to each root request: (epoch, status, answer)."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.answers: list[tuple[int, int, dict[str, Any]]] = []

    def handle_root(self, body: Any) -> tuple[int, dict[str, Any]]:
        status, answer = super().handle_root(body)
        self.answers.append((int(body.get("epoch", -1)), status, answer))
        return status, answer


def start_peer(chain: Chain, recording: Path, assets: AssetMap, who: Actor) -> tuple[CosignServer, RecordingPeer]:
    """An in-process ``oracle cosign``: its own source (a recording) and asset map, the daemon's windows."""
    aggregator = EpochAggregator(
        RecordingSource(recording),
        assets,
        config=AggregationConfig(scrape_interval_ms=SCRAPE_MS),
        lookback_ms=600_000,
        grace_ms=SCRAPE_MS,
    )
    service = RecordingPeer(
        chain_id=31337,
        oracle=chain.oracle,
        signers=[LocalKeySigner(who.key)],
        recompute=aggregator.reports_for,
        known_assets=set(assets.assets),
    )
    server = CosignServer(service)
    server.start()
    return server, service


def epoch_root(reference: dict[tuple[int, int], Report], epoch: int, assets: tuple[int, ...]) -> bytes:
    return build_epoch_tree([reference[(a, epoch)] for a in assets]).root


def commit_as_others(chain: Chain, epoch: int, reports: list[Report], *, tip: int = 10**9) -> str:
    """Signers B and C commit a root of ``reports`` for ``epoch`` from C's account (another quorum member)."""
    client = ChainClient(chain.url, chain.oracle)
    tree = build_epoch_tree(reports)
    digest = root_digest(Eip712Domain(31337, chain.oracle), 1, epoch, tree.count, tree.root)
    signatures = sign_sorted(digest, [LocalKeySigner(B.key), LocalKeySigner(C.key)])
    data = client.encode_commit_root(1, epoch, tree.count, tree.root, client.signers(), signatures)
    tx = {
        "type": 2,
        "chainId": 31337,
        "nonce": chain.w3.eth.get_transaction_count(C.address, "pending"),
        "to": chain.oracle,
        "value": 0,
        "gas": 300_000,
        "maxFeePerGas": 10**12,
        "maxPriorityFeePerGas": tip,
        "data": data,
    }
    return "0x" + bytes(chain.w3.eth.send_raw_transaction(Account.sign_transaction(tx, C.key).raw_transaction)).hex()


def _status(config: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "oracle", "status", "--config", str(config), *flags],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# --- 1. several assets, a quorum completed by peers, proofs split under the gas cap ---------------------------


def test_root_mode_posts_every_epoch_of_several_assets_once_and_commits_the_python_root(
    tmp_path: Path, template: ChainTemplate
) -> None:
    assets = three_assets()
    recording = fleet(assets).write_openmetrics(tmp_path / "fleet.om")
    # The dissenting peer's meters saw an XID error on a GPU of asset 2 in epoch 2.
    xid = GpuWindow(assets.assets[2].gpus[1], GENESIS + 2 * EPOCH + 20, GENESIS + 2 * EPOCH + 40)
    dissent = fleet(assets, xid=[xid]).write_openmetrics(tmp_path / "dissent.om")
    reference = reference_reports(recording, assets)
    assets_file = tmp_path / "assets.json"
    assets_file.write_text(json.dumps(assets.model_dump(mode="json")))
    chain = start_chain(template, tmp_path / "chain", timestamp=GENESIS + 4 * EPOCH + 5)
    start_reporting(chain, 3)
    dissenter, dissenter_peer = start_peer(chain, dissent, assets, C)
    auditor, auditor_peer = start_peer(chain, recording, assets, B)
    settings = daemon_settings(
        tmp_path,
        chain=chain,
        source={"kind": "recording", "recording": {"path": str(recording)}},
        signers=[A],
        assets={"map": str(assets_file)},
        submission={"mode": "root", "gas_cap_per_tx": 250_000},
        cosign={"peers": [{"name": "dissenter", "url": dissenter.url}, {"name": "auditor", "url": auditor.url}]},
    )
    config = write_settings(tmp_path, settings)
    outbox = tmp_path / "outbox.sqlite"
    try:
        daemon = DaemonProcess(config, tmp_path / "daemon.log", ["--until-epoch", "3"]).start()
        assert daemon.wait(90) == 0, daemon.tail()

        keys = [(a, e) for a in ASSET_IDS for e in range(4)]
        onchain = chain.onchain_reports(keys)
        assert {k: onchain[k] for k in keys} == {k: reference[k] for k in keys}
        assert reference[(1, 1)].gpu_seconds < 8 * EPOCH  # the outage epoch is posted as measured
        counts = chain.accepted_counts()
        assert {k: counts.get(k, 0) for k in keys} == dict.fromkeys(keys, 1)
        assert [chain.cursor(a) for a in ASSET_IDS] == [4, 4, 4]
        client = ChainClient(chain.url, chain.oracle)
        for epoch in range(4):
            assert client.root_of(epoch) == (epoch_root(reference, epoch, ASSET_IDS), 3), epoch

        box = Outbox(outbox, read_only=True)
        try:
            roots = box.roots()
            assert [(r.epoch, r.state, r.committed_by, r.keys) for r in roots] == [
                (e, "proven", "self", [(a, e) for a in ASSET_IDS]) for e in range(4)
            ]
            assert all(r.root == "0x" + epoch_root(reference, r.epoch, ASSET_IDS).hex() for r in roots)
            txs = box.transactions()
            assert {t.kind for t in txs} == {"commit", "prove"}  # no signed batch at all
            assert [t.root_id for t in txs if t.kind == "commit"] == [r.id for r in roots]
            proofs = [t for t in txs if t.kind == "prove"]
            assert len(proofs) >= 2 and all(t.status == 1 and t.gas_limit <= 250_000 for t in txs)
            assert sorted(k for b in box.batches(("confirmed",)) for k in b.keys) == sorted(keys)
            assert {r.state for r in box.reports()} == {"confirmed"}
        finally:
            box.close()

        # The dissenter refused epoch 2's root with the differing asset; the auditor signed that one.
        refusals = [(e, s, a.get("assets")) for e, s, a in dissenter_peer.answers if s != 200]
        assert refusals == [(2, 409, [2])]
        assert sorted(e for e, s, _ in dissenter_peer.answers if s == 200) == [0, 1, 3]
        assert [(e, s) for e, s, _ in auditor_peer.answers] == [(2, 200)]
        failed = [e for e in daemon.events() if e.get("event") == "cosign_peer_failed"]
        assert [(d["assetId"], d["epoch"]) for d in failed[0]["differences"]] == [(2, 2)] * len(
            failed[0]["differences"]
        )
        events = [e.get("event") for e in daemon.events()]
        assert events.count("root_signed") == events.count("root_committed") == events.count("root_proven") == 4

        as_json = json.loads(_status(config, "--json").stdout)
        assert (as_json["mode"], as_json["roots"], as_json["rootConflicts"]) == ("root", [], 0)
        text = _status(config).stdout.splitlines()
        assert text[0].endswith(", posting mode root") and "roots at work: 0" in text
    finally:
        dissenter.stop()
        auditor.stop()
        chain.stop()


# --- 2. SIGKILL after the root is signed, and after it is committed -----------------------------------------


def test_sigkill_after_the_root_is_signed_and_after_it_is_committed_posts_every_report_once(
    tmp_path: Path, template: ChainTemplate, recording: Path, reference: dict[tuple[int, int], Report]
) -> None:
    chain = start_chain(template, tmp_path / "chain", timestamp=GENESIS + 3 * EPOCH + 5)
    settings = daemon_settings(
        tmp_path,
        chain=chain,
        source={"kind": "recording", "recording": {"path": str(recording)}},
        submission={"mode": "root"},
    )
    config = write_settings(tmp_path, settings)
    outbox = tmp_path / "outbox.sqlite"
    client = ChainClient(chain.url, chain.oracle)
    root_0 = epoch_root(reference, 0, (1, 2))
    try:
        # Killed right after epoch 0's signed root is committed to the outbox, before any transaction.
        crashed = DaemonProcess(
            config, tmp_path / "d1.log", ["--until-epoch", "2"], {"WELLHEAD_TEST_CRASH_AFTER": "root_signed"}
        ).start()
        assert crashed.wait(60) == -signal.SIGKILL, crashed.tail()
        roots = outbox_rows(outbox, "SELECT id, epoch, state, root FROM roots")
        assert roots == [(1, 0, "signed", "0x" + root_0.hex())]
        assert outbox_rows(outbox, "SELECT COUNT(*) FROM transactions") == [(0,)]
        assert outbox_rows(outbox, "SELECT asset_id, state, root_id FROM reports WHERE epoch = 0") == [
            (1, "signed", 1),
            (2, "signed", 1),
        ]

        # Restarted: it commits the root it had signed (no second signing round), then is killed once the
        # commit is recorded, before any proof.
        crashed = DaemonProcess(
            config, tmp_path / "d2.log", ["--until-epoch", "2"], {"WELLHEAD_TEST_CRASH_AFTER": "root_committed"}
        ).start()
        assert crashed.wait(60) == -signal.SIGKILL, crashed.tail()
        assert [e for e in crashed.events() if e.get("event") == "root_signed"] == []
        assert outbox_rows(outbox, "SELECT id, state, committed_by FROM roots") == [(1, "committed", "self")]
        assert outbox_rows(outbox, "SELECT kind, root_id, state, status FROM transactions") == [
            ("commit", 1, "mined", 1)
        ]
        assert client.root_of(0) == (root_0, 2)
        assert chain.cursor(1) == chain.cursor(2) == 0  # no proof landed
        assert {s for (s,) in outbox_rows(outbox, "SELECT state FROM reports WHERE epoch = 0")} == {"signed"}

        # Restarted: it proves epoch 0 against the committed root without committing it again, then goes on.
        again = DaemonProcess(config, tmp_path / "d3.log", ["--until-epoch", "2"]).start()
        assert again.wait(60) == 0, again.tail()
        events = again.events()
        assert [e["epoch"] for e in events if e.get("event") == "root_signed"] == [1, 2]
        assert outbox_rows(outbox, "SELECT epoch, state FROM roots ORDER BY epoch") == [
            (0, "proven"),
            (1, "proven"),
            (2, "proven"),
        ]
        commits = outbox_rows(outbox, "SELECT root_id FROM transactions WHERE kind = 'commit' ORDER BY id")
        assert commits == [(1,), (2,), (3,)]  # one commit per epoch, ever
        for epoch in range(3):
            assert client.root_of(epoch) == (epoch_root(reference, epoch, (1, 2)), 2)
        assert_posted_exactly_once(chain, reference, 2, outbox=outbox)
        assert {s for (s,) in outbox_rows(outbox, "SELECT state FROM reports")} == {"confirmed"}
    finally:
        chain.stop()


# --- 3. another root on chain: conflict and fallback; the same root: committed ------------------------------


def test_a_different_root_on_chain_falls_back_to_signed_batches_and_the_same_root_counts_as_committed(
    tmp_path: Path, template: ChainTemplate, recording: Path, reference: dict[tuple[int, int], Report]
) -> None:
    chain = start_chain(template, tmp_path / "chain", timestamp=GENESIS + 2 * EPOCH + 5, no_mining=True)
    settings = daemon_settings(
        tmp_path,
        chain=chain,
        source={"kind": "recording", "recording": {"path": str(recording)}},
        submission={"mode": "root"},
        until_epoch=1,
    )
    daemon = Daemon.from_settings(load_settings(write_settings(tmp_path, settings)))
    client = ChainClient(chain.url, chain.oracle)
    try:
        daemon.startup_checks()
        # Another quorum member already committed epoch 1's root: the very root this daemon computes.
        same = commit_as_others(chain, 1, [reference[(1, 1)], reference[(2, 1)]])
        chain.mine()
        assert chain.w3.eth.get_transaction_receipt(same)["status"] == 1

        daemon.step()  # epochs 0 and 1 aggregated; epoch 0's root signed, its commit waits in the pool
        (ours,) = daemon.outbox.pending_transactions()
        assert ours.kind == "commit" and daemon.outbox.root(ours.root_id).epoch == 0  # type: ignore[arg-type]
        # Meanwhile it commits another root for epoch 0 (asset 2's energy differs), mined first.
        theirs_reports = [
            reference[(1, 0)],
            reference[(2, 0)].model_copy(update={"energy_wh": reference[(2, 0)].energy_wh + 1}),
        ]
        theirs = commit_as_others(chain, 0, theirs_reports, tip=5 * 10**11)
        chain.mine()
        assert chain.w3.eth.get_transaction_receipt(theirs)["status"] == 1
        assert chain.w3.eth.get_transaction_receipt(ours.tx_hash)["status"] == 0  # RootAlreadyCommitted

        for _ in range(12):
            daemon.step()
            chain.mine()
            if daemon.done_through(1):
                break
        assert daemon.done_through(1)

        roots = daemon.outbox.roots()
        assert [(r.epoch, r.state, r.committed_by) for r in roots] == [
            (0, "conflict", None),
            (1, "proven", "elsewhere"),
        ]
        assert roots[0].onchain_root == "0x" + build_epoch_tree(theirs_reports).root.hex()
        assert roots[1].signatures == []  # decided on chain before any signing round
        (event,) = daemon.outbox.events("root_conflict")
        assert event["epoch"] == 0 and event["detail"]["onchain"] == roots[0].onchain_root
        metrics = daemon.metrics
        assert metrics.root_conflicts._value.get() == 1  # noqa: SLF001
        assert metrics.roots_found_committed._value.get() == 1  # noqa: SLF001
        assert metrics.roots_committed._value.get() == 0  # noqa: SLF001
        assert metrics.proofs_posted._value.get() == 2  # noqa: SLF001
        assert metrics.reports_posted._value.get() == 4  # noqa: SLF001
        # Epoch 0 went out as a signed batch (each report is valid on its own), epoch 1 as proofs.
        txs = daemon.outbox.transactions()
        assert [(t.kind, t.status) for t in txs] == [("commit", 0), ("submit", 1), ("prove", 1)]
        batches = [daemon.outbox.batch(t.batch_id).keys for t in txs[1:]]  # type: ignore[arg-type]
        assert batches == [[(1, 0), (2, 0)], [(1, 1), (2, 1)]]
        assert client.root_of(0)[0] == build_epoch_tree(theirs_reports).root
        assert client.root_of(1)[0] == epoch_root(reference, 1, (1, 2))
        assert_posted_exactly_once(chain, reference, 1)  # (the outbox holds our one reverted commit)
        assert {r.state for r in daemon.outbox.reports()} == {"confirmed"}
    finally:
        daemon.close()
        chain.stop()
