"""The oracle daemon: every epoch of every asset, from the meters to the MeteringOracle, exactly once, in order.

Lifecycle (pymaker's ``Lifecycle`` idea): start-up checks that fail fast, then a loop of *steps* that never
overlap (``threading.Event.wait`` between them, so SIGTERM ends the wait at once), then a clean exit that
finishes the current step and closes the outbox. A step:

1. **refresh**: the latest block (time, base fee), the oracle's config version, threshold and signer set,
   and every asset's cursor. If the node is unreachable the step goes on with the last view (its time
   extrapolated with the local clock) so that measurements still reach the outbox.
2. **reconcile** pending transactions (mined, dropped because their nonce was taken, replaced when stuck,
   rebroadcast when the node forgot them) - see :mod:`oracle.submitter`.
3. **done elsewhere**: reports below an asset's on-chain cursor that no transaction of ours landed are
   marked done; the chain's report is compared with ours (a mismatch is logged, counted and recorded).
4. **aggregate** every epoch that is *ready* (the chain's time is past its end and the source covers its
   end plus the grace period) and not yet in the outbox, from the asset's cursor on: this is how the
   daemon catches up after downtime. Each epoch is computed from the fixed window
   ``[start - lookback, end + grace]``, so anyone with the same data gets the same numbers. Reports and
   rejected readings are committed to the outbox before anything is signed.
5. **post**: one transaction in flight at a time. A live batch without a pending transaction (signed
   before a crash, or whose transaction was dropped) is sent again; otherwise the next reports (each
   asset's epochs contiguous from its cursor, mixed across assets) are signed - by the local signers and,
   below the threshold, by the co-signing peers - committed as a batch, estimated, halved until they fit
   under the gas cap, and sent.

   Root mode (``submission.mode = "root"``), per ready epoch instead: the Merkle tree of all its reports
   (leaves: their EIP-712 struct hashes, ascending assetId) is built and the quorum signs its ``ReportRoot``
   digest (co-signing peers rebuild the tree from their own meters); the root and its leaf order are committed
   to the outbox, then ``commitRoot`` is sent. Once the root is committed (by us, or by anyone: ``rootOf``
   holds the same root), the reports follow with ``proveReports``, which needs no signatures, in batches
   halved under the gas cap like signed ones, each asset's epochs in order from its cursor. A *different*
   root already on chain for the epoch is a conflict (logged, counted, recorded in ``events``): that epoch's
   reports are signed and submitted in batches instead (each is still valid on its own). Whatever the mode,
   work in flight of the other one (a live batch, a live root) is finished first.
6. **keeper** (optional): ``LeaseMarket.settleThrough`` for assets whose posted epochs are not settled.

``--until-epoch N`` ends the loop (exit 0) once every asset's cursor is past N.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from oracle.aggregate import AggregationConfig, aggregate
from oracle.assets import load_asset_map, load_curtailments
from oracle.chain import BlockView, ChainClient, Deployment, load_deployment
from oracle.cosign import NotReady, PeerClient, collect_quorum, signature_from_json, signature_to_json
from oracle.eip712 import Eip712Domain, batch_digest, report_struct_hash, root_digest
from oracle.errors import (
    ChainUnavailable,
    ConfigError,
    SourceError,
    StartupCheckError,
    SubmissionError,
    TransitionError,
    WellheadError,
)
from oracle.metrics import HealthState, OracleMetrics
from oracle.models import AssetEpochStats, AssetMap, CurtailmentWindow, Rejection, Report
from oracle.outbox import LIVE_ROOT_STATES, BatchRow, Outbox, ReportRow, RootRow
from oracle.roots import EpochTree, build_epoch_tree, leaves_digest, rebuild_tree
from oracle.settings import OracleSettings
from oracle.signer import EnvSigner, KeystoreSigner, Signer
from oracle.sources.base import MetricBatch, MetricSource, ReadingColumns, ScrapeGrid
from oracle.submitter import FeePolicy, TxManager, fit_first_group

__all__ = [
    "ChainView",
    "Daemon",
    "EpochAggregator",
    "EpochResults",
    "build_peers",
    "build_signers",
    "build_source",
    "crash_hook_from_env",
    "source_coverage_ms",
]

logger = logging.getLogger(__name__)

CRASH_ENV = "WELLHEAD_TEST_CRASH_AFTER"
"""Test-only: ``signed``, ``submitted``, ``root_signed`` or ``root_committed`` makes the daemon SIGKILL itself right
after that durable step (a signed batch stored; a transaction stored and broadcast; a signed root stored; a root
recorded as committed on chain)."""

_CURSOR_ERRORS = frozenset({"EpochAlreadyReported", "EpochGap"})
_SIGNATURE_ERRORS = frozenset(
    {
        "ConfigVersionMismatch",
        "SignerSetMismatch",
        "NotSigner",
        "QuorumNotReached",
        "SignersNotAscending",
        "InvalidSignature",
        "HighSSignature",
    }
)
_ASSET_ERRORS = frozenset(
    {
        "UnknownAsset",
        "AssetNotActive",
        "ReportingNotStarted",
        "GpuSecondsOutOfBounds",
        "UtilizationOutOfBounds",
        "EnergyOutOfBounds",
        "InvalidProof",
    }
)
_ZERO_ROOT = bytes(32)


# --- sources -----------------------------------------------------------------------------------------


def source_coverage_ms(source: MetricSource) -> int | None:
    """The latest time (Unix ms) the source can vouch for: live sources say so (``covered_until_ms``); a
    recording's is its last reading (data-determined)."""
    covered = getattr(source, "covered_until_ms", None)
    if callable(covered):
        return covered()  # type: ignore[no-any-return]
    return source.fetch().covered_until_ms


@dataclass
class EpochResults:
    """What :meth:`EpochAggregator.compute` produced."""

    stats: dict[tuple[int, int], AssetEpochStats] = field(default_factory=dict)
    rejections: list[tuple[int | None, Rejection]] = field(default_factory=list)
    readings: int = 0

    def reports(self) -> dict[tuple[int, int], Report]:
        """(assetId, epoch) -> report."""
        return {key: stats.report for key, stats in self.stats.items()}


class EpochAggregator:
    """Aggregates epochs from a source, each over its own fixed window ``[start - lookback, end + grace]``.

    Fixed windows make the numbers reproducible: the daemon catching up a day later, a co-signer, an auditor
    all compute an epoch from the same readings, however the fetches were cut.

    Args:
        source: the metric source.
        assets: the asset map (the epoch clock and which GPUs make which asset).
        config: the aggregation rules (scrape interval).
        curtailments: grid demand-response windows.
        lookback_ms: readings this long before an epoch's start are used (an interval straddling the start).
        grace_ms: readings this long after its end are used, and must be covered before it is ready.
        chunk_gpus: fleets larger than this are fetched and aggregated in groups of whole assets, when the
            source can fetch a subset (the simulator's ``fetch_rows``).
    """

    def __init__(
        self,
        source: MetricSource,
        assets: AssetMap,
        *,
        config: AggregationConfig,
        curtailments: Sequence[CurtailmentWindow] = (),
        lookback_ms: int = 600_000,
        grace_ms: int | None = None,
        chunk_gpus: int = 20_000,
    ) -> None:
        self.source = source
        self.assets = assets
        self.config = config
        self.curtailments = list(curtailments)
        self.lookback_ms = lookback_ms
        self.grace_ms = config.scrape_interval_ms if grace_ms is None else grace_ms
        self.chunk_gpus = chunk_gpus
        self._genesis_ms = assets.genesis * 1000
        self._epoch_ms = assets.epoch_length * 1000

    def epoch_end_s(self, epoch: int) -> int:
        """Unix time (s) at which ``epoch`` ends."""
        return self.assets.genesis + (epoch + 1) * self.assets.epoch_length

    def window_ms(self, epoch: int) -> tuple[int, int]:
        """``[start - lookback, end + grace]`` of ``epoch`` in Unix ms."""
        start = self._genesis_ms + epoch * self._epoch_ms
        return start - self.lookback_ms, start + self._epoch_ms + self.grace_ms

    def ready_through(self, chain_time_s: int, coverage_ms: int | None = None) -> int | None:
        """The last epoch that has ended by ``chain_time_s`` and whose end plus grace the source covers.

        Raises:
            SourceError: the source's coverage cannot be read.
        """
        ended = (chain_time_s - self.assets.genesis) // self.assets.epoch_length - 1
        coverage = source_coverage_ms(self.source) if coverage_ms is None else coverage_ms
        if coverage is None:
            return None
        covered = (coverage - self.grace_ms - self._genesis_ms) // self._epoch_ms - 1
        last = min(ended, covered)
        return last if last >= 0 else None

    def compute(self, first: int, last: int) -> EpochResults:
        """Every asset's report for epochs ``first..last`` (inclusive).

        Raises:
            SourceError: the source could not deliver (never turned into zeros).
        """
        results = EpochResults()
        lo = self.window_ms(first)[0]
        hi = self.window_ms(last)[1]
        fetch_rows = getattr(self.source, "fetch_rows", None)
        total_gpus = sum(len(spec.gpus) for spec in self.assets.assets.values())
        if callable(fetch_rows) and total_gpus > self.chunk_gpus:
            row_of = {uuid: i for i, uuid in enumerate(getattr(self.source, "uuids", []))}
            for group in self._asset_groups():
                sub = AssetMap.model_validate(
                    {
                        "genesis": self.assets.genesis,
                        "epochLength": self.assets.epoch_length,
                        "assets": {str(a): self.assets.assets[a].model_dump() for a in group},
                    }
                )
                rows = np.array([row_of[u] for a in group for u in self.assets.assets[a].gpus], dtype=np.int64)
                batch = fetch_rows(rows, lo, hi)
                self._aggregate_epochs(batch, sub, first, last, results)
        else:
            batch = self.source.fetch(lo, hi)
            self._aggregate_epochs(batch, self.assets, first, last, results)
        return results

    def reports_for(self, keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], Report]:
        """Reports for (assetId, epoch) keys (the co-signer's view).

        Raises:
            NotReady: the source does not cover the last epoch's end plus grace yet.
            SourceError: the source could not deliver.
        """
        keys = list(keys)
        epochs = sorted({e for _, e in keys})
        coverage = source_coverage_ms(self.source)
        needed = self.window_ms(epochs[-1])[1]
        if coverage is None or coverage < needed:
            raise NotReady(f"the source covers until {coverage} ms, epoch {epochs[-1]} needs {needed} ms")
        out: dict[tuple[int, int], Report] = {}
        for epoch in epochs:
            out.update(self.compute(epoch, epoch).reports())
        return {key: out[key] for key in keys if key in out}

    def _asset_groups(self) -> list[list[int]]:
        groups: list[list[int]] = [[]]
        count = 0
        for asset_id in sorted(self.assets.assets):
            n = len(self.assets.assets[asset_id].gpus)
            if groups[-1] and count + n > self.chunk_gpus:
                groups.append([])
                count = 0
            groups[-1].append(asset_id)
            count += n
        return groups

    def _aggregate_epochs(
        self, batch: MetricBatch, assets: AssetMap, first: int, last: int, results: EpochResults
    ) -> None:
        windows = [w for w in self.curtailments if w.asset_id in assets.assets]
        for epoch in range(first, last + 1):
            lo, hi = self.window_ms(epoch)
            sub = _slice(batch, lo, hi, keep_source_rejections=epoch == first)
            result = aggregate(
                sub,
                assets,
                config=self.config,
                curtailments=windows,
                first_epoch=epoch,
                covered_until_ms=self._genesis_ms + (epoch + 1) * self._epoch_ms,
            )
            results.readings += result.readings_total
            for aggregate_epoch in result.epochs:
                for stats in aggregate_epoch.assets:
                    results.stats[(stats.report.asset_id, aggregate_epoch.epoch)] = stats
            start, end = hi - self.grace_ms - self._epoch_ms, hi - self.grace_ms
            for rejection in result.rejections:
                ts = rejection.timestamp_ms
                if ts is None:
                    if epoch == first:
                        results.rejections.append((None, rejection))
                elif start <= ts < end:
                    results.rejections.append((epoch, rejection))


def _slice(batch: MetricBatch, lo: int, hi: int, *, keep_source_rejections: bool) -> MetricBatch:
    """The readings of ``batch`` with timestamps in ``[lo, hi]``."""
    data = batch.data
    rejections = batch.rejections if keep_source_rejections else ()
    if isinstance(data, ReadingColumns):
        mask = (data.ts_ms >= lo) & (data.ts_ms <= hi)
        return MetricBatch(data=data.select(mask), rejections=rejections, covered_from_ms=lo, covered_until_ms=hi)
    grid: ScrapeGrid = data
    inside = (grid.ts_ms >= lo) & (grid.ts_ms <= hi)
    present = inside if grid.present is None else grid.present & inside
    cols = np.flatnonzero(present.any(axis=0))
    if cols.size == 0:
        a, b = 0, 0
    else:
        a, b = int(cols[0]), int(cols[-1]) + 1
    cropped = ScrapeGrid(
        uuids=grid.uuids,
        ts_ms=grid.ts_ms[:, a:b],
        util_pct=grid.util_pct[:, a:b],
        power_w=grid.power_w[:, a:b],
        energy_mj=grid.energy_mj[:, a:b],
        xid=grid.xid[:, a:b],
        present=present[:, a:b],
        gpu_labels=grid.gpu_labels,
    )
    return MetricBatch(data=cropped, rejections=rejections, covered_from_ms=lo, covered_until_ms=hi)


def build_source(settings: OracleSettings, assets: AssetMap) -> MetricSource:
    """The metric source the settings describe.

    Raises:
        ConfigError: the source's table is missing.
    """
    src = settings.source
    interval = src.scrape_interval_ms
    if src.kind == "prometheus":
        from oracle.sources.prometheus import PrometheusSource

        p = src.prometheus
        if p is None:
            raise ConfigError("source.kind is 'prometheus' but [source.prometheus] is missing")
        return PrometheusSource(
            p.url,
            scrape_interval_ms=interval,
            selector=p.selector,
            mode=p.mode,
            max_points_per_series=p.max_points_per_series,
            timeout_s=p.timeout_s,
            ingest_delay_ms=None if p.ingest_delay_s is None else int(p.ingest_delay_s * 1000),
            bearer_token=p.bearer_token.get_secret_value() if p.bearer_token else None,
        )
    if src.kind == "recording":
        from oracle.sources.recording import RecordingSource

        if src.recording is None:
            raise ConfigError("source.kind is 'recording' but [source.recording] is missing")
        return RecordingSource(src.recording.path, fmt=src.recording.format)
    if src.kind == "nvml":
        from oracle.sources.nvml import NvmlSource

        n = src.nvml
        return NvmlSource(
            scrape_interval_ms=interval,
            buffer_s=n.buffer_s if n else 4 * 3600,
            hostname=n.hostname if n else None,
        )
    from oracle.sources.simulator import AssetWindow, CounterReset, FleetSimulator, GpuWindow

    sim = src.simulator
    if sim is None:
        raise ConfigError("source.kind is 'simulator' but [source.simulator] is missing")

    def asset_windows(items: Sequence[Any]) -> list[AssetWindow]:
        return [AssetWindow(int(w.asset), w.start, w.end) for w in items if w.asset is not None]

    def gpu_windows(items: Sequence[Any]) -> list[GpuWindow]:
        return [GpuWindow(str(w.gpu), w.start, w.end, w.code) for w in items if w.gpu is not None]

    return FleetSimulator(
        assets,
        start_s=sim.start,
        end_s=sim.end,
        scrape_interval_ms=interval,
        seed=sim.seed,
        power_w=dict(sim.power_w),
        jitter_ms=sim.jitter_ms,
        outages=asset_windows(sim.outages),
        vanished=gpu_windows(sim.vanished),
        xid=gpu_windows(sim.xid),
        idle=asset_windows(sim.idle),
        resets=[CounterReset(r.gpu, r.at) for r in sim.counter_resets],
    )


def build_signers(settings: OracleSettings) -> list[Signer]:
    """The local signers: every keystore, then the development key (with its warning).

    Raises:
        oracle.errors.SigningError: a keystore or the development key cannot be used.
    """
    signers: list[Signer] = [KeystoreSigner(k.path, k.password_file) for k in settings.signers.keystores]
    if settings.signers.dev_key_env:
        signers.append(EnvSigner(settings.signers.dev_key_env))
    return signers


def build_peers(settings: OracleSettings) -> list[PeerClient]:
    """Clients of the configured co-signing peers."""
    return [
        PeerClient(
            p.name, p.url, token=p.token.get_secret_value() if p.token else None, timeout_s=settings.cosign.timeout_s
        )
        for p in settings.cosign.peers
    ]


def crash_hook_from_env() -> Callable[[str], None]:
    """Test-only crash points: ``WELLHEAD_TEST_CRASH_AFTER=signed|submitted|root_signed|root_committed`` SIGKILLs
    the process right after that step is durable (no cleanup runs, as after a power cut)."""
    target = os.environ.get(CRASH_ENV, "").strip()
    if not target:
        return lambda step: None

    def hook(step: str) -> None:
        if step == target:
            logger.critical("test crash point %r reached: SIGKILL", step, extra={"event": "test_crash", "step": step})
            for handler in logging.getLogger().handlers:
                handler.flush()
            os.kill(os.getpid(), signal.SIGKILL)

    return hook


# --- the daemon ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainView:
    """What one step knows of the chain."""

    block: BlockView
    observed_at: float
    """``time.monotonic()`` when it was read."""
    config_version: int
    threshold: int
    signer_set: list[str]
    cursors: dict[int, tuple[int, bool]]

    def next_epoch(self, asset_id: int) -> int:
        """The epoch the oracle expects next for ``asset_id``."""
        return self.cursors[asset_id][0]


@dataclass
class _Blocked:
    epoch: int
    reason: str
    failures: int
    retry_at: float


class Daemon:
    """The loop (see the module docstring). Build it with :meth:`from_settings`, or inject its parts (tests).

    Args:
        settings: the settings.
        chain: the chain client.
        deployment: where the oracle (and lease market) live.
        source: the metric source.
        assets: the asset map.
        signers: local signers; the first one in the set (or ``signers.sender``) pays for transactions.
        outbox: the durable outbox.
        peers: co-signing peers.
        metrics, health: what ``/metrics`` and ``/health`` show.
        stop: set by SIGTERM; ends the loop after the current step.
        crash_hook: test-only crash points.
    """

    def __init__(
        self,
        settings: OracleSettings,
        *,
        chain: ChainClient,
        deployment: Deployment,
        source: MetricSource,
        assets: AssetMap,
        signers: Sequence[Signer],
        outbox: Outbox,
        curtailments: Sequence[CurtailmentWindow] = (),
        peers: Sequence[PeerClient] = (),
        metrics: OracleMetrics | None = None,
        health: HealthState | None = None,
        stop: threading.Event | None = None,
        crash_hook: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.chain = chain
        self.deployment = deployment
        self.source = source
        self.assets = assets
        self.signers = list(signers)
        self.outbox = outbox
        self.peers = list(peers)
        self.metrics = metrics or OracleMetrics()
        self.health = health or HealthState(max_epochs_behind=settings.ops.max_epochs_behind)
        self.stop = stop or threading.Event()
        self._crash = crash_hook or crash_hook_from_env()
        self.domain = Eip712Domain(settings.chain.chain_id, deployment.oracle)
        self.aggregator = EpochAggregator(
            source,
            assets,
            config=AggregationConfig(scrape_interval_ms=settings.source.scrape_interval_ms),
            curtailments=curtailments,
            lookback_ms=settings.source.lookback_s * 1000,
            grace_ms=settings.source.grace_ms,
        )
        self.asset_ids = sorted(assets.assets)
        sub = settings.submission
        self.fees = FeePolicy(sub.max_fee_per_gas_wei, sub.max_priority_fee_per_gas_wei, sub.fee_bump_percent)
        self.txm: TxManager | None = None
        self.view: ChainView | None = None
        self._blocked: dict[int, _Blocked] = {}
        self._batch_hint = sub.max_reports_per_tx
        self._prove_hint = sub.max_reports_per_tx
        self.mode = sub.mode
        self._trees: dict[int, EpochTree] = {}
        self._root_blocked: dict[int, _Blocked] = {}
        self._failures = 0
        self._sender: Signer | None = None
        self._enrolled: dict[int, bool] = {}
        self._keeper_idle = not settings.keeper.enabled

    # --- construction -------------------------------------------------------------------------------

    @classmethod
    def from_settings(cls, settings: OracleSettings, *, stop: threading.Event | None = None, **parts: Any) -> Daemon:
        """Build every part from the settings (any part can be passed in instead).

        Raises:
            WellheadError: a file, keystore or the deployment cannot be loaded.
        """
        stop = stop or threading.Event()
        assets = parts.pop("assets", None) or load_asset_map(settings.assets.map)
        curtailments = parts.pop("curtailments", None)
        if curtailments is None:
            curtailments = load_curtailments(settings.assets.curtailments) if settings.assets.curtailments else []
        deployment = parts.pop("deployment", None) or load_deployment(
            settings.chain.deployment,
            oracle_address=settings.chain.oracle_address,
            lease_market_address=settings.chain.lease_market_address,
        )
        chain = parts.pop("chain", None)
        if chain is None:
            if settings.chain.rpc_url is None:
                raise ConfigError("chain.rpc_url is required to run the daemon")
            chain = ChainClient(
                settings.chain.rpc_url.get_secret_value(),
                deployment.oracle,
                lease_market=deployment.lease_market,
                timeout_s=settings.chain.rpc_timeout_s,
                retries=settings.chain.rpc_retries,
                stop=stop,
            )
        source = parts.pop("source", None) or build_source(settings, assets)
        signers = parts.pop("signers", None)
        if signers is None:
            signers = build_signers(settings)
        outbox = parts.pop("outbox", None) or Outbox(
            settings.outbox.path, quarantine_cap_per_epoch=settings.outbox.quarantine_cap_per_epoch
        )
        peers = parts.pop("peers", None)
        if peers is None:
            peers = build_peers(settings)
        return cls(
            settings,
            chain=chain,
            deployment=deployment,
            source=source,
            assets=assets,
            signers=signers,
            outbox=outbox,
            curtailments=curtailments,
            peers=peers,
            stop=stop,
            **parts,
        )

    # --- start-up checks ----------------------------------------------------------------------------

    def startup_checks(self) -> None:
        """Fail fast, with one clear message, on anything that would make every step fail or post wrongly.

        Raises:
            StartupCheckError: ``chain_unreachable``, ``chain_id``, ``deployment_chain_id``, ``oracle_missing``,
                ``oracle_abi``, ``epoch_config``, ``no_local_signer``, ``signer_not_in_set``, ``sender``,
                ``unknown_asset``, ``reporting_not_started``, ``source_unreachable`` or ``outbox_deployment``.
        """
        cfg = self.settings
        url = cfg.chain.redacted_url()
        try:
            chain_id = self.chain.chain_id()
        except ChainUnavailable as exc:
            raise StartupCheckError(
                "chain_unreachable", f"the RPC node at {url} does not answer: {exc.reason}"
            ) from None
        if chain_id != cfg.chain.chain_id:
            raise StartupCheckError(
                "chain_id", f"the RPC node at {url} serves chain {chain_id}, but chain.chain_id is {cfg.chain.chain_id}"
            )
        if self.deployment.chain_id is not None and self.deployment.chain_id != chain_id:
            raise StartupCheckError(
                "deployment_chain_id",
                f"{self.deployment.source} is a deployment on chain {self.deployment.chain_id}, "
                f"the node serves {chain_id}",
            )
        try:
            if not self.chain.code_at(self.deployment.oracle):
                raise StartupCheckError(
                    "oracle_missing", f"no contract at {self.deployment.oracle} on chain {chain_id}"
                )
            try:
                self.chain.check_submit_abi()
            except SubmissionError as exc:
                raise StartupCheckError("oracle_abi", exc.reason) from None
            genesis, length = self.chain.genesis(), self.chain.epoch_length()
            if (genesis, length) != (self.assets.genesis, self.assets.epoch_length):
                raise StartupCheckError(
                    "epoch_config",
                    f"the asset map {cfg.assets.map} has genesis {self.assets.genesis} and epochLength "
                    f"{self.assets.epoch_length}, the oracle {self.deployment.oracle} has genesis {genesis} and "
                    f"epochLength {length}",
                )
            signer_set = self.chain.signers()
            threshold = self.chain.threshold()
            if not self.signers:
                raise StartupCheckError(
                    "no_local_signer", "no local signer: set signers.keystores (or signers.dev_key_env in development)"
                )
            outsiders = [s.address for s in self.signers if s.address not in signer_set]
            if outsiders:
                raise StartupCheckError(
                    "signer_not_in_set",
                    f"local signer(s) {', '.join(outsiders)} are not in the oracle's current signer set "
                    f"[{', '.join(signer_set)}] (configVersion {self.chain.config_version()})",
                )
            self._sender = self._pick_sender()
            if len(self.signers) + len(self.peers) < threshold:
                logger.warning(
                    "%d local signers and %d peers cannot reach the threshold of %d",
                    len(self.signers),
                    len(self.peers),
                    threshold,
                    extra={"event": "quorum_unreachable"},
                )
            for asset_id in self.asset_ids:
                status = self.chain.asset_status(asset_id)
                if status == "None":
                    raise StartupCheckError(
                        "unknown_asset",
                        f"asset {asset_id} of {cfg.assets.map} is not registered in the AssetRegistry "
                        f"{self.chain.asset_registry()}",
                    )
                if not self.chain.cursor(asset_id)[1]:
                    raise StartupCheckError(
                        "reporting_not_started",
                        f"asset {asset_id}'s reporting has not started on the oracle (cursorOf({asset_id}).started is "
                        "false): the oracle admin must call startReporting",
                    )
                if status != "Active":
                    logger.warning(
                        "asset %d is %s: its reports will be refused until it is active again",
                        asset_id,
                        status,
                        extra={"event": "asset_not_active", "asset": asset_id},
                    )
            balance = self.chain.balance(self._sender.address)
            if balance == 0:
                logger.warning("the sender %s has no funds", self._sender.address, extra={"event": "sender_unfunded"})
        except ChainUnavailable as exc:
            raise StartupCheckError(
                "chain_unreachable", f"the RPC node at {url} stopped answering: {exc.reason}"
            ) from None
        try:
            probe = getattr(self.source, "probe", None)
            if callable(probe):
                probe()
            else:
                self.source.fetch()
        except SourceError as exc:
            raise StartupCheckError(
                "source_unreachable", f"the metric source {self.source.name} is unusable: {exc}"
            ) from None
        try:
            self.outbox.bind(chain_id, self.deployment.oracle)
        except WellheadError as exc:
            raise StartupCheckError("outbox_deployment", str(exc)) from None
        self.txm = TxManager(
            self.chain,
            self.outbox,
            self._sender,
            self.fees,
            chain_id=chain_id,
            replace_after_blocks=cfg.submission.replace_after_blocks,
            confirmations=cfg.submission.confirmations,
            gas_margin_percent=cfg.submission.gas_margin_percent,
            gas_cap=cfg.submission.gas_cap_per_tx,
            metrics=self.metrics,
            crash_hook=self._crash,
        )
        logger.info(
            "start-up checks passed: chain %d, oracle %s, %d assets, %d local signers (sender %s), source %s",
            chain_id,
            self.deployment.oracle,
            len(self.asset_ids),
            len(self.signers),
            self._sender.address,
            self.source.name,
            extra={"event": "started", "chain_id": chain_id, "oracle": self.deployment.oracle},
        )

    @property
    def _tx(self) -> TxManager:
        if self.txm is None:
            raise WellheadError("the daemon has not passed its start-up checks")
        return self.txm

    def _pick_sender(self) -> Signer:
        wanted = self.settings.signers.sender
        if wanted is None:
            return self.signers[0]
        for signer in self.signers:
            if signer.address == wanted:
                return signer
        raise StartupCheckError("sender", f"signers.sender {wanted} is none of the local signers")

    # --- the loop -----------------------------------------------------------------------------------

    def run(self) -> int:
        """Start-up checks, then steps until stopped (SIGTERM) or ``until_epoch`` is reached. Returns 0."""
        if self.txm is None:
            self.startup_checks()
        until = self.settings.until_epoch
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                self.step()
                self._failures = 0
            except WellheadError as exc:
                self._failures += 1
                logger.error("step failed: %s", exc, extra={"event": "step_failed", "error": type(exc).__name__})
            except Exception:  # the loop boundary: log with context and keep running
                self._failures += 1
                logger.exception("step failed unexpectedly", extra={"event": "step_crashed"})
            finally:
                self.metrics.step_duration.observe(time.monotonic() - started)
                self.health.update(last_step_at=time.time())
            if until is not None and self.done_through(until):
                logger.info("every asset has posted through epoch %d: exiting", until, extra={"event": "until_reached"})
                return 0
            self.stop.wait(self._pause())
        logger.info("stopped", extra={"event": "stopped"})
        return 0

    def _pause(self) -> float:
        if self._failures == 0:
            return self.settings.poll_interval_s
        sub = self.settings.submission
        delay = min(sub.retry_max_s, sub.retry_base_s * 2 ** min(self._failures - 1, 16))
        return max(self.settings.poll_interval_s, delay * random.uniform(0.5, 1.0))  # noqa: S311 - jitter

    def done_through(self, epoch: int) -> bool:
        """Whether the last view shows every asset's cursor past ``epoch`` (and, with the keeper duty, nothing
        left to settle)."""
        view = self.view
        posted = view is not None and all(view.next_epoch(a) > epoch for a in self.asset_ids)
        return posted and self._keeper_idle

    def step(self) -> None:
        """One step (see the module docstring). Chain and source failures are caught per phase."""
        if self.txm is None:
            raise WellheadError("step() before startup_checks()")
        view = self._refresh()
        if view is not None:
            try:
                if self._reconcile(view):
                    view = self._refresh() or view
                self._settle_done(view)
            except ChainUnavailable as exc:
                self._chain_down(exc)
                view = None
        self._aggregate(view)
        if view is not None:
            try:
                sent = self._post(view)
                if self.settings.keeper.enabled:
                    if sent:
                        self._keeper_idle = False  # settle once the reports in flight have landed
                    else:
                        self._keeper(view)
            except ChainUnavailable as exc:
                self._chain_down(exc)
        self._update_gauges()

    # --- phases -------------------------------------------------------------------------------------

    def _refresh(self) -> ChainView | None:
        try:
            block = self.chain.latest_block()
            cursors = {a: self.chain.cursor(a) for a in self.asset_ids}
            view = ChainView(
                block=block,
                observed_at=time.monotonic(),
                config_version=self.chain.config_version(),
                threshold=self.chain.threshold(),
                signer_set=self.chain.signers(),
                cursors=cursors,
            )
            if self._sender is not None:
                self.metrics.signer_balance.labels(signer=self._sender.address).set(
                    self.chain.balance(self._sender.address)
                )
        except ChainUnavailable as exc:
            self._chain_down(exc)
            return None
        if self.health.chain_error:
            logger.info("chain reachable again", extra={"event": "chain_up"})
        self.health.update(chain_error=None)
        self.metrics.chain_up.set(1)
        self.view = view
        return view

    def _chain_down(self, exc: ChainUnavailable) -> None:
        self.metrics.chain_errors.inc()
        self.metrics.chain_up.set(0)
        if not self.health.chain_error:
            logger.error("chain unreachable: %s", exc.reason, extra={"event": "chain_down", "method": exc.method})
        self.health.update(chain_error=exc.reason)

    def _reconcile(self, view: ChainView) -> bool:
        """Settle pending transactions; True when one was mined (the cursors moved)."""
        moved = False
        for outcome in self._tx.reconcile(view.block):
            tx = outcome.tx
            if tx.kind == "commit" and tx.root_id is not None:
                moved |= outcome.outcome == "mined"
                self._commit_outcome(tx.root_id, tx.tx_hash, outcome.outcome, outcome.block)
                continue
            if tx.kind not in ("submit", "prove") or tx.batch_id is None:
                moved |= outcome.outcome == "mined"
                continue
            batch = self.outbox.batch(tx.batch_id)
            if outcome.outcome == "mined":
                moved = True
                self.metrics.reports_posted.inc(len(batch.keys))
                if tx.kind == "prove":
                    self.metrics.proofs_posted.inc(len(batch.keys))
                self.metrics.last_report_timestamp.set(time.time())
                for asset_id, epoch in batch.keys:
                    self._blocked.pop(asset_id, None)
                    logger.info(
                        "report %d/%d posted in block %s",
                        asset_id,
                        epoch,
                        outcome.block,
                        extra={
                            "event": "report_posted",
                            "asset": asset_id,
                            "epoch": epoch,
                            "tx": tx.tx_hash,
                            "block": outcome.block,
                            "via": tx.kind,
                        },
                    )
            elif outcome.outcome == "reverted" and batch.state in ("signed", "submitted"):
                moved = True
                self._void(batch, f"transaction {tx.tx_hash} reverted")
        return moved

    def _commit_outcome(self, root_id: int, tx_hash: str, outcome: str, block: int | None) -> None:
        root = self.outbox.root(root_id)
        if outcome == "mined":
            self.metrics.roots_committed.inc()
            logger.info(
                "root of epoch %d committed in block %s (%d reports)",
                root.epoch,
                block,
                root.report_count,
                extra={
                    "event": "root_committed",
                    "root_id": root.id,
                    "epoch": root.epoch,
                    "root": root.root,
                    "reports": root.report_count,
                    "tx": tx_hash,
                    "block": block,
                },
            )
            self._crash("root_committed")
        elif outcome == "reverted":
            logger.warning(
                "commitRoot of epoch %d reverted (transaction %s): checked again next step",
                root.epoch,
                tx_hash,
                extra={"event": "root_commit_reverted", "root_id": root.id, "epoch": root.epoch, "tx": tx_hash},
            )

    def _settle_done(self, view: ChainView) -> None:
        """Reports below the cursor that no transaction of ours landed: done elsewhere (checked against ours)."""
        busy = {tx.batch_id for tx in self.outbox.pending_transactions() if tx.batch_id is not None}
        touched: set[int] = set()
        for asset_id in self.asset_ids:
            next_epoch = view.next_epoch(asset_id)
            for row in self.outbox.reports(states=("aggregated", "signed", "submitted"), asset_id=asset_id):
                if row.report.epoch >= next_epoch:
                    break
                if row.batch_id is not None and row.batch_id in busy:
                    continue  # our own transaction may be the one that landed it: reconcile decides
                onchain = self.chain.report_hash(asset_id, row.report.epoch) or "0x" + "00" * 32
                marked = self.outbox.mark_done_elsewhere(asset_id, row.report.epoch, onchain)
                if row.batch_id is not None:
                    touched.add(row.batch_id)
                if marked.mismatch:
                    self.metrics.report_mismatches.labels(asset=str(asset_id)).inc()
                    onchain_report = self.chain.get_report(asset_id, row.report.epoch)
                    logger.error(
                        "report %d/%d on chain differs from ours",
                        asset_id,
                        row.report.epoch,
                        extra={
                            "event": "report_mismatch",
                            "asset": asset_id,
                            "epoch": row.report.epoch,
                            "ours": row.report.model_dump(),
                            "onchain": onchain_report.model_dump() if onchain_report else None,
                        },
                    )
                else:
                    self.metrics.reports_done_elsewhere.inc()
                    logger.warning(
                        "report %d/%d was already on chain (posted by someone else)",
                        asset_id,
                        row.report.epoch,
                        extra={"event": "report_done_elsewhere", "asset": asset_id, "epoch": row.report.epoch},
                    )
        for batch_id in touched:
            batch = self.outbox.batch(batch_id)
            if batch.state not in ("signed", "submitted"):
                continue
            rows = self.outbox.batch_reports(batch_id)
            if all(r.state in ("confirmed", "done_elsewhere") for r in rows):
                self.outbox.finish_batch_elsewhere(batch_id)
            else:
                self._void(batch, "part of it is already on chain")
        for root_id in self.outbox.finish_roots():
            self._trees.pop(root_id, None)
            root = self.outbox.root(root_id)
            logger.info(
                "every report of epoch %d's root is on chain",
                root.epoch,
                extra={"event": "root_proven", "root_id": root_id, "epoch": root.epoch, "reports": root.report_count},
            )

    def _aggregate(self, view: ChainView | None) -> None:
        """Aggregate every ready epoch not yet in the outbox (see the module docstring)."""
        known = view or self.view
        if known is None:
            return
        if view is not None:
            chain_time = view.block.timestamp
        else:  # the node is down: extrapolate its clock, so that measurements still reach the outbox
            chain_time = known.block.timestamp + int(time.monotonic() - known.observed_at)
        need = {}
        for asset_id in self.asset_ids:
            last = self.outbox.last_epoch(asset_id)
            need[asset_id] = max(known.next_epoch(asset_id), -1 if last is None else last + 1)
        lo = min(need.values())
        started = time.monotonic()
        try:
            ready = self.aggregator.ready_through(chain_time)
            if ready is None:
                return  # nothing due: the source's state is whatever the last fetch showed
            hi = min(ready, lo + self.settings.submission.max_epochs_per_step - 1)
            if self.settings.until_epoch is not None:
                hi = min(hi, self.settings.until_epoch)
            if hi < lo:
                return
            results = self.aggregator.compute(lo, hi)
        except SourceError as exc:
            self.metrics.source_errors.inc()
            self.metrics.source_up.set(0)
            if not self.health.source_error:
                logger.error(
                    "source %s unavailable: %s (nothing is posted for epochs it cannot cover)",
                    self.source.name,
                    exc,
                    extra={"event": "source_down"},
                )
            self.health.update(source_error=str(exc))
            return
        self.metrics.aggregation_duration.observe(time.monotonic() - started)
        self._source_up()
        fresh = [
            (stats.report, "0x" + report_struct_hash(stats.report).hex())
            for (asset_id, epoch), stats in sorted(results.stats.items())
            if epoch >= need[asset_id]
        ]
        differing, new_rejections = self.outbox.add_aggregated(fresh, results.rejections)
        for report in differing:
            logger.warning(
                "recomputed report %d/%d differs from the one already in the outbox (kept)",
                report.asset_id,
                report.epoch,
                extra={"event": "recomputed_report_differs", "asset": report.asset_id, "epoch": report.epoch},
            )
        self.metrics.epochs_aggregated.inc(len(fresh))
        for (asset_id, epoch), stats in sorted(results.stats.items()):
            if epoch >= need[asset_id]:
                logger.info(
                    "aggregated report %d/%d",
                    asset_id,
                    epoch,
                    extra={
                        "event": "report_aggregated",
                        "asset": asset_id,
                        "epoch": epoch,
                        **stats.report.model_dump(),
                        "unhealthyMs": stats.unhealthy_ms,
                        "counterResets": stats.counter_resets,
                    },
                )
        for shown, (epoch, rejection) in enumerate(new_rejections):
            self.metrics.readings_rejected.labels(reason=rejection.reason.value).inc()
            if shown < 100:
                logger.warning(
                    "rejected reading: %s",
                    rejection.detail,
                    extra={
                        "event": "reading_rejected",
                        "epoch": epoch,
                        "reason": rejection.reason.value,
                        "series": rejection.labels.get("__name__"),
                        "gpu": rejection.labels.get("UUID"),
                        "ts_ms": rejection.timestamp_ms,
                        "value": rejection.value,
                    },
                )
        if len(new_rejections) > 100:
            logger.warning(
                "%d more rejected readings (see the outbox's quarantine table)",
                len(new_rejections) - 100,
                extra={"event": "readings_rejected_more", "count": len(new_rejections) - 100},
            )

    def _source_up(self) -> None:
        if self.health.source_error:
            logger.info("source reachable again", extra={"event": "source_up"})
        self.health.update(source_error=None)
        self.metrics.source_up.set(1)

    # --- posting ------------------------------------------------------------------------------------

    def _post(self, view: ChainView) -> bool:
        """Send at most one transaction: a live batch first (signed or proof), then the commit of a live root,
        then (root mode) a new root, then proofs of committed roots, else a new signed batch. True when one was
        sent or is pending."""
        if self._tx.pending():
            return True
        for batch in self.outbox.batches(("signed", "submitted")):
            problem = self._batch_problem(batch, view)
            if problem is not None:
                self._void(batch, problem)
                continue
            if not self._epochs_ended(batch.keys, view):
                return False
            reports = [r.report for r in self.outbox.batch_reports(batch.id)]
            try:
                gas = self._estimate(batch, reports)
            except SubmissionError as exc:
                if exc.error_name == "EpochNotEnded":
                    return False
                self._estimate_failed(batch, exc)
                continue
            if gas > self.settings.submission.gas_cap_per_tx:
                self._void(batch, f"estimated {gas} gas, over the cap")
                if batch.kind == "prove":
                    self._prove_hint = max(1, len(batch.keys) // 2)
                else:
                    self._batch_hint = max(1, len(batch.keys) // 2)
                self.metrics.batch_splits.inc()
                continue
            self._send_batch(batch, reports, gas, view)
            return True
        now = time.monotonic()
        for root in self.outbox.roots(("signed", "submitted")):
            blocked = self._root_blocked.get(root.id)
            if blocked is not None and blocked.retry_at > now:
                continue
            if self._advance_root(root, view) == "sent":
                return True
        if self.mode == "root" and self._post_new_root(view):
            return True
        if self._post_proofs(view):
            return True
        return self._post_new(view)

    # --- root mode ----------------------------------------------------------------------------------

    def _post_new_root(self, view: ChainView) -> bool:
        """Sign and commit the root of the oldest ended epoch whose reports have none (one transaction at
        most). Reports of an epoch that already has a root (a report aggregated after it, or a conflict) are
        left to signed batches."""
        by_epoch: dict[int, list[Report]] = {}
        for row in self.outbox.reports_needing_root():
            by_epoch.setdefault(row.report.epoch, []).append(row.report)
        taken = self.outbox.root_epochs() if by_epoch else set()
        for epoch in sorted(by_epoch):
            if self.aggregator.epoch_end_s(epoch) > view.block.timestamp:
                break
            if epoch in taken:
                continue
            tree = build_epoch_tree(by_epoch[epoch])
            digest = root_digest(self.domain, view.config_version, epoch, tree.count, tree.root)
            onchain, _count = self.chain.root_of(epoch)
            if onchain != _ZERO_ROOT:  # no signing round for an epoch whose root is already decided
                root_id = self._store_root(tree, view, digest, [])
                self._root_found(self.outbox.root(root_id), onchain)
                continue
            signatures, problems = collect_quorum(
                digest,
                local=self.signers,
                peers=self.peers,
                signer_set=view.signer_set,
                threshold=view.threshold,
                domain=self.domain,
                config_version=view.config_version,
                reports=list(tree.reports),
                epoch=epoch,
                root=tree.root,
            )
            if len(signatures) < view.threshold:
                reason = (
                    f"{len(signatures)} of {view.threshold} signatures for the root of epoch {epoch} "
                    f"({tree.count} reports)" + (f" ({'; '.join(problems)})" if problems else "")
                )
                self.metrics.quorum_failures.inc()
                self.health.update(quorum_error=reason)
                logger.error("quorum not reached: %s", reason, extra={"event": "quorum_not_reached", "epoch": epoch})
                return False
            self.health.update(quorum_error=None)
            root_id = self._store_root(tree, view, digest, [signature_to_json(s) for s in signatures])
            self._trees[root_id] = tree
            logger.info(
                "signed the root of epoch %d: %d reports, %d signatures",
                epoch,
                tree.count,
                len(signatures),
                extra={
                    "event": "root_signed",
                    "root_id": root_id,
                    "epoch": epoch,
                    "root": "0x" + tree.root.hex(),
                    "reports": tree.count,
                    "digest": "0x" + digest.hex(),
                },
            )
            self._crash("root_signed")
            outcome = self._advance_root(self.outbox.root(root_id), view)
            if outcome == "sent":
                return True
            if outcome == "waiting":
                return False
        return False

    def _store_root(
        self, tree: EpochTree, view: ChainView, digest: bytes, signatures: list[dict[str, Any]]
    ) -> int:
        return self.outbox.add_root(
            tree.epoch,
            tree.keys,
            root="0x" + tree.root.hex(),
            config_version=view.config_version,
            digest="0x" + digest.hex(),
            signer_set=view.signer_set,
            signatures=signatures,
        )

    def _advance_root(self, root: RootRow, view: ChainView) -> str:
        """Commit a signed root, unless the chain already decided: ``sent`` (a commit transaction is out),
        ``resolved`` (found committed, in conflict, or void: nothing to send) or ``waiting``."""
        onchain, _count = self.chain.root_of(root.epoch)
        if onchain != _ZERO_ROOT:
            self._root_found(root, onchain)
            return "resolved"
        posted, total = self.outbox.root_progress(root.id)
        if posted == total:
            self._void_root(root, "every report of the root is already on chain")
            return "resolved"
        problem = self._root_problem(root, view)
        if problem is not None:
            self._void_root(root, problem)
            return "resolved"
        if self.aggregator.epoch_end_s(root.epoch) > view.block.timestamp:
            return "waiting"
        data = self.chain.encode_commit_root(
            root.config_version,
            root.epoch,
            root.report_count,
            root.root_bytes,
            root.signer_set,
            [signature_from_json(s) for s in root.signatures],
        )
        cap = self.settings.submission.gas_cap_per_tx
        try:
            gas = self.chain.estimate_gas(self._tx.address, self.deployment.oracle, data)
        except SubmissionError as exc:
            name = exc.error_name
            if name == "RootAlreadyCommitted" and len(exc.error_args) > 1:
                self._root_found(root, bytes(exc.error_args[1]))
                return "resolved"
            if name == "RootEpochNotEnded":
                return "waiting"
            if name in _SIGNATURE_ERRORS:
                self._void_root(root, f"estimate failed: {exc.reason}")
                return "resolved"
            self._root_failed(root, exc.reason)
            return "waiting"
        if gas > cap:
            self._root_failed(root, f"commitRoot needs {gas} gas, over the cap of {cap}")
            return "waiting"
        self._root_blocked.pop(root.id, None)
        self._tx.send(
            kind="commit",
            batch_id=None,
            root_id=root.id,
            to=self.deployment.oracle,
            data=data,
            gas_limit=self._tx.gas_limit(gas),
            head=view.block,
        )
        return "sent"

    def _root_problem(self, root: RootRow, view: ChainView) -> str | None:
        """Why a stored root can no longer be committed as signed (None when it still can)."""
        if root.config_version != view.config_version or [a.lower() for a in root.signer_set] != [
            a.lower() for a in view.signer_set
        ]:
            return f"signed for configVersion {root.config_version}, the oracle is at {view.config_version}"
        if len(root.signatures) < view.threshold:
            return f"{len(root.signatures)} signatures, the threshold is {view.threshold}"
        return None

    def _root_found(self, root: RootRow, onchain: bytes) -> None:
        """``rootOf(epoch)`` is set: ours (committed, by whoever sent it) or another (a conflict)."""
        self._root_blocked.pop(root.id, None)
        if onchain == root.root_bytes:
            self.outbox.mark_root_committed(root.id, by="elsewhere")
            self.metrics.roots_found_committed.inc()
            logger.info(
                "the root of epoch %d is already committed (the same root): its reports are proven next",
                root.epoch,
                extra={"event": "root_found_committed", "root_id": root.id, "epoch": root.epoch, "root": root.root},
            )
            self._crash("root_committed")
            return
        theirs = "0x" + onchain.hex()
        self.outbox.mark_root_conflict(root.id, theirs, "rootOf(epoch) holds another root")
        self._trees.pop(root.id, None)
        self.metrics.root_conflicts.inc()
        logger.error(
            "the root of epoch %d on chain (%s) differs from ours (%s): its %d reports fall back to signed batches",
            root.epoch,
            theirs,
            root.root,
            root.report_count,
            extra={
                "event": "root_conflict",
                "root_id": root.id,
                "epoch": root.epoch,
                "ours": root.root,
                "onchain": theirs,
                "reports": root.report_count,
            },
        )

    def _void_root(self, root: RootRow, reason: str) -> None:
        self._root_blocked.pop(root.id, None)
        self._trees.pop(root.id, None)
        self.outbox.void_root(root.id, reason)
        logger.info(
            "root %d (epoch %d) void: %s",
            root.id,
            root.epoch,
            reason,
            extra={"event": "root_void", "root_id": root.id, "epoch": root.epoch},
        )

    def _root_failed(self, root: RootRow, reason: str) -> None:
        previous = self._root_blocked.get(root.id)
        failures = (previous.failures if previous else 0) + 1
        sub = self.settings.submission
        delay = min(sub.retry_max_s, sub.retry_base_s * 2 ** min(failures - 1, 16))
        self._root_blocked[root.id] = _Blocked(root.epoch, reason, failures, time.monotonic() + delay)
        logger.error(
            "the root of epoch %d cannot be committed: %s (retry in %.0fs)",
            root.epoch,
            reason,
            delay,
            extra={"event": "root_commit_failed", "root_id": root.id, "epoch": root.epoch},
        )

    def _tree(self, root_id: int) -> EpochTree:
        """A stored root's tree, rebuilt from its leaf order and reports (checked against the stored root)."""
        tree = self._trees.get(root_id)
        if tree is None:
            root = self.outbox.root(root_id)
            tree = rebuild_tree(root.root, [r.report for r in self.outbox.root_reports(root_id)])
            self._trees[root_id] = tree
        return tree

    def _prove_calldata(self, reports: Sequence[Report]) -> bytes:
        proofs = []
        for report in reports:
            row = self.outbox.report(report.asset_id, report.epoch)
            if row is None or row.root_id is None:
                raise WellheadError(f"report {report.asset_id}/{report.epoch} is in no root")
            proofs.append(self._tree(row.root_id).proof(report.asset_id, report.epoch))
        return self.chain.encode_prove_reports(reports, proofs)

    def _post_proofs(self, view: ChainView) -> bool:
        """Post the next reports of committed roots (each asset's epochs contiguous from its cursor), halved
        until the estimate fits under the gas cap."""
        group = self._plan_rows(view, self.outbox.reports_needing_proof(), self._prove_hint)
        if not group:
            return False
        cap = self.settings.submission.gas_cap_per_tx

        def estimate(candidate: list[Report]) -> int:
            return self.chain.estimate_gas(self._tx.address, self.deployment.oracle, self._prove_calldata(candidate))

        def reject(candidate: list[Report], reason: str) -> None:
            if "over the cap" in reason:
                self.metrics.batch_splits.inc()

        fit = fit_first_group(group, estimate, cap, on_reject=reject)
        if fit.group is None:
            if fit.error is not None and fit.error.error_name == "EpochNotEnded":
                return False
            if fit.error is not None:
                self._estimate_failed(None, fit.error, group[: fit.tried[-1][0]] if fit.tried else group)
            return False
        chosen: list[Report] = list(fit.group)  # type: ignore[arg-type]
        if fit.gas is not None:
            if len(chosen) < len(group):
                self._prove_hint = len(chosen)
            elif 2 * fit.gas < cap:
                self._prove_hint = min(self.settings.submission.max_reports_per_tx, self._prove_hint * 2)
        batch_id = self.outbox.add_batch(
            [(r.asset_id, r.epoch) for r in chosen],
            config_version=0,
            digest=leaves_digest(chosen),
            signer_set=[],
            signatures=[],
            kind="prove",
        )
        logger.info(
            "proof batch %d: %d reports of epochs %s",
            batch_id,
            len(chosen),
            sorted({r.epoch for r in chosen}),
            extra={"event": "proof_batch", "batch": batch_id, "reports": [[r.asset_id, r.epoch] for r in chosen]},
        )
        self._send_batch(self.outbox.batch(batch_id), chosen, fit.gas or 0, view)
        return True

    # --- signed batches -----------------------------------------------------------------------------

    def _post_new(self, view: ChainView) -> bool:
        group = self._plan(view)
        if not group:
            return False
        stored: dict[int, BatchRow] = {}

        def estimate(candidate: list[Report]) -> int:
            batch = self._sign_batch(candidate, view)
            stored[len(candidate)] = batch
            return self._estimate(batch, candidate)

        def reject(candidate: list[Report], reason: str) -> None:
            batch = stored.get(len(candidate))
            if batch is not None:
                self._void(batch, reason)
            if "over the cap" in reason:
                self.metrics.batch_splits.inc()

        try:
            fit = fit_first_group(group, estimate, self.settings.submission.gas_cap_per_tx, on_reject=reject)
        except _QuorumMissing as exc:
            self.metrics.quorum_failures.inc()
            self.health.update(quorum_error=str(exc))
            logger.error("quorum not reached: %s", exc, extra={"event": "quorum_not_reached"})
            return False
        self.health.update(quorum_error=None)
        if fit.group is None:
            if fit.error is not None and fit.error.error_name == "EpochNotEnded":
                return False
            if fit.error is not None:
                self._estimate_failed(None, fit.error, group[: fit.tried[-1][0]] if fit.tried else group)
            return False
        batch = stored[len(fit.group)]
        if fit.gas is not None:
            if len(fit.group) < len(group):
                self._batch_hint = len(fit.group)
            elif 2 * fit.gas < self.settings.submission.gas_cap_per_tx:
                self._batch_hint = min(self.settings.submission.max_reports_per_tx, self._batch_hint * 2)
        self._send_batch(batch, list(fit.group), fit.gas or 0, view)  # type: ignore[arg-type]
        return True

    def _plan(self, view: ChainView) -> list[Report]:
        """The next reports to sign: each asset's epochs contiguous from its cursor, ended by chain time,
        assets in order, at most the batch size hint. In root mode only the reports of epochs whose root is
        taken (in conflict with the chain's, or aggregated after it was signed) go into signed batches."""
        rows = self.outbox.reports_needing_batch()
        if self.mode == "root":
            taken = self.outbox.root_epochs()
            rows = [row for row in rows if row.report.epoch in taken]
        return self._plan_rows(view, rows, self._batch_hint)

    def _plan_rows(self, view: ChainView, rows: Sequence[ReportRow], limit: int) -> list[Report]:
        """Of ``rows``: each asset's epochs contiguous from its cursor, ended by chain time, assets in order
        (blocked ones skipped), at most ``limit``."""
        now = time.monotonic()
        by_asset: dict[int, list[ReportRow]] = {}
        for row in rows:
            by_asset.setdefault(row.report.asset_id, []).append(row)
        group: list[Report] = []
        for asset_id in self.asset_ids:
            blocked = self._blocked.get(asset_id)
            if blocked is not None and blocked.retry_at > now:
                continue
            expected = view.next_epoch(asset_id)
            for row in by_asset.get(asset_id, []):
                if row.report.epoch != expected or self.aggregator.epoch_end_s(row.report.epoch) > view.block.timestamp:
                    break
                group.append(row.report)
                expected += 1
                if len(group) >= limit:
                    return group
        return group

    def _sign_batch(self, reports: list[Report], view: ChainView) -> BatchRow:
        """Sign (locally, then with peers up to the threshold) and commit a batch before any transaction."""
        digest = batch_digest(self.domain, view.config_version, reports)
        signatures, problems = collect_quorum(
            digest,
            local=self.signers,
            peers=self.peers,
            signer_set=view.signer_set,
            threshold=view.threshold,
            domain=self.domain,
            config_version=view.config_version,
            reports=reports,
        )
        if len(signatures) < view.threshold:
            raise _QuorumMissing(
                f"{len(signatures)} of {view.threshold} signatures for {len(reports)} reports"
                + (f" ({'; '.join(problems)})" if problems else "")
            )
        batch_id = self.outbox.add_batch(
            [(r.asset_id, r.epoch) for r in reports],
            config_version=view.config_version,
            digest="0x" + digest.hex(),
            signer_set=view.signer_set,
            signatures=[signature_to_json(s) for s in signatures],
        )
        logger.info(
            "signed batch %d: %d reports, %d signatures",
            batch_id,
            len(reports),
            len(signatures),
            extra={
                "event": "batch_signed",
                "batch": batch_id,
                "digest": "0x" + digest.hex(),
                "reports": [[r.asset_id, r.epoch] for r in reports],
            },
        )
        self._crash("signed")
        return self.outbox.batch(batch_id)

    def _calldata(self, batch: BatchRow, reports: list[Report]) -> bytes:
        if batch.kind == "prove":
            return self._prove_calldata(reports)
        return self.chain.encode_submit(
            batch.config_version, reports, batch.signer_set, [signature_from_json(s) for s in batch.signatures]
        )

    def _estimate(self, batch: BatchRow, reports: list[Report]) -> int:
        return self.chain.estimate_gas(self._tx.address, self.deployment.oracle, self._calldata(batch, reports))

    def _send_batch(self, batch: BatchRow, reports: list[Report], gas: int, view: ChainView) -> None:
        data = self._calldata(batch, reports)
        self._tx.send(
            kind=batch.kind,
            batch_id=batch.id,
            to=self.deployment.oracle,
            data=data,
            gas_limit=self._tx.gas_limit(gas),
            head=view.block,
        )

    def _batch_problem(self, batch: BatchRow, view: ChainView) -> str | None:
        """Why a stored batch can no longer land (None when it still can). Proof batches need no signatures:
        only the cursors matter."""
        if batch.kind == "submit" and (
            batch.config_version != view.config_version
            or [a.lower() for a in batch.signer_set] != [a.lower() for a in view.signer_set]
        ):
            return f"signed for configVersion {batch.config_version}, the oracle is at {view.config_version}"
        first: dict[int, int] = {}
        for asset_id, epoch in batch.keys:
            first.setdefault(asset_id, epoch)
        for asset_id, epoch in first.items():
            if asset_id in view.cursors and view.next_epoch(asset_id) != epoch:
                return f"asset {asset_id} expects epoch {view.next_epoch(asset_id)}, the batch starts at {epoch}"
        return None

    def _epochs_ended(self, keys: Iterable[tuple[int, int]], view: ChainView) -> bool:
        return all(self.aggregator.epoch_end_s(epoch) <= view.block.timestamp for _, epoch in keys)

    def _estimate_failed(self, batch: BatchRow | None, exc: SubmissionError, reports: Sequence[Report] = ()) -> None:
        name = exc.error_name
        if batch is not None and batch.state in ("signed", "submitted"):
            self._void(batch, f"estimate failed: {exc.reason}")
        if name in _CURSOR_ERRORS or name in _SIGNATURE_ERRORS:
            logger.warning("batch no longer valid: %s", exc.reason, extra={"event": "batch_stale", "error": name})
            return
        asset_id = int(exc.error_args[0]) if name in _ASSET_ERRORS and exc.error_args else None
        if asset_id is None:
            keys = batch.keys if batch is not None else [(r.asset_id, r.epoch) for r in reports]
            asset_id = keys[0][0] if keys else None
        if asset_id is None:
            return
        previous = self._blocked.get(asset_id)
        failures = (previous.failures if previous else 0) + 1
        sub = self.settings.submission
        delay = min(sub.retry_max_s, sub.retry_base_s * 2 ** min(failures - 1, 16))
        epoch = int(exc.error_args[1]) if name in _ASSET_ERRORS and len(exc.error_args) > 1 else -1
        self._blocked[asset_id] = _Blocked(epoch, exc.reason, failures, time.monotonic() + delay)
        logger.error(
            "asset %d cannot be posted: %s (retry in %.0fs)",
            asset_id,
            exc.reason,
            delay,
            extra={"event": "asset_blocked", "asset": asset_id, "error": name},
        )

    def _void(self, batch: BatchRow, reason: str) -> None:
        try:
            self.outbox.void_batch(batch.id, reason)
        except TransitionError:
            return
        logger.info("batch %d void: %s", batch.id, reason, extra={"event": "batch_void", "batch": batch.id})

    # --- keeper -------------------------------------------------------------------------------------

    def _keeper(self, view: ChainView) -> None:
        """Settle posted epochs on the LeaseMarket (one transaction per step, after the reports)."""
        txm = self._tx
        market = self.deployment.lease_market
        if market is None:
            self._keeper_idle = True
            return
        if txm.pending() or self.outbox.backlog():
            self._keeper_idle = False
            return
        for asset_id in self.asset_ids:
            last = view.next_epoch(asset_id) - 1
            if last < 0:
                continue
            if not self._enrolled.get(asset_id):
                self._enrolled[asset_id] = bool(self.chain.call("isEnrolled", asset_id, to=market)[0])
                if not self._enrolled[asset_id]:
                    continue
            if int(self.chain.call("nextSettleEpoch", asset_id, to=market)[0]) > last:
                continue
            data = self.chain.encode_settle_through(asset_id, last)
            try:
                gas = self.chain.estimate_gas(txm.address, market, data)
            except SubmissionError as exc:
                logger.debug("nothing to settle for asset %d: %s", asset_id, exc.reason)
                continue
            txm.send(kind="keeper", batch_id=None, to=market, data=data, gas_limit=txm.gas_limit(gas), head=view.block)
            self._keeper_idle = False
            self.metrics.keeper_settled.inc()
            logger.info(
                "keeper: settleThrough(%d, %d)",
                asset_id,
                last,
                extra={"event": "keeper_settle", "asset": asset_id, "epoch": last},
            )
            return
        self._keeper_idle = True

    # --- gauges -------------------------------------------------------------------------------------

    def _update_gauges(self) -> None:
        view = self.view
        self.metrics.outbox_backlog.set(self.outbox.backlog())
        if self.txm is not None:
            self.metrics.pending_transactions.set(len(self.txm.pending()))
        behind = 0
        if view is not None:
            t = view.block.timestamp + (int(time.monotonic() - view.observed_at) if self.health.chain_error else 0)
            ended = (t - self.assets.genesis) // self.assets.epoch_length
            if self.settings.until_epoch is not None:
                ended = min(ended, self.settings.until_epoch + 1)
            for asset_id in self.asset_ids:
                next_epoch = view.next_epoch(asset_id)
                self.metrics.last_posted_epoch.labels(asset=str(asset_id)).set(next_epoch - 1)
                behind = max(behind, ended - next_epoch)
        self.metrics.epochs_behind.set(max(0, behind))
        now = time.monotonic()
        reasons = [
            f"asset {a} cannot be posted: {b.reason}"
            for a, b in sorted(self._blocked.items())
            if b.retry_at > now - 3600
        ]
        reasons += [
            f"the root of epoch {b.epoch} cannot be committed: {b.reason}"
            for _, b in sorted(self._root_blocked.items())
            if b.retry_at > now - 3600
        ]
        if self.txm is not None:
            reasons += [
                f"transaction {tx.tx_hash} (nonce {tx.nonce}) refused by the node: {tx.last_error}"
                for tx in self.txm.pending()
                if tx.last_error and not tx.last_error.startswith("already_known")
            ]
        self.health.update(epochs_behind=max(0, behind), other_reasons=reasons)

    # --- status -------------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the outbox and stop the source's threads."""
        close = getattr(self.source, "close", None)
        if callable(close):
            close()
        self.outbox.close()


class _QuorumMissing(WellheadError):
    """Fewer signatures than the threshold could be gathered."""


def status_report(settings: OracleSettings) -> dict[str, Any]:
    """The posting mode; per asset: the last posted epoch (on-chain cursor), the outbox backlog; the pending
    transactions; the roots still at work (root mode: signed, submitted, or committed with reports to prove).

    The chain part is omitted (with the error) when the node is unreachable; the outbox is opened read-only.
    """
    assets = load_asset_map(settings.assets.map)
    deployment = load_deployment(
        settings.chain.deployment,
        oracle_address=settings.chain.oracle_address,
        lease_market_address=settings.chain.lease_market_address,
    )
    out: dict[str, Any] = {
        "oracle": deployment.oracle,
        "chainId": settings.chain.chain_id,
        "mode": settings.submission.mode,
        "assets": [],
        "pendingTransactions": [],
        "roots": [],
        "outbox": str(settings.outbox.path),
    }
    cursors: dict[int, tuple[int, bool]] = {}
    if settings.chain.rpc_url is not None:
        chain = ChainClient(
            settings.chain.rpc_url.get_secret_value(),
            deployment.oracle,
            timeout_s=settings.chain.rpc_timeout_s,
            retries=0,
        )
        try:
            cursors = {a: chain.cursor(a) for a in sorted(assets.assets)}
            block = chain.latest_block()
            out["chainTime"] = block.timestamp
            out["block"] = block.number
        except ChainUnavailable as exc:
            out["chainError"] = exc.reason
    outbox: Outbox | None = None
    try:
        outbox = Outbox(settings.outbox.path, read_only=True)
    except WellheadError as exc:
        out["outboxError"] = str(exc)
    for asset_id in sorted(assets.assets):
        row: dict[str, Any] = {"assetId": asset_id}
        if asset_id in cursors:
            row["lastPostedEpoch"] = cursors[asset_id][0] - 1 if cursors[asset_id][1] else None
            row["reportingStarted"] = cursors[asset_id][1]
        if outbox is not None:
            row["backlog"] = outbox.backlog(asset_id)
            row["lastAggregatedEpoch"] = outbox.last_epoch(asset_id)
        out["assets"].append(row)
    if outbox is not None:
        now = time.time()
        for tx in outbox.pending_transactions():
            out["pendingTransactions"].append(
                {
                    "hash": tx.tx_hash,
                    "kind": tx.kind,
                    "batch": tx.batch_id,
                    "root": tx.root_id,
                    "nonce": tx.nonce,
                    "maxFeePerGas": tx.max_fee_per_gas,
                    "maxPriorityFeePerGas": tx.max_priority_fee_per_gas,
                    "ageSeconds": round(now - tx.created_at, 1),
                    "broadcasts": tx.broadcasts,
                    "lastError": tx.last_error,
                }
            )
        for root in outbox.roots(LIVE_ROOT_STATES):
            posted, _total = outbox.root_progress(root.id)
            out["roots"].append(
                {
                    "id": root.id,
                    "epoch": root.epoch,
                    "state": root.state,
                    "root": root.root,
                    "reportCount": root.report_count,
                    "posted": posted,
                }
            )
        out["rootConflicts"] = len(outbox.roots(("conflict",)))
        out["quarantined"] = len(outbox.quarantined())
        outbox.close()
    return out
