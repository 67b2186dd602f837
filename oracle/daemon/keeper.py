"""The keeper duty (``keeper.enabled``): ``LeaseMarket.settleThrough`` for assets whose posted epochs are not
settled yet, one transaction per step, only once the reports in flight have landed."""

from __future__ import annotations

import logging

from oracle.errors import SubmissionError

from oracle.daemon.context import ChainView, StageContext

__all__ = ["Keeper"]

logger = logging.getLogger(__name__)


class Keeper:
    """Settles posted epochs on the LeaseMarket.

    Args:
        ctx: the parts every stage shares.
    """

    def __init__(self, ctx: StageContext) -> None:
        self.ctx = ctx
        self.idle = not ctx.settings.keeper.enabled
        """Nothing left to settle as of the last step (always True when the duty is off)."""
        self._enrolled: dict[int, bool] = {}

    def run(self, view: ChainView) -> None:
        """Send at most one ``settleThrough`` (after the reports: none while a transaction or backlog waits)."""
        ctx = self.ctx
        txm = ctx.tx
        market = ctx.deployment.lease_market
        if market is None:
            self.idle = True
            return
        if txm.pending() or ctx.outbox.backlog():
            self.idle = False
            return
        for asset_id in ctx.asset_ids:
            last = view.next_epoch(asset_id) - 1
            if last < 0:
                continue
            if not self._enrolled.get(asset_id):
                self._enrolled[asset_id] = bool(ctx.chain.call("isEnrolled", asset_id, to=market)[0])
                if not self._enrolled[asset_id]:
                    continue
            if int(ctx.chain.call("nextSettleEpoch", asset_id, to=market)[0]) > last:
                continue
            data = ctx.chain.encode_settle_through(asset_id, last)
            try:
                gas = ctx.chain.estimate_gas(txm.address, market, data)
            except SubmissionError as exc:
                logger.debug("nothing to settle for asset %d: %s", asset_id, exc.reason)
                continue
            txm.send(kind="keeper", batch_id=None, to=market, data=data, gas_limit=txm.gas_limit(gas), head=view.block)
            self.idle = False
            ctx.metrics.keeper_settled.inc()
            logger.info(
                "keeper: settleThrough(%d, %d)",
                asset_id,
                last,
                extra={"event": "keeper_settle", "asset": asset_id, "epoch": last},
            )
            return
        self.idle = True
