"""Secrets out of every output channel: an RPC or Prometheus URL may carry an API key in its path, its query or
its user-info (``https://mainnet.infura.io/v3/<key>``, ``https://user:pass@node``), and the HTTP libraries put
the whole URL into their exception texts. :func:`redacted_url` is what may be shown of a URL;
:func:`scrub` removes a URL's secret parts from any text; :func:`register_secret_url` makes the logging filter
(:class:`SecretFilter`, installed by :func:`oracle.metrics.configure_logging`) scrub every log record too.
"""

from __future__ import annotations

import logging
import threading
from urllib.parse import unquote, urlsplit

__all__ = ["SecretFilter", "redacted_url", "register_secret_url", "scrub", "scrub_all"]

_MIN_SECRET_LEN = 4
"""Shorter path or query fragments (``/``, ``/rpc``) are not treated as secrets on their own."""

_registered: list[str] = []
_lock = threading.Lock()


def redacted_url(url: str) -> str:
    """``scheme://host[:port]``, with ``/...`` when the URL has a path or a query (where providers put keys);
    user-info is dropped."""
    parts = urlsplit(url.strip())
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    shown = f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")
    if parts.path.strip("/") or parts.query or parts.fragment:
        shown += "/..."
    return shown


def _secret_parts(url: str) -> list[str]:
    """The substrings of ``url`` that must never appear in output, longest first."""
    parts = urlsplit(url.strip())
    secrets = {url.strip(), url.strip().rstrip("/")}
    tail = parts.path + (f"?{parts.query}" if parts.query else "")
    for piece in (tail, parts.path, parts.query, parts.path.rstrip("/"), parts.fragment):
        if len(piece.strip("/")) >= _MIN_SECRET_LEN:
            secrets.add(piece)
            secrets.add(unquote(piece))
    for segment in parts.path.split("/"):
        if len(segment) >= 16:  # a key-like path segment, wherever the library quotes it
            secrets.add(segment)
    if parts.username:
        secrets.add(f"{parts.username}:{parts.password}@" if parts.password is not None else f"{parts.username}@")
    if parts.password:
        secrets.add(parts.password)
        secrets.add(unquote(parts.password))
    return sorted((s for s in secrets if s), key=len, reverse=True)


def scrub(text: str, url: str) -> str:
    """``text`` with ``url`` (whole or in parts: path, query, user-info, password) replaced by its redacted
    form."""
    if not url or not text:
        return text
    shown = redacted_url(url)
    for secret in _secret_parts(url):
        if secret in text:
            text = text.replace(secret, shown if secret.startswith(("http", "ws")) else "...")
    return text


def register_secret_url(url: str | None) -> None:
    """Scrub ``url`` from every log record from now on (see :class:`SecretFilter`)."""
    if not url:
        return
    with _lock:
        if url not in _registered:
            _registered.append(url)


def scrub_all(text: str) -> str:
    """``text`` with every registered URL scrubbed."""
    for url in list(_registered):
        text = scrub(text, url)
    return text


class SecretFilter(logging.Filter):
    """Scrubs the registered URLs from a record's message, its string ``extra`` fields and its exception text
    (attach it to every handler)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not _registered:
            return True
        message = record.getMessage()
        scrubbed = scrub_all(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = scrub_all(text)
        elif record.exc_text:
            record.exc_text = scrub_all(record.exc_text)
        for key, value in list(vars(record).items()):
            if isinstance(value, str) and key not in _PLAIN_ATTRS:
                cleaned = scrub_all(value)
                if cleaned != value:
                    setattr(record, key, cleaned)
        return True


_PLAIN_ATTRS = frozenset({"msg", "name", "levelname", "pathname", "filename", "module", "funcName", "processName"})
