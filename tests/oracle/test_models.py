"""Pydantic models: Solidity-typed ranges, camelCase JSON, cross-field rules."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from oracle.models import (
    UINT64_MAX,
    UINT256_MAX,
    AssetMap,
    CurtailmentWindow,
    Rejection,
    RejectReason,
    Report,
)

VALID: dict[str, Any] = {
    "assetId": 1,
    "epoch": 7,
    "gpuSeconds": 28_800,
    "curtailedGpuSeconds": 0,
    "utilizationBps": 8_435,
    "energyWh": 4_687,
}


def test_report_serialises_with_exactly_the_contract_keys_in_order() -> None:
    report = Report.model_validate(VALID)
    assert report.model_dump_json() == (
        '{"assetId":1,"epoch":7,"gpuSeconds":28800,"curtailedGpuSeconds":0,"utilizationBps":8435,"energyWh":4687}'
    )
    assert Report.model_validate_json(report.model_dump_json()) == report
    assert report.as_abi_tuple() == (1, 7, 28_800, 0, 8_435, 4_687)


def test_report_accepts_snake_case_names() -> None:
    report = Report(
        asset_id=1, epoch=7, gpu_seconds=28_800, curtailed_gpu_seconds=0, utilization_bps=8_435, energy_wh=4_687
    )
    assert report == Report.model_validate(VALID)


def test_report_accepts_extreme_in_range_values() -> None:
    report = Report.model_validate(
        {
            **VALID,
            "assetId": UINT256_MAX,
            "epoch": UINT64_MAX,
            "gpuSeconds": UINT64_MAX,
            "utilizationBps": 10_000,
            "energyWh": UINT64_MAX,
            "curtailedGpuSeconds": UINT64_MAX,
        }
    )
    assert report.asset_id == UINT256_MAX


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("assetId", UINT256_MAX + 1),
        ("assetId", -1),
        ("epoch", UINT64_MAX + 1),
        ("gpuSeconds", -1),
        ("curtailedGpuSeconds", UINT64_MAX + 1),
        ("utilizationBps", 10_001),
        ("energyWh", UINT64_MAX + 1),
        ("gpuSeconds", 1.0),  # strict: no floats
        ("energyWh", "5"),  # strict: no strings
        ("epoch", True),  # strict: no booleans
    ],
)
def test_report_rejects_out_of_range_or_loosely_typed_values(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as raised:
        Report.model_validate({**VALID, field: value})
    assert raised.value.errors()[0]["loc"] == (field,)


def test_report_rejects_utilization_without_gpu_time() -> None:
    with pytest.raises(ValidationError, match="utilizationBps must be 0 when gpuSeconds is 0"):
        Report.model_validate({**VALID, "gpuSeconds": 0, "utilizationBps": 1})


def test_report_rejects_unknown_fields_and_is_immutable() -> None:
    with pytest.raises(ValidationError):
        Report.model_validate({**VALID, "gpuHours": 8})
    report = Report.model_validate(VALID)
    with pytest.raises(ValidationError):
        report.epoch = 8  # type: ignore[misc]


def _map(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "genesis": 1_779_998_400,
        "epochLength": 3600,
        "assets": {"1": {"hostname": "h", "gpus": ["GPU-a", "GPU-b"]}, "2": {"hostname": "e", "gpus": ["GPU-c"]}},
    }
    base.update(changes)
    return base


def test_asset_map_reads_the_sample_format_and_answers_epoch_questions() -> None:
    assets = AssetMap.model_validate(_map())
    assert assets.gpu_owners() == {"GPU-a": 1, "GPU-b": 1, "GPU-c": 2}
    assert assets.epoch_start(2) == 1_779_998_400 + 7200
    assert assets.epoch_of(1_779_998_400 + 3599) == 0
    assert assets.epoch_of(1_779_998_400 + 3600) == 1


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"assets": {"1": {"hostname": "h", "gpus": ["GPU-a"]}, "2": {"hostname": "e", "gpus": ["GPU-a"]}}},
            "belongs to assets 1 and 2",
        ),
        ({"assets": {"1": {"hostname": "h", "gpus": ["GPU-a", "GPU-a"]}}}, "listed twice"),
        ({"assets": {"1": {"hostname": "h", "gpus": []}}}, "at least 1 item"),
        ({"epochLength": 0}, "greater than or equal to 1"),
        ({"genesis": -1}, "greater than or equal to 0"),
        ({"assets": {"-1": {"hostname": "h", "gpus": ["GPU-a"]}}}, "greater than or equal to 0"),
    ],
    ids=["gpu-in-two-assets", "gpu-twice", "no-gpus", "zero-epoch", "negative-genesis", "negative-asset"],
)
def test_asset_map_rejects_inconsistent_maps(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        AssetMap.model_validate(_map(**changes))


def test_curtailment_window_must_end_after_it_starts() -> None:
    assert CurtailmentWindow.model_validate({"assetId": 1, "start": 10, "end": 11}).end == 11
    with pytest.raises(ValidationError, match="must be after its start"):
        CurtailmentWindow.model_validate({"assetId": 1, "start": 10, "end": 10})


def test_rejection_serialises_reason_as_its_stable_identifier() -> None:
    rejection = Rejection(
        labels={"__name__": "DCGM_FI_DEV_GPU_UTIL", "UUID": "GPU-a"},
        timestamp_ms=1,
        value="NaN",
        reason=RejectReason.NOT_FINITE,
        detail="d",
    )
    assert json.loads(rejection.model_dump_json()) == {
        "labels": {"__name__": "DCGM_FI_DEV_GPU_UTIL", "UUID": "GPU-a"},
        "timestampMs": 1,
        "value": "NaN",
        "reason": "not_finite",
        "detail": "d",
    }
