"""Malformed readings are rejected one by one, with their reason, counted, and never disturb the rest.

Baseline recording (60 s epoch, scrapes at 0, 15, 30, 45, 60 s): A1 (asset 1) at 0, 10, 20, 30, 40 % and
B1 (asset 2) at 50 %, both drawing 10_500_000 mJ per 15 s. Baseline reports:
  asset 1: 60 s, (10 + 20 + 30 + 40) / 4 = 25 % -> 2500 bps, 4 x 10.5e6 = 42e6 mJ -> 11 Wh;
  asset 2: 60 s, 5000 bps, 11 Wh.
Dropping A1's scrape at 30 s merges (15,30] and (30,45] into one 30 s interval (still healthy) that takes
the 30 % read at 45 s: (15 x 10 + 30 x 30 + 15 x 40) / 60 = 27.5 % -> 2750 bps; energy is unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from oracle.aggregate import aggregate
from oracle.models import AggregationResult, AssetMap, Rejection, RejectReason, Report
from oracle.sources.recording import RecordingSource

from oracle_testkit import (
    ENERGY,
    GPU_A1,
    GPU_B1,
    GPU_STRAY,
    POWER,
    UTIL,
    XID,
    Recording,
    labels_of,
)

Writer = Callable[[Recording], Path]

E = 10_500_000
TIMES = [0, 15, 30, 45, 60]
A1_UTILS = [0, 10, 20, 30, 40]

ASSET_1 = Report(asset_id=1, epoch=0, gpu_seconds=60, curtailed_gpu_seconds=0, utilization_bps=2500, energy_wh=11)
ASSET_1_WITHOUT_30S = ASSET_1.model_copy(update={"utilization_bps": 2750})
ASSET_2 = Report(asset_id=2, epoch=0, gpu_seconds=60, curtailed_gpu_seconds=0, utilization_bps=5000, energy_wh=11)


def baseline(
    rec: Recording, *, replace_a1_at_30: dict[str, Any] | None = None, skip_a1_at_30: tuple[str, ...] = ()
) -> None:
    """The baseline scrapes; A1's scrape at 30 s may carry other values or lack metrics."""
    for i, t in enumerate(TIMES):
        values: dict[str, Any] = {"util": A1_UTILS[i], "energy": 10**9 + i * E}
        if t == 30 and replace_a1_at_30:
            values.update(replace_a1_at_30)
        rec.scrape(GPU_A1, t, skip=skip_a1_at_30 if t == 30 else (), **values)
    for i, t in enumerate(TIMES):
        rec.scrape(GPU_B1, t, util=50, energy=2 * 10**9 + i * E)


def run(path: Path, assets: AssetMap) -> AggregationResult:
    return aggregate(RecordingSource(path).fetch(), assets)


def reports(result: AggregationResult) -> dict[int, Report]:
    return {r.asset_id: r for r in result.reports() if r.epoch == 0}


def only(result: AggregationResult, reason: RejectReason) -> Rejection:
    matching = [r for r in result.rejections if r.reason is reason]
    assert len(matching) == 1, matching
    return matching[0]


def assert_balanced(result: AggregationResult) -> None:
    assert result.readings_total == result.readings_accepted + result.readings_rejected
    assert result.readings_rejected == len(result.rejections)


def test_clean_baseline_has_no_rejections(recording: Recording, asset_map: AssetMap, write_recording: Writer) -> None:
    baseline(recording)
    result = run(write_recording(recording), asset_map)
    assert result.rejected_by_reason == {}
    assert reports(result) == {1: ASSET_1, 2: ASSET_2}
    assert (result.readings_total, result.readings_accepted) == (40, 40)


@pytest.mark.parametrize(
    ("metric", "field", "value", "reason", "phrase"),
    [
        (UTIL, "util", "NaN", RejectReason.NOT_FINITE, "is not finite"),
        (POWER, "power", "+Inf", RejectReason.NOT_FINITE, "is not finite"),
        (POWER, "power", "-5.5", RejectReason.NEGATIVE, "is negative"),
        (ENERGY, "energy", "-1", RejectReason.NEGATIVE, "is negative"),
        (UTIL, "util", "100.5", RejectReason.UTILIZATION_ABOVE_100, "above 100"),
        (XID, "xid", "1.5", RejectReason.NOT_INTEGER, "not an integer"),
        (XID, "xid", "-79", RejectReason.NEGATIVE, "is negative"),
    ],
    ids=[
        "util-nan",
        "power-inf",
        "power-negative",
        "energy-negative",
        "util-above-100",
        "xid-fraction",
        "xid-negative",
    ],
)
def test_invalid_value_rejects_the_reading_and_drops_its_scrape(
    recording: Recording,
    asset_map: AssetMap,
    write_recording: Writer,
    metric: str,
    field: str,
    value: str,
    reason: RejectReason,
    phrase: str,
) -> None:
    baseline(recording, replace_a1_at_30={field: value})
    result = run(write_recording(recording), asset_map)

    # The bad reading for its reason; the scrape's three other readings as an incomplete scrape.
    assert result.rejected_by_reason == {reason: 1, RejectReason.INCOMPLETE_SCRAPE: 3}
    rejection = only(result, reason)
    assert rejection.labels["__name__"] == metric
    assert rejection.labels["UUID"] == GPU_A1
    assert rejection.timestamp_ms == (1_800_000_000 + 30) * 1000
    assert rejection.value == value
    assert metric in rejection.detail and GPU_A1 in rejection.detail and phrase in rejection.detail
    incomplete = [r for r in result.rejections if r.reason is RejectReason.INCOMPLETE_SCRAPE]
    assert all(f"lacks a valid {metric}" in r.detail for r in incomplete)
    assert reports(result) == {1: ASSET_1_WITHOUT_30S, 2: ASSET_2}
    assert_balanced(result)


def test_unknown_metric_is_rejected_and_the_scrape_still_counts(
    recording: Recording, asset_map: AssetMap, write_recording: Writer
) -> None:
    baseline(recording)
    recording.sample("DCGM_FI_DEV_SM_CLOCK", GPU_A1, "1410", 30)
    result = run(write_recording(recording), asset_map)
    assert result.rejected_by_reason == {RejectReason.UNKNOWN_METRIC: 1}
    assert "unknown metric 'DCGM_FI_DEV_SM_CLOCK'" in only(result, RejectReason.UNKNOWN_METRIC).detail
    assert reports(result) == {1: ASSET_1, 2: ASSET_2}
    assert_balanced(result)


def test_mismatched_unit_rejects_the_whole_metric_family(
    recording: Recording, asset_map: AssetMap, write_recording: Writer
) -> None:
    # '# UNIT DCGM_FI_DEV_POWER_USAGE milliwatts': all 10 power readings are suspect; without power no scrape
    # is complete, so the 30 other readings go too and both assets report zero healthy time and energy.
    baseline(recording)
    recording.units[POWER] = "milliwatts"
    result = run(write_recording(recording), asset_map)
    assert result.rejected_by_reason == {RejectReason.UNIT_MISMATCH: 10, RejectReason.INCOMPLETE_SCRAPE: 30}
    mismatches = [r for r in result.rejections if r.reason is RejectReason.UNIT_MISMATCH]
    assert {r.labels["__name__"] for r in mismatches} == {POWER}
    assert all("declared unit 'milliwatts' does not match ['watts']" in r.detail for r in mismatches)
    assert reports(result)[1] == Report(
        asset_id=1, epoch=0, gpu_seconds=0, curtailed_gpu_seconds=0, utilization_bps=0, energy_wh=0
    )
    assert_balanced(result)


def test_matching_units_are_accepted(recording: Recording, asset_map: AssetMap, write_recording: Writer) -> None:
    baseline(recording)
    recording.units.update({UTIL: "percent", POWER: "watts", ENERGY: "millijoules"})
    result = run(write_recording(recording), asset_map)
    assert result.rejected_by_reason == {}
    assert reports(result) == {1: ASSET_1, 2: ASSET_2}


def test_gpu_in_no_asset_is_rejected_and_others_unaffected(
    recording: Recording, asset_map: AssetMap, write_recording: Writer
) -> None:
    baseline(recording)
    for i, t in enumerate(TIMES):
        recording.scrape(GPU_STRAY, t, energy=i * E)
    result = run(write_recording(recording), asset_map)
    assert result.rejected_by_reason == {RejectReason.UNKNOWN_GPU: 20}
    assert f"GPU {GPU_STRAY} is in no asset" in result.rejections[0].detail
    assert reports(result) == {1: ASSET_1, 2: ASSET_2}
    assert_balanced(result)


def test_reading_without_uuid_label_is_rejected(
    recording: Recording, asset_map: AssetMap, write_recording: Writer
) -> None:
    baseline(recording)
    recording.sample(UTIL, None, "50", 30, labels='gpu="7",Hostname="node-a"')
    result = run(write_recording(recording), asset_map)
    assert result.rejected_by_reason == {RejectReason.UNKNOWN_GPU: 1}
    assert "no UUID label" in only(result, RejectReason.UNKNOWN_GPU).detail
    assert reports(result) == {1: ASSET_1, 2: ASSET_2}


def test_duplicate_timestamp_keeps_the_first_reading(
    recording: Recording, asset_map: AssetMap, write_recording: Writer
) -> None:
    # A second utilisation reading for A1 at 30 s says 90 %: rejected, the first (20 %) is kept, so asset 1
    # keeps its baseline 2500 bps (with 90 % it would be (10 + 90 + 30 + 40) / 4 = 42.5 %).
    baseline(recording)
    recording.sample(UTIL, GPU_A1, "90", 30)
    result = run(write_recording(recording), asset_map)
    assert result.rejected_by_reason == {RejectReason.DUPLICATE_TIMESTAMP: 1}
    rejection = only(result, RejectReason.DUPLICATE_TIMESTAMP)
    assert (rejection.value, rejection.timestamp_ms) == ("90", (1_800_000_000 + 30) * 1000)
    assert reports(result) == {1: ASSET_1, 2: ASSET_2}
    assert_balanced(result)


def test_out_of_order_reading_is_rejected(recording: Recording, asset_map: AssetMap, write_recording: Writer) -> None:
    # After A1's reading at 60 s, a whole scrape stamped 20 s arrives: its four readings are out of order.
    baseline(recording)
    recording.scrape(GPU_A1, 20, util=99, energy=10**9 + E)
    result = run(write_recording(recording), asset_map)
    assert result.rejected_by_reason == {RejectReason.OUT_OF_ORDER: 4}
    assert all("earlier than a previous reading" in r.detail for r in result.rejections)
    assert reports(result) == {1: ASSET_1, 2: ASSET_2}
    assert_balanced(result)


@pytest.mark.parametrize("missing", [UTIL, POWER, ENERGY, XID])
def test_scrape_missing_a_metric_is_rejected(
    recording: Recording, asset_map: AssetMap, write_recording: Writer, missing: str
) -> None:
    baseline(recording, skip_a1_at_30=(missing,))
    result = run(write_recording(recording), asset_map)
    assert result.rejected_by_reason == {RejectReason.INCOMPLETE_SCRAPE: 3}
    assert all(f"the scrape lacks a valid {missing}" in r.detail for r in result.rejections)
    assert reports(result) == {1: ASSET_1_WITHOUT_30S, 2: ASSET_2}
    assert_balanced(result)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("this is not a sample", RejectReason.MALFORMED_LINE),
        (f"{UTIL}{{{labels_of(GPU_A1)}}} abc 1800000030", RejectReason.MALFORMED_LINE),
        (f"{UTIL}{{{labels_of(GPU_A1)}}} 20 tomorrow", RejectReason.MALFORMED_LINE),
        (f'{UTIL}{{UUID="{GPU_A1}",broken}} 20 1800000030', RejectReason.MALFORMED_LINE),
        (f"{UTIL}{{{labels_of(GPU_A1)}}} 20", RejectReason.MISSING_TIMESTAMP),
    ],
    ids=["garbage", "bad-value", "bad-timestamp", "bad-labels", "no-timestamp"],
)
def test_unparseable_line_is_rejected_and_parsing_continues(
    recording: Recording, asset_map: AssetMap, write_recording: Writer, line: str, reason: RejectReason
) -> None:
    baseline(recording)
    recording.families[UTIL].insert(3, line)  # in the middle of A1's utilisation series
    result = run(write_recording(recording), asset_map)
    assert result.rejected_by_reason == {reason: 1}
    assert reports(result) == {1: ASSET_1, 2: ASSET_2}
    assert (result.readings_total, result.readings_accepted) == (41, 40)


def test_every_kind_of_rejection_at_once_leaves_other_gpus_and_epochs_intact(
    recording: Recording, asset_map: AssetMap, write_recording: Writer
) -> None:
    # Two epochs (0..120 s). In epoch 1 A1 suffers a NaN utilisation at 90 s and a scrape missing its XID at
    # 105 s; a stray GPU, an unknown metric, a duplicate, an out-of-order reading and garbage are mixed in.
    # Asset 2 (B1) and asset 1's epoch 0 are exactly as clean runs give them.
    times = [15 * i for i in range(9)]
    for i, t in enumerate(times):
        if t == 90:
            recording.scrape(GPU_A1, t, util="NaN", energy=10**9 + i * E)
        elif t == 105:
            recording.scrape(GPU_A1, t, util=50, energy=10**9 + i * E, skip=(XID,))
        else:
            recording.scrape(GPU_A1, t, util=50, energy=10**9 + i * E)
        recording.scrape(GPU_B1, t, util=50, energy=2 * 10**9 + i * E)
        recording.scrape(GPU_STRAY, t, util=50, energy=i * E)
    recording.sample("DCGM_FI_DEV_MEMORY_TEMP", GPU_A1, "45", 30)
    recording.sample(POWER, GPU_B1, "333", 45)  # duplicate of B1's power at 45 s
    recording.sample(UTIL, GPU_B1, "1", 10)  # out of order
    recording.extra_lines.append("garbage garbage")
    result = run(write_recording(recording), asset_map)

    assert result.rejected_by_reason == {
        RejectReason.UNKNOWN_GPU: 36,  # 9 stray scrapes x 4
        RejectReason.UNKNOWN_METRIC: 1,
        RejectReason.DUPLICATE_TIMESTAMP: 1,
        RejectReason.OUT_OF_ORDER: 1,
        RejectReason.NOT_FINITE: 1,
        RejectReason.INCOMPLETE_SCRAPE: 6,  # 3 beside the NaN + 3 without XID
        RejectReason.MALFORMED_LINE: 1,
    }
    assert_balanced(result)
    clean = Report(asset_id=2, epoch=0, gpu_seconds=60, curtailed_gpu_seconds=0, utilization_bps=5000, energy_wh=11)
    by_key = {(r.asset_id, r.epoch): r for r in result.reports()}
    assert by_key[(2, 0)] == clean
    assert by_key[(2, 1)] == clean.model_copy(update={"epoch": 1})
    assert by_key[(1, 0)] == clean.model_copy(update={"asset_id": 1})
    # Asset 1, epoch 1: scrapes at 90 and 105 s dropped -> (75, 120] is one 45 s gap; (60, 75] healthy.
    assert by_key[(1, 1)] == Report(
        asset_id=1, epoch=1, gpu_seconds=15, curtailed_gpu_seconds=0, utilization_bps=5000, energy_wh=11
    )
