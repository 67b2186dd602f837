"""Builds the browser bundle (app/web/dist/app.js) with esbuild from the pinned npm packages.

`make app-bundle` and the browser tests call this; the output is not committed. Rebuilds only when a
source is newer than the bundle.
"""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

from app.errors import AppError
from app.settings import ROOT

log = logging.getLogger("wellhead.app.bundle")

SOURCES = ROOT / "app" / "web" / "src"
OUTPUT = ROOT / "app" / "web" / "dist" / "app.js"
ESBUILD = ROOT / "node_modules" / ".bin" / "esbuild"


def build_bundle(force: bool = False) -> Path:
    """Bundles `src/main.js` and its imports (viem included) into one minified ES module; returns its path."""
    newest = max(p.stat().st_mtime for p in SOURCES.rglob("*.js"))
    if not force and OUTPUT.exists() and OUTPUT.stat().st_mtime >= newest:
        return OUTPUT
    if not ESBUILD.exists():
        raise AppError(f"{ESBUILD} is missing: run `make setup` (npm ci installs the pinned esbuild and viem)")
    args = [str(ESBUILD), str(SOURCES / "main.js"), "--bundle", "--minify", "--format=esm", "--target=es2022",
            "--legal-comments=none", f"--outfile={OUTPUT}"]
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise AppError(f"esbuild failed: {result.stderr.strip()}")
    log.info("built %s (%d bytes)", OUTPUT.relative_to(ROOT), OUTPUT.stat().st_size)
    return OUTPUT


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    print(build_bundle(force=True))
