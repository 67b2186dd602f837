"""The deployment manifest ``deployments/<chainId>.json``: what ``scripts/deploy.py`` writes and every client
(the daemon, the admin CLI, the investor app) reads.

Shape (``deployments/README.md`` documents each field)::

    {"chainId": 31337, "deployedAtBlock": 1, "deployer": "0x..", "devStablecoin": true,
     "contracts": {"MeteringOracle": {"address": "0x..", "abi": [...]}, ...},
     "abis": {"AssetShares": [...], "LendingMarket": [...]},          # contracts deployed per asset / market
     "assets": {"1": {"shares": "0x..", "registeredAtBlock": 12}},
     "markets": [{"address": "0x..", "assetId": 1, "collateralToken": "0x..", "loanToken": "0x..",
                  "valuation": "0x..", "irm": "0x..", "lltv": 625000000000000000, "createdAtBlock": 14}],
     "discovery": {...}}                                                # how to find them on-chain

``assets`` and ``markets`` are a convenience the admin CLI keeps up to date (``register-asset``,
``create-market``, ``sync``); the chain is the authority: ``AssetRegistry.assetCount()`` /
``sharesOf(assetId)`` and ``LendingFactory``'s ``MarketCreated`` events from ``deployedAtBlock``.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from eth_utils.address import is_address, to_checksum_address
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from oracle.abi import abi_of
from oracle.errors import AdminError, InputFileError

__all__ = ["DISCOVERY", "AssetRecord", "ContractRecord", "Manifest", "MarketRecord", "load_manifest", "save_manifest"]

DISCOVERY = {
    "assets": "AssetRegistry.assetCount() gives the ids 1..n; AssetRegistry.sharesOf(assetId) each asset's "
    "AssetShares token (ABI: abis.AssetShares); event AssetRegistered(assetId, operator, shares) from "
    "deployedAtBlock",
    "markets": "LendingFactory event MarketCreated(id, market, params) from deployedAtBlock; "
    "LendingFactory.marketOf(id) (ABI: abis.LendingMarket)",
    "leasePositions": "LeaseMarket.positions() (ABI: contracts.LeasePositions)",
}
"""How a client finds the per-asset and per-market contracts on-chain without trusting this file."""


def _checksum(value: str) -> str:
    if not isinstance(value, str) or not is_address(value):
        raise ValueError(f"{value!r} is not an address")
    return to_checksum_address(value)


class ContractRecord(BaseModel):
    """One deployed contract."""

    model_config = ConfigDict(extra="allow")

    address: str
    abi: list[dict[str, Any]]

    @field_validator("address")
    @classmethod
    def _check_address(cls, value: str) -> str:
        return _checksum(value)


class AssetRecord(BaseModel):
    """One registered asset's share token."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    shares: str
    registered_at_block: int | None = Field(default=None, alias="registeredAtBlock")

    @field_validator("shares")
    @classmethod
    def _check_shares(cls, value: str) -> str:
        return _checksum(value)


class MarketRecord(BaseModel):
    """One lending market."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    address: str
    asset_id: int | None = Field(default=None, alias="assetId")
    collateral_token: str = Field(alias="collateralToken")
    loan_token: str = Field(alias="loanToken")
    valuation: str
    irm: str
    lltv: int
    created_at_block: int | None = Field(default=None, alias="createdAtBlock")


class Manifest(BaseModel):
    """A deployment manifest, and the file it came from."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    chain_id: int = Field(alias="chainId")
    deployed_at_block: int = Field(alias="deployedAtBlock")
    deployer: str | None = None
    dev_stablecoin: bool = Field(default=False, alias="devStablecoin")
    contracts: dict[str, ContractRecord]
    abis: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)
    assets: dict[str, AssetRecord] = Field(default_factory=dict)
    markets: list[MarketRecord] = Field(default_factory=list)
    discovery: dict[str, str] = Field(default_factory=lambda: dict(DISCOVERY))

    def address(self, name: str) -> str:
        """The address of contract ``name``.

        Raises:
            AdminError: the deployment has no such contract.
        """
        record = self.contracts.get(name)
        if record is None:
            raise AdminError(f"the deployment (chain {self.chain_id}) has no {name}; it has: {', '.join(self.contracts)}")
        return record.address

    def abi(self, name: str) -> list[dict[str, Any]]:
        """The ABI of ``name``: a deployed contract's, a per-asset contract's (``abis``), or the package's."""
        if name in self.contracts:
            return self.contracts[name].abi  # a linked library's is empty
        if name in self.abis:
            return self.abis[name]
        return list(abi_of(name))

    def all_abis(self) -> list[list[dict[str, Any]]]:
        """Every ABI the manifest carries (to decode any error its contracts raise)."""
        return [c.abi for c in self.contracts.values()] + list(self.abis.values())

    def resolve(self, name_or_address: str) -> str:
        """A contract name of this deployment (``LinearKinkIrm``) or an address, as a checksummed address.

        Raises:
            AdminError: neither.
        """
        if is_address(name_or_address):
            return to_checksum_address(name_or_address)
        if name_or_address in self.contracts:
            return self.contracts[name_or_address].address
        raise AdminError(f"{name_or_address!r} is neither an address nor a contract of the deployment")

    def document(self) -> dict[str, Any]:
        """The JSON document (camelCase, as deploy.py writes it)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=False)


def load_manifest(path: Path) -> Manifest:
    """Reads and validates a manifest.

    Raises:
        InputFileError: missing, not JSON, or not a manifest (the first invalid field named).
    """
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputFileError(path, "no such deployment file (scripts/deploy.py writes it)") from None
    except (OSError, ValueError) as exc:
        raise InputFileError(path, f"not a JSON deployment file ({exc})") from None
    try:
        return Manifest.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InputFileError(path, f"not a deployment file: {where}: {first['msg']}") from None


def save_manifest(manifest: Manifest, path: Path) -> None:
    """Writes ``manifest`` to ``path`` atomically (a reader never sees half a file)."""
    path = Path(path)
    text = json.dumps(manifest.document(), indent=1) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
