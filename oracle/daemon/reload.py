"""Reloading the submission settings of a running daemon (SIGHUP): a raised fee cap without a restart.

Only the ``[submission]`` table is applied (fee caps and bump, gas cap and margin, confirmations, replacement
delay, batch size, mode, transactions in flight); a change to any other section is named as needing a
restart, and a file that does not load leaves the running settings as they are.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from oracle.errors import WellheadError
from oracle.settings import OracleSettings

__all__ = ["apply_submission", "load_for_reload"]

logger = logging.getLogger(__name__)


def load_for_reload(loader: Callable[[], OracleSettings] | None) -> OracleSettings | None:
    """The settings as they are now, or None (logged) when there is no loader or they do not load."""
    if loader is None:
        logger.warning("reload requested but no settings loader is set", extra={"event": "reload_unavailable"})
        return None
    try:
        return loader()
    except WellheadError as exc:
        logger.error("reload failed, the running settings are kept: %s", exc, extra={"event": "reload_failed"})
        return None


def apply_submission(old: OracleSettings, new: OracleSettings) -> OracleSettings:
    """``old`` with ``new``'s submission table (``old`` itself when it did not change); logs what changed and
    which other sections would need a restart."""
    restart = sorted(
        name for name in type(new).model_fields if name != "submission" and getattr(new, name) != getattr(old, name)
    )
    if restart:
        logger.warning(
            "reload applies [submission] only; changes to %s need a restart",
            ", ".join(restart),
            extra={"event": "reload_needs_restart", "sections": restart},
        )
    before, after = old.submission.model_dump(), new.submission.model_dump()
    changes = {k: [str(before[k]), str(after[k])] for k in after if before[k] != after[k]}
    if not changes:
        logger.info("reload: the submission settings did not change", extra={"event": "settings_reloaded"})
        return old
    logger.warning(
        "submission settings reloaded: %s",
        ", ".join(f"{k} {v[0]} -> {v[1]}" for k, v in sorted(changes.items())),
        extra={"event": "settings_reloaded", "changes": changes},
    )
    return old.model_copy(update={"submission": new.submission})
