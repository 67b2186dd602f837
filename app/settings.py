"""The app's one settings object: built once at start-up from the environment (WELLHEAD_APP_*) and flags."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent


class AppSettings(BaseSettings):
    """Where the chain, the manifest, the database and the bundle are, and how the server listens."""

    model_config = SettingsConfigDict(env_prefix="WELLHEAD_APP_", extra="forbid")

    rpc_url: str = "http://127.0.0.1:8545"
    #: The RPC URL offered to wallets in `wallet_addEthereumChain` (default: rpc_url).
    public_rpc_url: str | None = None
    chain_name: str = "Wellhead local"
    manifest: Path | None = None  # default: deployments/<chainId>.json of the node's chain
    build_dir: Path = ROOT / "build" / "contracts"
    database: Path = ROOT / ".run" / "app" / "index.sqlite"
    bundle_dir: Path = ROOT / "app" / "web" / "dist"
    static_dir: Path = ROOT / "app" / "web" / "static"
    host: str = "127.0.0.1"
    port: int = Field(default=8700, ge=0, le=65_535)
    poll_seconds: float = Field(default=1.0, gt=0)
    #: Blocks per eth_getLogs request.
    chunk_blocks: int = Field(default=2_000, gt=0)
    #: Settled epochs the yield figures look back over.
    yield_window_epochs: int = Field(default=24, gt=0)
