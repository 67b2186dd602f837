"""The daemon's parts built from the settings: the metric source, the local signers, the co-signing peers, and
the test-only crash points."""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable, Sequence
from typing import Any

from oracle.aggregate import AggregationConfig
from oracle.cosign import PeerClient
from oracle.errors import ConfigError
from oracle.models import AssetMap, CurtailmentWindow
from oracle.settings import OracleSettings
from oracle.signer import EnvSigner, KeystoreSigner, Signer
from oracle.sources.base import MetricSource

from oracle.daemon.epochs import EpochAggregator

__all__ = ["CRASH_ENV", "build_aggregator", "build_peers", "build_signers", "build_source", "crash_hook_from_env"]

logger = logging.getLogger(__name__)

CRASH_ENV = "WELLHEAD_TEST_CRASH_AFTER"
"""Test-only: ``signed``, ``submitted``, ``root_signed`` or ``root_committed`` makes the daemon SIGKILL itself right
after that durable step (a signed batch stored; a transaction stored and broadcast; a signed root stored; a root
recorded as committed on chain); ``submitted:3`` after the third time (three transactions in flight)."""


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


def build_aggregator(
    settings: OracleSettings,
    source: MetricSource,
    assets: AssetMap,
    curtailments: Sequence[CurtailmentWindow] = (),
) -> EpochAggregator:
    """The epoch aggregator the settings describe (the daemon's and the co-signer's: the same rules)."""
    src = settings.source
    return EpochAggregator(
        source,
        assets,
        config=AggregationConfig(scrape_interval_ms=src.scrape_interval_ms, outage_after_ms=src.outage_after_ms),
        curtailments=curtailments,
        lookback_ms=src.lookback_s * 1000,
        grace_ms=src.grace_ms,
        max_lookback_ms=src.max_lookback_s * 1000,
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
    the process right after that step is durable (no cleanup runs, as after a power cut); ``step:N`` the N-th
    time that step is reached.

    Raises:
        ConfigError: the count after ``:`` is not a positive integer.
    """
    target, _, count = os.environ.get(CRASH_ENV, "").strip().partition(":")
    if not target:
        return lambda step: None
    if count and (not count.isdigit() or int(count) < 1):
        raise ConfigError(f"{CRASH_ENV}={target}:{count}: the count after ':' must be a positive integer")
    remaining = [int(count) if count else 1]

    def hook(step: str) -> None:
        if step != target:
            return
        remaining[0] -= 1
        if remaining[0] == 0:
            logger.critical("test crash point %r reached: SIGKILL", step, extra={"event": "test_crash", "step": step})
            for handler in logging.getLogger().handlers:
                handler.flush()
            os.kill(os.getpid(), signal.SIGKILL)

    return hook

