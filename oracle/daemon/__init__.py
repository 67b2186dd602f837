"""The oracle daemon: every epoch of every asset, from the meters to the MeteringOracle, exactly once, in order.

A step runs these stages, one module each, in this order (read them in this order too):

1. **refresh** (:mod:`oracle.daemon.loop`): the latest block (time, base fee), the oracle's config version,
   threshold and signer set, and every asset's cursor, as one :class:`ChainView`. If the node is unreachable
   the step goes on with the last view (its time extrapolated with the local clock) so that measurements still
   reach the outbox.
2. **reconcile** (:mod:`oracle.daemon.reconcile`): pending transactions (mined, dropped because their nonce
   was taken, replaced when stuck, rebroadcast when the node forgot them - see :mod:`oracle.submitter`);
   reports below an asset's on-chain cursor that no transaction of ours landed are marked done elsewhere and
   compared with ours; reports the outbox holds as on chain above a cursor (a chain rollback) are re-opened.
3. **aggregate** (:mod:`oracle.daemon.aggregation`, rules in :mod:`oracle.daemon.epochs`): every epoch that
   is *ready* (the chain's time is past its end and the source covers its end plus the grace period) and not
   yet in the outbox, from the asset's cursor on: this is how the daemon catches up after downtime. Each epoch
   is exactly what ``oracle aggregate`` gives for the same data (its window widens over long exporter gaps), so
   anyone with the same data gets the same numbers; an epoch with a GPU silent since before its end is held
   until the GPU scrapes again, the outage horizon passes or an operator declares the outage. Reports and
   rejected readings are committed to the outbox before anything is signed.
4. **sign** (:mod:`oracle.daemon.signing`): the local signers and, below the threshold, the co-signing peers.
5. **post** (:mod:`oracle.daemon.posting`): up to ``submission.max_in_flight`` transactions in flight
   (consecutive nonces, sent without waiting for receipts: signed batches in batch mode, several epochs' roots
   in root-only mode; root mode's commits and proofs go one at a time), by one of two strategies behind one
   interface: signed batches (:mod:`oracle.daemon.batch_posting`, ``submission.mode = "batch"``) or epoch
   roots and proofs (:mod:`oracle.daemon.root_posting`, ``submission.mode = "root"``). Whatever the
   mode, work in flight of the other one (a live batch, a live root) is finished first.
6. **keeper** (:mod:`oracle.daemon.keeper`, optional): ``LeaseMarket.settleThrough`` for assets whose posted
   epochs are not settled.

Start-up checks are in :mod:`oracle.daemon.startup`, the parts built from the settings in
:mod:`oracle.daemon.parts`, ``wellhead-oracle status`` in :mod:`oracle.daemon.status`.
``--until-epoch N`` ends the loop (exit 0) once every asset's cursor is past N.
"""

from __future__ import annotations

from oracle.daemon.context import ChainView, StageContext
from oracle.daemon.epochs import EpochAggregator, EpochResults, source_coverage_ms
from oracle.daemon.loop import Daemon
from oracle.daemon.parts import CRASH_ENV, build_aggregator, build_peers, build_signers, build_source, crash_hook_from_env
from oracle.daemon.status import status_report

__all__ = [
    "CRASH_ENV",
    "ChainView",
    "Daemon",
    "EpochAggregator",
    "EpochResults",
    "StageContext",
    "build_aggregator",
    "build_peers",
    "build_signers",
    "build_source",
    "crash_hook_from_env",
    "source_coverage_ms",
    "status_report",
]
