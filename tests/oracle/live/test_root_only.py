"""Root-only posting (``submission.mode = "root_only"``) against real parts: Anvil with the compiled contracts,
SQLite and the daemon as a subprocess. Per epoch the daemon sends one ``commitRoot`` and nothing else (no
report is stored on chain), and publishes the epoch's leaves and proofs (a file per epoch, and ``/epochs`` on
the ops server); every published document verifies against the root on chain and carries the aggregator's
own numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from live_kit import (
    EPOCH,
    GENESIS,
    ChainTemplate,
    DaemonProcess,
    daemon_settings,
    http_get,
    outbox_rows,
    start_chain,
    write_settings,
)

from oracle.chain import ChainClient
from oracle.metrics import HealthState, OpsServer, OracleMetrics
from oracle.models import Report
from oracle.publication import DirectorySource, EpochPublication, HttpSource
from oracle.roots import build_epoch_tree

pytestmark = pytest.mark.usefixtures("max_in_flight")

EPOCHS = (0, 1, 2)
ASSETS = (1, 2)


def test_root_only_mode_commits_one_root_per_epoch_and_publishes_every_proof(
    tmp_path: Path, template: ChainTemplate, recording: Path, reference: dict[tuple[int, int], Report]
) -> None:
    chain = start_chain(template, tmp_path / "chain", timestamp=GENESIS + 3 * EPOCH + 5)
    publish = tmp_path / "epochs"
    settings = daemon_settings(
        tmp_path,
        chain=chain,
        source={"kind": "recording", "recording": {"path": str(recording)}},
        submission={"mode": "root_only", "publish_dir": str(publish)},
    )
    config = write_settings(tmp_path, settings)
    client = ChainClient(chain.url, chain.oracle)
    try:
        daemon = DaemonProcess(config, tmp_path / "daemon.log", ["--until-epoch", "2"]).start()
        assert daemon.wait(90) == 0, daemon.tail()

        # One transaction per epoch, each a root commit; nothing stored per asset.
        transactions = outbox_rows(tmp_path / "outbox.sqlite", "SELECT kind, status FROM transactions ORDER BY id")
        assert transactions == [("commit", 1)] * len(EPOCHS)
        assert [chain.cursor(a) for a in ASSETS] == [0, 0]
        assert client.cursors(list(ASSETS)) == {1: (0, True), 2: (0, True)}
        for epoch in EPOCHS:
            expected = build_epoch_tree([reference[(a, epoch)] for a in ASSETS])
            assert client.root_of(epoch) == (expected.root, len(ASSETS)), epoch

        # Every epoch published, verified against the root on chain, with the aggregator's numbers.
        source = DirectorySource(publish)
        assert source.epochs() == list(EPOCHS)
        for epoch in EPOCHS:
            document = source.get(epoch).verified()
            assert bytes.fromhex(document.root[2:]) == client.root_of(epoch)[0]
            assert list(document.reports) == [reference[(a, epoch)] for a in ASSETS]

        # The ops server serves the same documents.
        ops = OpsServer(OracleMetrics(), HealthState(), publications=publish)
        ops.start()
        try:
            base = f"http://127.0.0.1:{ops.port}"
            status, body = http_get(f"{base}/epochs")
            assert (status, json.loads(body)) == (200, {"epochs": list(EPOCHS)})
            served = HttpSource(base).get(1)
            assert served == EpochPublication.model_validate_json((publish / "epoch-1.json").read_text())
            assert http_get(f"{base}/epochs/9")[0] == 404
        finally:
            ops.stop()
        events = [e.get("event") for e in daemon.events()]
        assert events.count("root_signed") == len(EPOCHS) and "proof_batch" not in events
    finally:
        chain.stop()
