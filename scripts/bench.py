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
SECTIONS = ["shares", "oracle", "offchain", "leases", "lending", "market", "daemon", "app"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", choices=SECTIONS, help="run only these sections")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    from scripts.localnode import attach_brownie, load_project

    loaded = load_project()
    node = start_anvil(gas_limit=60_000_000)
    bench = Bench(context={"project": loaded, "node": node})
    started = time.monotonic()
    try:
        attach_brownie(node.url)
        for name in args.only or SECTIONS:
            module_name = f"scripts.benchmarks.{name}"
            if importlib.util.find_spec(module_name) is None:
                continue
            section_start = time.monotonic()
            importlib.import_module(module_name).run(bench)
            print(f"[bench] {name}: {time.monotonic() - section_start:.1f}s", file=sys.stderr)
    finally:
        detach_brownie()
        node.stop()
    print()
    print(bench.table())
    bench.write(args.out)
    print(f"\nwrote {args.out.relative_to(ROOT)} ({len(bench.figures)} figures) in {time.monotonic() - started:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
