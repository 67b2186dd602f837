"""`make bench` section: investors' value (issue 9, GOALS.md "Investors' value").

Figures, measured by forge over the real contracts (tests/forge/lending/WashLeasing.t.sol, which also asserts
them), in settlement-token base units (the 6-decimal DevStablecoin) or epochs:
- `valuation.best_wash_profit`: the best "wash, borrow the maximum, walk away" attack of a sweep (wash price 1x,
  2x, 20x and 1,000x the honest $2 a GPU-hour on all 8 idle GPUs of a 16-GPU asset, for 1, 12, 168 and 1,000
  epochs, the washer holding half the shares) with the demo's valuation and guards; goal <= 0;
- `valuation.wash_profit_without_guards`: the issue's demo attack (20x, 12 epochs) in the same run with the
  guards loosened to the rule before issue 9: the anchor the guard is measured against;
- `valuation.honest_epochs_to_95pct`: epochs an honest asset configured at 80% of its fair price needs to reach
  95% of it (the rise guard's cost to honest users; docs/security.md, "Wash leasing").
The attacker model and the profit formula are in tests/forge/lending/WashFixture.sol.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
from pathlib import Path

from scripts.benchmarks.core import Bench

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
TESTS = "test_wash_sweep|test_wash_without_the_guards|test_honest_asset_below_fair_price"
_LOG_LINE = re.compile(r"^\s*(best_wash_profit|unguarded_wash_profit|honest_epochs_to_95pct):\s*(-?\d+)\s*$")


def _forge() -> str:
    found = shutil.which("forge") or str(ROOT / "node_modules" / ".bin" / "forge")
    if not Path(found).exists():
        raise RuntimeError("valuation bench: forge not found on PATH nor in node_modules/.bin (run `make setup`)")
    return found


def measure() -> dict[str, list[int]]:
    """Runs the wash-leasing sweep and the honest-convergence test; returns each logged figure's values."""
    command = [_forge(), "test", "--match-contract", "WashLeasingTest", "--match-test", TESTS, "-vv"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=os.environ.copy(), check=False)
    if done.returncode != 0:
        raise RuntimeError(f"valuation bench: forge failed ({done.returncode}):\n{done.stdout[-4000:]}{done.stderr}")
    values: dict[str, list[int]] = {}
    for line in done.stdout.splitlines():
        match = _LOG_LINE.match(line)
        if match:
            values.setdefault(match.group(1), []).append(int(match.group(2)))
    missing = {"best_wash_profit", "unguarded_wash_profit", "honest_epochs_to_95pct"} - values.keys()
    if missing:
        raise RuntimeError(f"valuation bench: forge printed no {sorted(missing)}:\n{done.stdout[-4000:]}")
    return values


def run(bench: Bench) -> None:
    values = measure()
    bench.record("valuation.best_wash_profit", max(values["best_wash_profit"]), "base units", goal="<= 0",
                 note="best wash-and-walk-away of the sweep, demo guards (negative: a loss)")
    bench.record("valuation.wash_profit_without_guards", values["unguarded_wash_profit"][0], "base units",
                 note="the issue's demo attack, same run, guards loosened (the rule before issue 9)")
    bench.record("valuation.honest_epochs_to_95pct", values["honest_epochs_to_95pct"][0], "epochs",
                 note="honest asset from 80% to 95% of its fair price at 50% a year (weekly snapshot)")
