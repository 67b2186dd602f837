// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {LeaseMarket} from "../../../../contracts/LeaseMarket.sol";
import {MeteringOracle} from "../../../../contracts/MeteringOracle.sol";
import {DevStablecoin} from "../../../../contracts/dev/DevStablecoin.sol";
import {IAssetRegistry} from "../../../../contracts/interfaces/IAssetRegistry.sol";
import {ILeaseMarket} from "../../../../contracts/interfaces/ILeaseMarket.sol";
import {ILeasePositions} from "../../../../contracts/interfaces/ILeasePositions.sol";
import {IMeteringOracle} from "../../../../contracts/interfaces/IMeteringOracle.sol";
import {Test} from "../../utils/Test.sol";
import {Vm} from "../../utils/Vm.sol";

/// @notice Drives the LeaseMarket through realistic sequences: leases opened, extended, transferred (with an
/// ERC-4907 user), terminated, cancelled and claimed; quorum-signed reports with random values within the
/// oracle's bounds (vm.sign); revenue added by operators; epochs settled (void once the grace period is over
/// without a report); share tokens frozen and unfrozen by the stablecoin; operators withdrawing; time passing.
///
/// Every action is a plausible call: it picks an existing lease or offer, bounds its inputs to what the market
/// can accept, and skips when nothing fits. Calls that revert are caught and counted; reverts the spec does not
/// explain are recorded in `ghost_unexpectedReverts` and `ghost_lastUnexpected`. The `LeaseClosed` event's values
/// and the tokens each claim really paid are kept for the invariants.
contract LeaseHandler is Test {
    bytes32 internal constant LEASE_CLOSED = keccak256("LeaseClosed(uint256,uint256,uint256,uint256)");
    uint256 internal constant BPS = 10_000;
    uint256 internal constant SECONDS_PER_HOUR = 3600;

    LeaseMarket public immutable market;
    MeteringOracle public immutable oracle;
    DevStablecoin public immutable coin;
    ILeasePositions public immutable positions;
    IAssetRegistry public immutable registry;
    address public immutable admin;
    uint64 public immutable epochLength;
    uint64 public immutable gracePeriod;
    uint64 public immutable genesis;

    uint256[] internal _signerKeys;
    address[] internal _signerSet;
    uint256[] internal _assets;
    uint256[] internal _offers;
    address[] internal _lessees;
    address[] internal _operators;
    uint256[] internal _leases;
    uint256[] internal _closed;

    struct Closed {
        uint256 billed;
        uint256 credited;
        uint256 refunded;
    }

    /* GHOSTS */

    mapping(uint256 leaseId => Closed) public ghost_closedEvent;
    /// @dev Tokens the market really paid out for a lease (balance change of the claimer), over all claims.
    mapping(uint256 leaseId => uint256) public ghost_paidOut;
    uint256 public ghost_claimPaidMismatch;
    uint256 public ghost_userNotCleared;
    uint256 public ghost_unexpectedReverts;
    bytes public ghost_lastUnexpected;

    uint256 public ghost_calls;
    uint256 public calls_open;
    uint256 public calls_extend;
    uint256 public calls_transfer;
    uint256 public calls_terminate;
    uint256 public calls_cancel;
    uint256 public calls_claim;
    uint256 public calls_post;
    uint256 public calls_addRevenue;
    uint256 public calls_settle;
    uint256 public calls_warp;
    uint256 public calls_freeze;
    uint256 public calls_flush;
    uint256 public calls_withdraw;

    uint256 public done_open;
    uint256 public done_extend;
    uint256 public done_transfer;
    uint256 public done_terminate;
    uint256 public done_cancel;
    uint256 public done_claim;
    uint256 public done_close;
    uint256 public done_reports;
    uint256 public done_addRevenue;
    uint256 public done_settle;
    uint256 public done_void;
    uint256 public done_deferred;
    uint256 public done_flush;
    uint256 public done_withdraw;

    constructor(
        LeaseMarket market_,
        uint256[] memory signerKeys_,
        address[] memory signerSet_,
        uint256[] memory assets_,
        uint256[] memory offers_,
        address[] memory lessees_,
        uint256[] memory initialLeases,
        address admin_
    ) {
        market = market_;
        oracle = MeteringOracle(address(market_.oracle()));
        coin = DevStablecoin(address(market_.settlementToken()));
        positions = market_.positions();
        registry = market_.assetRegistry();
        admin = admin_;
        epochLength = oracle.epochLength();
        gracePeriod = market_.gracePeriod();
        genesis = oracle.genesis();
        _signerKeys = signerKeys_;
        _signerSet = signerSet_;
        _assets = assets_;
        _offers = offers_;
        _lessees = lessees_;
        for (uint256 i; i < assets_.length; ++i) {
            _operators.push(registry.operatorOf(assets_[i]));
        }
        _leases = initialLeases;
    }

    /* LESSEE ACTIONS */

    function openLease(uint256 lesseeSeed, uint256 offerSeed, uint256 gpus, uint256 term) external {
        ++ghost_calls;
        ++calls_open;
        uint256 offerId = _offers[offerSeed % _offers.length];
        ILeaseMarket.OfferTerms memory terms = market.offerTerms(offerId);
        uint64 next = market.nextSettleEpoch(terms.assetId);
        uint64 current = market.currentEpoch();
        if (current > next + market.MAX_SETTLEMENT_LAG()) return;
        uint256 leased = market.leasedGpusAt(offerId, current + 1);
        if (leased >= terms.gpus) return;
        gpus = bound(gpus, 1, terms.gpus - leased);
        term = bound(term, terms.minTermEpochs, terms.maxTermEpochs);
        address lessee = _lessees[lesseeSeed % _lessees.length];
        vm.prank(lessee);
        try market.openLease(offerId, uint32(gpus), uint32(term), terms.pricePerGpuHour) returns (uint256 leaseId) {
            _leases.push(leaseId);
            ++done_open;
        } catch (bytes memory reason) {
            _unexpected(reason);
        }
    }

    function extendLease(uint256 leaseSeed, uint256 extra) external {
        ++ghost_calls;
        ++calls_extend;
        (bool found, uint256 leaseId) = _pickLease(leaseSeed);
        if (!found) return;
        ILeaseMarket.Lease memory lease = market.getLease(leaseId);
        if (lease.status != ILeaseMarket.LeaseStatus.Active || lease.endEpoch <= market.currentEpoch()) return;
        uint256 maxTerm = market.offerTerms(lease.offerId).maxTermEpochs;
        uint256 term = lease.endEpoch - lease.startEpoch;
        if (term >= maxTerm) return;
        extra = bound(extra, 1, maxTerm - term);
        // A lease in its last epoch is checked like a new lease: its GPUs may be leased from the next epoch.
        uint64 next = market.currentEpoch() + 1;
        if (lease.endEpoch == next) {
            uint256 assetId = market.offerTerms(lease.offerId).assetId;
            if (next > market.nextSettleEpoch(assetId) + market.MAX_SETTLEMENT_LAG() + 1) return;
            uint256 offerGpus = market.offerTerms(lease.offerId).gpus;
            uint256 leased = market.leasedGpusAt(lease.offerId, next);
            if (leased + lease.gpus > offerGpus) {
                vm.prank(positions.ownerOf(leaseId));
                vm.expectRevert(
                    abi.encodeWithSelector(
                        ILeaseMarket.InsufficientCapacity.selector, lease.offerId, lease.gpus, offerGpus - leased
                    )
                );
                market.extendLease(leaseId, uint32(extra));
                return;
            }
        }
        vm.prank(positions.ownerOf(leaseId));
        try market.extendLease(leaseId, uint32(extra)) {
            ++done_extend;
        } catch (bytes memory reason) {
            _unexpected(reason);
        }
    }

    /// @notice Moves a lease NFT to another lessee, after naming an ERC-4907 user: the transfer must clear it.
    function transferLease(uint256 leaseSeed, uint256 toSeed) external {
        ++ghost_calls;
        ++calls_transfer;
        (bool found, uint256 leaseId) = _pickLease(leaseSeed);
        if (!found) return;
        address from = positions.ownerOf(leaseId);
        uint256 index = toSeed % _lessees.length;
        address to = _lessees[index];
        if (to == from) to = _lessees[(index + 1) % _lessees.length];
        vm.prank(from);
        positions.setUser(leaseId, to, uint64(block.timestamp + epochLength));
        vm.prank(from);
        positions.transferFrom(from, to, leaseId);
        if (positions.userOf(leaseId) != address(0) || positions.userExpires(leaseId) != 0) ++ghost_userNotCleared;
        ++done_transfer;
    }

    function terminateLease(uint256 leaseSeed) external {
        ++ghost_calls;
        ++calls_terminate;
        (bool found, uint256 leaseId) = _pickLease(leaseSeed);
        if (!found) return;
        ILeaseMarket.Lease memory lease = market.getLease(leaseId);
        if (lease.status != ILeaseMarket.LeaseStatus.Active) return;
        uint64 notice = market.offerTerms(lease.offerId).noticeEpochs;
        uint64 newEnd = market.currentEpoch() + 1 + notice;
        if (newEnd < lease.startEpoch) newEnd = lease.startEpoch;
        if (newEnd >= lease.endEpoch) return; // NothingToTerminate
        vm.prank(positions.ownerOf(leaseId));
        try market.terminateLease(leaseId) {
            ++done_terminate;
        } catch (bytes memory reason) {
            _unexpected(reason);
        }
    }

    function claimRefund(uint256 leaseSeed) external {
        ++ghost_calls;
        ++calls_claim;
        (bool found, uint256 leaseId) = _pickLease(leaseSeed);
        if (!found) return;
        ILeaseMarket.Lease memory lease = market.getLease(leaseId);
        if (lease.status == ILeaseMarket.LeaseStatus.Closed) return;
        ILeaseMarket.LeaseAccount memory account = market.leaseAccount(leaseId);
        if (account.refundable == 0 && account.settledThrough != lease.endEpoch) return; // NothingToClaim
        address owner = positions.ownerOf(leaseId);
        uint256 before = coin.balanceOf(owner);
        vm.recordLogs();
        vm.prank(owner);
        try market.claimRefund(leaseId) returns (uint256 amount) {
            uint256 paid = coin.balanceOf(owner) - before;
            if (paid != amount || amount != account.refundable) ++ghost_claimPaidMismatch;
            ghost_paidOut[leaseId] += paid;
            ++done_claim;
            Vm.Log[] memory logs = vm.getRecordedLogs();
            for (uint256 i; i < logs.length; ++i) {
                if (
                    logs[i].emitter == address(market) && logs[i].topics[0] == LEASE_CLOSED
                        && uint256(logs[i].topics[1]) == leaseId
                ) {
                    (uint256 billed, uint256 credited, uint256 refunded) =
                        abi.decode(logs[i].data, (uint256, uint256, uint256));
                    ghost_closedEvent[leaseId] = Closed(billed, credited, refunded);
                    _closed.push(leaseId);
                    ++done_close;
                }
            }
        } catch (bytes memory reason) {
            vm.getRecordedLogs();
            _unexpected(reason);
        }
    }

    /* OPERATOR ACTIONS */

    function cancelLease(uint256 leaseSeed) external {
        ++ghost_calls;
        ++calls_cancel;
        (bool found, uint256 leaseId) = _pickLease(leaseSeed);
        if (!found) return;
        ILeaseMarket.Lease memory lease = market.getLease(leaseId);
        if (lease.status != ILeaseMarket.LeaseStatus.Active) return;
        uint64 newEnd = market.currentEpoch() + 1;
        if (newEnd < lease.startEpoch) newEnd = lease.startEpoch;
        if (newEnd >= lease.endEpoch) return; // LeaseEnded
        vm.prank(registry.operatorOf(market.offerTerms(lease.offerId).assetId));
        try market.cancelLease(leaseId) {
            ++done_cancel;
        } catch (bytes memory reason) {
            _unexpected(reason);
        }
    }

    function addRevenue(uint256 assetSeed, uint256 epochOffset, uint256 amount) external {
        ++ghost_calls;
        ++calls_addRevenue;
        uint256 index = assetSeed % _assets.length;
        uint256 assetId = _assets[index];
        uint64 epoch = market.nextSettleEpoch(assetId) + uint64(bound(epochOffset, 0, 3));
        amount = bound(amount, 1, 50e6);
        vm.prank(_operators[index]);
        try market.addRevenue(assetId, epoch, amount, bytes32(epochOffset % 2 == 0 ? bytes32("SPOT") : bytes32("DR"))) {
            ++done_addRevenue;
        } catch (bytes memory reason) {
            _unexpected(reason);
        }
    }

    function withdrawOperator(uint256 operatorSeed) external {
        ++ghost_calls;
        ++calls_withdraw;
        address operator = _operators[operatorSeed % _operators.length];
        if (market.operatorBalance(operator) == 0) return;
        vm.prank(operator);
        try market.withdrawOperatorBalance(operator) {
            ++done_withdraw;
        } catch (bytes memory reason) {
            _unexpected(reason);
        }
    }

    /* METER AND SETTLEMENT */

    /// @notice Posts the next 1..4 ended epochs of one asset with random values within the oracle's bounds
    /// (some epochs are left unreported, to be voided after the grace period).
    function postReports(uint256 assetSeed, uint256 count, uint256 valuesSeed) external {
        ++ghost_calls;
        ++calls_post;
        uint256 assetId = _assets[assetSeed % _assets.length];
        uint64 next = oracle.cursorOf(assetId).nextEpoch;
        uint64 current = market.currentEpoch();
        if (next >= current) return;
        count = bound(count, 1, current - next > 4 ? 4 : current - next);
        (, uint32 gpuCount, uint32 powerW) = registry.meteringProfile(assetId);
        uint256 capacity = uint256(gpuCount) * epochLength;
        uint256 maxWh = uint256(gpuCount) * powerW * epochLength * (BPS + oracle.energyMarginBps())
            / (SECONDS_PER_HOUR * BPS);
        IMeteringOracle.Report[] memory reports = new IMeteringOracle.Report[](count);
        for (uint256 i; i < count; ++i) {
            uint256 r = uint256(keccak256(abi.encode(valuesSeed, i)));
            // a third of the epochs deliver everything, the rest anything from an outage up
            uint256 gpuSeconds = r % 3 == 0 ? capacity : (r >> 8) % (capacity + 1);
            uint256 curtailed = (r >> 64) % 4 == 0 ? (r >> 72) % (capacity - gpuSeconds + 1) : 0;
            uint256 util = gpuSeconds == 0 ? 0 : (r >> 128) % (BPS + 1);
            uint256 energy = (r >> 160) % (maxWh + 1);
            reports[i] = IMeteringOracle.Report(
                assetId, next + uint64(i), uint64(gpuSeconds), uint64(curtailed), uint16(util), uint64(energy)
            );
        }
        bytes32 digest = oracle.batchDigest(oracle.configVersion(), reports);
        IMeteringOracle.Signature[] memory sigs = new IMeteringOracle.Signature[](2);
        for (uint256 i; i < 2; ++i) {
            (uint8 v, bytes32 r_, bytes32 s) = vm.sign(_signerKeys[i], digest);
            sigs[i] = IMeteringOracle.Signature(r_, compactVs(v, s));
        }
        try oracle.submit(oracle.configVersion(), reports, _signerSet, sigs) {
            done_reports += count;
        } catch (bytes memory reason) {
            _unexpected(reason);
        }
    }

    /// @notice Settles up to `count` epochs of one asset, each with its report or as void after the grace period.
    function settle(uint256 assetSeed, uint256 count) external {
        ++ghost_calls;
        ++calls_settle;
        uint256 assetId = _assets[assetSeed % _assets.length];
        count = bound(count, 1, 3);
        for (uint256 i; i < count; ++i) {
            uint64 epoch = market.nextSettleEpoch(assetId);
            bool reported = oracle.hasReport(assetId, epoch);
            if (!reported && block.timestamp < genesis + (uint256(epoch) + 1) * epochLength + gracePeriod) return;
            uint256 deferredBefore = market.deferredShareRevenue(assetId);
            try market.settle(assetId, epoch) {
                ++done_settle;
                if (!reported) ++done_void;
                if (market.deferredShareRevenue(assetId) > deferredBefore) ++done_deferred;
            } catch (bytes memory reason) {
                _unexpected(reason);
                return;
            }
        }
    }

    /// @notice The stablecoin freezes (or unfreezes) an asset's share token: share revenue is deferred.
    function toggleShareFreeze(uint256 assetSeed) external {
        ++ghost_calls;
        ++calls_freeze;
        address shares = registry.sharesOf(_assets[assetSeed % _assets.length]);
        bool frozen = coin.isBlocklisted(shares);
        vm.prank(admin);
        if (frozen) coin.unBlocklist(shares);
        else coin.blocklist(shares);
    }

    function flushShareRevenue(uint256 assetSeed) external {
        ++ghost_calls;
        ++calls_flush;
        uint256 assetId = _assets[assetSeed % _assets.length];
        if (market.deferredShareRevenue(assetId) == 0) return;
        try market.flushShareRevenue(assetId) {
            if (market.deferredShareRevenue(assetId) == 0) ++done_flush;
        } catch (bytes memory reason) {
            _unexpected(reason);
        }
    }

    /// @notice Lets time pass: up to one epoch, or (one time in four) past the grace period of the epoch in
    /// progress, so unreported epochs can be voided.
    function warp(uint256 seconds_) external {
        ++ghost_calls;
        ++calls_warp;
        if (seconds_ % 4 == 0) seconds_ = gracePeriod + epochLength;
        else seconds_ = bound(seconds_, 60, epochLength);
        vm.warp(block.timestamp + seconds_);
    }

    /* VIEWS FOR THE INVARIANTS */

    function leases() external view returns (uint256[] memory) {
        return _leases;
    }

    function closedLeases() external view returns (uint256[] memory) {
        return _closed;
    }

    function assets() external view returns (uint256[] memory) {
        return _assets;
    }

    function offers() external view returns (uint256[] memory) {
        return _offers;
    }

    function operators() external view returns (address[] memory) {
        return _operators;
    }

    /* INTERNAL */

    function _pickLease(uint256 seed) internal view returns (bool found, uint256 leaseId) {
        if (_leases.length == 0) return (false, 0);
        return (true, _leases[seed % _leases.length]);
    }

    function _unexpected(bytes memory reason) internal {
        ++ghost_unexpectedReverts;
        ghost_lastUnexpected = reason;
    }
}
