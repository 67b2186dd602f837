"""Fails when slither reports a High or Medium finding that slither.triage.json does not explain.

Usage: python scripts/slither_gate.py SLITHER_JSON [--triage slither.triage.json]
Prints every High/Medium finding with its explanation, and exits 1 if any is unexplained or High.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _location(result: dict) -> str:
    element = result["elements"][0]
    parent = element.get("type_specific_fields", {}).get("parent", {}).get("name", "")
    return f"{parent}.{element['name']}" if parent else element["name"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("report", type=Path)
    parser.add_argument("--triage", type=Path, default=ROOT / "slither.triage.json")
    args = parser.parse_args(argv)

    document = json.loads(args.report.read_text())
    if not document.get("success", False):
        print(f"slither failed: {document.get('error')}", file=sys.stderr)
        return 1
    triage = json.loads(args.triage.read_text())
    findings = document.get("results", {}).get("detectors", [])
    unexplained = 0
    for result in findings:
        impact, check, where = result["impact"], result["check"], _location(result)
        if impact not in ("High", "Medium"):
            continue
        entry = triage.get(check)
        explained = impact != "High" and entry is not None and where in entry.get("where", [])
        status = "explained" if explained else "UNEXPLAINED"
        print(f"{impact:<6} {check:<24} {where:<40} {status}")
        if not explained:
            unexplained += 1
            print("        " + result["description"].splitlines()[0], file=sys.stderr)
    print(f"\nslither: {len(findings)} findings at medium impact or above, {unexplained} unexplained")
    return 1 if unexplained else 0


if __name__ == "__main__":
    raise SystemExit(main())
