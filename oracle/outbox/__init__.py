"""The durable outbox: one SQLite file (WAL) holding every report from the moment it is aggregated until the
chain holds it, every signed batch, every transaction sent, and the quarantined readings.

Nothing measured is lost while the chain is unreachable and nothing is sent twice after a crash: every
report and every signed batch is committed here *before* any network call that depends on it, every raw
transaction is committed before it is broadcast, and each step commits in one SQLite transaction
(``synchronous=FULL``), so a SIGKILL leaves either the old or the new state, never half of one.

State machines (each record only moves forward; anything else raises :class:`~oracle.errors.TransitionError`)::

    report       aggregated -> signed -> submitted -> confirmed
                 aggregated | signed | submitted -> done_elsewhere
    batch        signed -> submitted -> confirmed
                 signed | submitted -> void | done_elsewhere
    root         signed -> submitted -> committed -> proven
                 signed | submitted -> committed          (rootOf(epoch) already holds this very root)
                 signed | submitted -> void | conflict
    transaction  pending -> mined | replaced | dropped

One move goes backwards, only when the chain rolled back past reports it held (``reopen_reports``): a report
our transaction landed goes back to ``submitted`` with its batch (``confirmed -> submitted``) and that
transaction (``mined -> pending``, rebroadcast as signed), a root it was proven against ``proven ->
committed`` (and ``-> submitted`` with our commit transaction ``mined -> pending`` when the commit was rolled
back too); a report someone else landed goes back to ``aggregated``. Each is recorded in ``events``.

A report's state is the furthest step it reached. A report whose batch became ``void`` (split to fit the gas
cap, signed for a signer set that changed, partly posted by someone else) keeps its state and is put in a new
batch; a batch whose transaction was dropped (its nonce taken by another transaction) stays ``submitted`` and
gets a new transaction. ``done_elsewhere``: the chain holds the epoch and not through a transaction of ours;
``mismatch`` records whether the chain's report differs from ours.

Root mode (``submission.mode = "root"``): a *root* is the Merkle tree of one epoch's reports (leaves: their
EIP-712 struct hashes, ascending assetId), stored with its leaf order and the quorum's signatures over its
``ReportRoot`` digest before anything is sent; its reports move to ``signed`` and point at it (``root_id``).
The tree is rebuilt from the leaf order and the stored reports (which never change once aggregated) and
checked against the stored root, so proofs need no storage. ``committed``: ``rootOf(epoch)`` holds it (by
our ``commit`` transaction, or by anyone's: ``committed_by``); its reports are then posted in batches of kind
``prove`` (no signatures: a proof batch is only the group of reports one ``proveReports`` transaction
carries), and once every one of them is on chain the root is ``proven``. ``void``: signed for a signer set
that changed before it was committed (its reports get a new root). ``conflict``: ``rootOf(epoch)`` holds
another root; its reports fall back to signed ``submit`` batches. A report belongs to at most one live root
and one live batch.

The package keeps one class per table, stacked (each adds its table to the ones below it):
:mod:`~oracle.outbox.store` (the file, migration, audit trail) <- :mod:`~oracle.outbox.reports` <-
:mod:`~oracle.outbox.batches` <- :mod:`~oracle.outbox.roots` <- :mod:`~oracle.outbox.transactions` <- :class:`Outbox`;
the records are in :mod:`~oracle.outbox.rows`, the state machines and DDL in :mod:`~oracle.outbox.schema`.

Tables: ``meta`` (schema version, chain id, oracle address), ``reports``, ``batches``, ``roots``, ``transactions``,
``quarantine`` (rejected readings: series, time, value, reason; at most ``cap`` per epoch) and
``quarantine_overflow`` (how many more were only counted), ``events`` (an audit trail of anomalies).

Schema version 2 added ``roots``, ``batches.kind``, ``reports.root_id``, ``transactions.root_id`` and the
``commit`` and ``prove`` transaction kinds; a version-1 file is migrated in place when the daemon opens it.
"""


from __future__ import annotations

from oracle.outbox.rows import BatchRow, ReportRow, RootRow, TxRow
from oracle.outbox.schema import (
    BATCH_TRANSITIONS,
    LIVE_ROOT_STATES,
    REPORT_TRANSITIONS,
    ROOT_TRANSITIONS,
    SCHEMA_VERSION,
    TX_TRANSITIONS,
)
from oracle.outbox.transactions import TransactionTable

__all__ = [
    "BATCH_TRANSITIONS",
    "LIVE_ROOT_STATES",
    "REPORT_TRANSITIONS",
    "ROOT_TRANSITIONS",
    "SCHEMA_VERSION",
    "TX_TRANSITIONS",
    "BatchRow",
    "Outbox",
    "ReportRow",
    "RootRow",
    "TxRow",
]


class Outbox(TransactionTable):
    """The outbox file. One writer (the daemon); ``status`` opens it read-only while the daemon runs.

    Args:
        path: the SQLite file (created with its folder when missing, unless ``read_only``).
        read_only: open without writing (``status``); raises if the file does not exist.
        quarantine_cap_per_epoch: rejected readings kept per epoch.

    Raises:
        OutboxError: the file cannot be opened or is not an outbox of this schema version.
    """
