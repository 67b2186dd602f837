"""Helpers for the oracle's pure-Python tests: named GPUs and assets, a small epoch clock, and a writer
that generates OpenMetrics recordings.

Generated recordings use a 60 s epoch and a 15 s scrape interval so that the expected figures can be worked
out by hand in each test (an interval is healthy when it lasts at most 30 s).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

GENESIS = 1_800_000_000
"""Genesis of the generated recordings (Unix s)."""
EPOCH = 60
"""Epoch length of the generated recordings (s)."""

# Named GPUs: asset 1 has A1 and A2, asset 2 has B1; STRAY is in no asset.
GPU_A1 = "GPU-aaaaaaaa-0000-4000-8000-000000000001"
GPU_A2 = "GPU-aaaaaaaa-0000-4000-8000-000000000002"
GPU_B1 = "GPU-bbbbbbbb-0000-4000-8000-000000000001"
GPU_STRAY = "GPU-eeeeeeee-0000-4000-8000-000000000666"
HOSTS = {GPU_A1: "node-a", GPU_A2: "node-a", GPU_B1: "node-b", GPU_STRAY: "node-x"}
INDEX = {GPU_A1: "0", GPU_A2: "1", GPU_B1: "0", GPU_STRAY: "0"}

UTIL = "DCGM_FI_DEV_GPU_UTIL"
POWER = "DCGM_FI_DEV_POWER_USAGE"
ENERGY = "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION"
XID = "DCGM_FI_DEV_XID_ERRORS"
FAMILIES = {
    UTIL: ("gauge", "GPU utilization (in %)."),
    POWER: ("gauge", "Power draw (in W)."),
    ENERGY: ("unknown", "Total energy consumption since boot (in mJ)."),
    XID: ("gauge", "Value of the last XID error encountered."),
}


def find_sample() -> tuple[Path, Path, Path]:
    """(recording, asset map, expected reports) of the DCGM sample: the repository's ``tests/data`` copy
    (recording gzipped), else $WELLHEAD_DATA_DIR, else the shared data folder next to the repository."""
    directories = [REPO_ROOT / "tests" / "data"]
    if os.environ.get("WELLHEAD_DATA_DIR"):
        directories.append(Path(os.environ["WELLHEAD_DATA_DIR"]))
    directories += [REPO_ROOT / "shared" / "data", REPO_ROOT.parent / "shared" / "data"]
    for directory in directories:
        for name in ("dcgm-sample.om", "dcgm-sample.om.gz"):
            if (directory / name).is_file() and (directory / "dcgm-sample-assets.json").is_file():
                return (
                    directory / name,
                    directory / "dcgm-sample-assets.json",
                    directory / "dcgm-sample-expected.json",
                )
    pytest.fail("the DCGM sample was not found in tests/data, $WELLHEAD_DATA_DIR or shared/data")


def labels_of(uuid: str) -> str:
    """The DCGM exporter's label set for one of the named GPUs."""
    return (
        f'gpu="{INDEX[uuid]}",UUID="{uuid}",pci_bus_id="00000000:18:00.0",device="nvidia{INDEX[uuid]}",'
        f'modelName="NVIDIA H100 80GB HBM3",Hostname="{HOSTS[uuid]}"'
    )


def fmt_ts(seconds: float) -> str:
    """A timestamp as OpenMetrics writes it (seconds, no trailing .0)."""
    return str(int(seconds)) if float(seconds).is_integer() else repr(float(seconds))


@dataclass
class Recording:
    """Builds an OpenMetrics recording; samples keep their insertion order within each metric family."""

    families: dict[str, list[str]] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    extra_lines: list[str] = field(default_factory=list)

    def sample(self, metric: str, uuid: str | None, value: str, t: float | None, *, labels: str | None = None) -> None:
        """One raw sample line; ``t`` is seconds after genesis (None: no timestamp)."""
        label_text = labels if labels is not None else labels_of(uuid) if uuid is not None else ""
        line = f"{metric}{{{label_text}}} {value}"
        if t is not None:
            line += f" {fmt_ts(GENESIS + t)}"
        self.families.setdefault(metric, []).append(line)

    def scrape(
        self,
        uuid: str,
        t: float,
        *,
        util: float | str = 50,
        power: float | str = 300.0,
        energy: int | str,
        xid: int | str = 0,
        skip: tuple[str, ...] = (),
    ) -> None:
        """One scrape of ``uuid`` at ``t`` s after genesis: the four DCGM metrics (minus those in ``skip``)."""
        for metric, value in ((UTIL, util), (POWER, power), (ENERGY, energy), (XID, xid)):
            if metric not in skip:
                self.sample(metric, uuid, _fmt_value(value), t)

    def series(
        self,
        uuid: str,
        times: list[float],
        energies: list[int],
        utils: list[float] | None = None,
        xids: list[int] | None = None,
    ) -> None:
        """Several scrapes of one GPU."""
        for i, t in enumerate(times):
            self.scrape(
                uuid,
                t,
                energy=energies[i],
                util=utils[i] if utils is not None else 50,
                xid=xids[i] if xids is not None else 0,
            )

    def text(self, *, eof: bool = True) -> str:
        """The recording as OpenMetrics (or, with ``eof=False``, a file lacking its ``# EOF``)."""
        out: list[str] = []
        for metric, lines in self.families.items():
            kind, help_text = FAMILIES.get(metric, ("gauge", "unknown"))
            out.append(f"# HELP {metric} {help_text}")
            out.append(f"# TYPE {metric} {kind}")
            if metric in self.units:
                out.append(f"# UNIT {metric} {self.units[metric]}")
            out.extend(lines)
        out.extend(self.extra_lines)
        if eof:
            out.append("# EOF")
        return "\n".join(out) + "\n"

    def write(self, path: Path, *, eof: bool = True) -> Path:
        """Write the recording to ``path`` and return it."""
        path.write_text(self.text(eof=eof), encoding="utf-8")
        return path


def _fmt_value(value: float | int | str) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# --- a plain-Python reference aggregator (loops, no numpy), for differential tests ------------------


@dataclass(frozen=True)
class RefScrape:
    """One scrape: time (Unix ms), utilisation (%), energy counter (mJ), XID code."""

    t_ms: int
    util: int
    energy: int
    xid: int


def reference_aggregate(
    scrapes: dict[str, list[RefScrape]],
    gpu_asset: dict[str, int],
    *,
    genesis_s: int,
    epoch_s: int,
    scrape_ms: int,
    windows: Sequence[tuple[int, int, int]] = (),
) -> dict[tuple[int, int], tuple[int, int, int, int, int]]:
    """The aggregation rules written as plainly as possible.

    Returns (asset, epoch) -> (delivered_ms, curtailed_ms, util_bps_ms, energy_mj, unhealthy_ms) for every
    asset of ``gpu_asset`` and every complete epoch from the first covered one.
    """
    g, length = genesis_s * 1000, epoch_s * 1000
    all_t = [s.t_ms for series in scrapes.values() for s in series]
    if not all_t:
        return {}
    first = max(0, (min(all_t) - g) // length)
    last = (max(all_t) - g) // length - 1
    out = {(a, k): [0, 0, 0, 0, 0] for a in set(gpu_asset.values()) for k in range(first, last + 1)}

    def window_overlap(asset: int, start: int, end: int) -> int:
        spans = sorted((s * 1000, e * 1000) for a, s, e in windows if a == asset)
        merged: list[list[int]] = []
        for s, e in spans:
            if merged and s <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], e)
            else:
                merged.append([s, e])
        return sum(max(0, min(end, e) - max(start, s)) for s, e in merged)

    for uuid, series in scrapes.items():
        asset = gpu_asset[uuid]
        for prev, cur in pairwise(series):
            d = cur.t_ms - prev.t_ms
            energy = cur.energy - prev.energy if cur.energy >= prev.energy else cur.energy
            healthy = d <= 2 * scrape_ms and cur.xid == 0
            for k in range((prev.t_ms - g) // length, (cur.t_ms - 1 - g) // length + 1):
                start = max(prev.t_ms, g + k * length)
                end = min(cur.t_ms, g + (k + 1) * length)
                part = energy * (end - prev.t_ms) // d - energy * (start - prev.t_ms) // d
                if (asset, k) not in out:
                    continue
                cell = out[(asset, k)]
                cell[3] += part
                if not healthy:
                    cell[4] += end - start
                    continue
                curtailed = window_overlap(asset, start, end) if cur.util == 0 else 0
                cell[0] += end - start - curtailed
                cell[1] += curtailed
                cell[2] += cur.util * 100 * (end - start - curtailed)
    return {key: (c[0], c[1], c[2], c[3], c[4]) for key, c in out.items()}
