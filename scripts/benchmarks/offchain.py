"""`make bench` section: the oracle's off-chain throughput, on one core.

Figures:
- a simulated fleet of 100,000 GPUs (1,000 assets x 100 GPUs) scraped every 15 s, aggregated into per-asset
  reports for one 3,600 s epoch through the daemon's own pipeline (oracle.daemon.EpochAggregator: the epoch's
  window with look-back and grace, fetched and aggregated in chunks of whole assets): CPU seconds, peak
  memory, and the headroom epoch_length / processing time (GOALS.md: >= 100x); readings aggregated per second
  on pre-generated grids. Measured in a fresh process (`python scripts/benchmarks/offchain.py --fleet`), so
  that its peak memory is its own;
- EIP-712 reports signed per second (one report per digest, hashing included) with oracle.signer on
  libsecp256k1 (coincurve) and on eth-keys' pure-Python backend, each against eth-account's
  `sign_typed_data` with the same backend in the same run (GOALS.md: >= 3,000/s with coincurve).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from scripts.benchmarks.core import Bench

ROOT = Path(__file__).resolve().parents[2]
GENESIS = 1_760_000_400
EPOCH = 3_600
FLEET_ASSETS = 1_000
GPUS_PER_ASSET = 100
SCRAPE_MS = 15_000
GOAL_HEADROOM = ">= 100"
GOAL_SIGNED_PER_S = ">= 3000"
KEY = bytes.fromhex("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")


# --- the fleet (run in a fresh process) ----------------------------------------------------------------


def fleet(assets: int = FLEET_ASSETS, gpus_per_asset: int = GPUS_PER_ASSET, chunk_gpus: int = 10_000) -> dict[str, Any]:
    """Aggregate one epoch of a simulated fleet; returns the figures (run by ``--fleet``)."""
    import numpy as np

    from oracle.aggregate import AggregationConfig, aggregate
    from oracle.daemon import EpochAggregator
    from oracle.sources.simulator import FleetSimulator, make_asset_map

    asset_map = make_asset_map(
        seed=1, genesis=GENESIS, epoch_length=EPOCH, gpus_per_asset=dict.fromkeys(range(1, assets + 1), gpus_per_asset)
    )
    sim = FleetSimulator(
        asset_map, start_s=GENESIS - 900, end_s=GENESIS + EPOCH + 60, scrape_interval_ms=SCRAPE_MS, seed=1
    )
    config = AggregationConfig(scrape_interval_ms=SCRAPE_MS)
    pipeline = EpochAggregator(sim, asset_map, config=config, lookback_ms=2 * SCRAPE_MS, chunk_gpus=chunk_gpus)

    # The daemon's path: fetch (here: simulate) and aggregate the epoch's window, chunk by chunk.
    cpu0, wall0 = time.process_time(), time.perf_counter()
    results = pipeline.compute(0, 0)
    pipeline_cpu, pipeline_wall = time.process_time() - cpu0, time.perf_counter() - wall0
    reports = len(results.stats)

    # Aggregation alone, on grids generated beforehand (what a Prometheus fetch would hand over).
    lo, hi = pipeline.window_ms(0)
    rows = np.arange(assets * gpus_per_asset, dtype=np.int64)
    aggregate_cpu = aggregate_wall = 0.0
    readings = 0
    generate_cpu = 0.0
    tracemalloc.start()
    peak_traced = 0
    for start in range(0, rows.size, chunk_gpus):
        chunk_assets = range(start // gpus_per_asset + 1, (start + chunk_gpus) // gpus_per_asset + 1)
        sub = asset_map.model_validate(
            {
                "genesis": GENESIS,
                "epochLength": EPOCH,
                "assets": {str(a): asset_map.assets[a].model_dump() for a in chunk_assets},
            }
        )
        g0 = time.process_time()
        batch = sim.fetch_rows(rows[start : start + chunk_gpus], lo, hi)
        generate_cpu += time.process_time() - g0
        tracemalloc.reset_peak()
        c0, w0 = time.process_time(), time.perf_counter()
        result = aggregate(batch, sub, config=config, first_epoch=0, covered_until_ms=(GENESIS + EPOCH) * 1000)
        aggregate_cpu += time.process_time() - c0
        aggregate_wall += time.perf_counter() - w0
        peak_traced = max(peak_traced, tracemalloc.get_traced_memory()[1])
        readings += result.readings_total
        del batch, result
    tracemalloc.stop()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "gpus": assets * gpus_per_asset,
        "assets": assets,
        "reports": reports,
        "readings": readings,
        "pipeline_cpu_s": pipeline_cpu,
        "pipeline_wall_s": pipeline_wall,
        "generate_cpu_s": generate_cpu,
        "aggregate_cpu_s": aggregate_cpu,
        "aggregate_wall_s": aggregate_wall,
        "aggregate_peak_traced_mb": peak_traced / 2**20,
        "max_rss_mb": usage.ru_maxrss / 1024,
    }


def _fleet_in_subprocess() -> dict[str, Any]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--fleet", "--fleet-assets", str(FLEET_ASSETS)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
    )
    return json.loads(done.stdout.splitlines()[-1])


# --- signing ---------------------------------------------------------------------------------------------


def signing(count: int = 3_000, baseline_count: int = 1_000) -> dict[str, float]:
    """Reports signed per second: oracle.signer vs eth-account's sign_typed_data, with the eth-keys backend
    this process was started with (``ECC_BACKEND_CLASS``) for eth-account."""
    from eth_account import Account
    from eth_account.messages import encode_typed_data

    from oracle.eip712 import Eip712Domain, batch_digest, report_typed_data
    from oracle.models import Report
    from oracle.signer import LocalKeySigner

    domain = Eip712Domain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3")
    reports = [
        Report(
            asset_id=1 + i % 100,
            epoch=i,
            gpu_seconds=28_800 - i % 7,
            curtailed_gpu_seconds=0,
            utilization_bps=8_000 + i % 1_000,
            energy_wh=4_000 + i % 500,
        )
        for i in range(max(count, baseline_count))
    ]
    out: dict[str, float] = {}
    for backend in ("coincurve", "native"):
        signer = LocalKeySigner(KEY, backend=backend)  # type: ignore[arg-type]
        n = count if backend == "coincurve" else max(50, count // 20)
        t0 = time.perf_counter()
        for report in reports[:n]:
            signer.sign_digest(batch_digest(domain, 1, [report]))
        out[f"ours_{backend}"] = n / (time.perf_counter() - t0)
    n = baseline_count
    t0 = time.perf_counter()
    for report in reports[:n]:
        Account.sign_message(encode_typed_data(full_message=report_typed_data(domain, report)), KEY)
    out["eth_account"] = n / (time.perf_counter() - t0)
    return out


def _signing_in_subprocess(native: bool) -> dict[str, float]:
    env = dict(os.environ)
    if native:
        env["ECC_BACKEND_CLASS"] = "eth_keys.backends.NativeECCBackend"
    else:
        env.pop("ECC_BACKEND_CLASS", None)
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--signing"] + (["--small"] if native else []),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=900,
    )
    return json.loads(done.stdout.splitlines()[-1])


# --- the section ---------------------------------------------------------------------------------------------


def run(bench: Bench) -> None:
    """Records the off-chain figures."""
    figures = _fleet_in_subprocess()
    processing = max(figures["pipeline_wall_s"], figures["pipeline_cpu_s"])
    note = f"{figures['gpus']:,} GPUs in {figures['assets']:,} assets, 15 s scrapes, one 3600 s epoch"
    bench.record(
        "offchain.fleet100k.epoch_processing_cpu_s",
        figures["pipeline_cpu_s"],
        "s",
        note=note + " (simulated source: generation included)",
    )
    bench.record("offchain.fleet100k.epoch_processing_wall_s", figures["pipeline_wall_s"], "s")
    bench.record(
        "offchain.fleet100k.headroom",
        EPOCH / processing,
        "x",
        goal=GOAL_HEADROOM,
        note="epoch length / processing time, one core",
    )
    bench.record(
        "offchain.fleet100k.aggregate_only_cpu_s",
        figures["aggregate_cpu_s"],
        "s",
        note=f"{figures['readings']:,} readings, grids generated beforehand",
    )
    bench.record(
        "offchain.fleet100k.aggregate_only_headroom", EPOCH / figures["aggregate_wall_s"], "x", goal=GOAL_HEADROOM
    )
    bench.record(
        "offchain.fleet100k.readings_aggregated_per_s", figures["readings"] / figures["aggregate_wall_s"], "readings/s"
    )
    bench.record("offchain.fleet100k.peak_rss_mb", figures["max_rss_mb"], "MB", note="whole measuring process")
    bench.record(
        "offchain.fleet100k.aggregate_peak_traced_mb",
        figures["aggregate_peak_traced_mb"],
        "MB",
        note="tracemalloc peak while aggregating one 10,000-GPU chunk",
    )

    fast = _signing_in_subprocess(native=False)
    slow = _signing_in_subprocess(native=True)
    bench.record(
        "offchain.eip712_signed_per_s.coincurve",
        fast["ours_coincurve"],
        "reports/s",
        goal=GOAL_SIGNED_PER_S,
        note="oracle.signer on libsecp256k1, digest included",
    )
    bench.compare(
        "offchain.eip712_signed_per_s.coincurve_vs_eth_account",
        fast["ours_coincurve"],
        "eth-account sign_typed_data (coincurve)",
        fast["eth_account"],
        "reports/s",
    )
    bench.record(
        "offchain.eip712_signed_per_s.native",
        fast["ours_native"],
        "reports/s",
        note="oracle.signer on eth-keys' pure-Python backend",
    )
    bench.compare(
        "offchain.eip712_signed_per_s.native_vs_eth_account",
        slow["ours_native"],
        "eth-account sign_typed_data (pure Python)",
        slow["eth_account"],
        "reports/s",
    )


def _main() -> int:
    parser = argparse.ArgumentParser(description="measurement helpers of the offchain bench section")
    parser.add_argument("--fleet", action="store_true")
    parser.add_argument("--signing", action="store_true")
    parser.add_argument("--small", action="store_true")
    parser.add_argument("--fleet-assets", type=int, default=FLEET_ASSETS, help="assets of 100 GPUs (bench --smoke: 10)")
    args = parser.parse_args()
    if args.fleet:
        gpus = args.fleet_assets * GPUS_PER_ASSET
        print(json.dumps(fleet(assets=args.fleet_assets, chunk_gpus=min(10_000, gpus))))
    if args.signing:
        print(json.dumps(signing(count=600 if args.small else 3_000, baseline_count=200 if args.small else 1_000)))
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
