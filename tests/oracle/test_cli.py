"""``python -m oracle aggregate`` run as a real subprocess."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from oracle_testkit import GPU_A1, GPU_B1, REPO_ROOT, Recording

KEYS = ["assetId", "epoch", "gpuSeconds", "curtailedGpuSeconds", "utilizationBps", "energyWh"]


def oracle(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "oracle", *map(str, args)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_aggregate_prints_exactly_the_expected_sample_reports(sample_paths: tuple[Path, Path, Path]) -> None:
    recording, assets, expected_file = sample_paths
    done = oracle("aggregate", "--metrics", recording, "--assets", assets)

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    expected = sorted(json.loads(expected_file.read_text())["reports"], key=lambda r: (r["assetId"], r["epoch"]))
    assert [json.loads(line) for line in lines] == [{**r, "curtailedGpuSeconds": 0} for r in expected]
    assert all(list(json.loads(line)) == KEYS for line in lines)
    assert done.stderr.strip() == "rejected 0 of 22608 readings"


def test_aggregate_summarises_rejections_on_stderr(tmp_path: Path, asset_map_file: Path) -> None:
    rec = Recording()
    for i, t in enumerate([0, 15, 30, 45, 60]):
        rec.scrape(GPU_A1, t, energy=10**9 + i, util="NaN" if t == 30 else 50)
        rec.scrape(GPU_B1, t, energy=10**9 + i)
    rec.extra_lines.append("garbage")
    done = oracle("aggregate", "--metrics", rec.write(tmp_path / "r.om"), "--assets", asset_map_file)

    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 2
    assert done.stderr.strip() == ("rejected 5 of 41 readings: incomplete_scrape=3, malformed_line=1, not_finite=1")


def test_aggregate_applies_scrape_interval_and_curtailments(tmp_path: Path, asset_map_file: Path) -> None:
    # A1 idle, scraped at 0, 30, 60. With --scrape-interval 10 the 30 s intervals are gaps; with the default
    # they are healthy and the window [0, 30) curtails the first one.
    rec = Recording()
    for i, t in enumerate([0, 30, 60]):
        rec.scrape(GPU_A1, t, energy=i, util=0)
    metrics = rec.write(tmp_path / "r.om")
    windows = tmp_path / "windows.json"
    windows.write_text(json.dumps([{"assetId": 1, "start": 1_800_000_000, "end": 1_800_000_030}]))

    short = oracle("aggregate", "--metrics", metrics, "--assets", asset_map_file, "--scrape-interval", "10")
    curtailed = oracle("aggregate", "--metrics", metrics, "--assets", asset_map_file, "--curtailments", windows)

    assert json.loads(short.stdout.splitlines()[0])["gpuSeconds"] == 0
    first = json.loads(curtailed.stdout.splitlines()[0])
    assert (first["gpuSeconds"], first["curtailedGpuSeconds"]) == (30, 30)


def test_aggregate_fails_clearly_for_a_missing_recording(tmp_path: Path, asset_map_file: Path) -> None:
    done = oracle("aggregate", "--metrics", tmp_path / "absent.om", "--assets", asset_map_file)
    assert done.returncode == 2
    assert done.stdout == ""
    assert f"{tmp_path / 'absent.om'}: no such file" in done.stderr


def test_aggregate_fails_clearly_for_an_invalid_asset_map(
    tmp_path: Path, sample_paths: tuple[Path, Path, Path]
) -> None:
    assets = tmp_path / "assets.json"
    assets.write_text('{"genesis": 1, "epochLength": 0, "assets": {}}')
    done = oracle("aggregate", "--metrics", sample_paths[0], "--assets", assets)
    assert done.returncode == 2
    assert "epochLength: Input should be greater than or equal to 1" in done.stderr


def test_aggregate_requires_its_arguments() -> None:
    done = oracle("aggregate", "--metrics", "x.om")
    assert done.returncode == 2
    assert "--assets" in done.stderr


def test_new_subcommands_plug_in_through_the_registry(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from oracle import cli

    def status(args: argparse.Namespace) -> int:
        sys.stdout.write("all good\n")
        return 0

    def register_status(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
        subparsers.add_parser("status", help="show status").set_defaults(handler=status)

    monkeypatch.setattr(cli, "COMMANDS", [*cli.COMMANDS, register_status])
    assert cli.main(["status"]) == 0
    assert capsys.readouterr().out == "all good\n"
    assert cli.main(["aggregate", "--metrics", "/nonexistent.om", "--assets", "/nonexistent.json"]) == 2
