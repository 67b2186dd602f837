"""The ``wellhead-oracle`` / ``python -m oracle`` command line.

Each subcommand is one ``_register_<name>(subparsers)`` function listed in :data:`COMMANDS`; it adds its parser
and sets ``handler`` (a function ``(args) -> exit code``). To add a subcommand, write such a function and
append it to :data:`COMMANDS`.

A registrar listed later may replace an earlier subcommand of the same name (plug-ins override).

Exit codes: 0 success, 1 an operation failed, 2 bad usage, invalid settings or an invalid input file, 3 a
start-up check failed (wrong chain, signer not in the set, unknown asset...: restarting will not help), 4 the
chain or the source was unreachable at start-up (a restart may help).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from oracle.errors import ConfigError, SigningError, SourceError, StartupCheckError, WellheadError

__all__ = ["COMMANDS", "build_parser", "main"]

logger = logging.getLogger(__name__)

Register = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_STARTUP_CHECK = 3
EXIT_UNREACHABLE = 4

_UNREACHABLE_CHECKS = frozenset({"chain_unreachable", "source_unreachable"})


def _register_aggregate(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "aggregate",
        help="aggregate a recorded metrics file into per-asset epoch reports",
        description=(
            "Print one JSON report per line for every (asset, complete epoch), sorted by (assetId, epoch); "
            "a summary of rejected readings goes to stderr."
        ),
    )
    parser.add_argument("--metrics", required=True, type=Path, help="OpenMetrics or Prometheus text recording")
    parser.add_argument("--assets", required=True, type=Path, help="asset map JSON (genesis, epochLength, assets)")
    parser.add_argument(
        "--scrape-interval", default="15", metavar="SECONDS", help="exporter scrape interval (default: 15)"
    )
    parser.add_argument("--curtailments", type=Path, help="JSON array of {assetId, start, end} windows")
    parser.add_argument(
        "--format",
        choices=("auto", "openmetrics", "prometheus"),
        default="auto",
        help="recording format (default: auto, OpenMetrics when the file ends with '# EOF')",
    )
    parser.add_argument("--first-epoch", type=int, help="first epoch to report (default: the recording's first)")
    parser.add_argument(
        "--outage-after",
        default="900",
        metavar="SECONDS",
        help="outage horizon, as the daemon's source.outage_after_s: an interval closing more than this after an "
        "epoch's end adds nothing to it (default: 900; 'none': no horizon)",
    )
    parser.set_defaults(handler=_aggregate)


def _aggregate(args: argparse.Namespace) -> int:
    from oracle.aggregate import AggregationConfig, aggregate
    from oracle.assets import load_asset_map, load_curtailments
    from oracle.sources.recording import RecordingSource

    config = AggregationConfig.from_seconds(args.scrape_interval)
    horizon = str(args.outage_after).strip().lower()
    if horizon == "none":
        config = config.model_copy(update={"outage_after_ms": None})
    elif horizon.isdigit():
        config = config.model_copy(update={"outage_after_ms": int(horizon) * 1000})
    else:
        sys.stderr.write(f"wellhead-oracle aggregate: --outage-after {args.outage_after!r}: whole seconds or 'none'\n")
        return EXIT_USAGE
    assets = load_asset_map(args.assets)
    windows = load_curtailments(args.curtailments) if args.curtailments is not None else []
    batch = RecordingSource(args.metrics, fmt=args.format).fetch()
    result = aggregate(batch, assets, config=config, curtailments=windows, first_epoch=args.first_epoch)
    out = sys.stdout
    for report in result.reports():
        out.write(report.model_dump_json() + "\n")
    out.flush()
    rejected = result.readings_rejected
    summary = f"rejected {rejected} of {result.readings_total} readings"
    if rejected:
        summary += ": " + ", ".join(
            f"{reason.value}={count}" for reason, count in sorted(result.rejected_by_reason.items())
        )
    sys.stderr.write(summary + "\n")
    return EXIT_OK


# --- settings flags shared by run, status and cosign ------------------------------------------------------


def _add_settings_flags(parser: argparse.ArgumentParser, *, daemon: bool = False) -> None:
    parser.add_argument("--config", type=Path, help="TOML settings file (see docs/oracle.example.toml)")
    parser.add_argument("--rpc-url", help="JSON-RPC URL (overrides chain.rpc_url)")
    parser.add_argument("--chain-id", type=int, help="expected chain id (overrides chain.chain_id)")
    parser.add_argument("--deployment", type=Path, help="deployments/<chainId>.json (overrides chain.deployment)")
    parser.add_argument("--outbox", type=Path, help="SQLite outbox file (overrides outbox.path)")
    if daemon:
        parser.add_argument("--until-epoch", type=int, help="exit 0 once every asset has posted through this epoch")
        parser.add_argument("--metrics-port", type=int, help="port of /metrics and /health (overrides ops.port)")
        parser.add_argument("--poll-interval", type=float, help="seconds between steps (overrides poll_interval_s)")
        parser.add_argument("--log-format", choices=("json", "text"), help="overrides ops.log_format")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any setting, e.g. --set submission.gas_cap_per_tx=2000000 (repeatable)",
    )


def _settings_from(args: argparse.Namespace) -> Any:
    from oracle.settings import load_settings, nested_override, parse_override

    overrides: dict[str, Any] = {}
    for text in args.overrides:
        path, value = parse_override(text)
        nested_override(path, value, overrides)
    flags = {
        ("chain", "rpc_url"): args.rpc_url,
        ("chain", "chain_id"): args.chain_id,
        ("chain", "deployment"): str(args.deployment) if args.deployment else None,
        ("outbox", "path"): str(args.outbox) if args.outbox else None,
        ("until_epoch",): getattr(args, "until_epoch", None),
        ("ops", "port"): getattr(args, "metrics_port", None),
        ("poll_interval_s",): getattr(args, "poll_interval", None),
        ("ops", "log_format"): getattr(args, "log_format", None),
    }
    for path, value in flags.items():
        if value is not None:
            nested_override(list(path), value, overrides)
    return load_settings(args.config, overrides)


# --- run ---------------------------------------------------------------------------------------------------


def _register_run(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run the oracle daemon: meter, sign and post every epoch",
        description=(
            "Start-up checks, then aggregate every ready epoch into the outbox, sign it (with peers when needed) "
            "and post it to the MeteringOracle, until SIGTERM (or --until-epoch)."
        ),
    )
    _add_settings_flags(parser, daemon=True)
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from oracle.daemon import Daemon
    from oracle.metrics import OpsServer

    settings = _settings_from(args)
    _daemon_logging(settings)
    stop = threading.Event()
    _on_signals(stop)
    try:
        daemon = Daemon.from_settings(settings, stop=stop)
    except SigningError as exc:
        sys.stderr.write(f"wellhead-oracle run: error: {exc}\n")
        return EXIT_USAGE
    daemon.settings_loader = lambda: _settings_from(args)
    signal.signal(signal.SIGHUP, lambda _signum, _frame: daemon.request_reload())
    ops: OpsServer | None = None
    try:
        try:
            daemon.startup_checks()
        except StartupCheckError as exc:
            logger.error("%s", exc, extra={"event": "startup_check_failed", "check": exc.check})
            sys.stderr.write(f"wellhead-oracle run: {exc}\n")
            return EXIT_UNREACHABLE if exc.check in _UNREACHABLE_CHECKS else EXIT_STARTUP_CHECK
        if settings.ops.enabled and settings.ops.port is not None:
            ops = OpsServer(
                daemon.metrics,
                daemon.health,
                host=settings.ops.host,
                port=settings.ops.port,
                publications=settings.submission.publish_dir,
            )
            ops.start()
            logger.info(
                "metrics and health on http://%s:%d", settings.ops.host, ops.port,
                extra={"event": "ops_listening", "port": ops.port},
            )
        return daemon.run()
    finally:
        if ops is not None:
            ops.stop()
        daemon.close()


def _daemon_logging(settings: Any) -> None:
    """JSON (or text) logs as the settings say, with the URLs that may carry credentials scrubbed from every
    record, then the settings' warnings (so that they are JSON like the rest)."""
    from oracle.metrics import configure_logging
    from oracle.redact import register_secret_url

    for url in settings.secret_urls():
        register_secret_url(url)
    configure_logging(settings.ops.log_level, settings.ops.log_format)
    settings.log_warnings()


def _on_signals(stop: threading.Event) -> None:
    """SIGTERM and SIGINT end the loop after the current step (a second one too: steps are short)."""

    def handle(signum: int, _frame: object) -> None:
        logger.info("signal %d: finishing the current step", signum, extra={"event": "signal", "signal": signum})
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


# --- status ------------------------------------------------------------------------------------------------


def _register_status(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "status",
        help="per asset: last posted epoch, outbox backlog; pending transactions",
        description="Reads the chain (cursors) and the outbox (read-only); works while the daemon runs.",
    )
    _add_settings_flags(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=_status)


def _status(args: argparse.Namespace) -> int:
    from oracle.daemon import status_report
    from oracle.redact import register_secret_url

    settings = _settings_from(args)
    for url in settings.secret_urls():
        register_secret_url(url)
    report = status_report(settings)
    out = sys.stdout
    code = EXIT_UNREACHABLE if "chainError" in report else EXIT_OK  # monitoring must see an unreachable node
    if args.json:
        out.write(json.dumps(report, indent=1) + "\n")
        return code
    out.write(f"oracle {report['oracle']} on chain {report['chainId']}")
    if "chainTime" in report:
        out.write(f" (block {report['block']}, time {report['chainTime']})")
    out.write(f", posting mode {report['mode']}\n")
    if "chainError" in report:
        out.write(f"chain unreachable: {report['chainError']}\n")
    if "outboxError" in report:
        out.write(f"outbox: {report['outboxError']}\n")
    out.write(f"{'asset':>8}  {'last posted':>11}  {'backlog':>7}  {'last aggregated':>15}\n")
    for row in report["assets"]:
        posted = row.get("lastPostedEpoch", "?")
        out.write(
            f"{row['assetId']:>8}  {'-' if posted is None else posted!s:>11}  {row.get('backlog', '?')!s:>7}  "
            f"{'-' if row.get('lastAggregatedEpoch') is None else row['lastAggregatedEpoch']!s:>15}\n"
        )
    pending = report["pendingTransactions"]
    out.write(f"pending transactions: {len(pending)}\n")
    for tx in pending:
        target = f"root {tx['root']}" if tx["kind"] == "commit" else f"batch {tx['batch']}"
        out.write(
            f"  {tx['hash']} {tx['kind']} {target} nonce {tx['nonce']} max fee {tx['maxFeePerGas']} "
            f"tip {tx['maxPriorityFeePerGas']} age {tx['ageSeconds']}s"
            + (f" last error: {tx['lastError']}" if tx["lastError"] else "")
            + "\n"
        )
    out.write(f"in flight: {report.get('inFlight', 0)} of {report.get('maxInFlight', '?')} nonces\n")
    roots = report.get("roots", [])
    if roots or report["mode"] == "root":
        conflicts = report.get("rootConflicts")
        out.write(f"roots at work: {len(roots)}" + (f" (conflicts: {conflicts})" if conflicts else "") + "\n")
        for root in roots:
            out.write(
                f"  epoch {root['epoch']} {root['state']} {root['root']} "
                f"reports {root['posted']}/{root['reportCount']} posted\n"
            )
    return code


# --- outage ------------------------------------------------------------------------------------------------


def _register_outage(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "outage",
        help="declare an outage: let the daemon post an asset's held epochs as measured now",
        description=(
            "An epoch in which a GPU has not scraped since before its end is held unsigned until the GPU scrapes "
            "again or source.outage_after_s passes. This records, in the outbox's audit trail, that the asset's "
            "epochs through --through-epoch are an outage: the running daemon posts them as measured at its next "
            "step (the GPUs' silent intervals add nothing to them)."
        ),
    )
    _add_settings_flags(parser)
    parser.add_argument("--asset", type=int, required=True, help="the asset id")
    parser.add_argument("--through-epoch", type=int, required=True, help="the last epoch declared an outage")
    parser.add_argument("--note", default="", help="why (kept in the audit trail)")
    parser.set_defaults(handler=_outage)


def _outage(args: argparse.Namespace) -> int:
    import getpass

    from oracle.assets import load_asset_map
    from oracle.daemon.aggregation import OUTAGE_EVENT
    from oracle.outbox import Outbox

    settings = _settings_from(args)
    assets = load_asset_map(settings.assets.map)
    if args.asset not in assets.assets:
        sys.stderr.write(f"wellhead-oracle outage: asset {args.asset} is not in the asset map {settings.assets.map}\n")
        return EXIT_USAGE
    if args.through_epoch < 0:
        sys.stderr.write(f"wellhead-oracle outage: --through-epoch {args.through_epoch} is negative\n")
        return EXIT_USAGE
    outbox = Outbox(settings.outbox.path)
    try:
        detail = {"asset": args.asset, "throughEpoch": args.through_epoch, "by": getpass.getuser(), "note": args.note}
        outbox.record_event(OUTAGE_EVENT, detail, asset_id=args.asset, epoch=args.through_epoch)
    finally:
        outbox.close()
    sys.stdout.write(
        f"asset {args.asset}: epochs through {args.through_epoch} declared an outage; the daemon posts them at its "
        "next step\n"
    )
    return EXIT_OK


# --- cosign ------------------------------------------------------------------------------------------------


def _register_cosign(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "cosign",
        help="serve the co-signing endpoint: recompute batches and roots from our own meters, sign only exact matches",
        description="POST /v1/sign and /v1/sign-root on cosign.listen_host:cosign.listen_port (see oracle.cosign).",
    )
    _add_settings_flags(parser)
    parser.add_argument("--port", type=int, help="overrides cosign.listen_port")
    parser.set_defaults(handler=_cosign)


def _cosign(args: argparse.Namespace) -> int:
    from oracle.assets import load_asset_map, load_curtailments
    from oracle.chain import load_deployment
    from oracle.cosign import CosignServer, CosignService
    from oracle.daemon import build_aggregator, build_signers, build_source

    if args.port is not None:
        args.overrides.append(f"cosign.listen_port={args.port}")
    settings = _settings_from(args)
    _daemon_logging(settings)
    assets = load_asset_map(settings.assets.map)
    windows = load_curtailments(settings.assets.curtailments) if settings.assets.curtailments else []
    deployment = load_deployment(
        settings.chain.deployment,
        oracle_address=settings.chain.oracle_address,
        lease_market_address=settings.chain.lease_market_address,
    )
    try:
        signers = build_signers(settings)
    except SigningError as exc:
        sys.stderr.write(f"wellhead-oracle cosign: error: {exc}\n")
        return EXIT_USAGE
    if not signers:
        sys.stderr.write("wellhead-oracle cosign: error: no local signer (signers.keystores)\n")
        return EXIT_USAGE
    source = build_source(settings, assets)
    aggregator = build_aggregator(settings, source, assets, windows)
    service = CosignService(
        chain_id=settings.chain.chain_id,
        oracle=deployment.oracle,
        signers=signers,
        recompute=aggregator.reports_for,
        known_assets=set(assets.assets),
    )
    token = settings.cosign.auth_token.get_secret_value() if settings.cosign.auth_token else None
    c = settings.cosign
    server = CosignServer(
        service,
        host=c.listen_host,
        port=c.listen_port,
        auth_token=token,
        read_timeout_s=c.read_timeout_s,
        max_body_bytes=c.max_body_bytes,
        max_connections=c.max_connections,
    )
    stop = threading.Event()
    _on_signals(stop)
    server.start()
    logger.info(
        "co-signing for chain %d oracle %s on %s as %s", settings.chain.chain_id, deployment.oracle, server.url,
        ", ".join(s.address for s in signers), extra={"event": "cosign_listening", "port": server.port},
    )
    try:
        stop.wait()
    finally:
        server.stop()
        close = getattr(source, "close", None)
        if callable(close):
            close()
    return EXIT_OK


# --- nvml-probe --------------------------------------------------------------------------------------------


def _register_nvml_probe(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "nvml-probe",
        help="sample this host's GPUs through NVML and aggregate a mini-epoch (no chain, no config)",
        description=(
            "Samples every GPU for --seconds at --scrape-interval, prints each scrape as JSON, then aggregates "
            "the GPUs as one asset into epochs of --epoch-length seconds and prints the reports, with the energy "
            "integrated from the power gauge as a cross-check of the energy counter."
        ),
    )
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--scrape-interval", default="1", metavar="SECONDS")
    parser.add_argument("--epoch-length", type=int, default=10, help="mini-epoch length in seconds (default 10)")
    parser.set_defaults(handler=_nvml_probe)


def _nvml_probe(args: argparse.Namespace) -> int:
    from oracle.aggregate import AggregationConfig, aggregate
    from oracle.models import AssetMap
    from oracle.sources.nvml import NvmlSource

    config = AggregationConfig.from_seconds(args.scrape_interval)
    interval_ms = config.scrape_interval_ms
    source = NvmlSource(scrape_interval_ms=interval_ms, buffer_s=int(args.seconds) + 60)
    source.start(thread=False)
    out = sys.stdout
    nvml = source._nvml  # noqa: SLF001 - the probe reports the driver it found
    try:
        driver = nvml.nvmlSystemGetDriverVersion()
        driver = driver.decode() if isinstance(driver, bytes) else driver
    except Exception:  # informational only
        driver = "unknown"
    out.write(json.dumps({"driver": driver, "gpus": source.uuids, "xidEvents": source._event_set is not None}) + "\n")
    first_ms: int | None = None
    deadline = time.time() + args.seconds
    try:
        while time.time() < deadline:
            now_ms = int(time.time() * 1000)
            tick = (now_ms // interval_ms) * interval_ms
            samples = source.sample_once(tick if tick >= now_ms - 50 else now_ms)
            first_ms = first_ms if first_ms is not None else samples[0].ts_ms
            for sample in samples:
                out.write(json.dumps({"scrape": sample.as_dict()}) + "\n")
            out.flush()
            next_ms = (int(time.time() * 1000) // interval_ms + 1) * interval_ms
            time.sleep(max(0.0, next_ms / 1000 - time.time()))
        batch = source.fetch()
    finally:
        source.close()
    if first_ms is None or batch.covered_until_ms is None:
        sys.stderr.write("wellhead-oracle nvml-probe: no scrape taken\n")
        return EXIT_FAILED
    genesis = -(-first_ms // 1000)
    assets = AssetMap.model_validate(
        {"genesis": genesis, "epochLength": args.epoch_length,
         "assets": {"1": {"hostname": source.name, "gpus": source.uuids}}}
    )
    result = aggregate(batch, assets, config=config, first_epoch=0)
    grid = batch.data
    for epoch in result.epochs:
        start_ms, end_ms = epoch.start * 1000, epoch.end * 1000
        integrated_mj = 0.0
        ts, power, present = grid.ts_ms, grid.power_w, grid.present  # type: ignore[union-attr]
        for row in range(ts.shape[0]):
            for j in range(1, ts.shape[1]):
                if present[row, j] and present[row, j - 1] and start_ms < ts[row, j] <= end_ms:
                    integrated_mj += float(power[row, j]) * float(ts[row, j] - ts[row, j - 1])
        for stats in epoch.assets:
            out.write(
                json.dumps(
                    {"report": stats.report.model_dump(), "energyMj": stats.energy_mj,
                     "energyFromPowerMj": round(integrated_mj), "unhealthyMs": stats.unhealthy_ms,
                     "counterResets": stats.counter_resets, "intervals": stats.intervals}
                )
                + "\n"
            )
    sys.stderr.write(
        f"{len(source.uuids)} GPUs, {result.readings_total} readings, {result.readings_rejected} rejected, "
        f"{len(result.epochs)} complete epochs of {args.epoch_length}s\n"
    )
    return EXIT_OK if result.epochs else EXIT_FAILED


# --- simulate ----------------------------------------------------------------------------------------------


def _register_simulate(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="write a deterministic simulated fleet: an asset map and an OpenMetrics recording",
    )
    parser.add_argument("--gpus", default="8,4", help="GPUs per asset, asset ids from 1 (default 8,4)")
    parser.add_argument("--power", default="", help="rated W per GPU per asset (default 700 each)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--genesis", type=int, required=True)
    parser.add_argument("--epoch-length", type=int, default=3600)
    parser.add_argument("--start", type=int, help="first scrape (Unix s; default genesis)")
    parser.add_argument("--end", type=int, required=True, help="last scrape (Unix s)")
    parser.add_argument("--scrape-interval", default="15", metavar="SECONDS")
    parser.add_argument("--assets-out", type=Path, required=True)
    parser.add_argument("--metrics-out", type=Path, required=True, help="OpenMetrics file (.gz to compress)")
    parser.set_defaults(handler=_simulate)


def _simulate(args: argparse.Namespace) -> int:
    from oracle.aggregate import AggregationConfig
    from oracle.sources.simulator import FleetSimulator, make_asset_map

    counts = {i + 1: int(n) for i, n in enumerate(args.gpus.split(",")) if n}
    power = {i + 1: int(w) for i, w in enumerate(args.power.split(",")) if w}
    assets = make_asset_map(seed=args.seed, genesis=args.genesis, epoch_length=args.epoch_length, gpus_per_asset=counts)
    interval = AggregationConfig.from_seconds(args.scrape_interval).scrape_interval_ms
    sim = FleetSimulator(
        assets, start_s=args.start if args.start is not None else args.genesis, end_s=args.end,
        scrape_interval_ms=interval, seed=args.seed, power_w=power,
    )
    args.assets_out.write_text(json.dumps(assets.model_dump(mode="json"), indent=1) + "\n", encoding="utf-8")
    sim.write_openmetrics(args.metrics_out)
    sys.stderr.write(f"wrote {args.assets_out} and {args.metrics_out}\n")
    return EXIT_OK


def _register_keep(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from oracle.keeper import register_keep

    register_keep(subparsers)
def _register_admin(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from oracle.admin.commands import register

    register(subparsers)


COMMANDS: list[Register] = [
    _register_aggregate,
    _register_run,
    _register_status,
    _register_outage,
    _register_cosign,
    _register_nvml_probe,
    _register_simulate,
    _register_keep,
    _register_admin,
]
"""Subcommand registrars, in the order they appear in ``--help``."""


class _OverridableSubParsers(argparse._SubParsersAction):  # type: ignore[type-arg]
    """Subcommands where a later registrar replaces an earlier one of the same name (instead of argparse's
    "conflicting subparser" error), so that plug-ins can override built-in commands."""

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        if name in self._name_parser_map:
            del self._name_parser_map[name]
            self._choices_actions = [a for a in self._choices_actions if a.dest != name]
        return super().add_parser(name, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every registered subcommand."""
    parser = argparse.ArgumentParser(prog="wellhead-oracle", description="Wellhead oracle: meter, sign, post.")
    parser.add_argument(
        "--log-level",
        default="WARNING",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help="logging level on stderr (default: WARNING)",
    )
    subparsers = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", action=_OverridableSubParsers
    )
    for register in COMMANDS:
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from oracle.redact import SecretFilter

    for handler_ in logging.getLogger().handlers:
        handler_.addFilter(SecretFilter())
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except (ConfigError, SourceError) as exc:
        sys.stderr.write(f"wellhead-oracle {args.command}: error: {exc}\n")
        return EXIT_USAGE
    except WellheadError as exc:
        sys.stderr.write(f"wellhead-oracle {args.command}: failed: {exc}\n")
        return EXIT_FAILED
