"""Curtailment in the meter's KPIs per epoch: GPU-seconds idled for a grid demand-response request, read from
the report each epoch was settled with, whether the oracle stored it (`submit`, then `settle`) or only a root
was posted and the report was proven at settlement (`settleMany`: the report lives in the calldata alone).

The world here settles one more epoch each way on top of the demo's six: stored, at 80% healthy and 15% of
capacity curtailed; proven, at 90% healthy and 5% curtailed. The H100 cluster has 8 GPUs and hour-long epochs,
so 15% is 4,320 GPU-seconds (1.2 GPU-hours as shown) and 5% is 1,440 (0.4).
"""

from __future__ import annotations

import json

import pytest

from oracle.models import Report
from tests.app.conftest import screenshot, wait_ready

STORED_CURTAILED_BPS, PROVEN_CURTAILED_BPS = 1_500, 500


def _epochs(app_server, asset_id: int) -> dict[int, dict]:
    rows = app_server.indexer.db.execute("SELECT snapshot FROM epochs WHERE asset_id=?", (asset_id,)).fetchall()
    return {snapshot["epoch"]: snapshot for snapshot in (json.loads(s) for (s,) in rows)}


@pytest.fixture(scope="module")
def curtailed_epochs(world) -> tuple[int, int]:
    """(stored epoch, proven epoch), settled once for the module on top of the demo's six."""
    stored = world.advance_epoch(uptime_bps=8_000, curtailed_bps=STORED_CURTAILED_BPS)
    proven = world.advance_epoch(uptime_bps=9_000, curtailed_bps=PROVEN_CURTAILED_BPS, proof_at_settlement=True)
    return stored, proven


def test_epoch_snapshots_carry_the_curtailment_of_the_report_each_epoch_was_settled_with(
        world, app_server, curtailed_epochs):
    stored, proven = curtailed_epochs
    app_server.catch_up()
    oracle, market = world.suite.oracle, world.suite.lease_market
    for asset in world.assets:
        epochs = _epochs(app_server, asset.asset_id)
        capacity_gpu_seconds, util, energy_wh = world.healthy[asset.asset_id]

        # Stored: the oracle's own copy, the one whose hash the settlement record carries.
        report, _posted_at = oracle.getReport(asset.asset_id, stored)
        expected = capacity_gpu_seconds * STORED_CURTAILED_BPS // 10_000
        assert epochs[stored]["curtailedGpuSeconds"] == report[3] == expected
        assert epochs[stored]["reportHash"] == str(market.settlementOf(asset.asset_id, stored)["reportHash"])

        # Proven at settlement: nothing stored; the report hashing to the record's reportHash has this curtailment.
        assert not oracle.hasReport(asset.asset_id, proven)
        settled_with = Report(
            assetId=asset.asset_id, epoch=proven, gpuSeconds=capacity_gpu_seconds * 9_000 // 10_000,
            curtailedGpuSeconds=capacity_gpu_seconds * PROVEN_CURTAILED_BPS // 10_000, utilizationBps=util,
            energyWh=energy_wh * 9_000 // 10_000)
        record_hash = market.settlementOf(asset.asset_id, proven)["reportHash"]
        assert oracle.hashReport(settled_with.as_abi_tuple()) == record_hash
        assert epochs[proven]["curtailedGpuSeconds"] == settled_with.curtailed_gpu_seconds > 0
        # The demo's epochs were metered without curtailment: zero, read from their stored reports.
        assert all(epochs[e]["curtailedGpuSeconds"] == oracle.getReport(asset.asset_id, e)[0][3] == 0
                   for e in epochs if e < stored)


def test_asset_page_shows_each_epoch_s_curtailment_in_gpu_hours_as_reported_on_chain(
        world, app_server, open_page, curtailed_epochs):
    stored, proven = curtailed_epochs
    app_server.catch_up()
    oracle = world.suite.oracle
    h100 = world.assets[0]
    page, _wallet = open_page(world.who["alice"], path=f"#/asset/{h100.asset_id}")
    wait_ready(page, "asset")

    # The KPI card shows the last settled epoch: the proven one, 1,440 GPU-seconds = 0.4 GPU-hours.
    proven_gpu_seconds = _epochs(app_server, h100.asset_id)[proven]["curtailedGpuSeconds"]
    assert proven_gpu_seconds == 8 * 3600 * PROVEN_CURTAILED_BPS // 10_000
    card = page.locator("[data-testid='kpi-curtailed'] .big").inner_text()
    assert card == f"{proven_gpu_seconds / 3600:.1f}" == "0.4"
    # The audit trail: the stored epoch's cell is the oracle's report, 4,320 GPU-seconds = 1.2 GPU-hours.
    (report, _posted_at) = oracle.getReport(h100.asset_id, stored)
    cell = page.locator(f"[data-testid='epoch-curtailed-{stored}']").text_content()
    assert cell == f"{report[3] / 3600:.1f}" == "1.2"
    assert page.locator(f"[data-testid='epoch-curtailed-{proven}']").text_content() == "0.4"
    assert page.get_by_text("curtailed for the grid (GPU-s / capacity)").count() >= 1
    assert page.errors == []  # type: ignore[attr-defined]
    screenshot(page, "asset-curtailment")
