"""What every stage of a step shares: the parts (chain, outbox, signers, peers...), the step's view of the chain,
and the assets whose reports the contract currently refuses."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from oracle.chain import BlockView, ChainClient, Deployment
from oracle.cosign import PeerClient
from oracle.eip712 import Eip712Domain
from oracle.errors import TransitionError, WellheadError
from oracle.metrics import HealthState, OracleMetrics
from oracle.models import AssetMap
from oracle.outbox import BatchRow, Outbox
from oracle.settings import OracleSettings
from oracle.signer import Signer
from oracle.submitter import TxManager

from oracle.daemon.epochs import EpochAggregator

__all__ = ["ASSET_ERRORS", "CURSOR_ERRORS", "SIGNATURE_ERRORS", "ZERO_ROOT", "Blocked", "ChainView", "StageContext"]

logger = logging.getLogger(__name__)

CURSOR_ERRORS = frozenset({"EpochAlreadyReported", "EpochGap"})
"""Reverts that mean the chain's cursor moved past a batch (it is stale, not wrong)."""
SIGNATURE_ERRORS = frozenset(
    {
        "ConfigVersionMismatch",
        "SignerSetMismatch",
        "NotSigner",
        "QuorumNotReached",
        "SignersNotAscending",
        "InvalidSignature",
        "HighSSignature",
    }
)
"""Reverts that mean the signatures no longer match the oracle's configuration."""
ASSET_ERRORS = frozenset(
    {
        "UnknownAsset",
        "AssetNotActive",
        "ReportingNotStarted",
        "GpuSecondsOutOfBounds",
        "UtilizationOutOfBounds",
        "EnergyOutOfBounds",
        "InvalidProof",
    }
)
"""Reverts that carry ``(assetId, epoch, ...)``: that asset is blocked (with back-off), the others go on."""
ZERO_ROOT = bytes(32)


@dataclass(frozen=True)
class ChainView:
    """What one step knows of the chain."""

    block: BlockView
    observed_at: float
    """``time.monotonic()`` when it was read."""
    config_version: int
    threshold: int
    signer_set: list[str]
    cursors: dict[int, tuple[int, bool]]

    def next_epoch(self, asset_id: int) -> int:
        """The epoch the oracle expects next for ``asset_id``."""
        return self.cursors[asset_id][0]


@dataclass
class Blocked:
    """An asset (or a root) the contract refused: why, how often, and when to try again (``time.monotonic()``)."""

    epoch: int
    reason: str
    failures: int
    retry_at: float


@dataclass
class StageContext:
    """The parts every stage uses, built once by :class:`oracle.daemon.Daemon`.

    ``txm`` is set by the start-up checks (they pick the sender); ``blocked`` is shared by the posting
    strategies (which skip blocked assets), reconciliation (a landed report unblocks its asset) and the gauges.
    """

    settings: OracleSettings
    chain: ChainClient
    deployment: Deployment
    assets: AssetMap
    outbox: Outbox
    aggregator: EpochAggregator
    signers: list[Signer]
    peers: list[PeerClient]
    metrics: OracleMetrics
    health: HealthState
    domain: Eip712Domain
    crash: Callable[[str], None]
    txm: TxManager | None = None
    blocked: dict[int, Blocked] = field(default_factory=dict)
    asset_ids: list[int] = field(init=False)
    """The asset map's ids, ascending."""

    def __post_init__(self) -> None:
        self.asset_ids = sorted(self.assets.assets)

    @property
    def tx(self) -> TxManager:
        """The transaction manager.

        Raises:
            WellheadError: the start-up checks have not run.
        """
        if self.txm is None:
            raise WellheadError("the daemon has not passed its start-up checks")
        return self.txm

    def retry_delay_s(self, failures: int) -> float:
        """Exponential back-off after ``failures`` consecutive failures, capped at ``submission.retry_max_s``."""
        sub = self.settings.submission
        return float(min(sub.retry_max_s, sub.retry_base_s * 2 ** min(failures - 1, 16)))

    def void_batch(self, batch: BatchRow, reason: str) -> None:
        """Void a live batch (its reports go back to be batched again); a batch already settled is left alone."""
        try:
            self.outbox.void_batch(batch.id, reason)
        except TransitionError:
            return
        logger.info("batch %d void: %s", batch.id, reason, extra={"event": "batch_void", "batch": batch.id})

    def epochs_ended(self, keys: Sequence[tuple[int, int]], view: ChainView) -> bool:
        """Whether every epoch of ``keys`` has ended by the view's block time."""
        return all(self.aggregator.epoch_end_s(epoch) <= view.block.timestamp for _, epoch in keys)
