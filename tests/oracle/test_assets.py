"""Loading the asset map and curtailment windows from files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from oracle.assets import load_asset_map, load_curtailments
from oracle.errors import AssetMapError, CurtailmentError
from oracle.models import CurtailmentWindow


def test_sample_asset_map_loads(sample_paths: tuple[Path, Path, Path]) -> None:
    assets = load_asset_map(sample_paths[1])
    assert (assets.genesis, assets.epoch_length) == (1_779_998_400, 3600)
    assert {asset_id: len(spec.gpus) for asset_id, spec in assets.assets.items()} == {1: 8, 2: 4}


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "no such file"),
        ("{not json", "invalid JSON"),
        (json.dumps({"genesis": 1, "epochLength": 3600}), "assets: Field required"),
        (
            json.dumps({"genesis": 1, "epochLength": 3600, "assets": {"1": {"hostname": "h", "gpus": "GPU-a"}}}),
            "assets.1.gpus",
        ),
    ],
    ids=["missing", "not-json", "no-assets", "gpus-not-a-list"],
)
def test_invalid_asset_map_raises_asset_map_error_naming_the_problem(
    tmp_path: Path, content: str | None, reason: str
) -> None:
    path = tmp_path / "assets.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(AssetMapError) as raised:
        load_asset_map(path)
    assert raised.value.path == path
    assert reason in raised.value.reason


def test_curtailments_load_from_an_array_or_a_windows_object(tmp_path: Path) -> None:
    windows = [{"assetId": 1, "start": 100, "end": 200}]
    plain = tmp_path / "a.json"
    plain.write_text(json.dumps(windows))
    wrapped = tmp_path / "b.json"
    wrapped.write_text(json.dumps({"windows": windows}))
    expected = [CurtailmentWindow(asset_id=1, start=100, end=200)]
    assert load_curtailments(plain) == load_curtailments(wrapped) == expected


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ('{"assetId": 1}', "expected a JSON array"),
        ('[{"assetId": 1, "start": 5, "end": 5}]', "must be after its start"),
        ("[", "invalid JSON"),
    ],
)
def test_invalid_curtailments_raise_curtailment_error(tmp_path: Path, content: str, reason: str) -> None:
    path = tmp_path / "w.json"
    path.write_text(content)
    with pytest.raises(CurtailmentError, match=reason):
        load_curtailments(path)
