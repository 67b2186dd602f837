"""The daemon's loop: start-up checks, then steps that never overlap, each running the stages in order.

Lifecycle (pymaker's ``Lifecycle`` idea): start-up checks that fail fast (:mod:`oracle.daemon.startup`), then
a loop of *steps* (``threading.Event.wait`` between them, so SIGTERM ends the wait at once), then a clean exit
that finishes the current step and closes the outbox. Each step reads the chain once (:class:`ChainView`) and
hands it to the stages; a node that does not answer leaves the step with the last view (its clock
extrapolated) so that measurements still reach the outbox.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from oracle.assets import load_asset_map, load_curtailments
from oracle.chain import ChainClient, Deployment, load_deployment
from oracle.cosign import PeerClient
from oracle.eip712 import Eip712Domain
from oracle.errors import ChainUnavailable, ConfigError, WellheadError
from oracle.metrics import HealthState, OracleMetrics
from oracle.models import AssetMap, CurtailmentWindow
from oracle.outbox import Outbox
from oracle.settings import OracleSettings
from oracle.signer import Signer
from oracle.sources.base import MetricSource
from oracle.submitter import FeePolicy, TxManager

from oracle.daemon.aggregation import Aggregation
from oracle.daemon.batch_posting import BatchPosting
from oracle.daemon.context import ChainView, StageContext
from oracle.daemon.keeper import Keeper
from oracle.daemon.parts import build_aggregator, build_peers, build_signers, build_source, crash_hook_from_env
from oracle.daemon.posting import Poster
from oracle.daemon.reconcile import Reconciler
from oracle.daemon.reload import apply_submission, load_for_reload
from oracle.daemon.root_posting import RootPosting
from oracle.daemon.startup import run_startup_checks

__all__ = ["Daemon"]

logger = logging.getLogger(__name__)


class Daemon:
    """The loop (see the package docstring). Build it with :meth:`from_settings`, or inject its parts (tests).

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
        self.source = source
        self.stop = stop or threading.Event()
        self.aggregator = build_aggregator(settings, source, assets, curtailments)
        self.ctx = StageContext(
            settings=settings,
            chain=chain,
            deployment=deployment,
            assets=assets,
            outbox=outbox,
            aggregator=self.aggregator,
            signers=list(signers),
            peers=list(peers),
            metrics=metrics or OracleMetrics(),
            health=health or HealthState(max_epochs_behind=settings.ops.max_epochs_behind),
            domain=Eip712Domain(settings.chain.chain_id, deployment.oracle),
            crash=crash_hook or crash_hook_from_env(),
        )
        sub = settings.submission
        self.fees = FeePolicy(sub.max_fee_per_gas_wei, sub.max_priority_fee_per_gas_wei, sub.fee_bump_percent)
        self.view: ChainView | None = None
        """The last view of the chain read (None before the first)."""
        self.aggregation = Aggregation(self.ctx, source.name if hasattr(source, "name") else type(source).__name__)
        self.reconciler = Reconciler(self.ctx)
        self.roots = RootPosting(self.ctx)
        self.batches = BatchPosting(self.ctx)
        self.poster = Poster(self.ctx, self.batches, self.roots)
        self.keeper = Keeper(self.ctx)
        self._failures = 0
        self._sender: Signer | None = None
        self.settings_loader: Callable[[], OracleSettings] | None = None
        """Builds the settings anew (the CLI's file, environment and flags) for a reload (SIGHUP)."""
        self._reload = threading.Event()

    # --- the parts, as tests and the CLI see them ----------------------------------------------------

    @property
    def chain(self) -> ChainClient:
        """The chain client."""
        return self.ctx.chain

    @property
    def deployment(self) -> Deployment:
        """Where the oracle (and the lease market) live."""
        return self.ctx.deployment

    @property
    def assets(self) -> AssetMap:
        """The asset map."""
        return self.ctx.assets

    @property
    def asset_ids(self) -> list[int]:
        """The asset map's ids, ascending."""
        return self.ctx.asset_ids

    @property
    def signers(self) -> list[Signer]:
        """The local signers."""
        return self.ctx.signers

    @property
    def peers(self) -> list[PeerClient]:
        """The co-signing peers."""
        return self.ctx.peers

    @property
    def domain(self) -> Eip712Domain:
        """The oracle's EIP-712 domain."""
        return self.ctx.domain

    @property
    def outbox(self) -> Outbox:
        """The durable outbox."""
        return self.ctx.outbox

    @property
    def metrics(self) -> OracleMetrics:
        """What ``/metrics`` shows."""
        return self.ctx.metrics

    @property
    def health(self) -> HealthState:
        """What ``/health`` shows."""
        return self.ctx.health

    @property
    def txm(self) -> TxManager | None:
        """The transaction manager (None before the start-up checks)."""
        return self.ctx.txm

    @txm.setter
    def txm(self, value: TxManager | None) -> None:
        self.ctx.txm = value

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

    def startup_checks(self) -> None:
        """Run the start-up checks (:func:`oracle.daemon.startup.run_startup_checks`) and pick the sender.

        Raises:
            StartupCheckError: the first check that failed.
        """
        self._sender, self.ctx.txm = run_startup_checks(self.ctx, self.source, self.fees)

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
        delay = self.ctx.retry_delay_s(self._failures)
        return max(self.settings.poll_interval_s, delay * random.uniform(0.5, 1.0))  # noqa: S311 - jitter

    def done_through(self, epoch: int) -> bool:
        """Whether the last view shows every asset's cursor past ``epoch`` (and, with the keeper duty, nothing
        left to settle)."""
        view = self.view
        if self.settings.submission.mode == "root_only":
            # Nothing per asset goes on chain: done once the epoch's root (and every earlier one) is committed.
            outbox = self.ctx.outbox
            committed = {root.epoch for root in outbox.roots(("committed", "proven"))}
            rootless = {row.report.epoch for row in outbox.reports_needing_root()}
            return epoch in committed and not any(e <= epoch for e in rootless)
        posted = view is not None and all(view.next_epoch(a) > epoch for a in self.ctx.asset_ids)
        return posted and self.keeper.idle

    def request_reload(self) -> None:
        """Reload the submission settings before the next step (safe to call from a signal handler)."""
        self._reload.set()

    def reload_settings(self) -> bool:
        """Apply the ``[submission]`` settings as they are now (see :mod:`oracle.daemon.reload`). True when
        applied (or unchanged); False when the settings could not be loaded (the running ones are kept)."""
        new = load_for_reload(self.settings_loader)
        if new is None:
            return False
        settings = apply_submission(self.settings, new)
        if settings is self.settings:
            return True
        self.settings = self.ctx.settings = settings
        sub = settings.submission
        self.fees = FeePolicy(sub.max_fee_per_gas_wei, sub.max_priority_fee_per_gas_wei, sub.fee_bump_percent)
        if self.txm is not None:
            self.txm.configure(
                self.fees,
                replace_after_blocks=sub.replace_after_blocks,
                confirmations=sub.confirmations,
                gas_margin_percent=sub.gas_margin_percent,
                gas_cap=sub.gas_cap_per_tx,
            )
        for strategy in (self.batches, self.roots):
            strategy.hint = min(strategy.hint, sub.max_reports_per_tx)
        return True

    def step(self) -> None:
        """One step: apply a requested reload, refresh the view, reconcile, aggregate, post, keep. Chain and
        source failures are caught per stage."""
        if self.txm is None:
            raise WellheadError("step() before startup_checks()")
        if self._reload.is_set():
            self._reload.clear()
            self.reload_settings()
        view = self._refresh()
        if view is not None:
            try:
                if self.reconciler.reconcile(view):
                    view = self._refresh() or view
                self.reconciler.detect_rollback(view)
                self.reconciler.settle_done(view)
                self.roots.finish_proven()
                self.roots.publish_committed()
            except ChainUnavailable as exc:
                self._chain_down(exc)
                view = None
        self.aggregation.run(view, self.view)
        if view is not None:
            try:
                sent = self.poster.post(view)
                if self.settings.keeper.enabled:
                    if sent:
                        self.keeper.idle = False  # settle once the reports in flight have landed
                    else:
                        self.keeper.run(view)
            except ChainUnavailable as exc:
                self._chain_down(exc)
        self._update_gauges()

    # --- the chain's view ---------------------------------------------------------------------------

    def _refresh(self) -> ChainView | None:
        chain = self.ctx.chain
        try:
            block = chain.latest_block()
            cursors = chain.cursors(self.ctx.asset_ids)
            view = ChainView(
                block=block,
                observed_at=time.monotonic(),
                config_version=chain.config_version(),
                threshold=chain.threshold(),
                signer_set=chain.signers(),
                cursors=cursors,
            )
            if self._sender is not None:
                self.metrics.signer_balance.labels(signer=self._sender.address).set(chain.balance(self._sender.address))
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

    # --- gauges -------------------------------------------------------------------------------------

    def _update_gauges(self) -> None:
        view = self.view
        ctx = self.ctx
        self.metrics.outbox_backlog.set(ctx.outbox.backlog())
        if self.txm is not None:
            self.metrics.pending_transactions.set(len(self.txm.pending()))
            self.metrics.transactions_in_flight.set(self.txm.in_flight())
        behind = 0
        if view is not None:
            t = view.block.timestamp + (int(time.monotonic() - view.observed_at) if self.health.chain_error else 0)
            ended = (t - ctx.assets.genesis) // ctx.assets.epoch_length
            if self.settings.until_epoch is not None:
                ended = min(ended, self.settings.until_epoch + 1)
            # Root-only posting stores no report: an epoch is posted once its root is committed.
            next_root = 0
            if self.settings.submission.mode == "root_only":
                next_root = 1 + max((r.epoch for r in ctx.outbox.roots(("committed", "proven"))), default=-1)
            for asset_id in ctx.asset_ids:
                next_epoch = max(view.next_epoch(asset_id), next_root)
                self.metrics.last_posted_epoch.labels(asset=str(asset_id)).set(next_epoch - 1)
                behind = max(behind, ended - next_epoch)
        self.metrics.epochs_behind.set(max(0, behind))
        now = time.monotonic()
        reasons = [
            f"asset {a} cannot be posted: {b.reason}"
            for a, b in sorted(ctx.blocked.items())
            if b.retry_at > now - 3600
        ]
        reasons += [
            f"the root of epoch {b.epoch} cannot be committed: {b.reason}"
            for _, b in sorted(self.roots.blocked.items())
            if b.retry_at > now - 3600
        ]
        reasons += self.aggregation.held_reasons()
        if self.txm is not None:
            reasons += [
                f"transaction {tx.tx_hash} (nonce {tx.nonce}) refused by the node: {tx.last_error}"
                for tx in self.txm.pending()
                if tx.last_error and not tx.last_error.startswith("already_known")
            ]
        self.health.update(epochs_behind=max(0, behind), other_reasons=reasons)

    def close(self) -> None:
        """Close the outbox and stop the source's threads."""
        close = getattr(self.source, "close", None)
        if callable(close):
            close()
        self.outbox.close()
