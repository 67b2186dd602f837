"""The daemon's one typed settings object, built once at start-up and passed down.

Sources, lowest priority first (pydantic-settings merges them field by field):

1. the defaults below;
2. the TOML file given with ``--config`` (relative paths in it are relative to the file's folder);
3. environment variables ``WELLHEAD_<FIELD>``, nested with ``__``: ``WELLHEAD_CHAIN__RPC_URL``,
   ``WELLHEAD_SUBMISSION__GAS_CAP_PER_TX``, ``WELLHEAD_POLL_INTERVAL_S`` (lists and tables as JSON);
4. command-line flags (``--rpc-url``, ``--until-epoch``..., and ``--set section.field=value`` for any field).

Secrets are :class:`pydantic.SecretStr` (the RPC URL, which often embeds an API key, and the HTTP tokens):
they print as ``**********`` in reprs, logs and ``model_dump``. Signing keys never appear here at all: only
the paths of encrypted keystores and of the files holding their passwords, or the *name* of an environment
variable holding a development key.

See docs/oracle.example.toml for a fully commented file.
"""

from __future__ import annotations

import contextvars
import logging
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from eth_utils.address import is_address, to_checksum_address
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from oracle.errors import SettingsError
from oracle.redact import redacted_url

__all__ = [
    "AssetsSettings",
    "ChainSettings",
    "CosignSettings",
    "KeeperSettings",
    "KeystoreEntry",
    "NvmlSettings",
    "OpsSettings",
    "OracleSettings",
    "OutboxSettings",
    "PeerSettings",
    "PrometheusSettings",
    "RecordingSettings",
    "SignerSettings",
    "SimulatorSettings",
    "SourceSettings",
    "SubmissionSettings",
    "load_settings",
    "nested_override",
    "parse_override",
]

logger = logging.getLogger(__name__)

ENV_PREFIX = "WELLHEAD_"

_TOML_DATA: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("_TOML_DATA", default=None)

# Path fields of the file that are resolved relative to the file's folder (dotted; "*" = every list item).
_PATH_FIELDS = (
    "chain.deployment",
    "signers.keystores.*.path",
    "signers.keystores.*.password_file",
    "source.recording.path",
    "assets.map",
    "assets.curtailments",
    "outbox.path",
)

Address = Annotated[str, Field(description="an Ethereum address (any case; stored checksummed)")]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _checksum(value: str | None) -> str | None:
    if value is None:
        return None
    if not is_address(value):
        raise ValueError(f"{value!r} is not an Ethereum address")
    return to_checksum_address(value)


# --- chain -------------------------------------------------------------------------------------------


class ChainSettings(_Section):
    """Where the MeteringOracle lives."""

    rpc_url: SecretStr | None = None
    """JSON-RPC endpoint (http/https). Secret: provider URLs often embed an API key."""
    chain_id: int = Field(ge=1)
    """The chain id the daemon expects; start-up fails on any other."""
    deployment: Path | None = None
    """deployments/<chainId>.json written by scripts/deploy.py (addresses and ABIs)."""
    oracle_address: Address | None = None
    """The MeteringOracle's address, when there is no deployment file (or to pick one from it)."""
    lease_market_address: Address | None = None
    """The LeaseMarket (keeper duty), when there is no deployment file."""
    rpc_timeout_s: float = Field(default=10.0, gt=0)
    rpc_retries: int = Field(default=3, ge=0, le=20)
    """Retries of one RPC call on connection errors and timeouts, with exponential backoff and jitter."""

    @field_validator("oracle_address", "lease_market_address")
    @classmethod
    def _addresses(cls, value: str | None) -> str | None:
        return _checksum(value)

    @model_validator(mode="after")
    def _oracle_located(self) -> Self:
        if self.deployment is None and self.oracle_address is None:
            raise ValueError("set chain.deployment (deployments/<chainId>.json) or chain.oracle_address")
        return self

    def redacted_url(self) -> str:
        """The RPC URL without its user-info, path and query (where providers put API keys)."""
        if self.rpc_url is None:
            return "(none)"
        return redacted_url(self.rpc_url.get_secret_value())


# --- signers -----------------------------------------------------------------------------------------


class KeystoreEntry(_Section):
    """One encrypted keystore (eth-account JSON) and the file holding its password."""

    path: Path
    password_file: Path

    @model_validator(mode="after")
    def _files_exist(self) -> Self:
        if not self.path.is_file():
            raise ValueError(f"keystore {self.path} does not exist (or is not a file)")
        if not self.password_file.is_file():
            raise ValueError(f"keystore password file {self.password_file} does not exist (or is not a file)")
        return self


class SignerSettings(_Section):
    """The oracle keys this daemon holds itself (co-signing peers hold the others)."""

    keystores: list[KeystoreEntry] = Field(default_factory=list)
    dev_key_env: str | None = None
    """DEVELOPMENT ONLY: the *name* of an environment variable holding a raw hex private key."""
    sender: Address | None = None
    """Which local signer pays for the transactions (default: the first keystore, else the dev key)."""

    @field_validator("sender")
    @classmethod
    def _sender_address(cls, value: str | None) -> str | None:
        return _checksum(value)

    @field_validator("dev_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and (not value or not value.replace("_", "").isalnum() or value[0].isdigit()):
            raise ValueError(f"{value!r} is not an environment variable name (give the name, never the key)")
        return value


# --- metric sources ----------------------------------------------------------------------------------


class PrometheusSettings(_Section):
    """The Prometheus (or Thanos, or any Prometheus-compatible) HTTP API that scrapes dcgm-exporter."""

    url: str = "http://127.0.0.1:9090"
    selector: str = ""
    """Extra label matchers for the DCGM series, e.g. ``Hostname=~"h100-.*"`` (without braces)."""
    mode: Literal["raw", "range"] = "raw"
    """``raw``: instant queries of range vectors, which return the samples as scraped (exact gaps);
    ``range``: ``query_range`` at step = scrape interval with ``timestamp()`` to drop look-back repeats."""
    max_points_per_series: int = Field(default=11_000, ge=10, le=11_000)
    """Queries are cut into time chunks so that no series returns more points than this (Prometheus
    refuses range queries over 11,000 points per series)."""
    timeout_s: float = Field(default=30.0, gt=0)
    ingest_delay_s: float | None = Field(default=None, ge=0)
    """Data older than now minus this is complete (default: two scrape intervals)."""
    bearer_token: SecretStr | None = None


class RecordingSettings(_Section):
    """A recorded OpenMetrics/Prometheus text file (plain or gzipped)."""

    path: Path
    format: Literal["auto", "openmetrics", "prometheus"] = "auto"


class NvmlSettings(_Section):
    """NVML on this host (nvidia-ml-py): the daemon samples the GPUs itself into a ring buffer."""

    buffer_s: int = Field(default=4 * 3600, ge=60)
    """How much history the ring buffer keeps (it should exceed an epoch plus the look-back)."""
    hostname: str | None = None


class SimulatorWindow(_Section):
    """A window ``[start, end)`` (Unix s) of an asset or a GPU."""

    asset: int | None = None
    gpu: str | None = None
    start: int
    end: int
    code: int = 79

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end <= self.start:
            raise ValueError(f"window end {self.end} must be after its start {self.start}")
        return self


class SimulatorReset(_Section):
    """An energy-counter reset (driver reload) of one GPU at Unix time ``at``."""

    gpu: str
    at: int


class SimulatorSettings(_Section):
    """A deterministic simulated fleet over the asset map's GPUs (demos, benches, tests)."""

    seed: int = 1
    start: int
    """Unix time (s) of the first scrape."""
    end: int | None = None
    """Unix time (s) of the last scrape; None follows the wall clock."""
    jitter_ms: int = Field(default=0, ge=0)
    power_w: dict[int, int] = Field(default_factory=dict)
    """Rated power per GPU by asset id (W); 700 when absent."""
    outages: list[SimulatorWindow] = Field(default_factory=list)
    """Exporter unreachable: no scrape of the asset's GPUs."""
    vanished: list[SimulatorWindow] = Field(default_factory=list)
    """One GPU missing from the scrapes."""
    xid: list[SimulatorWindow] = Field(default_factory=list)
    """One GPU reporting XID ``code``."""
    idle: list[SimulatorWindow] = Field(default_factory=list)
    """The asset's GPUs at 0 % utilisation (e.g. a grid demand-response window)."""
    counter_resets: list[SimulatorReset] = Field(default_factory=list)


class SourceSettings(_Section):
    """Where the meter readings come from, and the windows every epoch is aggregated over.

    Every member of a quorum must use the same ``scrape_interval_s``, ``grace_s`` and ``outage_after_s``:
    they fix the data each epoch is computed from and when a silent GPU counts as an outage, so that
    independent parties get the same numbers. ``lookback_s`` only sets where fetching starts (the window
    widens back to each GPU's previous scrape), so it need not match.
    """

    kind: Literal["prometheus", "nvml", "recording", "simulator"]
    scrape_interval_s: Decimal = Decimal(15)
    lookback_s: int = Field(default=600, ge=0)
    """Readings this long before an epoch's start are fetched too, so that an interval straddling the start
    (an exporter gap up to this long included) still counts its share of energy."""
    grace_s: Decimal | None = None
    """How long after an epoch's end the source must have data before the epoch is aggregated, and how far
    past the end readings are fetched first (default: one scrape interval)."""
    outage_after_s: int | None = Field(default=900, ge=0)
    """The outage horizon. An asset's epoch in which a GPU has no scrape at or after the epoch's end yet (an
    exporter gap, a GPU gone, no series at all) is held unsigned until the GPU scrapes again or the source
    covers the epoch's end plus this long; then it is posted as measured (an outage), and an interval that
    closes later adds nothing to it. ``wellhead-oracle outage`` releases held epochs sooner. Every member of a
    quorum must use the same value; ``oracle aggregate --outage-after`` applies the same rule."""
    max_lookback_s: int = Field(default=86_400, ge=0)
    """How far before an epoch's start a GPU's previous scrape is looked for when the first window has none
    (an exporter gap straddling the start longer than this loses its part before the limit)."""
    prometheus: PrometheusSettings | None = None
    recording: RecordingSettings | None = None
    nvml: NvmlSettings | None = None
    simulator: SimulatorSettings | None = None

    @field_validator("scrape_interval_s")
    @classmethod
    def _ms_precision(cls, value: Decimal) -> Decimal:
        if value <= 0 or (value * 1000) != (value * 1000).to_integral_value():
            raise ValueError(f"{value} must be a positive number of seconds with at most millisecond precision")
        return value

    @model_validator(mode="after")
    def _section_present(self) -> Self:
        section = getattr(self, self.kind)
        if section is None and self.kind in ("recording", "simulator"):
            raise ValueError(f"source.kind is {self.kind!r} but the [source.{self.kind}] table is missing")
        if self.grace_s is not None and self.grace_s < 0:
            raise ValueError("source.grace_s must not be negative")
        return self

    @property
    def scrape_interval_ms(self) -> int:
        """The scrape interval in ms."""
        return int(self.scrape_interval_s * 1000)

    @property
    def grace_ms(self) -> int:
        """The grace period in ms (default one scrape interval)."""
        return int((self.grace_s if self.grace_s is not None else self.scrape_interval_s) * 1000)

    @property
    def outage_after_ms(self) -> int | None:
        """The outage horizon in ms (None: none, held epochs wait for a scrape or an operator)."""
        return None if self.outage_after_s is None else self.outage_after_s * 1000


class AssetsSettings(_Section):
    """Which GPUs make which asset (and the grid curtailment windows)."""

    map: Path
    curtailments: Path | None = None


class OutboxSettings(_Section):
    """The durable SQLite outbox."""

    path: Path = Path("outbox.sqlite")
    quarantine_cap_per_epoch: int = Field(default=1_000, ge=0)
    """Rejected readings kept per epoch (the rest are only counted)."""


class OpsSettings(_Section):
    """Metrics, health and logs."""

    enabled: bool = True
    """Serve ``/metrics`` and ``/health``."""
    host: str = "127.0.0.1"
    port: int | None = Field(default=9464, ge=0, le=65535)
    """Their port; 0 picks a free one (logged); None (from Python) is the same as ``enabled = false``."""
    max_epochs_behind: int = Field(default=2, ge=0)
    """``/health`` says degraded when more ended epochs than this are not posted yet."""
    log_format: Literal["json", "text"] = "json"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class SubmissionSettings(_Section):
    """How reports become transactions."""

    mode: Literal["batch", "root", "root_only"] = "batch"
    """``batch``: the quorum signs each batch of reports and it is posted with ``submit``. ``root``: the quorum
    signs one Merkle root per epoch (``commitRoot``) and the reports follow with ``proveReports``, which needs
    no signatures; for fleets with many assets per epoch (see docs/operators.md for the gas trade-off).
    ``root_only``: one signed root per epoch and nothing else on chain, whatever the fleet size; each epoch's
    leaves and proofs are published (``publish_dir`` and the ops server's ``/epochs``) and reports are proven
    where they are used, at settlement (``python -m oracle keep``)."""
    publish_dir: Path | None = None
    """Where each committed epoch's leaves and proofs are written (``epoch-<N>.json``); required by
    ``root_only``, optional in ``root`` mode."""
    gas_cap_per_tx: int = Field(default=3_000_000, ge=100_000)
    """A batch whose estimated gas exceeds this is split in halves (proof batches too)."""
    max_reports_per_tx: int = Field(default=50, ge=1, le=1_000)
    gas_margin_percent: int = Field(default=20, ge=0, le=200)
    """Gas limit = estimate plus this margin (never above the cap)."""
    confirmations: int = Field(default=1, ge=1)
    """Blocks (the inclusion block counts as one) before a mined transaction is final in the outbox; raise it on
    chains that reorganise (a reorganised-away transaction is simply still pending)."""
    replace_after_blocks: int = Field(default=3, ge=1)
    """A transaction not mined after this many blocks is replaced (same nonce, bumped fees)."""
    fee_bump_percent: Decimal = Field(default=Decimal("12.5"), ge=10)
    """Replacement fee increase; nodes (geth) require at least +10 %."""
    max_fee_per_gas_wei: int = Field(default=500 * 10**9, ge=1)
    """Never pay more than this per gas (base fee plus tip)."""
    max_priority_fee_per_gas_wei: int = Field(default=5 * 10**9, ge=0)
    retry_base_s: float = Field(default=1.0, gt=0)
    retry_max_s: float = Field(default=60.0, gt=0)
    max_epochs_per_step: int = Field(default=24, ge=1)
    """At most this many epochs are aggregated per loop step while catching up."""
    max_in_flight: int = Field(default=16, ge=1, le=256)
    """At most this many of the sender's nonces pending at once (Chainlink's ``MaxInFlight``). In batch mode a
    step sends signed batches back to back, with consecutive nonces, without waiting for receipts (each estimated
    against the node's pending state, so epoch e+1 of an asset may follow epoch e in flight); in root-only mode
    several epochs' roots are committed together (catching up); root mode (commit, then proofs) and the keeper
    duty send one at a time. 1 is one transaction at a time in every mode."""

    @model_validator(mode="after")
    def _root_only_publishes(self) -> Self:
        if self.mode == "root_only" and self.publish_dir is None:
            raise ValueError("submission.mode = 'root_only' needs submission.publish_dir (keepers read the proofs)")
        return self


class KeeperSettings(_Section):
    """Optional duty: settle the assets' epochs on the LeaseMarket once their reports are posted."""

    enabled: bool = False


class PeerSettings(_Section):
    """A co-signing peer (another party of the quorum running ``oracle cosign``)."""

    name: str
    url: str
    token: SecretStr | None = None


class CosignSettings(_Section):
    """Co-signing: the peers this daemon asks, and the endpoint ``oracle cosign`` serves."""

    peers: list[PeerSettings] = Field(default_factory=list)
    timeout_s: float = Field(default=30.0, gt=0)
    listen_host: str = "127.0.0.1"
    listen_port: int = Field(default=9470, ge=0, le=65535)
    auth_token: SecretStr | None = None
    """When set, ``oracle cosign`` requires ``Authorization: Bearer <token>`` (compared in constant time)."""
    read_timeout_s: float = Field(default=30.0, gt=0)
    """``oracle cosign``: a client must send its whole request within this long (slow clients are cut off)."""
    max_body_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    """``oracle cosign``: the largest request body read."""
    max_connections: int = Field(default=32, ge=1)
    """``oracle cosign``: connections served at once (more are closed at once)."""


# --- the whole -----------------------------------------------------------------------------------------


class _TomlSource(PydanticBaseSettingsSource):
    """The parsed TOML file (set by :func:`load_settings` for the duration of one build)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover - unused
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_TOML_DATA.get() or {})


class OracleSettings(BaseSettings):
    """Everything the daemon, the co-signer and the status command need. Build it with :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        validate_default=True,
    )

    chain: ChainSettings
    signers: SignerSettings = SignerSettings()
    source: SourceSettings
    assets: AssetsSettings
    outbox: OutboxSettings = OutboxSettings()
    ops: OpsSettings = OpsSettings()
    submission: SubmissionSettings = SubmissionSettings()
    keeper: KeeperSettings = KeeperSettings()
    cosign: CosignSettings = CosignSettings()
    poll_interval_s: float = Field(default=5.0, gt=0)
    """Pause between two loop steps (a step never overlaps the next)."""
    until_epoch: int | None = Field(default=None, ge=0)
    """Exit 0 once every asset has posted through this epoch (demos and tests)."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Flags (init) over environment over the TOML file (no dotenv, no secrets dir)."""
        return (init_settings, env_settings, _TomlSource(settings_cls))

    def describe(self) -> dict[str, Any]:
        """The settings as JSON-able data with every secret masked (for logs and ``--print-settings``)."""
        return self.model_dump(mode="json")


    def secret_urls(self) -> list[str]:
        """URLs that may carry credentials (the RPC node's, Prometheus'): never shown whole."""
        urls = [self.chain.rpc_url.get_secret_value()] if self.chain.rpc_url is not None else []
        if self.source.prometheus is not None:
            urls.append(self.source.prometheus.url)
        return urls

    def log_warnings(self) -> None:
        """Log what is risky in these settings (once logging is configured, so that it is JSON like the rest)."""
        if self.signers.dev_key_env:
            logger.warning(
                "DEVELOPMENT KEY CONFIGURED: signers.dev_key_env=%s reads a raw private key from the environment; "
                "never do this in production (use signers.keystores)",
                self.signers.dev_key_env,
                extra={"event": "dev_key_configured"},
            )

def parse_override(text: str) -> tuple[list[str], Any]:
    """``section.field=value`` (a ``--set`` flag) as a key path and a value; the value is read as a TOML
    value when it is one (``3``, ``true``, ``"x"``, ``[1, 2]``), else kept as a string.

    Raises:
        SettingsError: no ``=`` or an empty key.
    """
    key, sep, raw = text.partition("=")
    path = [part.strip() for part in key.strip().split(".")]
    if not sep or not all(path):
        raise SettingsError([f"--set {text!r}: expected section.field=value"])
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return path, value


def load_settings(config_file: str | Path | None = None, overrides: dict[str, Any] | None = None) -> OracleSettings:
    """Build the settings from the TOML file, the environment and the flags (highest priority).

    Args:
        config_file: the TOML file (None: environment and flags only).
        overrides: values from command-line flags, nested like the file (``{"chain": {"rpc_url": ...}}``).

    Raises:
        SettingsError: the file is missing or not TOML, or a value is invalid (one line per problem).
    """
    data: dict[str, Any] = {}
    if config_file is not None:
        path = Path(config_file)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SettingsError([f"config file {path}: no such file"]) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise SettingsError([f"config file {path}: cannot read ({exc})"]) from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError([f"config file {path}: invalid TOML: {exc}"]) from None
        _resolve_paths(data, path.resolve().parent)
    token = _TOML_DATA.set(data)
    try:
        settings = OracleSettings(**(overrides or {}))
    except ValidationError as exc:
        raise SettingsError(_problems(exc)) from None
    finally:
        _TOML_DATA.reset(token)
    return settings


def nested_override(path: list[str], value: Any, into: dict[str, Any] | None = None) -> dict[str, Any]:
    """Put ``value`` at ``path`` in a nested dict (creating the tables on the way)."""
    out = into if into is not None else {}
    node = out
    for part in path[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise SettingsError([f"{'.'.join(path)}: {part} is not a table"])
    node[path[-1]] = value
    return out


def _resolve_paths(data: dict[str, Any], base: Path) -> None:
    for dotted in _PATH_FIELDS:
        _resolve(data, dotted.split("."), base)


def _resolve(node: Any, parts: list[str], base: Path) -> None:
    if not parts:
        return
    head, rest = parts[0], parts[1:]
    if head == "*":
        if isinstance(node, list):
            for item in node:
                _resolve(item, rest, base)
        return
    if not isinstance(node, dict) or head not in node:
        return
    if rest:
        _resolve(node[head], rest, base)
    elif isinstance(node[head], str) and node[head] and not Path(node[head]).expanduser().is_absolute():
        node[head] = str(base / node[head])
    elif isinstance(node[head], str):
        node[head] = str(Path(node[head]).expanduser())


def _problems(exc: ValidationError) -> list[str]:
    problems = []
    for err in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        message = err["msg"].removeprefix("Value error, ")
        problems.append(f"{where}: {message}")
    return problems
