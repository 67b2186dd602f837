"""Operations: Prometheus metrics, the ``/metrics`` and ``/health`` endpoints, and structured (JSON lines) logs.

Metric names end in their unit or ``_total`` (Prometheus' conventions). They live in a registry of their own
(not prometheus_client's global one), created once and passed down.

``/health`` answers 200 ``{"status": "ok", ...}`` or 503 ``{"status": "degraded", "reasons": [...]}`` with one
reason per problem: the chain or the source unreachable, the daemon behind by more than
``ops.max_epochs_behind`` epochs, a quorum that could not be gathered.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from oracle.redact import SecretFilter

__all__ = ["HealthState", "JsonFormatter", "LogThrottle", "OpsServer", "OracleMetrics", "configure_logging"]

logger = logging.getLogger(__name__)


class OracleMetrics:
    """Every metric the daemon exports, in one registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.reports_posted = Counter(
            "oracle_reports_posted", "Reports landed on chain by this daemon's transactions.", registry=r
        )
        self.reports_done_elsewhere = Counter(
            "oracle_reports_done_elsewhere",
            "Reports found on chain that another transaction posted (already reported).",
            registry=r,
        )
        self.report_mismatches = Counter(
            "oracle_report_mismatches",
            "Epochs whose on-chain report differs from this daemon's aggregation.",
            ["asset"],
            registry=r,
        )
        self.epochs_behind = Gauge(
            "oracle_epochs_behind", "Ended epochs not yet posted, for the asset furthest behind.", registry=r
        )
        self.outbox_backlog = Gauge("oracle_outbox_backlog", "Reports in the outbox not yet on chain.", registry=r)
        self.last_posted_epoch = Gauge(
            "oracle_last_posted_epoch", "Last epoch on chain per asset (cursor - 1).", ["asset"], registry=r
        )
        self.signer_balance = Gauge(
            "oracle_signer_balance_wei", "Balance of the account paying for the transactions.", ["signer"], registry=r
        )
        self.readings_rejected = Counter(
            "oracle_readings_rejected", "Readings rejected by the aggregator, by reason.", ["reason"], registry=r
        )
        self.last_report_timestamp = Gauge(
            "oracle_last_report_timestamp_seconds",
            "Unix time at which this daemon last saw one of its reports confirmed.",
            registry=r,
        )
        self.tx_sent = Counter("oracle_transactions_sent", "Transactions broadcast, by kind.", ["kind"], registry=r)
        self.tx_replacements = Counter(
            "oracle_transaction_replacements", "Stuck transactions replaced with higher fees.", registry=r
        )
        self.tx_dropped = Counter(
            "oracle_transactions_dropped", "Transactions whose nonce another transaction used.", registry=r
        )
        self.tx_reverted = Counter("oracle_transactions_reverted", "Transactions mined but reverted.", registry=r)
        self.pending_transactions = Gauge(
            "oracle_pending_transactions", "Transactions sent and not yet mined.", registry=r
        )
        self.transactions_in_flight = Gauge(
            "oracle_transactions_in_flight",
            "Nonces with a transaction sent and not yet final (at most submission.max_in_flight).",
            registry=r,
        )
        self.batch_splits = Counter(
            "oracle_batch_splits", "Batches split in halves to stay under the gas cap.", registry=r
        )
        self.chain_errors = Counter("oracle_chain_errors", "Steps in which the chain was unreachable.", registry=r)
        self.source_errors = Counter("oracle_source_errors", "Steps in which the source was unreachable.", registry=r)
        self.quorum_failures = Counter(
            "oracle_quorum_failures", "Batches that could not gather a quorum of signatures.", registry=r
        )
        self.chain_up = Gauge("oracle_chain_up", "1 when the last chain read succeeded.", registry=r)
        self.source_up = Gauge("oracle_source_up", "1 when the last source read succeeded.", registry=r)
        self.epochs_aggregated = Counter(
            "oracle_epochs_aggregated", "(asset, epoch) reports aggregated into the outbox.", registry=r
        )
        self.step_duration = Histogram(
            "oracle_step_duration_seconds",
            "Duration of one loop step.",
            buckets=(0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120),
            registry=r,
        )
        self.aggregation_duration = Histogram(
            "oracle_aggregation_duration_seconds",
            "Duration of fetching and aggregating the epochs of one step.",
            buckets=(0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300),
            registry=r,
        )
        self.roots_committed = Counter(
            "oracle_roots_committed",
            "Merkle roots committed on chain by this daemon's commitRoot transactions.",
            registry=r,
        )
        self.roots_found_committed = Counter(
            "oracle_roots_found_committed",
            "Merkle roots this daemon signed that someone else had already committed (same root).",
            registry=r,
        )
        self.root_conflicts = Counter(
            "oracle_root_conflicts",
            "Epochs whose on-chain root differs from this daemon's (their reports fell back to submit batches).",
            registry=r,
        )
        self.proofs_posted = Counter(
            "oracle_proofs_posted",
            "Reports landed on chain by this daemon's proveReports transactions (also in reports_posted).",
            registry=r,
        )
        self.held_assets = Gauge(
            "oracle_held_assets",
            "Assets whose next epoch is held unsigned: one of their GPUs has not scraped since before the "
            "epoch's end and the outage horizon has not passed.",
            registry=r,
        )
        self.outages_posted = Counter(
            "oracle_outages_posted",
            "Asset epochs aggregated as measured while a GPU was silent (an outage), by why: the horizon "
            "passed or an operator declared it.",
            ["why"],
            registry=r,
        )
        self.reports_reopened = Counter(
            "oracle_reports_reopened",
            "Reports the outbox held as on chain that a chain rollback (reorg) removed: posted again.",
            registry=r,
        )
        self.keeper_settled = Counter(
            "oracle_keeper_settle_transactions", "LeaseMarket.settleThrough transactions sent.", registry=r
        )

    def render(self) -> bytes:
        """The exposition text of every metric."""
        return generate_latest(self.registry)


@dataclass
class HealthState:
    """What ``/health`` reports; the daemon's loop updates it after each step (thread-safe)."""

    chain_error: str | None = None
    source_error: str | None = None
    epochs_behind: int = 0
    max_epochs_behind: int = 2
    quorum_error: str | None = None
    other_reasons: list[str] = field(default_factory=list)
    """Further problems (an asset whose reports the contract refuses, a transaction that cannot be priced)."""
    last_step_at: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def update(self, **changes: Any) -> None:
        """Set some fields at once."""
        with self._lock:
            for key, value in changes.items():
                setattr(self, key, value)

    def snapshot(self) -> tuple[bool, dict[str, Any]]:
        """(healthy, JSON body)."""
        with self._lock:
            reasons = []
            if self.chain_error:
                reasons.append(f"chain unreachable: {self.chain_error}")
            if self.source_error:
                reasons.append(f"source unreachable: {self.source_error}")
            if self.epochs_behind > self.max_epochs_behind:
                reasons.append(f"behind by {self.epochs_behind} epochs (more than {self.max_epochs_behind})")
            if self.quorum_error:
                reasons.append(f"quorum not reached: {self.quorum_error}")
            reasons.extend(self.other_reasons)
            body = {
                "status": "ok" if not reasons else "degraded",
                "reasons": reasons,
                "epochsBehind": self.epochs_behind,
                "lastStepAt": self.last_step_at,
                **self.details,
            }
            return not reasons, body


class OpsServer:
    """``GET /metrics`` and ``GET /health`` on a background thread (stdlib ``ThreadingHTTPServer``).

    Args:
        host: the address to listen on.
        port: the port (0 picks a free one; read :attr:`port` after :meth:`start`).
    """

    def __init__(
        self,
        metrics: OracleMetrics,
        health: HealthState,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        publications: Path | None = None,
    ) -> None:
        self.metrics = metrics
        self.health = health
        self.publications = publications
        ops = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._send(200, ops.metrics.render(), CONTENT_TYPE_LATEST)
                elif path in ("/health", "/healthz"):
                    healthy, body = ops.health.snapshot()
                    self._send(200 if healthy else 503, json.dumps(body).encode(), "application/json")
                elif ops.publications is not None and (path == "/epochs" or path.startswith("/epochs/")):
                    self._send(*_publication_response(ops.publications, path))
                else:
                    self._send(404, b'{"error": "not found"}', "application/json")

            def _send(self, code: int, body: bytes, content_type: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
                logger.debug("ops %s", format % args)

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port actually listened on."""
        return int(self._server.server_address[1])

    def start(self) -> None:
        """Serve on a daemon thread."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="ops-http", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()


def _publication_response(directory: Path, path: str) -> tuple[int, bytes, str]:
    """``GET /epochs`` (the published epochs) and ``GET /epochs/<N>`` (one epoch's leaves and proofs)."""
    from oracle.publication import DirectorySource, listing_json, publication_path

    if path == "/epochs":
        return 200, listing_json(DirectorySource(directory).epochs()).encode(), "application/json"
    tail = path.removeprefix("/epochs/")
    if not tail.isdigit():
        return 404, b'{"error": "not found"}', "application/json"
    try:
        return 200, publication_path(directory, int(tail)).read_bytes(), "application/json"
    except OSError:
        return 404, b'{"error": "epoch not published"}', "application/json"


# --- logs ------------------------------------------------------------------------------------------

_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None)).keys() | {"message", "asctime", "taskName"}
)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``msg`` and every ``extra`` field."""

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                body[key] = value
        if record.exc_text:
            body["exc"] = record.exc_text  # already formatted (and scrubbed of secrets by SecretFilter)
        elif record.exc_info:
            body["exc"] = self.formatException(record.exc_info)
        return json.dumps(body, default=str)


class LogThrottle:
    """Rate-limits a log line that a persisting condition would repeat on every poll (a stuck transaction).

    The first occurrence of a key is logged; repeats are logged at most once per ``interval_s``, saying how many
    were held back in between. :meth:`forget` a key once the condition is over, so that a new one logs at once.

    Args:
        interval_s: the least time between two lines of one key.
        clock: monotonic seconds (tests inject one).
    """

    def __init__(self, interval_s: float = 300.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval_s = interval_s
        self._clock = clock
        self._state: dict[Hashable, tuple[float, int]] = {}

    def allow(self, key: Hashable) -> int | None:
        """None to hold this line back; else how many lines of ``key`` were held back since the last one."""
        now = self._clock()
        last = self._state.get(key)
        if last is None or now - last[0] >= self.interval_s:
            self._state[key] = (now, 0)
            return 0 if last is None else last[1]
        self._state[key] = (last[0], last[1] + 1)
        return None

    def forget(self, key: Hashable) -> None:
        """The condition is over: the next line of ``key`` is logged at once."""
        self._state.pop(key, None)


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    """Send logs to stderr as JSON lines (``fmt="json"``) or text; replaces any handler set before."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(SecretFilter())
    root.addHandler(handler)
    root.setLevel(level)
    logging.Formatter.converter = time.gmtime
