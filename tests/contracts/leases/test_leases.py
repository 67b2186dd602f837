"""LeaseMarket leases: openLease, openLeaseWithPermit, extendLease, terminateLease, cancelLease, the lease
lifecycle (states only move forward), capacity (never leased twice) and the ERC-721 / ERC-4907 positions.

Prices: the default offer rents 8 H100 GPUs at $2 per GPU-hour with 1-hour epochs, so a lease's escrow is
gpus x $2 x epochs.
"""

from __future__ import annotations

import pytest
from brownie.exceptions import VirtualMachineError
from eth_utils import keccak

from scripts.eip2612 import sign_permit
from scripts.samples import STATUS_SUSPENDED, usd
from tests.contracts.leases._market import (
    ACTIVE,
    CANCELLED,
    CLOSED,
    H100_FULL,
    MAX_UINT,
    TERMINATED,
    lease_id_of,
    plain,
    terms,
)
from tests.support.events import assert_event, assert_no_event
from tests.support.reverts import encode_error, revert_data, reverts_with

ZERO = "0x0000000000000000000000000000000000000000"


def _offer(w, **overrides):
    return w.market.createOffer(terms(w.a1, **overrides), {"from": w.actors.operator}).return_value


def _open(w, offer, gpus, term, lessee=None, max_price=None):
    lessee = lessee or w.actors.lessee
    price = w.market.offerTerms(offer)["pricePerGpuHour"] if max_price is None else max_price
    return lease_id_of(w.market.openLease(offer, gpus, term, price, {"from": lessee}))


# ----------------------------------------------------------------------------------------------- openLease


def test_open_lease_escrows_the_whole_term_and_mints_the_position(world):
    w, a, m = world, world.actors, world.market
    offer = _offer(w)
    before = w.coin.balanceOf(a.lessee)

    tx = m.openLease(offer, 3, 5, usd(2), {"from": a.lessee})

    # 3 GPUs x $2/GPU-h x 5 epochs of 1 h = $30, from the next epoch E0+1 to E0+6 (exclusive).
    escrow = usd(30)
    assert tx.return_value == 1
    assert_event(tx, "LeaseOpened", leaseId=1, offerId=offer, lessee=a.lessee, gpus=3, startEpoch=w.e0 + 1,
                 endEpoch=w.e0 + 6, pricePerGpuHour=usd(2), escrow=escrow)
    assert before - w.coin.balanceOf(a.lessee) == escrow
    assert w.coin.balanceOf(m) == escrow
    assert w.positions.ownerOf(1) == a.lessee
    assert w.positions.balanceOf(a.lessee) == 1
    # (offerId, gpus, start, end, status, price, escrow, penalty, refunded)
    assert plain(m.getLease(1)) == (offer, 3, w.e0 + 1, w.e0 + 6, ACTIVE, usd(2), escrow, 0, 0)
    assert m.leasedGpusAt(offer, w.e0) == 0
    assert m.leasedGpusAt(offer, w.e0 + 1) == 3
    assert m.leasedGpusAt(offer, w.e0 + 5) == 3
    assert m.leasedGpusAt(offer, w.e0 + 6) == 0
    # Nothing settled: the whole escrow is reserved. (billed, credited, reserved, refundable, refunded, through)
    assert plain(m.leaseAccount(1)) == (0, 0, escrow, 0, 0, w.e0 + 1)
    assert m.quoteEscrow(3, usd(2), 5) == escrow


def test_open_lease_ids_count_up_across_offers_and_assets(world):
    w, a, m = world, world.actors, world.market
    o1 = _offer(w, gpus=4)
    o2 = m.createOffer(terms(w.a2, gpus=4, price=usd(1)), {"from": a.operator2}).return_value
    assert _open(w, o1, 1, 1) == 1
    assert _open(w, o2, 4, 2, lessee=a.lessee2) == 2
    assert _open(w, o1, 3, 1) == 3
    assert w.positions.ownerOf(2) == a.lessee2
    # 4 L40S GPUs x $1 x 2 epochs = $8
    assert m.getLease(2)["escrow"] == usd(8)


def test_open_lease_reverts_for_unknown_or_paused_offer(world):
    w, a, m = world, world.actors, world.market
    offer = _offer(w)
    with reverts_with(m, "UnknownOffer", 2):
        m.openLease(2, 1, 1, usd(2), {"from": a.lessee})
    m.setOfferActive(offer, False, {"from": a.operator})
    with reverts_with(m, "OfferNotActive", offer):
        m.openLease(offer, 1, 1, usd(2), {"from": a.lessee})


def test_open_lease_reverts_when_asset_suspended(world):
    w, a, m = world, world.actors, world.market
    offer = _offer(w)
    w.registry.setStatus(w.a1, STATUS_SUSPENDED, {"from": a.admin})
    with reverts_with(m, "AssetNotActive", w.a1, STATUS_SUSPENDED):
        m.openLease(offer, 1, 1, usd(2), {"from": a.lessee})


def test_open_lease_reverts_on_zero_gpus_term_out_of_range_or_price_above_maximum(world):
    w, a, m = world, world.actors, world.market
    offer = _offer(w, min_term=2, max_term=24)
    with reverts_with(m, "ZeroAmount"):
        m.openLease(offer, 0, 2, usd(2), {"from": a.lessee})
    with reverts_with(m, "TermOutOfRange", offer, 1, 2, 24):
        m.openLease(offer, 1, 1, usd(2), {"from": a.lessee})
    with reverts_with(m, "TermOutOfRange", offer, 25, 2, 24):
        m.openLease(offer, 1, 25, usd(2), {"from": a.lessee})
    with reverts_with(m, "PriceAboveMaximum", offer, usd(2), usd(2) - 1):
        m.openLease(offer, 1, 2, usd(2) - 1, {"from": a.lessee})
    # The boundaries are accepted.
    _open(w, offer, 1, 2)
    _open(w, offer, 1, 24)


def test_open_lease_reverts_when_settlement_lags_more_than_48_epochs(world):
    w, a, m = world, world.actors, world.market
    offer = _offer(w)  # enrols the asset in E0: next settle epoch E0
    assert m.MAX_SETTLEMENT_LAG() == 48
    w.clock.goto(w.e0 + 48)
    _open(w, offer, 1, 1)  # 48 epochs behind: still fine
    w.clock.goto(w.e0 + 49)
    with reverts_with(m, "SettlementLagging", w.a1, w.e0, w.e0 + 49):
        m.openLease(offer, 1, 1, usd(2), {"from": a.lessee})
    # Settling catches up (every epoch void: no report ever came, and the grace period is over for E0..E0+42).
    m.settleThrough(w.a1, w.e0 + 42, {"from": a.keeper})
    _open(w, offer, 1, 1)


def test_open_lease_reverts_without_allowance(world):
    w, a, m = world, world.actors, world.market
    offer = _offer(w)
    w.coin.mint(a.keeper, usd(100), {"from": a.admin})
    # 2 GPUs x $2 x 3 epochs = $12, and the keeper approved nothing.
    with reverts_with(w.coin, "ERC20InsufficientAllowance", m, 0, usd(12)):
        m.openLease(offer, 2, 3, usd(2), {"from": a.keeper})


# ----------------------------------------------------------------------------------------------- capacity


def test_capacity_within_an_offer_is_never_leased_twice(world):
    w, a, m = world, world.actors, world.market
    offer = _offer(w)
    _open(w, offer, 5, 4)
    with reverts_with(m, "InsufficientCapacity", offer, 4, 3):
        m.openLease(offer, 4, 1, usd(2), {"from": a.lessee2})
    _open(w, offer, 3, 1, lessee=a.lessee2)
    with reverts_with(m, "InsufficientCapacity", offer, 1, 0):
        m.openLease(offer, 1, 10, usd(2), {"from": a.lessee2})
    assert m.leasedGpusAt(offer, w.e0 + 1) == 8
    # The 3-GPU lease ends after E0+1: from E0+2 only the 5-GPU lease holds capacity.
    assert m.leasedGpusAt(offer, w.e0 + 2) == 5


def test_capacity_across_offers_of_an_asset_is_never_leased_twice(world):
    w, a, m = world, world.actors, world.market
    firm = _offer(w, gpus=5)
    spot = _offer(w, gpus=3, price=usd("1.5"), lease_class=1)
    _open(w, firm, 5, 3)
    with reverts_with(m, "InsufficientCapacity", firm, 1, 0):
        m.openLease(firm, 1, 3, usd(2), {"from": a.lessee2})
    with reverts_with(m, "InsufficientCapacity", spot, 4, 3):
        m.openLease(spot, 4, 3, usd("1.5"), {"from": a.lessee2})
    _open(w, spot, 3, 3, lessee=a.lessee2)
    # Every GPU of the asset is leased, never more.
    assert m.leasedGpusOfAsset(w.a1, w.e0 + 1) == 8
    assert m.leasedGpusOfAsset(w.a1, w.e0 + 1) <= w.registry.getAsset(w.a1)["gpuCount"]


def test_capacity_frees_when_a_lease_ends(world):
    w, a, m = world, world.actors, world.market
    offer = _offer(w)
    _open(w, offer, 8, 2)  # E0+1, E0+2
    w.clock.goto(w.e0 + 1)
    # Opening in E0+1 starts in E0+2, still leased.
    with reverts_with(m, "InsufficientCapacity", offer, 8, 0):
        m.openLease(offer, 8, 1, usd(2), {"from": a.lessee2})
    w.clock.goto(w.e0 + 2)
    lease = _open(w, offer, 8, 1, lessee=a.lessee2)
    assert m.getLease(lease)["startEpoch"] == w.e0 + 3


def test_capacity_frees_after_termination_and_its_notice(world):
    w, a, m = world, world.actors, world.market
    offer = _offer(w, notice=2)
    lease = _open(w, offer, 8, 10)  # E0+1 .. E0+10
    w.clock.goto(w.e0 + 1)
    m.terminateLease(lease, {"from": a.lessee})  # ends at E0+1 + 1 + 2 notice = E0+4
    assert m.leasedGpusAt(offer, w.e0 + 3) == 8
    assert m.leasedGpusAt(offer, w.e0 + 4) == 0
    w.clock.goto(w.e0 + 2)
    with reverts_with(m, "InsufficientCapacity", offer, 8, 0):
        m.openLease(offer, 8, 1, usd(2), {"from": a.lessee2})  # would start in E0+3, within the notice
    w.clock.goto(w.e0 + 3)
    _open(w, offer, 8, 1, lessee=a.lessee2)  # starts in E0+4
    assert m.leasedGpusAt(offer, w.e0 + 4) == 8


def test_capacity_frees_after_cancellation(world):
    w, a, m = world, world.actors, world.market
    offer = _offer(w)
    lease = _open(w, offer, 8, 10)
    w.clock.goto(w.e0 + 1)
    m.cancelLease(lease, {"from": a.operator})  # ends at E0+2
    _open(w, offer, 8, 3, lessee=a.lessee2)  # starts in E0+2
    assert m.leasedGpusAt(offer, w.e0 + 2) == 8


def test_extension_within_free_capacity_keeps_the_gpus(world):
    w, a, m = world, world.actors, world.market
    offer = _offer(w)
    lease = _open(w, offer, 6, 2)
    m.extendLease(lease, 3, {"from": a.lessee})
    assert m.leasedGpusAt(offer, w.e0 + 5) == 6
    with reverts_with(m, "InsufficientCapacity", offer, 3, 2):
        m.openLease(offer, 3, 1, usd(2), {"from": a.lessee2})


# A lease in its last epoch is not part of the usage at the next epoch, where a new lease may already hold its
# GPUs: extending it is checked like a new lease (all later usage is bounded by the usage at the next epoch).
def test_extension_never_leases_capacity_twice(world):
    w, a, m = world, world.actors, world.market
    offer = _offer(w)
    first = _open(w, offer, 8, 2)  # E0+1, E0+2
    w.clock.goto(w.e0 + 2)  # the first lease's last epoch
    _open(w, offer, 8, 2, lessee=a.lessee2)  # E0+3, E0+4: capacity from E0+3 on is free
    assert m.leasedGpusAt(offer, w.e0 + 3) == 8

    with reverts_with(m, "InsufficientCapacity", offer, 8, 0):
        m.extendLease(first, 2, {"from": a.lessee})
    assert m.leasedGpusAt(offer, w.e0 + 3) == 8


# ----------------------------------------------------------------------------------------------- permit


def _permit_key():
    return keccak(text="wellhead-permit-lessee")


def _permit(w, owner_key: bytes, value: int, deadline: int, nonce: int | None = None):
    """(v, r, s) of an EIP-2612 permit of the settlement token for the market, signed with eth-account."""
    return sign_permit(w.coin, owner_key, w.market.address, value, deadline, nonce)


@pytest.fixture
def permit_lessee(world):
    """A lessee whose key the test holds (eth-account signs its permits), funded with ETH and $1,000."""
    from brownie import accounts

    w = world
    lessee = accounts.add(_permit_key())
    w.actors.admin.transfer(lessee, "1 ether")
    w.coin.mint(lessee, usd(1_000), {"from": w.actors.admin})
    return lessee


def test_open_lease_with_permit_needs_no_prior_approval(world, permit_lessee):
    from brownie import chain

    w, m = world, world.market
    offer = _offer(w)
    escrow = usd(2) * 2 * 3  # 2 GPUs x $2 x 3 epochs = $12
    deadline = chain.time() + 600
    v, r, s = _permit(w, _permit_key(), escrow, deadline)
    assert w.coin.allowance(permit_lessee, m) == 0

    tx = m.openLeaseWithPermit(offer, 2, 3, usd(2), escrow, deadline, v, r, s, {"from": permit_lessee})

    assert_event(tx, "Approval", owner=permit_lessee, spender=m, value=escrow)
    assert_event(tx, "LeaseOpened", leaseId=1, offerId=offer, lessee=permit_lessee, gpus=2, startEpoch=w.e0 + 1,
                 endEpoch=w.e0 + 4, pricePerGpuHour=usd(2), escrow=escrow)
    assert w.coin.nonces(permit_lessee) == 1
    assert w.coin.allowance(permit_lessee, m) == 0
    assert w.coin.balanceOf(permit_lessee) == usd(1_000) - escrow
    assert w.positions.ownerOf(1) == permit_lessee


def test_open_lease_with_permit_survives_a_front_run_permit(world, permit_lessee):
    from brownie import chain

    w, a, m = world, world.actors, world.market
    offer = _offer(w)
    escrow = usd(12)
    deadline = chain.time() + 600
    v, r, s = _permit(w, _permit_key(), escrow, deadline)
    # Someone copies the permit from the mempool and submits it first: the nonce is spent...
    w.coin.permit(permit_lessee, m, escrow, deadline, v, r, s, {"from": a.keeper})
    # ...the market's own permit call fails, is ignored, and the allowance already in place pays.
    tx = m.openLeaseWithPermit(offer, 2, 3, usd(2), escrow, deadline, v, r, s, {"from": permit_lessee})
    assert tx.events["LeaseOpened"]["escrow"] == escrow
    assert w.coin.allowance(permit_lessee, m) == 0


def test_open_lease_with_an_expired_permit_reverts_on_the_missing_allowance(world, permit_lessee):
    from brownie import chain

    w, m = world, world.market
    offer = _offer(w)
    deadline = chain.time() - 1
    v, r, s = _permit(w, _permit_key(), usd(12), deadline)
    with reverts_with(w.coin, "ERC20InsufficientAllowance", m, 0, usd(12)):
        m.openLeaseWithPermit(offer, 2, 3, usd(2), usd(12), deadline, v, r, s, {"from": permit_lessee})


def test_open_lease_with_a_permit_for_too_little_reverts_on_the_allowance(world, permit_lessee):
    from brownie import chain

    w, m = world, world.market
    offer = _offer(w)
    deadline = chain.time() + 600
    v, r, s = _permit(w, _permit_key(), usd(11), deadline)
    with reverts_with(w.coin, "ERC20InsufficientAllowance", m, usd(11), usd(12)):
        m.openLeaseWithPermit(offer, 2, 3, usd(2), usd(11), deadline, v, r, s, {"from": permit_lessee})


# ----------------------------------------------------------------------------------------------- extendLease


def test_extend_lease_adds_escrow_for_the_extra_epochs(world):
    w, a, m = world, world.actors, world.market
    offer = _offer(w)
    lease = _open(w, offer, 2, 3)  # E0+1..E0+3, $12
    before = w.coin.balanceOf(a.lessee)

    tx = m.extendLease(lease, 4, {"from": a.lessee})

    # 2 GPUs x $2 x 4 more epochs = $16; the lease now ends at E0+8.
    assert_event(tx, "LeaseExtended", leaseId=lease, endEpoch=w.e0 + 8, addedEscrow=usd(16))
    assert before - w.coin.balanceOf(a.lessee) == usd(16)
    got = m.getLease(lease)
    assert (got["endEpoch"], got["escrow"], got["status"]) == (w.e0 + 8, usd(28), ACTIVE)
    assert m.leasedGpusAt(offer, w.e0 + 7) == 2
    assert m.leasedGpusAt(offer, w.e0 + 8) == 0
    assert m.leaseAccount(lease)["reserved"] == usd(28)


def test_extend_lease_up_to_the_maximum_term(world):
    w, a, m = world, world.actors, world.market
    offer = _offer(w, max_term=6)
    lease = _open(w, offer, 1, 2)
    with reverts_with(m, "TermOutOfRange", offer, 7, 1, 6):
        m.extendLease(lease, 5, {"from": a.lessee})
    m.extendLease(lease, 4, {"from": a.lessee})
    # Zero extra epochs is no extension.
    with reverts_with(m, "TermOutOfRange", offer, 6, 1, 6):
        m.extendLease(lease, 0, {"from": a.lessee})


def test_extend_lease_reverts_for_unknown_lease_or_other_caller(world):
    w, a, m = world, world.actors, world.market
    offer = _offer(w)
    lease = _open(w, offer, 1, 2)
    with reverts_with(m, "UnknownLease", 9):
        m.extendLease(9, 1, {"from": a.lessee})
    with reverts_with(m, "NotLessee", lease, a.lessee2):
        m.extendLease(lease, 1, {"from": a.lessee2})
    with reverts_with(m, "NotLessee", lease, a.operator):
        m.extendLease(lease, 1, {"from": a.operator})


def test_extend_lease_reverts_once_the_term_is_over(world):
    w, a, m = world, world.actors, world.market
    offer = _offer(w)
    lease = _open(w, offer, 1, 2)  # ends at E0+3 (exclusive)
    w.clock.goto(w.e0 + 2)
    m.extendLease(lease, 1, {"from": a.lessee})  # in its last epoch it can still be extended: ends at E0+4
    w.clock.goto(w.e0 + 4)
    with reverts_with(m, "LeaseEnded", lease, w.e0 + 4):
        m.extendLease(lease, 1, {"from": a.lessee})


def test_extend_lease_reverts_when_offer_paused_or_asset_suspended(world):
    w, a, m = world, world.actors, world.market
    offer = _offer(w)
    lease = _open(w, offer, 1, 2)
    m.setOfferActive(offer, False, {"from": a.operator})
    with reverts_with(m, "OfferNotActive", offer):
        m.extendLease(lease, 1, {"from": a.lessee})
    m.setOfferActive(offer, True, {"from": a.operator})
    w.registry.setStatus(w.a1, STATUS_SUSPENDED, {"from": a.admin})
    with reverts_with(m, "AssetNotActive", w.a1, STATUS_SUSPENDED):
        m.extendLease(lease, 1, {"from": a.lessee})


# ----------------------------------------------------------------------------------------------- terminateLease


def test_terminate_lease_ends_it_after_the_notice_and_frees_the_rest(world):
    w, a, m = world, world.actors, world.market
    offer = _offer(w, notice=2)
    lease = _open(w, offer, 4, 10)  # E0+1..E0+10: 4 x $2 x 10 = $80
    w.clock.goto(w.e0 + 1)

    tx = m.terminateLease(lease, {"from": a.lessee})

    # Notice from the next epoch: E0+1 (running) + 1 + 2 = E0+4.
    assert_event(tx, "LeaseTerminated", leaseId=lease, endEpoch=w.e0 + 4)
    got = m.getLease(lease)
    assert (got["status"], got["endEpoch"], got["escrow"]) == (TERMINATED, w.e0 + 4, usd(80))
    # E0+1..E0+3 stay reserved (3 x $8 = $24); the other 7 epochs, $80 - $24 = $56, can be pulled at once.
    account = m.leaseAccount(lease)
    assert (account["reserved"], account["refundable"]) == (usd(24), usd(56))


def test_terminate_lease_before_it_starts_returns_everything(world):
    w, a, m = world, world.actors, world.market
    offer = _offer(w)  # no notice
    lease = _open(w, offer, 4, 5)  # $40, starts in E0+1

    tx = m.terminateLease(lease, {"from": a.lessee})

    # max(E0 + 1 + 0, start E0+1) = E0+1: a lease of no epoch.
    assert_event(tx, "LeaseTerminated", leaseId=lease, endEpoch=w.e0 + 1)
    assert m.leasedGpusAt(offer, w.e0 + 1) == 0
    tx = m.claimRefund(lease, {"from": a.lessee})
    assert_event(tx, "RefundClaimed", leaseId=lease, to=a.lessee, amount=usd(40))
    assert_event(tx, "LeaseClosed", leaseId=lease, billed=0, credited=0, refunded=usd(40))
    assert m.getLease(lease)["status"] == CLOSED


def test_terminate_lease_reverts_when_the_notice_outlasts_the_term(world):
    w, a, m = world, world.actors, world.market
    offer = _offer(w, notice=5)
    lease = _open(w, offer, 1, 3)  # ends at E0+4; notice would end it at E0+6
    with reverts_with(m, "NothingToTerminate", lease, w.e0 + 4):
        m.terminateLease(lease, {"from": a.lessee})


def test_terminate_lease_reverts_for_other_caller_unknown_lease_or_twice(world):
    w, a, m = world, world.actors, world.market
    offer = _offer(w)
    lease = _open(w, offer, 1, 3)
    with reverts_with(m, "UnknownLease", 2):
        m.terminateLease(2, {"from": a.lessee})
    with reverts_with(m, "NotLessee", lease, a.operator):
        m.terminateLease(lease, {"from": a.operator})
    m.terminateLease(lease, {"from": a.lessee})
    with reverts_with(m, "LeaseNotActive", lease, TERMINATED):
        m.terminateLease(lease, {"from": a.lessee})


# ----------------------------------------------------------------------------------------------- cancelLease


def test_cancel_lease_returns_the_unused_escrow_with_the_penalty(world):
    w, a, m = world, world.actors, world.market
    offer = _offer(w, penalty_bps=500)
    lease = _open(w, offer, 4, 10)  # E0+1..E0+10: $80
    w.clock.goto(w.e0 + 1)
    operator_before = w.coin.balanceOf(a.operator)

    tx = m.cancelLease(lease, {"from": a.operator})

    # Ends from the next epoch, E0+2: 9 unused epochs x 4 x $2 = $72 returned; penalty 5% of $72 = $3.60,
    # paid by the operator into the lease.
    assert_event(tx, "LeaseCancelled", leaseId=lease, endEpoch=w.e0 + 2, penalty=usd("3.6"))
    assert operator_before - w.coin.balanceOf(a.operator) == usd("3.6")
    got = m.getLease(lease)
    assert (got["status"], got["endEpoch"], got["penalty"]) == (CANCELLED, w.e0 + 2, usd("3.6"))
    # E0+1 ($8) stays reserved; $80 + $3.60 - $8 = $75.60 can be pulled now.
    account = m.leaseAccount(lease)
    assert (account["reserved"], account["refundable"]) == (usd(8), usd("75.6"))
    assert m.leasedGpusAt(offer, w.e0 + 2) == 0


def test_cancel_lease_before_it_starts_returns_all_with_penalty(world):
    w, a, m = world, world.actors, world.market
    offer = _offer(w, penalty_bps=1_000)
    lease = _open(w, offer, 2, 5)  # $20
    tx = m.cancelLease(lease, {"from": a.operator})
    # Ends at its start: the whole $20 comes back, plus 10% = $2.
    assert_event(tx, "LeaseCancelled", leaseId=lease, endEpoch=w.e0 + 1, penalty=usd(2))
    tx = m.claimRefund(lease, {"from": a.lessee})
    assert_event(tx, "LeaseClosed", leaseId=lease, billed=0, credited=0, refunded=usd(22))


def test_cancel_lease_without_penalty_pulls_nothing_from_the_operator(world):
    w, a, m = world, world.actors, world.market
    offer = _offer(w, penalty_bps=0)
    lease = _open(w, offer, 2, 5)
    before = w.coin.balanceOf(a.operator)
    tx = m.cancelLease(lease, {"from": a.operator})
    assert_event(tx, "LeaseCancelled", leaseId=lease, endEpoch=w.e0 + 1, penalty=0)
    assert_no_event(tx, "Transfer")
    assert w.coin.balanceOf(a.operator) == before


def test_cancel_lease_reverts_for_other_caller_unknown_ended_or_twice(world):
    w, a, m = world, world.actors, world.market
    offer = _offer(w)
    lease = _open(w, offer, 1, 2)  # E0+1, E0+2
    with reverts_with(m, "UnknownLease", 3):
        m.cancelLease(3, {"from": a.operator})
    with reverts_with(m, "NotOperator", w.a1, a.lessee):
        m.cancelLease(lease, {"from": a.lessee})
    w.clock.goto(w.e0 + 2)
    # In its last epoch nothing is left to cancel: the next epoch is its end.
    with reverts_with(m, "LeaseEnded", lease, w.e0 + 3):
        m.cancelLease(lease, {"from": a.operator})
    second = _open(w, offer, 1, 3)
    m.cancelLease(second, {"from": a.operator})
    with reverts_with(m, "LeaseNotActive", second, CANCELLED):
        m.cancelLease(second, {"from": a.operator})


# ----------------------------------------------------------------------------------------------- lifecycle


def test_states_only_move_forward(world):
    w, a, m = world, world.actors, world.market
    offer = _offer(w)
    terminated = _open(w, offer, 1, 5)
    cancelled = _open(w, offer, 1, 5)
    closed = _open(w, offer, 1, 1)
    w.clock.goto(w.e0 + 1)
    m.terminateLease(terminated, {"from": a.lessee})
    m.cancelLease(cancelled, {"from": a.operator})

    # Terminated and Cancelled are final for every change but closing.
    for lease, status in ((terminated, TERMINATED), (cancelled, CANCELLED)):
        with reverts_with(m, "LeaseNotActive", lease, status):
            m.terminateLease(lease, {"from": a.lessee})
        with reverts_with(m, "LeaseNotActive", lease, status):
            m.cancelLease(lease, {"from": a.operator})
        with reverts_with(m, "LeaseNotActive", lease, status):
            m.extendLease(lease, 1, {"from": a.lessee})

    # Active -> Closed at the end of the term, once settled; then nothing at all.
    w.clock.goto(w.e0 + 2)
    w.meter.fill(w.a1, w.e0 + 1, **H100_FULL)
    m.settleThrough(w.a1, w.e0 + 1, {"from": a.keeper})
    m.claimRefund(closed, {"from": a.lessee})
    assert m.getLease(closed)["status"] == CLOSED
    for call, sender in ((m.claimRefund, a.lessee), (m.terminateLease, a.lessee), (m.cancelLease, a.operator)):
        with reverts_with(m, "LeaseNotActive", closed, CLOSED):
            call(closed, {"from": sender})
    with reverts_with(m, "LeaseNotActive", closed, CLOSED):
        m.extendLease(closed, 1, {"from": a.lessee})
    # The terminated and cancelled leases close too (their last epoch, E0+1, is settled).
    for lease in (terminated, cancelled):
        m.claimRefund(lease, {"from": a.lessee})
        assert m.getLease(lease)["status"] == CLOSED


# ----------------------------------------------------------------------------------------------- positions


def _erc4907_interface_id() -> bytes:
    selectors = [keccak(text=sig)[:4] for sig in ("setUser(uint256,address,uint64)", "userOf(uint256)",
                                                  "userExpires(uint256)")]
    value = 0
    for selector in selectors:
        value ^= int.from_bytes(selector, "big")
    return value.to_bytes(4, "big")


def test_positions_are_erc721_with_erc4907(world):
    w = world
    p = w.positions
    assert p.name() == "Wellhead GPU Lease"
    assert p.symbol() == "WH-LEASE"
    assert p.market() == w.market
    assert p.supportsInterface(_erc4907_interface_id())
    assert p.supportsInterface("0x80ac58cd")  # ERC-721
    assert p.supportsInterface("0x01ffc9a7")  # ERC-165
    assert not p.supportsInterface("0xffffffff")


def test_only_the_market_mints_positions(world):
    w, a = world, world.actors
    with reverts_with(w.positions, "OnlyMarket", a.operator):
        w.positions.mint(a.operator, 99, {"from": a.operator})


def test_owner_names_a_user_until_a_time(world):
    from brownie import chain

    w, a, m = world, world.actors, world.market
    lease = _open(w, _offer(w), 2, 3)
    expires = chain.time() + 1_800

    tx = w.positions.setUser(lease, a.keeper, expires, {"from": a.lessee})

    assert_event(tx, "UpdateUser", tokenId=lease, user=a.keeper, expires=expires)
    assert w.positions.userOf(lease) == a.keeper
    assert w.positions.userExpires(lease) == expires
    w.clock.goto_time(expires + 1)
    assert w.positions.userOf(lease) == ZERO
    assert w.positions.userExpires(lease) == expires
    # The user is no lessee: it cannot manage the lease.
    with reverts_with(m, "NotLessee", lease, a.keeper):
        m.terminateLease(lease, {"from": a.keeper})


def test_set_user_caps_the_expiry_at_the_lease_end(world):
    w, a = world, world.actors
    lease = _open(w, _offer(w), 2, 3)  # E0+1..E0+3: ends when E0+4 starts
    last_second = w.clock.start(w.e0 + 4) - 1

    tx = w.positions.setUser(lease, a.keeper, 2**64 - 1, {"from": a.lessee})

    assert_event(tx, "UpdateUser", tokenId=lease, user=a.keeper, expires=last_second)
    assert w.positions.userExpires(lease) == last_second
    w.clock.goto_time(last_second)
    assert w.positions.userOf(lease) == a.keeper
    w.clock.goto_time(last_second + 1)
    assert w.positions.userOf(lease) == ZERO


def test_user_of_is_none_once_a_cancelled_lease_ended(world):
    w, a, m = world, world.actors, world.market
    lease = _open(w, _offer(w), 2, 10)  # E0+1..E0+10
    w.positions.setUser(lease, a.keeper, w.clock.start(w.e0 + 11) - 1, {"from": a.lessee})
    w.clock.goto(w.e0 + 1)
    m.cancelLease(lease, {"from": a.operator})  # ends when E0+2 starts

    # The user set for the whole term no longer outlives the lease: its expiry follows the new end.
    assert w.positions.userExpires(lease) == w.clock.start(w.e0 + 2) - 1
    assert w.positions.userOf(lease) == a.keeper
    w.clock.goto(w.e0 + 2)
    assert w.positions.userOf(lease) == ZERO


def test_user_of_is_none_once_a_terminated_lease_ended(world):
    w, a, m = world, world.actors, world.market
    lease = _open(w, _offer(w), 2, 10)
    w.positions.setUser(lease, a.keeper, 2**64 - 1, {"from": a.lessee})
    w.clock.goto(w.e0 + 1)
    end = m.getLease(lease)["endEpoch"]
    m.terminateLease(lease, {"from": a.lessee})
    new_end = m.getLease(lease)["endEpoch"]
    assert new_end < end
    assert w.positions.userExpires(lease) == w.clock.start(new_end) - 1
    w.clock.goto(new_end)
    assert w.positions.userOf(lease) == ZERO


def test_set_user_needs_the_owner_or_an_approved_account(world):
    from brownie import chain

    w, a = world, world.actors
    lease = _open(w, _offer(w), 2, 3)
    expires = chain.time() + 600
    with reverts_with(w.positions, "NotUserManager", lease, a.lessee2):
        w.positions.setUser(lease, a.lessee2, expires, {"from": a.lessee2})
    w.positions.approve(a.lessee2, lease, {"from": a.lessee})
    w.positions.setUser(lease, a.keeper, expires, {"from": a.lessee2})
    assert w.positions.userOf(lease) == a.keeper
    with reverts_with(w.positions, "ERC721NonexistentToken", 42):
        w.positions.setUser(42, a.keeper, expires, {"from": a.lessee})


def test_transfer_moves_the_lease_and_clears_the_user(world):
    from brownie import chain

    w, a, m = world, world.actors, world.market
    offer = _offer(w)
    lease = _open(w, offer, 2, 3)
    w.positions.setUser(lease, a.keeper, chain.time() + 3_600, {"from": a.lessee})

    tx = w.positions.transferFrom(a.lessee, a.lessee2, lease, {"from": a.lessee})

    assert_event(tx, "UpdateUser", tokenId=lease, user=ZERO, expires=0)
    assert w.positions.userOf(lease) == ZERO
    assert w.positions.userExpires(lease) == 0
    assert w.positions.ownerOf(lease) == a.lessee2
    # The new owner is the lessee now; the old one is not.
    with reverts_with(m, "NotLessee", lease, a.lessee):
        m.extendLease(lease, 1, {"from": a.lessee})
    m.extendLease(lease, 1, {"from": a.lessee2})
    m.terminateLease(lease, {"from": a.lessee2})


def test_transfer_without_user_emits_no_update(world):
    w, a = world, world.actors
    lease = _open(w, _offer(w), 2, 3)
    tx = w.positions.transferFrom(a.lessee, a.lessee2, lease, {"from": a.lessee})
    assert_no_event(tx, "UpdateUser")


def test_lease_views_revert_for_unknown_leases(world):
    w = world
    _offer(w)
    for view in (w.market.getLease, w.market.leaseAccount):
        with pytest.raises(VirtualMachineError) as info:
            view(1)
        assert revert_data(info.value) == encode_error(w.market, "UnknownLease", 1)


def test_max_uint_approval_is_untouched_by_leases(world):
    # The fixtures approve the market for MAX_UINT: OpenZeppelin never spends an infinite allowance.
    w, a = world, world.actors
    _open(w, _offer(w), 1, 1)
    assert w.coin.allowance(a.lessee, w.market) == MAX_UINT
