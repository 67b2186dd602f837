"""`make abi`: copies the ABIs the `oracle` package ships from the build into `oracle/abi/<Name>.json`.

    python scripts/gen_abi.py            # write them (after `brownie compile`)
    python scripts/gen_abi.py --check    # exit 1 and name every file that differs from the build

The list of contracts is `oracle.abi.SHIPPED`. The daemon's and the admin CLI's calldata come from these files
(never from hand-written signatures); tests/oracle/test_abi_shipped.py runs `--check` in `make test`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from oracle.abi import SHIPPED  # noqa: E402

BUILD = ROOT / "build" / "contracts"
TARGET = ROOT / "oracle" / "abi"


def render(abi: list[dict]) -> str:
    """The shipped file's text: one entry per line, keys sorted, so that diffs show what changed."""
    return "[\n" + ",\n".join(json.dumps(entry, sort_keys=True) for entry in abi) + "\n]\n"


def expected() -> dict[str, str]:
    """Name -> the text each shipped file must hold, from the build.

    Raises:
        SystemExit: a contract is missing from the build (run `brownie compile`).
    """
    texts = {}
    for name in SHIPPED:
        path = BUILD / f"{name}.json"
        if not path.exists():
            raise SystemExit(f"error: {path.relative_to(ROOT)} is missing: run `brownie compile` (make build) first")
        texts[name] = render(json.loads(path.read_text(encoding="utf-8"))["abi"])
    return texts


def stale() -> list[str]:
    """Shipped files that differ from the build (or are missing)."""
    out = []
    for name, text in expected().items():
        path = TARGET / f"{name}.json"
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            out.append(_shown(path))
    return out


def _shown(path: Path) -> str:
    """`path` relative to the repository when it is inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare instead of writing; exit 1 on a difference")
    args = parser.parse_args(argv)
    if args.check:
        differing = stale()
        if differing:
            print("stale ABI files (run `make abi`): " + ", ".join(differing), file=sys.stderr)
            return 1
        print(f"oracle/abi: {len(SHIPPED)} ABIs match the build")
        return 0
    for name, text in expected().items():
        (TARGET / f"{name}.json").write_text(text, encoding="utf-8")
    print(f"wrote {len(SHIPPED)} ABIs to {_shown(TARGET)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
