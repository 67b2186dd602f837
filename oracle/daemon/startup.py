"""Start-up checks: fail fast, with one clear message, on anything that would make every step fail or post
wrongly (the node, the deployment, the epoch clock, the signers, the assets, the source, the outbox)."""

from __future__ import annotations

import logging

from oracle.errors import ChainUnavailable, SourceError, StartupCheckError, SubmissionError, WellheadError
from oracle.signer import Signer
from oracle.sources.base import MetricSource
from oracle.submitter import FeePolicy, TxManager

from oracle.daemon.context import StageContext
from oracle.daemon.epochs import source_coverage_ms

__all__ = ["run_startup_checks"]

logger = logging.getLogger(__name__)


def run_startup_checks(ctx: StageContext, source: MetricSource, fees: FeePolicy) -> tuple[Signer, TxManager]:
    """Fail fast, with one clear message, on anything that would make every step fail or post wrongly.

    Returns:
        (the local signer that pays for transactions, the transaction manager it sends with).

    Raises:
        StartupCheckError: ``chain_unreachable``, ``chain_id``, ``deployment_chain_id``, ``oracle_missing``,
            ``oracle_abi``, ``epoch_config``, ``no_local_signer``, ``signer_not_in_set``, ``sender``,
            ``unknown_asset``, ``reporting_not_started``, ``source_unreachable``, ``asset_no_series`` or
            ``outbox_deployment``.
    """
    cfg = ctx.settings
    url = cfg.chain.redacted_url()
    try:
        chain_id = ctx.chain.chain_id()
    except ChainUnavailable as exc:
        raise StartupCheckError(
            "chain_unreachable", f"the RPC node at {url} does not answer: {exc.reason}"
        ) from None
    if chain_id != cfg.chain.chain_id:
        raise StartupCheckError(
            "chain_id", f"the RPC node at {url} serves chain {chain_id}, but chain.chain_id is {cfg.chain.chain_id}"
        )
    if ctx.deployment.chain_id is not None and ctx.deployment.chain_id != chain_id:
        raise StartupCheckError(
            "deployment_chain_id",
            f"{ctx.deployment.source} is a deployment on chain {ctx.deployment.chain_id}, "
            f"the node serves {chain_id}",
        )
    try:
        if not ctx.chain.code_at(ctx.deployment.oracle):
            raise StartupCheckError(
                "oracle_missing", f"no contract at {ctx.deployment.oracle} on chain {chain_id}"
            )
        try:
            ctx.chain.check_submit_abi()
        except SubmissionError as exc:
            raise StartupCheckError("oracle_abi", exc.reason) from None
        genesis, length = ctx.chain.genesis(), ctx.chain.epoch_length()
        if (genesis, length) != (ctx.assets.genesis, ctx.assets.epoch_length):
            raise StartupCheckError(
                "epoch_config",
                f"the asset map {cfg.assets.map} has genesis {ctx.assets.genesis} and epochLength "
                f"{ctx.assets.epoch_length}, the oracle {ctx.deployment.oracle} has genesis {genesis} and "
                f"epochLength {length}",
            )
        signer_set = ctx.chain.signers()
        threshold = ctx.chain.threshold()
        if not ctx.signers:
            raise StartupCheckError(
                "no_local_signer", "no local signer: set signers.keystores (or signers.dev_key_env in development)"
            )
        outsiders = [s.address for s in ctx.signers if s.address not in signer_set]
        if outsiders:
            raise StartupCheckError(
                "signer_not_in_set",
                f"local signer(s) {', '.join(outsiders)} are not in the oracle's current signer set "
                f"[{', '.join(signer_set)}] (configVersion {ctx.chain.config_version()})",
            )
        sender = _pick_sender(ctx)
        if len(ctx.signers) + len(ctx.peers) < threshold:
            logger.warning(
                "%d local signers and %d peers cannot reach the threshold of %d",
                len(ctx.signers),
                len(ctx.peers),
                threshold,
                extra={"event": "quorum_unreachable"},
            )
        # O(1) round trips for any fleet: cursorsOf in chunks, statusOf in JSON-RPC batches (one call per
        # asset took 140 s at 12,500 assets)
        statuses = ctx.chain.asset_statuses(ctx.asset_ids)
        cursors = ctx.chain.cursors(ctx.asset_ids)
        for asset_id in ctx.asset_ids:
            status = statuses[asset_id]
            if status == "None":
                raise StartupCheckError(
                    "unknown_asset",
                    f"asset {asset_id} of {cfg.assets.map} is not registered in the AssetRegistry "
                    f"{ctx.chain.asset_registry()}",
                )
            if not cursors[asset_id][1]:
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
        balance = ctx.chain.balance(sender.address)
        if balance == 0:
            logger.warning("the sender %s has no funds", sender.address, extra={"event": "sender_unfunded"})
    except ChainUnavailable as exc:
        raise StartupCheckError(
            "chain_unreachable", f"the RPC node at {url} stopped answering: {exc.reason}"
        ) from None
    try:
        probe = getattr(source, "probe", None)
        if callable(probe):
            probe()
        else:
            source.fetch()
    except SourceError as exc:
        raise StartupCheckError(
            "source_unreachable", f"the metric source {source.name} is unusable: {exc}"
        ) from None
    ctx.metrics.source_up.set(1)
    _check_series(ctx, source, {a: c[0] for a, c in cursors.items()})
    try:
        ctx.outbox.bind(chain_id, ctx.deployment.oracle)
    except WellheadError as exc:
        raise StartupCheckError("outbox_deployment", str(exc)) from None
    txm = TxManager(
        ctx.chain,
        ctx.outbox,
        sender,
        fees,
        chain_id=chain_id,
        replace_after_blocks=cfg.submission.replace_after_blocks,
        confirmations=cfg.submission.confirmations,
        gas_margin_percent=cfg.submission.gas_margin_percent,
        gas_cap=cfg.submission.gas_cap_per_tx,
        metrics=ctx.metrics,
        crash_hook=ctx.crash,
    )
    logger.info(
        "start-up checks passed: chain %d, oracle %s, %d assets, %d local signers (sender %s), source %s",
        chain_id,
        ctx.deployment.oracle,
        len(ctx.asset_ids),
        len(ctx.signers),
        sender.address,
        source.name,
        extra={"event": "started", "chain_id": chain_id, "oracle": ctx.deployment.oracle},
    )
    return sender, txm



def _pick_sender(ctx: StageContext) -> Signer:
    wanted = ctx.settings.signers.sender
    if wanted is None:
        return ctx.signers[0]
    for signer in ctx.signers:
        if signer.address == wanted:
            return signer
    raise StartupCheckError("sender", f"signers.sender {wanted} is none of the local signers")


def _check_series(ctx: StageContext, source: MetricSource, next_epochs: dict[int, int]) -> None:
    """Refuse an asset none of whose GPUs has a series around the next epoch it must post (its cursor's, or the
    last one the source covers): a selector that matches nothing, a wiped TSDB or a wrong asset map would
    otherwise be posted as an outage.

    Raises:
        StartupCheckError: ``asset_no_series`` or ``source_unreachable``.
    """
    cfg = ctx.settings.source
    span_ms = max(cfg.lookback_s * 1000, 2 * cfg.scrape_interval_ms)
    try:
        coverage = source_coverage_ms(source)
        ends: dict[int, list[int]] = {}
        for asset_id in ctx.asset_ids:
            next_end = ctx.aggregator.epoch_end_s(next_epochs[asset_id]) * 1000 + cfg.grace_ms
            end = next_end if coverage is None else min(coverage, next_end)
            ends.setdefault(end, []).append(asset_id)
        silent: list[int] = []
        for end, asset_ids in sorted(ends.items()):
            seen = ctx.aggregator.gpus_seen(end - span_ms, end)  # in groups of assets for a large fleet
            silent += [a for a in asset_ids if not any(u in seen for u in ctx.assets.assets[a].gpus)]
    except SourceError as exc:
        raise StartupCheckError("source_unreachable", f"the metric source {source.name} is unusable: {exc}") from None
    if silent:
        raise StartupCheckError(
            "asset_no_series",
            f"asset(s) {', '.join(map(str, sorted(silent)))} of {ctx.settings.assets.map} have no series in the "
            f"metric source {source.name} in the lookback ({span_ms // 1000} s) before the end of the next epoch to "
            "post (or what the source covers): a "
            "selector that matches none of their GPUs, a wiped TSDB or a wrong asset map would be posted as an "
            "outage. Fix the source or the map; a real outage is posted by the running daemon after "
            "source.outage_after_s (or `wellhead-oracle outage`)",
        )
