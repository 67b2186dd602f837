"""The ``wellhead-oracle`` / ``python -m oracle`` command line.

Each subcommand is one ``_register_<name>(subparsers)`` function listed in :data:`COMMANDS`; it adds its parser
and sets ``handler`` (a function ``(args) -> exit code``). To add a subcommand, write such a function and
append it to :data:`COMMANDS`.

Exit codes: 0 success, 1 an operation failed, 2 bad usage or an invalid input file.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from oracle.errors import ConfigError, SourceError, WellheadError

__all__ = ["COMMANDS", "build_parser", "main"]

logger = logging.getLogger(__name__)

Register = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


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
    parser.set_defaults(handler=_aggregate)


def _aggregate(args: argparse.Namespace) -> int:
    from oracle.aggregate import AggregationConfig, aggregate
    from oracle.assets import load_asset_map, load_curtailments
    from oracle.sources.recording import RecordingSource

    config = AggregationConfig.from_seconds(args.scrape_interval)
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


COMMANDS: list[Register] = [_register_aggregate]
"""Subcommand registrars, in the order they appear in ``--help``."""


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every registered subcommand."""
    parser = argparse.ArgumentParser(prog="wellhead-oracle", description="Wellhead oracle: meter, sign, post.")
    parser.add_argument(
        "--log-level",
        default="WARNING",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help="logging level on stderr (default: WARNING)",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
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
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except (ConfigError, SourceError) as exc:
        sys.stderr.write(f"wellhead-oracle {args.command}: error: {exc}\n")
        return EXIT_USAGE
    except WellheadError as exc:
        sys.stderr.write(f"wellhead-oracle {args.command}: failed: {exc}\n")
        return EXIT_FAILED
