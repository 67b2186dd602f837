"""Fixtures for the oracle's pure-Python tests (helpers and named actors live in ``oracle_testkit``)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from oracle.models import AssetMap

# The helpers module sits next to this file: pytest's default "prepend" import mode puts this directory on
# sys.path, "importlib" mode does not.
if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))

from oracle_testkit import (
    EPOCH,
    GENESIS,
    GPU_A1,
    GPU_A2,
    GPU_B1,
    Recording,
    find_sample,
)


@pytest.fixture(scope="session")
def sample_paths() -> tuple[Path, Path, Path]:
    """(recording, asset map, expected reports) of the two-hour DCGM sample."""
    return find_sample()


@pytest.fixture
def recording() -> Recording:
    """An empty recording builder."""
    return Recording()


@pytest.fixture
def asset_map() -> AssetMap:
    """Asset 1 = {A1, A2}, asset 2 = {B1}; 60 s epochs from GENESIS."""
    return AssetMap.model_validate(
        {
            "genesis": GENESIS,
            "epochLength": EPOCH,
            "assets": {
                "1": {"hostname": "node-a", "gpus": [GPU_A1, GPU_A2]},
                "2": {"hostname": "node-b", "gpus": [GPU_B1]},
            },
        }
    )


@pytest.fixture
def asset_map_file(tmp_path: Path, asset_map: AssetMap) -> Path:
    """The ``asset_map`` fixture written as JSON."""
    path = tmp_path / "assets.json"
    path.write_text(json.dumps(asset_map.model_dump(mode="json")), encoding="utf-8")
    return path


@pytest.fixture
def write_recording(tmp_path: Path) -> Callable[[Recording], Path]:
    """Write a recording to a fresh file in ``tmp_path``."""
    counter = iter(range(1_000_000))

    def _write(rec: Recording, *, eof: bool = True) -> Path:
        return rec.write(tmp_path / f"recording-{next(counter)}.om", eof=eof)

    return _write
