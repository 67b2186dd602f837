// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ILeaseMarket} from "../../../contracts/interfaces/ILeaseMarket.sol";
import {IMeteringOracle} from "../../../contracts/interfaces/IMeteringOracle.sol";
import {LeaseFixture} from "./LeaseFixture.sol";
import {LeaseHandler} from "./handlers/LeaseHandler.sol";

/// @notice Invariants of the LeaseMarket under random sequences of lease openings, extensions, NFT transfers,
/// terminations, cancellations and claims, quorum-signed reports with random values, added revenue,
/// settlement (void after the grace period), frozen share tokens and time passing (see LeaseHandler).
///
/// World: asset A, 8 GPUs (PUE 1.20, $0.12/kWh, 10% fee) with a firm offer of 5 GPUs at $2 (SLA 99%, 10%
/// credit, 5% penalty, 1 epoch notice) and an interruptible, dynamically priced offer of 3 GPUs at $1.50 (SLA
/// 95%, 20% credit); asset B, 4 GPUs (PUE 1.35, $0.18/kWh, 15% fee) with a firm offer of all 4 at $1.20. Three
/// lessees; three leases already open.
contract LeaseMarketInvariantTest is LeaseFixture {
    LeaseHandler internal handler;
    uint256[] internal assetIds;
    uint256[] internal offerIds;
    address[] internal lessees;

    function setUp() public {
        _deploy(3600);
        address operatorA = makeAddr("operator-a");
        address operatorB = makeAddr("operator-b");
        assetIds.push(_registerAsset(operatorA, 8, 700, 12_000, 120_000, 1_000));
        assetIds.push(_registerAsset(operatorB, 4, 350, 13_500, 180_000, 1_500));
        _fund(operatorA, 1e15);
        _fund(operatorB, 1e15);

        ILeaseMarket.OfferTerms memory firm = _terms(assetIds[0], 5, 2e6, 9_900, 1_000, ILeaseMarket.LeaseClass.Firm);
        firm.noticeEpochs = 1;
        ILeaseMarket.OfferTerms memory spot =
            _terms(assetIds[0], 3, 1.5e6, 9_500, 2_000, ILeaseMarket.LeaseClass.Interruptible);
        spot.pricing = ILeaseMarket.DynamicPricing(true, 8_000, 1_000, 1e6, 3e6);
        ILeaseMarket.OfferTerms memory edge = _terms(assetIds[1], 4, 1.2e6, 9_900, 500, ILeaseMarket.LeaseClass.Firm);
        edge.cancelPenaltyBps = 1_000;
        vm.startPrank(operatorA);
        offerIds.push(market.createOffer(firm));
        offerIds.push(market.createOffer(spot));
        vm.stopPrank();
        vm.prank(operatorB);
        offerIds.push(market.createOffer(edge));

        for (uint256 i; i < 3; ++i) {
            address lessee = makeAddr(string.concat("lessee-", vm.toString(i)));
            _fund(lessee, 1e15);
            lessees.push(lessee);
        }
        uint256[] memory initial = new uint256[](3);
        vm.prank(lessees[0]);
        initial[0] = market.openLease(offerIds[0], 2, 4, 2e6);
        vm.prank(lessees[1]);
        initial[1] = market.openLease(offerIds[1], 3, 2, 1.5e6);
        vm.prank(lessees[2]);
        initial[2] = market.openLease(offerIds[2], 2, 6, 1.2e6);

        handler = new LeaseHandler(market, signerKeys, signerSet, assetIds, offerIds, lessees, initial, admin);
        targetContract(address(handler));
        bytes4[] memory selectors = new bytes4[](13);
        selectors[0] = LeaseHandler.openLease.selector;
        selectors[1] = LeaseHandler.extendLease.selector;
        selectors[2] = LeaseHandler.transferLease.selector;
        selectors[3] = LeaseHandler.terminateLease.selector;
        selectors[4] = LeaseHandler.claimRefund.selector;
        selectors[5] = LeaseHandler.cancelLease.selector;
        selectors[6] = LeaseHandler.addRevenue.selector;
        selectors[7] = LeaseHandler.withdrawOperator.selector;
        selectors[8] = LeaseHandler.postReports.selector;
        selectors[9] = LeaseHandler.settle.selector;
        selectors[10] = LeaseHandler.toggleShareFreeze.selector;
        selectors[11] = LeaseHandler.flushShareRevenue.selector;
        selectors[12] = LeaseHandler.warp.selector;
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
    }

    /* INVARIANTS */

    /// Once a lease is closed, what it was billed, credited and refunded (its LeaseClosed event) adds up to
    /// what it escrowed plus the operator's penalty; its account agrees, and the tokens the market paid out for
    /// it are exactly its refunds (credits included).
    function invariant_closed_lease_billed_plus_credited_plus_refunded_equals_escrow() public view {
        uint256[] memory closed = handler.closedLeases();
        for (uint256 i; i < closed.length; ++i) {
            uint256 leaseId = closed[i];
            (uint256 billed, uint256 credited, uint256 refunded) = handler.ghost_closedEvent(leaseId);
            ILeaseMarket.Lease memory lease = market.getLease(leaseId);
            ILeaseMarket.LeaseAccount memory account = market.leaseAccount(leaseId);
            assertTrue(lease.status == ILeaseMarket.LeaseStatus.Closed, "closed");
            assertEq(billed + credited + refunded, uint256(lease.escrow) + lease.penalty, "billed+credited+refunded");
            assertEq(account.billed, billed, "account billed = event billed");
            assertEq(account.credited, credited, "account credited = event credited");
            assertEq(account.refunded, credited + refunded, "refunds paid = credits + refunded");
            assertEq(account.reserved + account.refundable, 0, "nothing left in a closed lease");
            assertEq(handler.ghost_paidOut(leaseId), account.refunded, "tokens paid out = refunds");
        }
        assertEq(handler.ghost_claimPaidMismatch(), 0, "a claim paid other than it returned");
    }

    /// The market's token balance covers everything it owes: each lease's escrow and penalty not yet billed
    /// (for settled epochs) nor refunded, the operators' balances, and share revenue deferred for frozen share
    /// tokens. Every lease's account also adds up: billed + reserved + refundable + refunded = escrow + penalty.
    function invariant_market_balance_covers_open_escrow_and_unclaimed() public view {
        uint256[] memory leases = handler.leases();
        uint256 owed;
        for (uint256 i; i < leases.length; ++i) {
            ILeaseMarket.Lease memory lease = market.getLease(leases[i]);
            ILeaseMarket.LeaseAccount memory account = market.leaseAccount(leases[i]);
            uint256 total = uint256(lease.escrow) + lease.penalty;
            uint256 kept = account.billed + account.reserved + account.refunded;
            if (account.refundable != 0) {
                assertEq(kept + account.refundable, total, "billed + reserved + refundable + refunded");
            } else {
                // bills and the reserve both round up: together they may pass the total by one unit
                assertLe(kept, total + 1, "billed + reserved + refunded <= escrow + penalty");
            }
            assertLe(account.billed + account.refunded, total, "never billed and refunded more than escrowed");
            owed += total - account.billed - account.refunded;
        }
        address[] memory operators = handler.operators();
        for (uint256 i; i < operators.length; ++i) {
            owed += market.operatorBalance(operators[i]);
        }
        for (uint256 i; i < assetIds.length; ++i) {
            owed += market.deferredShareRevenue(assetIds[i]);
        }
        assertGe(coin.balanceOf(address(market)), owed, "market balance covers what it owes");
    }

    /// Every settled epoch's split adds up to its gross exactly; its report digest is the oracle's (zero when
    /// void); the cumulative net runs over the epochs.
    function invariant_epoch_split_adds_up_to_gross() public view {
        for (uint256 i; i < assetIds.length; ++i) {
            uint256 assetId = assetIds[i];
            uint64 next = market.nextSettleEpoch(assetId);
            uint256 cumulative;
            for (uint64 epoch = market.firstEpochOf(assetId); epoch < next; ++epoch) {
                ILeaseMarket.EpochSettlement memory s = market.settlementOf(assetId, epoch);
                assertEq(s.gross, uint256(s.credits) + s.energyCost + s.fee + s.net, "gross = credits+energy+fee+net");
                assertLe(s.addedRevenue, s.gross, "added revenue is part of gross");
                if (s.voided) assertEq(s.reportHash, bytes32(0), "void: no report");
                else assertEq(s.reportHash, oracle.reportHashOf(assetId, epoch), "report digest");
                cumulative += s.net;
                assertEq(s.cumulativeNet, cumulative, "cumulative net");
            }
        }
    }

    /// Billing by leased capacity: every reported epoch's delivered fraction is min(1, gpuSeconds /
    /// (leasedGpus x epochLength)) floored to WAD (its available fraction likewise with curtailment, never
    /// below it), both 0 with nothing leased, when nothing but added revenue is earned.
    function invariant_delivery_is_measured_against_leased_capacity() public view {
        uint256 length = oracle.epochLength();
        for (uint256 i; i < assetIds.length; ++i) {
            uint256 assetId = assetIds[i];
            uint64 next = market.nextSettleEpoch(assetId);
            for (uint64 epoch = market.firstEpochOf(assetId); epoch < next; ++epoch) {
                ILeaseMarket.EpochSettlement memory s = market.settlementOf(assetId, epoch);
                if (s.voided || s.leasedGpus == 0) {
                    assertEq(s.deliveredWad, 0, "nothing leased or void: d = 0");
                    assertEq(s.availableWad, 0, "nothing leased or void: a = 0");
                    assertEq(s.gross, s.addedRevenue, "nothing billed");
                    continue;
                }
                (IMeteringOracle.Report memory r,) = oracle.getReport(assetId, epoch);
                uint256 leased = uint256(s.leasedGpus) * length;
                uint256 d = uint256(r.gpuSeconds) * WAD / leased;
                uint256 a = (uint256(r.gpuSeconds) + r.curtailedGpuSeconds) * WAD / leased;
                assertEq(s.deliveredWad, d > WAD ? WAD : d, "d = min(1, gpuSeconds / leased capacity)");
                assertEq(s.availableWad, a > WAD ? WAD : a, "a = min(1, available / leased capacity)");
                assertLe(s.deliveredWad, s.availableWad, "d <= a");
            }
        }
    }

    /// No offer is leased beyond its GPUs at the next epochs, no settled epoch had more GPUs leased than the
    /// asset has, and the offers of an asset never sum to more than its GPUs.
    /// (It once failed on an extension in a lease's last epoch: "offer leased beyond its GPUs (next): 6 > 5".)
    function invariant_capacity_never_exceeded() public view {
        uint64 current = market.currentEpoch();
        for (uint256 i; i < assetIds.length; ++i) {
            uint256 assetId = assetIds[i];
            (, uint32 gpuCount,) = registry.meteringProfile(assetId);
            uint256[] memory offers = market.offersOf(assetId);
            uint256 offered;
            for (uint256 j; j < offers.length; ++j) {
                uint256 gpus = market.offerTerms(offers[j]).gpus;
                offered += gpus;
                assertLe(market.leasedGpusAt(offers[j], current + 1), gpus, "offer leased beyond its GPUs (next)");
                assertLe(market.leasedGpusAt(offers[j], current + 2), gpus, "offer leased beyond its GPUs (+2)");
            }
            assertLe(offered, gpuCount, "offers sum to at most the asset's GPUs");
            uint64 next = market.nextSettleEpoch(assetId);
            for (uint64 epoch = market.firstEpochOf(assetId); epoch < next; ++epoch) {
                assertLe(market.settlementOf(assetId, epoch).leasedGpus, gpuCount, "settled epoch over capacity");
            }
        }
    }

    /// Every call the handler makes is one the spec allows, so none may revert; transfers clear the user.
    function invariant_allowed_actions_never_revert() public view {
        if (handler.ghost_unexpectedReverts() != 0) {
            fail(string.concat("unexpected revert: ", vm.toString(handler.ghost_lastUnexpected())));
        }
        assertEq(handler.ghost_userNotCleared(), 0, "a transfer left the ERC-4907 user");
    }

    /// Each run really drives the handler.
    function afterInvariant() public view {
        assertGt(handler.ghost_calls(), 0, "the handler was called");
    }

    /* THE HANDLER ITSELF */

    /// A scripted sequence through every handler action: each must do what it says at least once (so the
    /// campaign's skips and catches cannot hide a handler that never acts).
    function test_handler_drives_every_action() public {
        handler.openLease(0, 0, 1, 3);
        handler.openLease(1, 2, 1, 2);
        handler.extendLease(0, 1);
        handler.transferLease(1, 2);
        handler.addRevenue(0, 0, 5e6);
        handler.toggleShareFreeze(0);
        handler.warp(3_599); // into E0+1
        handler.postReports(0, 1, 7);
        handler.postReports(1, 1, 8);
        handler.settle(0, 1);
        handler.settle(1, 1);
        handler.terminateLease(0);
        handler.cancelLease(2);
        handler.warp(4); // past the grace period of the epoch in progress
        handler.settle(0, 3);
        handler.settle(1, 3);
        handler.toggleShareFreeze(0);
        handler.flushShareRevenue(0);
        handler.withdrawOperator(0);
        for (uint256 i; i < 5; ++i) {
            handler.claimRefund(i);
        }

        assertGt(handler.done_open(), 0, "open");
        assertGt(handler.done_extend(), 0, "extend");
        assertGt(handler.done_transfer(), 0, "transfer");
        assertGt(handler.done_addRevenue(), 0, "addRevenue");
        assertGt(handler.done_reports(), 0, "reports");
        assertGt(handler.done_settle(), 0, "settle");
        assertGt(handler.done_void(), 0, "void settlement");
        assertGt(handler.done_deferred(), 0, "deferred share revenue");
        assertGt(handler.done_flush(), 0, "flush");
        assertGt(handler.done_terminate(), 0, "terminate");
        assertGt(handler.done_cancel(), 0, "cancel");
        assertGt(handler.done_withdraw(), 0, "withdraw");
        assertGt(handler.done_claim(), 0, "claim");
        assertGt(handler.done_close(), 0, "close");
        assertEq(handler.ghost_unexpectedReverts(), 0, "no unexpected revert");
        invariant_closed_lease_billed_plus_credited_plus_refunded_equals_escrow();
        invariant_market_balance_covers_open_escrow_and_unclaimed();
        invariant_epoch_split_adds_up_to_gross();
        invariant_capacity_never_exceeded();
    }
}
