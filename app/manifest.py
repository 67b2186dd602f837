"""Where the app learns addresses and ABIs: `deployments/<chainId>.json`, ABIs from the manifest when it
carries them, else from the compiled artifacts in `build/contracts` (until every manifest carries every ABI).

This is the only module that knows where ABIs come from, so switching to the manifest alone is one change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.errors import ManifestError

#: Contracts the app reads or the wallet writes, by manifest name. Per-asset share tokens and per-market
#: lending markets are found on-chain (AssetRegistered, MarketCreated) and use the ABIs of TEMPLATES.
SINGLETONS = (
    "SettlementToken",
    "InvestorRegistry",
    "AssetRegistry",
    "MeteringOracle",
    "LeaseMarket",
    "LeasePositions",
    "LeaseMarketLens",
    "YieldValuation",
    "LendingFactory",
    "PortfolioLens",
    "ShareVenue",
    "LeaseListings",
)
TEMPLATES = ("AssetShares", "LendingMarket")
#: Where an artifact's ABI lives when the manifest lacks it (the settlement token is a DevStablecoin locally).
ARTIFACT_OF = {"SettlementToken": "DevStablecoin"}


@dataclass(frozen=True)
class Manifest:
    """A deployment: chain id, first block to index, addresses, and the ABIs of every contract kind."""

    chain_id: int
    deployed_at_block: int
    addresses: dict[str, str]
    abis: dict[str, list[dict[str, Any]]]

    def address(self, name: str) -> str:
        """The address of singleton `name`, or ManifestError."""
        try:
            return self.addresses[name]
        except KeyError:
            raise ManifestError(name, "not in the deployment manifest (redeploy with scripts/deploy.py)") from None


def load_manifest(path: Path, build_dir: Path) -> Manifest:
    """Reads the manifest at `path`, filling ABIs the manifest lacks from `build_dir`."""
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise ManifestError(str(path), "no deployment manifest: run scripts/deploy.py or `make app`") from None
    except json.JSONDecodeError as exc:
        raise ManifestError(str(path), f"not JSON ({exc})") from None
    contracts = document.get("contracts", {})
    addresses: dict[str, str] = {}
    abis: dict[str, list[dict[str, Any]]] = {}
    for name in SINGLETONS:
        entry = contracts.get(name)
        if entry is None:
            raise ManifestError(str(path), f"lacks {name}")
        addresses[name] = entry["address"]
        abis[name] = entry.get("abi") or _artifact_abi(build_dir, ARTIFACT_OF.get(name, name))
    templates = document.get("abis", {})
    for name in TEMPLATES:
        abis[name] = templates.get(name) or _artifact_abi(build_dir, name)
    return Manifest(
        chain_id=int(document["chainId"]),
        deployed_at_block=int(document.get("deployedAtBlock", 0)),
        addresses=addresses,
        abis=abis,
    )


def _artifact_abi(build_dir: Path, name: str) -> list[dict[str, Any]]:
    path = build_dir / f"{name}.json"
    try:
        return list(json.loads(path.read_text())["abi"])
    except FileNotFoundError:
        raise ManifestError(str(path), "no compiled artifact: run `brownie compile`") from None
