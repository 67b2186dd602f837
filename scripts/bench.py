"""`make bench`: gas and throughput figures, each next to a baseline measured in the same run.

Starts its own Anvil, deploys the suite, runs every section in scripts/benchmarks, prints one table and
writes the same figures to reports/bench.json (a flat object, name -> number) so versions can be compared.
Goals are printed, never asserted: speed and gas are tracked here, not in the tests.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.benchmarks.core import Bench  # noqa: E402
from scripts.localnode import detach_brownie, start_anvil  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
#: Sections in the order they run. A section module exposes `run(bench)`.
SECTIONS = ["shares", "oracle", "offchain", "leases", "lending", "valuation", "market", "daemon", "fleet", "app"]

#: `--smoke` (`make bench-smoke`, run by `make test`): every section once at small sizes, so that the bench
#: keeps finishing; its figures are not comparable with a full run's. Section -> module constants to override.
SMOKE: dict[str, dict[str, object]] = {
    "shares": {"MANY": 20},
    "oracle": {"BATCH_SIZES": (1, 3, 5), "ROOT_LEAVES": 16},
    "offchain": {"FLEET_ASSETS": 10},
    "leases": {"MANY": 5},
    "market": {"EXTRA": 1},
    "daemon": {"EPOCHS": 3, "BACKLOG_EPOCHS": 3},
    "fleet": {"sizes": lambda: [10]},
    "app": {"EXTRA_ASSETS": 2, "HOLDERS": 10, "ASSETS_PER_HOLDER": 2, "RUNS": 1},
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", choices=SECTIONS, help="run only these sections")
    parser.add_argument("--smoke", action="store_true", help="every section once at small sizes (make bench-smoke)")
    parser.add_argument("--out", type=Path, help="default: reports/bench.json (reports/bench-smoke.json with --smoke)")
    args = parser.parse_args(argv)
    out = args.out or ROOT / "reports" / ("bench-smoke.json" if args.smoke else "bench.json")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    from scripts.localnode import attach_brownie, exit_on_sigterm, load_project

    exit_on_sigterm()  # a stopped bench stops its nodes and daemons too
    loaded = load_project()
    # no states on disk: thousands of blocks of a large state would write gigabytes to ~/.foundry/anvil/tmp
    node = start_anvil(gas_limit=60_000_000, max_persisted_states=0)
    bench = Bench(context={"project": loaded, "node": node})
    started = time.monotonic()
    try:
        attach_brownie(node.url)
        for name in args.only or SECTIONS:
            module_name = f"scripts.benchmarks.{name}"
            if importlib.util.find_spec(module_name) is None:
                continue
            section_start = time.monotonic()
            module = importlib.import_module(module_name)
            for constant, value in (SMOKE.get(name, {}) if args.smoke else {}).items():
                setattr(module, constant, value)
            module.run(bench)
            print(f"[bench] {name}: {time.monotonic() - section_start:.1f}s", file=sys.stderr)
    finally:
        try:
            detach_brownie()
        finally:
            node.stop()
    print()
    print(bench.table())
    bench.write(out)
    shown = out.relative_to(ROOT) if out.is_relative_to(ROOT) else out
    print(f"\nwrote {shown} ({len(bench.figures)} figures) in {time.monotonic() - started:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
