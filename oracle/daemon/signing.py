"""The sign stage: gather the quorum's signatures for a batch of reports or an epoch's root.

The local signers sign first; below the oracle's threshold the co-signing peers are asked, and each recomputes
the reports from its own meters (:mod:`oracle.cosign`). A signed batch is committed to the outbox before any
transaction is built from it, so a crash right after signing loses nothing (the batch is sent again).
"""

from __future__ import annotations

import logging

from oracle.cosign import collect_quorum, signature_to_json
from oracle.eip712 import batch_digest
from oracle.errors import QuorumMissing
from oracle.models import Report
from oracle.outbox import BatchRow
from oracle.roots import EpochTree
from oracle.signer import SignerSignature

from oracle.daemon.context import ChainView, StageContext

__all__ = ["sign_batch", "sign_root"]

logger = logging.getLogger(__name__)


def sign_batch(ctx: StageContext, reports: list[Report], view: ChainView) -> BatchRow:
    """Sign ``reports`` (locally, then with peers up to the threshold) and commit the batch to the outbox.

    Raises:
        QuorumMissing: fewer signatures than the threshold could be gathered (nothing is stored).
    """
    digest = batch_digest(ctx.domain, view.config_version, reports)
    signatures, problems = collect_quorum(
        digest,
        local=ctx.signers,
        peers=ctx.peers,
        signer_set=view.signer_set,
        threshold=view.threshold,
        domain=ctx.domain,
        config_version=view.config_version,
        reports=reports,
    )
    if len(signatures) < view.threshold:
        raise QuorumMissing(
            f"{len(signatures)} of {view.threshold} signatures for {len(reports)} reports"
            + (f" ({'; '.join(problems)})" if problems else "")
        )
    batch_id = ctx.outbox.add_batch(
        [(r.asset_id, r.epoch) for r in reports],
        config_version=view.config_version,
        digest="0x" + digest.hex(),
        signer_set=view.signer_set,
        signatures=[signature_to_json(s) for s in signatures],
    )
    logger.info(
        "signed batch %d: %d reports, %d signatures",
        batch_id,
        len(reports),
        len(signatures),
        extra={
            "event": "batch_signed",
            "batch": batch_id,
            "digest": "0x" + digest.hex(),
            "reports": [[r.asset_id, r.epoch] for r in reports],
        },
    )
    ctx.crash("signed")
    return ctx.outbox.batch(batch_id)


def sign_root(ctx: StageContext, tree: EpochTree, digest: bytes, view: ChainView) -> list[SignerSignature]:
    """Signatures over an epoch root's ``ReportRoot`` digest (peers rebuild the tree from their own meters).

    Raises:
        QuorumMissing: fewer signatures than the threshold could be gathered.
    """
    signatures, problems = collect_quorum(
        digest,
        local=ctx.signers,
        peers=ctx.peers,
        signer_set=view.signer_set,
        threshold=view.threshold,
        domain=ctx.domain,
        config_version=view.config_version,
        reports=list(tree.reports),
        epoch=tree.epoch,
        root=tree.root,
    )
    if len(signatures) < view.threshold:
        raise QuorumMissing(
            f"{len(signatures)} of {view.threshold} signatures for the root of epoch {tree.epoch} "
            f"({tree.count} reports)" + (f" ({'; '.join(problems)})" if problems else "")
        )
    return signatures
