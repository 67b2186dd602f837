"""From the meter to the investors' wallets on a real Anvil: the DCGM recording aggregated by the daemon's own
code, signed by a 2-of-3 quorum and posted, leases on both sample assets billed for what was delivered, the
split, and every share holder's claim, each figure computed by hand.

How the recorded epochs meet the leases. The recording (tests/data/dcgm-sample.om.gz) covers epochs 0 and 1 of
the asset map's clock (genesis 1779998400 = 2026-05-28 20:00 UTC, 1-hour epochs), which lie in the past of
Anvil's clock, and a lease only ever starts at the next epoch: no lease can cover a recorded epoch. So the suite
is deployed with the asset map's own clock (oracle genesis 1779998400), the leases are opened in the current
epoch E (enrolling both assets in E), and the daemon's reports for recorded epochs 0 and 1 are posted, figures
untouched, as the assets' epochs S = E+1 and S+1, the two epochs the leases run: only the epoch number of each
daemon report is shifted by S. The meter starts reporting at S, so the enrolment epoch E has no report: it
settles void once its 6-hour grace period is over (which also exercises the void path end to end).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from oracle.aggregate import aggregate
from oracle.assets import load_asset_map
from oracle.sources.recording import RecordingSource
from scripts.samples import H100_CLUSTER, L40S_EDGE, register_asset, shares, usd
from tests.support.events import assert_event
from tests.support.meter import MeterPoster, make_signers

DATA = Path(__file__).resolve().parents[1] / "data"
RECORDING = DATA / "dcgm-sample.om.gz"
ASSET_MAP = DATA / "dcgm-sample-assets.json"
EXPECTED = DATA / "dcgm-sample-expected.json"
GENESIS = 1_779_998_400
HOUR = 3600
GRACE = 6 * HOUR
WAD = 10**18
BPS = 10_000
MAX_UINT = 2**256 - 1


def _goto(timestamp: int) -> None:
    from brownie import chain, web3

    assert chain[-1].timestamp < timestamp
    reply = web3.provider.make_request("evm_setNextBlockTimestamp", [timestamp])
    assert "error" not in reply, reply
    chain.mine()


# ---------------------------------------------------------------------------------------------- reference maths
# ILeaseMarket's billing model restated in integers, applied to the figures of dcgm-sample-expected.json.


def _epoch_figures(expected: dict, pue_bps: int, tariff: int, fee_bps: int, rate: int, gpus: int, sla_bps: int,
                   credit_bps: int) -> dict:
    capacity = gpus * HOUR
    d = expected["gpuSeconds"] * WAD // capacity
    credit = credit_bps if d * BPS < sla_bps * WAD else 0
    charge = d * (BPS - credit) // BPS
    gross = rate * HOUR * d // (HOUR * WAD)
    charged = rate * HOUR * charge // (HOUR * WAD)
    energy = min(expected["energyWh"] * pue_bps * tariff // (BPS * 1000), charged)
    fee = (charged - energy) * fee_bps // BPS
    return dict(d=d, charge=charge, gross=gross, credits=gross - charged, energy=energy, fee=fee,
                net=charged - energy - fee)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


# ---------------------------------------------------------------------------------------------- the world


@pytest.fixture(scope="module")
def daemon_reports():
    """The daemon's reports for the recording, exactly as `python -m oracle aggregate` prints them."""
    result = aggregate(RecordingSource(RECORDING).fetch(), load_asset_map(ASSET_MAP))
    return result.reports()


@pytest.fixture(scope="module")
def e2e(actors, daemon_reports):
    from brownie import chain

    from scripts.deploy import SuiteConfig, deploy_suite

    signers = make_signers(3, label="e2e-oracle")
    suite = deploy_suite(actors.admin, SuiteConfig(compliance=actors.compliance, oracle_genesis=GENESIS,
                                                  oracle_signers=[s.address for s in signers], oracle_threshold=2,
                                                  grace_period=GRACE))
    h100 = register_asset(suite, actors.admin, actors.operator, H100_CLUSTER)
    l40s = register_asset(suite, actors.admin, actors.operator2, L40S_EDGE)
    assert (h100.asset_id, l40s.asset_id) == (1, 2)  # the asset map's ids
    coin, market = suite.stablecoin, suite.lease_market

    # Investors: Alice 600 and Bob 400 of the H100's 1,000 shares; Carol 750 and Bob 250 of the L40S's 1,000.
    expiry = chain.time() + 365 * 86_400
    for investor in (actors.alice, actors.bob, actors.carol):
        suite.investor_registry.addInvestor(investor, expiry, 756, {"from": actors.compliance})
        coin.mint(investor, usd(1_000_000), {"from": actors.admin})
        for asset in (h100, l40s):
            coin.approve(asset.shares, MAX_UINT, {"from": investor})
    for asset, holders in ((h100, ((actors.alice, 600), (actors.bob, 400))),
                           (l40s, ((actors.carol, 750), (actors.bob, 250)))):
        asset.shares.openOffering(asset.spec.share_price, shares(1000), chain.time() + 86_400, {"from": asset.operator})
        for holder, n in holders:
            asset.shares.subscribe(shares(n), asset.spec.share_price * n, {"from": holder})
    for lessee in (actors.lessee, actors.lessee2):
        coin.mint(lessee, usd(10_000), {"from": actors.admin})
        coin.approve(market, MAX_UINT, {"from": lessee})

    epoch = market.currentEpoch()
    start = epoch + 1
    for asset in (h100, l40s):
        suite.oracle.startReporting(asset.asset_id, start, {"from": actors.admin})
    # H100: all 8 GPUs at $2.50/GPU-h, firm, SLA 95%, 10% credit. L40S: all 4 at $1.20, firm, SLA 99%, 5% credit.
    h100_offer = market.createOffer((1, 8, usd("2.5"), 1, 24, 0, 9_500, 1_000, 0, 0, (False, 0, 0, 0, 0)),
                                    {"from": actors.operator}).return_value
    l40s_offer = market.createOffer((2, 4, usd("1.2"), 1, 24, 0, 9_900, 500, 0, 0, (False, 0, 0, 0, 0)),
                                    {"from": actors.operator2}).return_value
    h100_lease = market.openLease(h100_offer, 8, 2, usd("2.5"), {"from": actors.lessee}).return_value
    l40s_lease = market.openLease(l40s_offer, 4, 2, usd("1.2"), {"from": actors.lessee2}).return_value
    return dict(suite=suite, h100=h100, l40s=l40s, poster=MeterPoster(suite.oracle, signers, actors.keeper),
                epoch=epoch, start=start, h100_lease=h100_lease, l40s_lease=l40s_lease)


# ---------------------------------------------------------------------------------------------- the test


def test_daemon_aggregates_the_recording_to_the_expected_figures(daemon_reports):
    expected = json.loads(EXPECTED.read_text())
    assert [(r.asset_id, r.epoch, r.gpu_seconds, r.utilization_bps, r.energy_wh, r.curtailed_gpu_seconds)
            for r in daemon_reports] == [
        (e["assetId"], e["epoch"], e["gpuSeconds"], e["utilizationBps"], e["energyWh"], 0)
        for e in expected["reports"]
    ]


def test_reports_posted_by_the_daemon_bill_the_leases_and_pay_the_investors(e2e, daemon_reports, actors):
    from brownie import chain

    s = e2e["suite"]
    market, coin, oracle, lens = s.lease_market, s.stablecoin, s.oracle, s.lease_lens
    e, start = e2e["epoch"], e2e["start"]
    h100_shares, l40s_shares = e2e["h100"].shares, e2e["l40s"].shares

    # The leases run S and S+1; past the end of S+1 and past E's grace period, post the daemon's reports for
    # recorded epochs 0 and 1 as S and S+1 (signed by 2 of the 3 signers with oracle.eip712 / oracle.signer).
    _goto(GENESIS + (e + 1) * HOUR + GRACE)
    assert market.currentEpoch() > start + 1
    shifted = [r.model_copy(update={"epoch": start + r.epoch}) for r in daemon_reports]
    tx = e2e["poster"].post(shifted)
    assert [(e["assetId"], e["epoch"]) for e in tx.events["ReportAccepted"]] == [
        (r.asset_id, r.epoch) for r in shifted]
    for r in shifted:
        got, _ = oracle.getReport(r.asset_id, r.epoch)
        assert tuple(int(x) for x in got) == r.as_abi_tuple()

    for asset_id in (1, 2):
        assert market.settleThrough(asset_id, start + 1, {"from": actors.keeper}).return_value == 3
        assert market.settlementOf(asset_id, e)["voided"] is True  # E: no report, void after the grace period

    # ---- H100 (asset 1): 8 GPUs x $2.50 = $20/h; PUE 1.20, $0.12/kWh -> energy = Wh x 144; fee 10%
    # S   (recorded epoch 0): 27,480 GPU-s of 28,800: d = 0.954166.. >= 95%: no credit
    #     gross = floor(20,000,000 x 0.954166666666666666) = 19,083,333
    #     energy = 4,687 Wh x 144 = 674,928; fee = 10% x 18,408,405 = 1,840,840; net = 16,567,565
    # S+1 (recorded epoch 1): 28,200 GPU-s: d = 0.979166..: gross = 19,583,333
    #     energy = 4,677 x 144 = 673,488; fee = 10% x 18,909,845 = 1,890,984; net = 17,018,861
    h100_table = {start: (19_083_333, 0, 674_928, 1_840_840, 16_567_565),
                  start + 1: (19_583_333, 0, 673_488, 1_890_984, 17_018_861)}
    # ---- L40S (asset 2): 4 GPUs x $1.20 = $4.80/h; PUE 1.35, $0.18/kWh -> energy = Wh x 243; fee 15%
    # S:   14,400 of 14,400 GPU-s: d = 1: gross = 4,800,000; energy = 1,182 x 243 = 287,226;
    #      fee = 15% x 4,512,774 = 676,916; net = 3,835,858
    # S+1: 13,785 GPU-s: d = 0.957291666666666666 < 99%: 5% credit; charge = d x 0.95 = 0.909427083333333332
    #      gross = floor(4,800,000 x d) = 4,594,999; charged = floor(4,800,000 x 0.909427..) = 4,365,249;
    #      credits = 229,750; energy = 1,187 x 243 = 288,441; fee = 15% x 4,076,808 = 611,521; net = 3,465,287
    l40s_table = {start: (4_800_000, 0, 287_226, 676_916, 3_835_858),
                  start + 1: (4_594_999, 229_750, 288_441, 611_521, 3_465_287)}

    # The same figures from dcgm-sample-expected.json through the NatSpec formulas.
    expected = {(r["assetId"], r["epoch"]): r for r in json.loads(EXPECTED.read_text())["reports"]}
    economics = {1: (12_000, usd("0.12"), 1_000, 8 * usd("2.5"), 8, 9_500, 1_000),
                 2: (13_500, usd("0.18"), 1_500, 4 * usd("1.2"), 4, 9_900, 500)}
    for asset_id, table in ((1, h100_table), (2, l40s_table)):
        for epoch, figures in table.items():
            ref = _epoch_figures(expected[(asset_id, epoch - start)], *economics[asset_id])
            assert (ref["gross"], ref["credits"], ref["energy"], ref["fee"], ref["net"]) == figures
            record = market.settlementOf(asset_id, epoch)
            assert (record["gross"], record["credits"], record["energyCost"], record["fee"], record["net"]) == figures
            assert record["gross"] == sum(figures[1:])
            assert record["reportHash"] == oracle.reportHashOf(asset_id, epoch)
            assert record["voided"] is False

    # ---- operators: energy + fee
    assert market.operatorBalance(actors.operator) == 674_928 + 1_840_840 + 673_488 + 1_890_984  # 5,080,240
    assert market.operatorBalance(actors.operator2) == 287_226 + 676_916 + 288_441 + 611_521  # 1,864,104

    # ---- lessees
    # H100 lease: escrow 8 x $2.50 x 2 = $40; billed ceil($20 x (0.954166.. + 0.979166..)) = 38,666,667
    # (the epochs' gross sums to 38,666,666: the market keeps the rounding unit); refund 1,333,333.
    tx = market.claimRefund(e2e["h100_lease"], {"from": actors.lessee})
    assert_event(tx, "LeaseClosed", leaseId=e2e["h100_lease"], billed=38_666_667, credited=0, refunded=1_333_333)
    # L40S lease: escrow 4 x $1.20 x 2 = $9.60; billed ceil($4.80 x (1 + 0.909427083333333332)) = 9,165,250;
    # credited floor($4.80 x 0.047864583333333334) = 229,750; back 9,600,000 - 9,165,250 = 434,750
    # = undelivered 205,000 + credit 229,750.
    tx = market.claimRefund(e2e["l40s_lease"], {"from": actors.lessee2})
    assert_event(tx, "RefundClaimed", leaseId=e2e["l40s_lease"], to=actors.lessee2, amount=434_750)
    assert_event(tx, "LeaseClosed", leaseId=e2e["l40s_lease"], billed=9_165_250, credited=229_750, refunded=205_000)
    assert _ceil_div(8 * usd("2.5") * (expected[(1, 0)]["gpuSeconds"] * WAD // 28_800
                                       + expected[(1, 1)]["gpuSeconds"] * WAD // 28_800), WAD) == 38_666_667

    # ---- investors: H100 net 16,567,565 + 17,018,861 = 33,586,426; L40S net 3,835,858 + 3,465,287 = 7,301,145
    # Alice 60% of H100: 20,151,855 (.6 down); Bob 40% of H100 13,434,570 (.4 down) + 25% of L40S 1,825,286
    # (.25 down); Carol 75% of L40S: 5,475,858 (.75 down).
    h100_net, l40s_net = 33_586_426, 7_301_145
    assert sum(r[4] for r in h100_table.values()) == h100_net
    assert sum(r[4] for r in l40s_table.values()) == l40s_net
    claims = {actors.alice: (h100_shares, 20_151_855), actors.carol: (l40s_shares, 5_475_858)}
    for investor, (token, amount) in claims.items():
        assert token.claimable(investor) == amount
        before = coin.balanceOf(investor)
        token.claim({"from": investor})
        assert coin.balanceOf(investor) - before == amount
    assert h100_shares.claimable(actors.bob) == 13_434_570 == h100_net * 400 // 1000
    assert l40s_shares.claimable(actors.bob) == 1_825_286 == l40s_net * 250 // 1000
    before = coin.balanceOf(actors.bob)
    h100_shares.claim({"from": actors.bob})
    l40s_shares.claim({"from": actors.bob})
    assert coin.balanceOf(actors.bob) - before == 13_434_570 + 1_825_286

    # ---- the lens: H100 utilisation over the two metered epochs, busy / healthy GPU-seconds:
    # (floor(27,480 x 84.35%) + floor(28,200 x 84.54%)) / (27,480 + 28,200) = (23,179 + 23,840) / 55,680
    # = 0.84445.. -> 8,444 bps; GPU-hours per MWh: 55,680 / 3,600 = 15.47 GPU-h over 9,364 Wh -> 1,651
    assert lens.trailingUtilizationBps(1, 2) == 8_444
    assert lens.gpuHoursPerMWh(1, 2) == 55_680 * 10**6 // (3_600 * (4_687 + 4_677)) == 1_651

    # ---- the market keeps only rounding dust: each lease's bill rounded up by one base unit over what its
    # epochs charged (H100: 38,666,667 vs 38,666,666; L40S: 9,165,250 vs 4,800,000 + 4,365,249).
    market.withdrawOperatorBalance(actors.operator, {"from": actors.operator})
    market.withdrawOperatorBalance(actors.operator2, {"from": actors.operator2})
    assert coin.balanceOf(market) == 2
    assert chain.time() > GENESIS
