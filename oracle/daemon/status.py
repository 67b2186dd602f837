"""``wellhead-oracle status``: what the chain and the outbox say, read-only, while the daemon runs."""

from __future__ import annotations

import time
from typing import Any

from oracle.assets import load_asset_map
from oracle.chain import ChainClient, load_deployment
from oracle.errors import ChainUnavailable, WellheadError
from oracle.outbox import LIVE_ROOT_STATES, Outbox
from oracle.settings import OracleSettings

__all__ = ["status_report"]


def status_report(settings: OracleSettings) -> dict[str, Any]:
    """The posting mode; per asset: the last posted epoch (on-chain cursor), the outbox backlog; the pending
    transactions and how many nonces they hold (``inFlight``, at most ``maxInFlight``); the roots still at work
    (root mode: signed, submitted, or committed with reports to prove).

    The chain part is omitted (with the error) when the node is unreachable; the outbox is opened read-only.
    """
    assets = load_asset_map(settings.assets.map)
    deployment = load_deployment(
        settings.chain.deployment,
        oracle_address=settings.chain.oracle_address,
        lease_market_address=settings.chain.lease_market_address,
    )
    out: dict[str, Any] = {
        "oracle": deployment.oracle,
        "chainId": settings.chain.chain_id,
        "mode": settings.submission.mode,
        "assets": [],
        "maxInFlight": settings.submission.max_in_flight,
        "inFlight": 0,
        "pendingTransactions": [],
        "roots": [],
        "outbox": str(settings.outbox.path),
    }
    cursors: dict[int, tuple[int, bool]] = {}
    if settings.chain.rpc_url is not None:
        chain = ChainClient(
            settings.chain.rpc_url.get_secret_value(),
            deployment.oracle,
            timeout_s=settings.chain.rpc_timeout_s,
            retries=0,
        )
        try:
            cursors = chain.cursors(sorted(assets.assets))  # cursorsOf: O(1) calls for any fleet
            block = chain.latest_block()
            out["chainTime"] = block.timestamp
            out["block"] = block.number
        except ChainUnavailable as exc:
            out["chainError"] = exc.reason
    outbox: Outbox | None = None
    try:
        outbox = Outbox(settings.outbox.path, read_only=True)
    except WellheadError as exc:
        out["outboxError"] = str(exc)
    for asset_id in sorted(assets.assets):
        row: dict[str, Any] = {"assetId": asset_id}
        if asset_id in cursors:
            row["lastPostedEpoch"] = cursors[asset_id][0] - 1 if cursors[asset_id][1] else None
            row["reportingStarted"] = cursors[asset_id][1]
        if outbox is not None:
            row["backlog"] = outbox.backlog(asset_id)
            row["lastAggregatedEpoch"] = outbox.last_epoch(asset_id)
        out["assets"].append(row)
    if outbox is not None:
        now = time.time()
        for tx in outbox.pending_transactions():
            out["pendingTransactions"].append(
                {
                    "hash": tx.tx_hash,
                    "kind": tx.kind,
                    "batch": tx.batch_id,
                    "root": tx.root_id,
                    "nonce": tx.nonce,
                    "maxFeePerGas": tx.max_fee_per_gas,
                    "maxPriorityFeePerGas": tx.max_priority_fee_per_gas,
                    "ageSeconds": round(now - tx.created_at, 1),
                    "broadcasts": tx.broadcasts,
                    "lastError": tx.last_error,
                }
            )
        for root in outbox.roots(LIVE_ROOT_STATES):
            posted, _total = outbox.root_progress(root.id)
            out["roots"].append(
                {
                    "id": root.id,
                    "epoch": root.epoch,
                    "state": root.state,
                    "root": root.root,
                    "reportCount": root.report_count,
                    "posted": posted,
                }
            )
        out["inFlight"] = len({tx["nonce"] for tx in out["pendingTransactions"]})
        out["rootConflicts"] = len(outbox.roots(("conflict",)))
        out["quarantined"] = len(outbox.quarantined())
        outbox.close()
    return out
