"""Loading the asset map and curtailment windows from JSON files.

Asset map (``dcgm-sample-assets.json``)::

    {"genesis": 1779998400, "epochLength": 3600,
     "assets": {"1": {"hostname": "h100-node-01", "gpus": ["GPU-3a09...", ...]}, ...}}

Curtailment windows: a JSON array (or ``{"windows": [...]}``) of ``{"assetId": 1, "start": 1779999000,
"end": 1779999600}``, times in Unix seconds, ``end`` exclusive.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from oracle.errors import AssetMapError, CurtailmentError, InputFileError
from oracle.models import AssetMap, CurtailmentWindow

__all__ = ["load_asset_map", "load_curtailments"]

_WINDOWS = TypeAdapter(list[CurtailmentWindow])


def load_asset_map(path: str | Path) -> AssetMap:
    """Read and validate an asset map file.

    Raises:
        AssetMapError: the file is missing, unreadable, not JSON, or not a valid asset map (the reason names
            the offending field).
    """
    raw = _read_json(path, AssetMapError)
    try:
        return AssetMap.model_validate(raw)
    except ValidationError as exc:
        raise AssetMapError(path, _summarise(exc)) from None


def load_curtailments(path: str | Path) -> list[CurtailmentWindow]:
    """Read and validate a curtailment windows file.

    Raises:
        CurtailmentError: the file is missing, unreadable, not JSON, or holds an invalid window.
    """
    raw = _read_json(path, CurtailmentError)
    if isinstance(raw, dict) and set(raw) == {"windows"}:
        raw = raw["windows"]
    if not isinstance(raw, list):
        raise CurtailmentError(path, 'expected a JSON array of windows (or {"windows": [...]})')
    try:
        return _WINDOWS.validate_python(raw)
    except ValidationError as exc:
        raise CurtailmentError(path, _summarise(exc)) from None


def _read_json(path: str | Path, error: type[InputFileError]) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(path, "no such file") from None
    except IsADirectoryError:
        raise error(path, "is a directory") from None
    except UnicodeDecodeError:
        raise error(path, "not UTF-8 text") from None
    except OSError as exc:
        raise error(path, f"cannot read: {exc.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(path, f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None


def _summarise(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)
