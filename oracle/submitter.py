"""From signed batches to mined transactions: fees, nonces, replacement of stuck transactions, and fitting a
batch under the gas cap.

* :class:`FeePolicy`: EIP-1559 fees from the latest base fee and the node's suggested tip, both capped; a
  replacement raises both by at least ``fee_bump_percent`` (geth refuses less than +10 %).
* :class:`TxManager`: sends a transaction (persisted in the outbox *before* it is broadcast) at the next
  nonce after the node's pending one and after every one of ours still pending (several may be in flight,
  consecutive nonces), and reconciles every pending one at each step, nonce by nonce: mined (the others with
  its nonce become replaced), nonce used by another transaction (dropped), unknown to the node (rebroadcast,
  e.g. after a node restart lost its pool), or still unmined after ``replace_after_blocks`` blocks (replaced:
  same nonce, bumped fees).
* :func:`fit_first_group`: halves a batch until its first part's gas estimate fits under the cap (later
  parts are estimated only once the first has landed: the contract requires each asset's epochs in order).
  Signed ``submit`` batches and ``proveReports`` batches of root mode are split the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from typing import Literal, TypeVar

from oracle.chain import BlockView, ChainClient, sign_transaction
from oracle.errors import SubmissionError, TransactionRejected
from oracle.metrics import LogThrottle, OracleMetrics
from oracle.outbox import Outbox, TxRow
from oracle.signer import Signer

__all__ = ["FeePolicy", "FitResult", "TxManager", "TxOutcome", "fit_first_group"]

logger = logging.getLogger(__name__)

REPEAT_LOG_INTERVAL_S = 600.0
"""A stuck transaction's repeated refusal or capped replacement is logged at most once per this long."""

T = TypeVar("T")


@dataclass(frozen=True)
class FeePolicy:
    """EIP-1559 fee rules.

    Attributes:
        max_fee_cap: never offer more than this per gas (wei).
        priority_cap: never tip more than this per gas (wei).
        bump_percent: a replacement raises both fees by at least this much.
    """

    max_fee_cap: int
    priority_cap: int
    bump_percent: Decimal = Decimal("12.5")

    def initial(self, base_fee: int, suggested_priority: int) -> tuple[int, int]:
        """(maxFeePerGas, maxPriorityFeePerGas) for a new transaction: the tip the node suggests (capped) and
        room for the base fee to double, both under the caps."""
        priority = min(max(suggested_priority, 0), self.priority_cap)
        max_fee = min(2 * base_fee + priority, self.max_fee_cap)
        return max_fee, min(priority, max_fee)

    def bumped(self, old_max: int, old_priority: int, base_fee: int, suggested_priority: int) -> tuple[int, int] | None:
        """Fees for a replacement of a transaction priced (old_max, old_priority): at least ``bump_percent``
        above both, and at least what a new transaction would offer now; None when the caps leave no valid
        replacement."""
        factor = 1 + self.bump_percent / 100
        min_max = max(old_max + 1, int((Decimal(old_max) * factor).to_integral_value(rounding=ROUND_CEILING)))
        min_priority = max(
            old_priority + 1, int((Decimal(old_priority) * factor).to_integral_value(rounding=ROUND_CEILING))
        )
        fresh_max, fresh_priority = self.initial(base_fee, suggested_priority)
        priority = max(min_priority, fresh_priority)
        if priority > self.priority_cap:
            return None
        max_fee = min(max(min_max, fresh_max, 2 * base_fee + priority), self.max_fee_cap)
        if max_fee < min_max or max_fee < priority:
            return None
        return max_fee, priority


@dataclass(frozen=True)
class FitResult:
    """What :func:`fit_first_group` found: the leading group that fits (or None) and the estimates tried."""

    group: list[object] | None
    gas: int | None
    tried: list[tuple[int, int | None]]
    """(group size, gas estimate or None when the estimate failed) for each try, in order."""
    error: SubmissionError | None = None


def fit_first_group(
    items: Sequence[T],
    estimate: Callable[[list[T]], int],
    gas_cap: int,
    *,
    splittable: Callable[[SubmissionError], bool] = lambda exc: exc.error_name is None,
    on_reject: Callable[[list[T], str], None] | None = None,
) -> FitResult:
    """Halve ``items`` until the estimate of its leading part fits under ``gas_cap``.

    Args:
        items: the batch, in posting order.
        estimate: gas for a group; raises :class:`SubmissionError` when estimation fails.
        gas_cap: the most gas one transaction may use.
        splittable: whether a failed estimate should be retried with half the group (by default: when the
            contract gave no known custom error, e.g. out of gas); other errors are returned as they are.
        on_reject: called with each group that was over the cap or failed (to void its signed batch).

    Returns:
        The leading group that fits with its estimate, or ``group=None`` with the error that stopped it (a
        single item over the cap, or a failure that splitting cannot fix).
    """
    group = list(items)
    tried: list[tuple[int, int | None]] = []
    while group:
        try:
            gas = estimate(group)
        except SubmissionError as exc:
            tried.append((len(group), None))
            if on_reject is not None:
                on_reject(group, f"estimate failed: {exc.reason}")
            if len(group) == 1 or not splittable(exc):
                return FitResult(None, None, tried, exc)
            group = group[: len(group) // 2]
            continue
        tried.append((len(group), gas))
        if gas <= gas_cap:
            return FitResult(group, gas, tried)  # type: ignore[arg-type]
        if on_reject is not None:
            on_reject(group, f"estimated {gas} gas, over the cap of {gas_cap}")
        if len(group) == 1:
            return FitResult(None, gas, tried, SubmissionError(f"one report needs {gas} gas, over the cap {gas_cap}"))
        group = group[: len(group) // 2]
    return FitResult(None, None, tried)


@dataclass(frozen=True)
class TxOutcome:
    """What happened to a transaction at reconciliation."""

    tx: TxRow
    outcome: Literal["mined", "reverted", "dropped"]
    block: int | None = None


class TxManager:
    """Sends and tracks the transactions of one sender (see the module docstring).

    Args:
        chain: the chain client.
        outbox: where every transaction is persisted before it is broadcast.
        sender: the signer paying for the transactions.
        fees: the fee policy.
        replace_after_blocks: blocks to wait before replacing an unmined transaction.
        confirmations: blocks (inclusion included) before a mined transaction is final.
        gas_margin_percent: gas limit = estimate + this margin.
        gas_cap: never set a gas limit above this.
        metrics: counters to update.
        crash_hook: called with a step name after each durable step (test-only crash points).
    """

    def __init__(
        self,
        chain: ChainClient,
        outbox: Outbox,
        sender: Signer,
        fees: FeePolicy,
        *,
        chain_id: int,
        replace_after_blocks: int = 3,
        confirmations: int = 1,
        gas_margin_percent: int = 20,
        gas_cap: int = 3_000_000,
        metrics: OracleMetrics | None = None,
        crash_hook: Callable[[str], None] = lambda step: None,
    ) -> None:
        self.chain = chain
        self.outbox = outbox
        self.sender = sender
        self.fees = fees
        self.chain_id = chain_id
        self.replace_after_blocks = replace_after_blocks
        self.confirmations = confirmations
        self.gas_margin_percent = gas_margin_percent
        self.gas_cap = gas_cap
        self.metrics = metrics or OracleMetrics()
        self._crash = crash_hook
        self._throttle = LogThrottle(REPEAT_LOG_INTERVAL_S)

    def configure(
        self,
        fees: FeePolicy,
        *,
        replace_after_blocks: int,
        confirmations: int,
        gas_margin_percent: int,
        gas_cap: int,
    ) -> None:
        """Apply reloaded submission settings: the next transaction, replacement and reconciliation use them
        (a transaction stuck under the old fee cap is replaced at the next reconciliation)."""
        self.fees = fees
        self.replace_after_blocks = replace_after_blocks
        self.confirmations = confirmations
        self.gas_margin_percent = gas_margin_percent
        self.gas_cap = gas_cap

    @property
    def address(self) -> str:
        """The sender's address."""
        return str(self.sender.address)

    def pending(self) -> list[TxRow]:
        """The sender's pending transactions, by nonce."""
        return self.outbox.pending_transactions(self.address)

    def in_flight(self) -> int:
        """How many of the sender's nonces have a pending transaction (replacements share their nonce)."""
        return len({tx.nonce for tx in self.pending()})

    def next_nonce(self) -> int:
        """The nonce of the next new transaction: after the node's pending nonce and after every transaction
        of ours still pending (one the node refused or forgot keeps its nonce: it is rebroadcast or replaced,
        never reused by another)."""
        ours = max((tx.nonce + 1 for tx in self.pending()), default=0)
        return max(self.chain.nonce(self.address, "pending"), ours)

    def gas_limit(self, estimate: int) -> int:
        """The estimate plus the margin, never above the cap."""
        return min(self.gas_cap, estimate + estimate * self.gas_margin_percent // 100)

    # --- sending ------------------------------------------------------------------------------------

    def send(
        self,
        *,
        kind: str,
        batch_id: int | None,
        to: str,
        data: bytes,
        gas_limit: int,
        head: BlockView,
        root_id: int | None = None,
    ) -> TxRow:
        """Sign, persist, then broadcast a new transaction at the sender's next nonce (``batch_id`` for submit
        and prove transactions, ``root_id`` for commit ones).

        Returns the persisted transaction (still ``pending`` when the node refused it for a reason a later
        reconciliation can fix; ``dropped`` when its nonce was already used).
        """
        nonce = self.next_nonce()
        max_fee, priority = self.fees.initial(head.base_fee, self.chain.max_priority_fee())
        if max_fee < head.base_fee:
            logger.error(
                "fee cap %d is below the base fee %d: the transaction will wait until the base fee falls",
                max_fee,
                head.base_fee,
                extra={"event": "fee_cap_below_base_fee", "max_fee": max_fee, "base_fee": head.base_fee},
            )
        tx_id = self._sign_and_store(
            kind=kind,
            batch_id=batch_id,
            to=to,
            data=data,
            gas_limit=gas_limit,
            nonce=nonce,
            max_fee=max_fee,
            priority=priority,
            head=head,
            replaces=None,
            root_id=root_id,
        )
        row = self._broadcast(self.outbox.transaction(tx_id))
        self.metrics.tx_sent.labels(kind=kind).inc()
        self._crash("submitted")
        return row

    def _sign_and_store(
        self,
        *,
        kind: str,
        batch_id: int | None,
        to: str,
        data: bytes | str,
        gas_limit: int,
        nonce: int,
        max_fee: int,
        priority: int,
        head: BlockView,
        replaces: int | None,
        root_id: int | None = None,
    ) -> int:
        payload = bytes.fromhex(data[2:]) if isinstance(data, str) else data
        tx = {
            "type": 2,
            "chainId": self.chain_id,
            "nonce": nonce,
            "to": to,
            "value": 0,
            "gas": gas_limit,
            "maxFeePerGas": max_fee,
            "maxPriorityFeePerGas": priority,
            "data": payload,
            "accessList": [],
        }
        raw, tx_hash = sign_transaction(self.sender, tx)
        return self.outbox.add_transaction(
            kind=kind,
            batch_id=batch_id,
            sender=self.address,
            nonce=nonce,
            tx_hash=tx_hash,
            raw="0x" + raw.hex(),
            to_address=to,
            data="0x" + payload.hex(),
            gas_limit=gas_limit,
            max_fee_per_gas=max_fee,
            max_priority_fee_per_gas=priority,
            sent_block=head.number,
            replaces=replaces,
            root_id=root_id,
        )

    def _broadcast(self, tx: TxRow) -> TxRow:
        """Broadcast a persisted transaction; record the attempt (and mark it dropped if its nonce is gone)."""
        try:
            self.chain.send_raw(bytes.fromhex(tx.raw[2:]), tx.tx_hash)
        except TransactionRejected as exc:
            if exc.kind == "already_known":
                self.outbox.note_broadcast(tx.id)
                return self.outbox.transaction(tx.id)
            self.outbox.note_broadcast(tx.id, f"{exc.kind}: {exc.reason}")
            held_back = self._throttle.allow(("tx_refused", tx.tx_hash, exc.kind))
            if held_back is not None:
                logger.warning(
                    "node refused transaction %s (nonce %d): %s%s",
                    tx.tx_hash,
                    tx.nonce,
                    exc.reason,
                    _repeats(held_back),
                    extra={
                        "event": "tx_refused",
                        "tx": tx.tx_hash,
                        "nonce": tx.nonce,
                        "kind": exc.kind,
                        "repeats": held_back,
                    },
                )
            if exc.kind == "nonce_too_low" and self.chain.receipt(tx.tx_hash) is None:
                # Nothing of ours with this nonce can land any more; reconciliation finds out who used it.
                latest = self.chain.nonce(self.address, "latest")
                if latest > tx.nonce:
                    self._drop_group(tx.nonce, "nonce already used by another transaction")
            return self.outbox.transaction(tx.id)
        self.outbox.note_broadcast(tx.id)
        logger.info(
            "sent %s transaction %s (nonce %d, max fee %d, tip %d, gas %d)",
            tx.kind,
            tx.tx_hash,
            tx.nonce,
            tx.max_fee_per_gas,
            tx.max_priority_fee_per_gas,
            tx.gas_limit,
            extra={"event": "tx_sent", "tx": tx.tx_hash, "nonce": tx.nonce, "kind": tx.kind, "batch": tx.batch_id},
        )
        return self.outbox.transaction(tx.id)

    def _drop_group(self, nonce: int, reason: str) -> list[TxRow]:
        dropped = []
        for tx in self.pending():
            if tx.nonce == nonce:
                self.outbox.mark_dropped(tx.id, reason)
                self.metrics.tx_dropped.inc()
                dropped.append(self.outbox.transaction(tx.id))
                logger.warning(
                    "transaction %s dropped: %s",
                    tx.tx_hash,
                    reason,
                    extra={"event": "tx_dropped", "tx": tx.tx_hash, "nonce": nonce, "batch": tx.batch_id},
                )
        return dropped

    # --- reconciliation -----------------------------------------------------------------------------

    def reconcile(self, head: BlockView) -> list[TxOutcome]:
        """Settle every pending transaction against the chain (see the module docstring)."""
        pending = self.pending()
        if not pending:
            return []
        outcomes: list[TxOutcome] = []
        latest_nonce = self.chain.nonce(self.address, "latest")
        groups: dict[int, list[TxRow]] = {}
        for tx in pending:
            groups.setdefault(tx.nonce, []).append(tx)
        for nonce, txs in sorted(groups.items()):
            mined = None
            for tx in txs:
                receipt = self.chain.receipt(tx.tx_hash)
                if receipt is not None:
                    mined = (tx, receipt)
                    break
            if mined is not None:
                tx, (block, status) = mined
                if head.number - block + 1 < self.confirmations:
                    continue  # mined, not final yet: neither replace nor rebroadcast it
                self.outbox.mark_mined(tx.id, block=block, status=status)
                row = self.outbox.transaction(tx.id)
                outcome: Literal["mined", "reverted"] = "mined" if status == 1 else "reverted"
                if status != 1:
                    self.metrics.tx_reverted.inc()
                logger.info(
                    "transaction %s %s in block %d",
                    tx.tx_hash,
                    outcome,
                    block,
                    extra={"event": f"tx_{outcome}", "tx": tx.tx_hash, "block": block, "batch": tx.batch_id},
                )
                outcomes.append(TxOutcome(row, outcome, block))
                continue
            if latest_nonce > nonce:
                outcomes += [
                    TxOutcome(t, "dropped") for t in self._drop_group(nonce, "nonce used by another transaction")
                ]
                continue
            newest = txs[-1]
            waited = head.number - (newest.sent_block if newest.sent_block is not None else head.number)
            if waited >= self.replace_after_blocks:
                self._replace(newest, head, f"not mined after {waited} blocks")
            elif not self.chain.knows(newest.tx_hash):
                row = self._broadcast(newest)
                if row.state == "pending" and row.last_error and row.last_error.startswith("underpriced"):
                    self._replace(row, head, "refused as underpriced")
        return outcomes

    def _replace(self, tx: TxRow, head: BlockView, why: str) -> TxRow | None:
        fees = self.fees.bumped(
            tx.max_fee_per_gas, tx.max_priority_fee_per_gas, head.base_fee, self.chain.max_priority_fee()
        )
        if fees is None:
            held_back = self._throttle.allow(("tx_replacement_capped", tx.tx_hash))
            if held_back is not None:
                logger.error(
                    "cannot replace transaction %s (%s): the fee caps leave no room for a +%s%% bump%s",
                    tx.tx_hash,
                    why,
                    self.fees.bump_percent,
                    _repeats(held_back),
                    extra={
                        "event": "tx_replacement_capped",
                        "tx": tx.tx_hash,
                        "nonce": tx.nonce,
                        "repeats": held_back,
                    },
                )
            return None
        max_fee, priority = fees
        tx_id = self._sign_and_store(
            kind=tx.kind,
            batch_id=tx.batch_id,
            to=tx.to_address,
            data=tx.data,
            gas_limit=tx.gas_limit,
            nonce=tx.nonce,
            max_fee=max_fee,
            priority=priority,
            head=head,
            replaces=tx.id,
            root_id=tx.root_id,
        )
        self.metrics.tx_replacements.inc()
        logger.warning(
            "replacing transaction %s (%s) with fees %d/%d",
            tx.tx_hash,
            why,
            max_fee,
            priority,
            extra={"event": "tx_replaced", "tx": tx.tx_hash, "nonce": tx.nonce, "max_fee": max_fee, "tip": priority},
        )
        return self._broadcast(self.outbox.transaction(tx_id))


def _repeats(held_back: int) -> str:
    return f" (again; {held_back} more like it held back)" if held_back else ""
