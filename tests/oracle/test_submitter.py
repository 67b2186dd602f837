"""Fees, replacement bumps and fitting a batch under the gas cap."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from oracle.errors import SubmissionError
from oracle.outbox import Outbox
from oracle.signer import LocalKeySigner
from oracle.submitter import FeePolicy, TxManager, fit_first_group

GWEI = 10**9


def linear_gas(per_report: int = 25_000, base: int = 60_000):  # noqa: ANN201 - a small factory
    calls: list[int] = []

    def estimate(group: list[int]) -> int:
        calls.append(len(group))
        return base + per_report * len(group)

    estimate.calls = calls  # type: ignore[attr-defined]
    return estimate


def test_batch_is_halved_until_its_first_part_fits_under_the_cap() -> None:
    estimate = linear_gas()
    rejected: list[tuple[int, str]] = []
    fit = fit_first_group(list(range(40)), estimate, 300_000, on_reject=lambda g, why: rejected.append((len(g), why)))
    assert fit.group == list(range(5))  # 40 -> 20 -> 10 -> 5: 185,000 gas
    assert fit.gas == 185_000
    assert fit.tried == [(40, 1_060_000), (20, 560_000), (10, 310_000), (5, 185_000)]
    assert [n for n, _ in rejected] == [40, 20, 10]
    assert "over the cap of 300000" in rejected[0][1]


def test_a_batch_under_the_cap_is_sent_whole() -> None:
    fit = fit_first_group(list(range(8)), linear_gas(), 3_000_000)
    assert fit.group == list(range(8)) and fit.tried == [(8, 260_000)]


def test_a_single_report_over_the_cap_is_an_error_not_a_loop() -> None:
    fit = fit_first_group([1, 2], linear_gas(per_report=500_000), 400_000)
    assert fit.group is None
    assert fit.error is not None and "over the cap 400000" in fit.error.reason
    assert [n for n, _ in fit.tried] == [2, 1]


def test_an_unexplained_estimate_failure_splits_but_a_contract_error_does_not() -> None:
    def out_of_gas_above_3(group: list[int]) -> int:
        if len(group) > 3:
            raise SubmissionError("gas estimation failed: out of gas")
        return 100_000

    fit = fit_first_group(list(range(12)), out_of_gas_above_3, 3_000_000)
    assert fit.group == [0, 1, 2] and [n for n, _ in fit.tried] == [12, 6, 3]

    def already_reported(group: list[int]) -> int:
        raise SubmissionError("EpochAlreadyReported(1, 0)", "EpochAlreadyReported", (1, 0))

    fit = fit_first_group(list(range(12)), already_reported, 3_000_000)
    assert fit.group is None and fit.error is not None and fit.error.error_name == "EpochAlreadyReported"
    assert [n for n, _ in fit.tried] == [12]


def test_initial_fees_follow_the_base_fee_and_the_tip_under_the_caps() -> None:
    policy = FeePolicy(max_fee_cap=100 * GWEI, priority_cap=2 * GWEI)
    assert policy.initial(10 * GWEI, 1 * GWEI) == (21 * GWEI, 1 * GWEI)
    assert policy.initial(10 * GWEI, 5 * GWEI) == (22 * GWEI, 2 * GWEI)  # tip capped
    assert policy.initial(80 * GWEI, 1 * GWEI) == (100 * GWEI, 1 * GWEI)  # max fee capped


def test_replacement_bumps_both_fees_by_at_least_the_configured_percent() -> None:
    policy = FeePolicy(max_fee_cap=1_000 * GWEI, priority_cap=10 * GWEI, bump_percent=Decimal("12.5"))
    max_fee, tip = policy.bumped(21 * GWEI, 1 * GWEI, base_fee=10 * GWEI, suggested_priority=1 * GWEI)  # type: ignore[misc]
    assert max_fee >= 21 * GWEI * 9 // 8 and tip >= 1 * GWEI * 9 // 8
    assert (max_fee, tip) == (23_625_000_000, 1_125_000_000)
    # A base fee that jumped: the replacement follows it.
    max_fee, tip = policy.bumped(21 * GWEI, 1 * GWEI, base_fee=100 * GWEI, suggested_priority=1 * GWEI)  # type: ignore[misc]
    assert max_fee == 200 * GWEI + tip
    # A zero tip still goes up (nodes refuse an unchanged one).
    assert policy.bumped(10, 0, base_fee=1, suggested_priority=0) == (12, 1)


def test_no_replacement_when_the_caps_leave_no_room_for_the_bump() -> None:
    policy = FeePolicy(max_fee_cap=22 * GWEI, priority_cap=10 * GWEI)
    assert policy.bumped(21 * GWEI, 1 * GWEI, base_fee=10 * GWEI, suggested_priority=1 * GWEI) is None
    tip_capped = FeePolicy(max_fee_cap=1_000 * GWEI, priority_cap=1 * GWEI)
    assert tip_capped.bumped(21 * GWEI, 1 * GWEI, base_fee=10 * GWEI, suggested_priority=1 * GWEI) is None


@pytest.mark.parametrize("bump", ["10", "12.5", "50"])
def test_bumps_meet_geths_ten_percent_rule(bump: str) -> None:
    policy = FeePolicy(max_fee_cap=10**6 * GWEI, priority_cap=10**6 * GWEI, bump_percent=Decimal(bump))
    old_max, old_tip = 21 * GWEI + 7, GWEI + 3
    max_fee, tip = policy.bumped(old_max, old_tip, base_fee=1, suggested_priority=0)  # type: ignore[misc]
    assert max_fee * 10 >= old_max * 11 and tip * 10 >= old_tip * 11


class NodeNonce:
    """A node that only answers the sender's pending nonce."""

    def __init__(self, pending: int) -> None:
        self.pending = pending

    def nonce(self, address: str, block: str = "latest") -> int:
        assert block == "pending"
        return self.pending


def _stored(outbox: Outbox, sender: str, nonce: int) -> int:
    return outbox.add_transaction(
        kind="keeper",
        batch_id=None,
        sender=sender,
        nonce=nonce,
        tx_hash=f"0x{nonce:064x}",
        raw="0x",
        to_address="0x" + "22" * 20,
        data="0x",
        gas_limit=100_000,
        max_fee_per_gas=2,
        max_priority_fee_per_gas=1,
        sent_block=1,
    )


def test_next_nonce_follows_both_the_node_and_every_transaction_of_ours_still_pending(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite")
    node = NodeNonce(5)
    sender = LocalKeySigner(b"\x01" * 32)
    txm = TxManager(node, outbox, sender, FeePolicy(10**12, 10**10), chain_id=31337)  # type: ignore[arg-type]
    assert (txm.next_nonce(), txm.in_flight()) == (5, 0)
    first = _stored(outbox, txm.address, 5)
    _stored(outbox, txm.address, 6)
    # The node forgot (or refused) both: their nonces stay ours, the next transaction goes after them.
    assert (txm.next_nonce(), txm.in_flight()) == (7, 2)
    # A replacement shares its nonce: still two in flight.
    outbox.add_transaction(
        kind="keeper", batch_id=None, sender=txm.address, nonce=5, tx_hash="0x" + "ab" * 32, raw="0x",
        to_address="0x" + "22" * 20, data="0x", gas_limit=100_000, max_fee_per_gas=3, max_priority_fee_per_gas=2,
        sent_block=2, replaces=first,
    )
    assert (txm.next_nonce(), txm.in_flight()) == (7, 2)
    # Another sender of the key went further: the node's pending nonce wins.
    node.pending = 9
    assert txm.next_nonce() == 9
    outbox.close()
