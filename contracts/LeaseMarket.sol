// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

import {IAssetRegistry} from "./interfaces/IAssetRegistry.sol";
import {ILeaseMarket} from "./interfaces/ILeaseMarket.sol";
import {ILeasePositions} from "./interfaces/ILeasePositions.sol";
import {IMeteringOracle} from "./interfaces/IMeteringOracle.sol";
import {LeasePositionsFactory} from "./libraries/LeasePositionsFactory.sol";
import {
    AssetMarket,
    Delta,
    IndexPoint,
    LeaseSettlement,
    LeaseStorage,
    MarketConfig,
    OfferBook
} from "./libraries/LeaseSettlement.sol";

/// @title LeaseMarket
/// @notice GPU capacity rented for stablecoin, billed only for metered delivery, with SLA credits; the
/// rent, less energy and the operator's fee, is paid to the asset's share holders.
contract LeaseMarket is ILeaseMarket, ReentrancyGuard {
    using SafeERC20 for IERC20;

    /// @inheritdoc ILeaseMarket
    uint256 public constant MAX_OFFERS_PER_ASSET = LeaseSettlement.MAX_OFFERS_PER_ASSET;
    /// @notice New leases need the asset's settlement to be at most this many epochs behind: it bounds the
    /// capacity check's walk and keeps capacity off the market while its meter is silent.
    uint64 public constant MAX_SETTLEMENT_LAG = LeaseSettlement.MAX_SETTLEMENT_LAG;
    /// @inheritdoc ILeaseMarket
    uint128 public constant MAX_PRICE_PER_GPU_HOUR = LeaseSettlement.MAX_PRICE_PER_GPU_HOUR;
    bytes32 public constant LEASE_SOURCE = LeaseSettlement.LEASE_SOURCE;

    uint256 internal constant WAD = 1e18;
    uint256 internal constant BPS = 10_000;
    uint256 internal constant SECONDS_PER_HOUR = 3600;

    /// @inheritdoc ILeaseMarket
    IERC20 public immutable settlementToken;
    /// @inheritdoc ILeaseMarket
    IAssetRegistry public immutable assetRegistry;
    /// @inheritdoc ILeaseMarket
    IMeteringOracle public immutable oracle;
    /// @inheritdoc ILeaseMarket
    ILeasePositions public immutable positions;
    /// @inheritdoc ILeaseMarket
    uint64 public immutable gracePeriod;
    uint64 internal immutable _genesis;
    uint64 internal immutable _epochLength;

    LeaseStorage internal $;

    /// @param registry The AssetRegistry (its settlement token is this market's money).
    /// @param oracle_ The MeteringOracle whose reports bill the leases.
    /// @param gracePeriod_ Seconds after an epoch ends before a missing report voids it.
    constructor(IAssetRegistry registry, IMeteringOracle oracle_, uint64 gracePeriod_) {
        if (address(registry) == address(0) || address(oracle_) == address(0)) revert ZeroAddress();
        assetRegistry = registry;
        oracle = oracle_;
        settlementToken = registry.settlementToken();
        gracePeriod = gracePeriod_;
        _genesis = oracle_.genesis();
        _epochLength = oracle_.epochLength();
        positions = ILeasePositions(LeasePositionsFactory.deploy());
    }

    /* OFFERS */

    /// @inheritdoc ILeaseMarket
    function createOffer(OfferTerms calldata terms) external returns (uint256 offerId) {
        return LeaseSettlement.createOffer($, _config(), terms);
    }

    /// @inheritdoc ILeaseMarket
    function setOfferActive(uint256 offerId, bool active) external {
        OfferBook storage state = _knownOffer(offerId);
        _requireOperator($.terms[offerId].assetId);
        if (state.retired || state.active == active) revert OfferUnchanged(offerId);

        state.active = active;

        emit OfferActiveSet(offerId, active);
    }

    /// @inheritdoc ILeaseMarket
    function retireOffer(uint256 offerId) external {
        _knownOffer(offerId);
        _requireOperator($.terms[offerId].assetId);
        LeaseSettlement.retireOffer($, offerId, currentEpoch());
    }

    /* LEASES */

    /// @inheritdoc ILeaseMarket
    function openLease(uint256 offerId, uint32 gpus, uint32 termEpochs, uint128 maxPricePerGpuHour)
        external
        nonReentrant
        returns (uint256 leaseId)
    {
        return _openLease(offerId, gpus, termEpochs, maxPricePerGpuHour);
    }

    /// @inheritdoc ILeaseMarket
    function openLeaseWithPermit(
        uint256 offerId,
        uint32 gpus,
        uint32 termEpochs,
        uint128 maxPricePerGpuHour,
        uint256 permitValue,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external nonReentrant returns (uint256 leaseId) {
        // A permit front-run by someone else still leaves the allowance in place: ignore its failure and
        // let the transfer decide (OpenZeppelin's guidance for permit griefing).
        try IERC20Permit(address(settlementToken)).permit(msg.sender, address(this), permitValue, deadline, v, r, s) {}
            catch {}
        return _openLease(offerId, gpus, termEpochs, maxPricePerGpuHour);
    }

    /// @inheritdoc ILeaseMarket
    function extendLease(uint256 leaseId, uint32 extraEpochs) external nonReentrant {
        _knownLease(leaseId);
        _requireLessee(leaseId);
        uint256 added = LeaseSettlement.extendLease($, _config(), leaseId, extraEpochs);
        settlementToken.safeTransferFrom(msg.sender, address(this), added);
    }

    /// @inheritdoc ILeaseMarket
    function terminateLease(uint256 leaseId) external {
        Lease storage lease = _knownLease(leaseId);
        _requireLessee(leaseId);
        if (lease.status != LeaseStatus.Active) revert LeaseNotActive(leaseId, lease.status);
        uint64 newEnd = uint64(Math.max(currentEpoch() + 1 + $.terms[lease.offerId].noticeEpochs, lease.startEpoch));
        uint64 oldEnd = lease.endEpoch;
        if (newEnd >= oldEnd) revert NothingToTerminate(leaseId, oldEnd);

        lease.endEpoch = newEnd;
        lease.status = LeaseStatus.Terminated;
        _moveEnd(lease.offerId, _rateOf(lease), lease.gpus, oldEnd, newEnd);

        emit LeaseTerminated(leaseId, newEnd);
    }

    /// @inheritdoc ILeaseMarket
    function cancelLease(uint256 leaseId) external nonReentrant {
        Lease storage lease = _knownLease(leaseId);
        uint256 offerId = lease.offerId;
        _requireOperator($.terms[offerId].assetId);
        if (lease.status != LeaseStatus.Active) revert LeaseNotActive(leaseId, lease.status);
        uint64 newEnd = uint64(Math.max(currentEpoch() + 1, lease.startEpoch));
        uint64 oldEnd = lease.endEpoch;
        if (newEnd >= oldEnd) revert LeaseEnded(leaseId, oldEnd);

        uint256 returned = _escrowFor(lease.gpus, lease.pricePerGpuHour, oldEnd - newEnd);
        uint256 penalty = returned * $.terms[offerId].cancelPenaltyBps / BPS;
        lease.endEpoch = newEnd;
        lease.status = LeaseStatus.Cancelled;
        lease.penalty += uint128(penalty);
        _moveEnd(offerId, _rateOf(lease), lease.gpus, oldEnd, newEnd);

        emit LeaseCancelled(leaseId, newEnd, penalty);

        if (penalty != 0) settlementToken.safeTransferFrom(msg.sender, address(this), penalty);
    }

    /// @inheritdoc ILeaseMarket
    function claimRefund(uint256 leaseId) external nonReentrant returns (uint256 amount) {
        Lease storage lease = _knownLease(leaseId);
        _requireLessee(leaseId);
        if (lease.status == LeaseStatus.Closed) revert LeaseNotActive(leaseId, lease.status);
        LeaseAccount memory account = _account(lease);
        amount = account.refundable;
        bool closing = account.settledThrough == lease.endEpoch;
        if (amount == 0 && !closing) revert NothingToClaim(msg.sender);

        lease.refunded += uint128(amount);
        if (closing) {
            lease.status = LeaseStatus.Closed;
            uint256 paidBack = account.refunded + amount;
            emit LeaseClosed(leaseId, account.billed, account.credited, paidBack - account.credited);
        }
        if (amount != 0) {
            emit RefundClaimed(leaseId, msg.sender, amount);
            settlementToken.safeTransfer(msg.sender, amount);
        }
    }

    /* REVENUE */

    /// @inheritdoc ILeaseMarket
    function addRevenue(uint256 assetId, uint64 epoch, uint256 amount, bytes32 source) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        _requireOperator(assetId);
        AssetMarket storage market = $.markets[assetId];
        if (!market.enrolled) LeaseSettlement.enroll($, _config(), assetId);
        if (epoch < market.nextSettleEpoch) revert EpochAlreadySettled(assetId, epoch);

        $.addedRevenue[assetId][epoch] += amount;
        if (epoch >= market.revenueAddedUntil) market.revenueAddedUntil = epoch + 1;

        emit RevenueAdded(assetId, epoch, source, amount);

        settlementToken.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @inheritdoc ILeaseMarket
    function withdrawOperatorBalance(address to) external nonReentrant returns (uint256 amount) {
        if (to == address(0)) revert ZeroAddress();
        amount = $.operatorBalance[msg.sender];
        if (amount == 0) revert NothingToClaim(msg.sender);

        $.operatorBalance[msg.sender] = 0;

        emit OperatorWithdrawal(msg.sender, to, amount);

        settlementToken.safeTransfer(to, amount);
    }

    /// @inheritdoc ILeaseMarket
    function flushShareRevenue(uint256 assetId) external nonReentrant {
        uint256 amount = $.deferredShareRevenue[assetId];
        if (amount == 0) revert NothingToFlush(assetId);
        $.deferredShareRevenue[assetId] = 0;
        address shares = assetRegistry.sharesOf(assetId);
        if (LeaseSettlement.depositToShares($, assetId, shares, amount)) emit ShareRevenueFlushed(assetId, amount);
    }

    /* SETTLEMENT */

    /// @inheritdoc ILeaseMarket
    function settle(uint256 assetId, uint64 epoch) external nonReentrant {
        LeaseSettlement.settleNext($, _config(), assetId, epoch);
    }

    /// @inheritdoc ILeaseMarket
    function settleThrough(uint256 assetId, uint64 lastEpoch) external nonReentrant returns (uint256 settled) {
        return LeaseSettlement.settleThrough($, _config(), assetId, lastEpoch);
    }

    /// @inheritdoc ILeaseMarket
    function settleWithProof(IMeteringOracle.Report calldata report, bytes32[] calldata proof) external nonReentrant {
        LeaseSettlement.settleWithProof($, _config(), report, proof);
    }

    /// @inheritdoc ILeaseMarket
    function settleMany(IMeteringOracle.Report[] calldata reports, bytes32[][] calldata proofs)
        external
        nonReentrant
        returns (uint256 settled)
    {
        return LeaseSettlement.settleMany($, _config(), reports, proofs);
    }

    /// @inheritdoc ILeaseMarket
    function settleRange(IMeteringOracle.Report[] calldata reports, uint256 firstLeaf, bytes32[] calldata proof)
        external
        nonReentrant
        returns (uint256 settled)
    {
        return LeaseSettlement.settleRange($, _config(), reports, firstLeaf, proof);
    }

    /* VIEWS */

    /// @inheritdoc ILeaseMarket
    function currentEpoch() public view returns (uint64) {
        return uint64((block.timestamp - _genesis) / _epochLength);
    }

    /// @inheritdoc ILeaseMarket
    function nextSettleEpoch(uint256 assetId) external view returns (uint64) {
        return $.markets[assetId].nextSettleEpoch;
    }

    /// @inheritdoc ILeaseMarket
    function isEnrolled(uint256 assetId) external view returns (bool) {
        return $.markets[assetId].enrolled;
    }

    /// @inheritdoc ILeaseMarket
    function offerTerms(uint256 offerId) external view returns (OfferTerms memory) {
        _knownOffer(offerId);
        return $.terms[offerId];
    }

    /// @inheritdoc ILeaseMarket
    function offerState(uint256 offerId) external view returns (OfferState memory) {
        OfferBook storage book = _knownOffer(offerId);
        return OfferState(book.rateSum, book.activeGpus, book.active, book.retired, book.chargeIndex, book.creditIndex);
    }

    /// @inheritdoc ILeaseMarket
    function offersOf(uint256 assetId) external view returns (uint256[] memory) {
        return $.assetOffers[assetId];
    }

    /// @inheritdoc ILeaseMarket
    function leasedGpusAt(uint256 offerId, uint64 epoch) external view returns (uint256) {
        _knownOffer(offerId);
        return _leasedAt(offerId, $.terms[offerId].assetId, epoch);
    }

    /// @inheritdoc ILeaseMarket
    function getLease(uint256 leaseId) external view returns (Lease memory) {
        return _knownLease(leaseId);
    }

    /// @inheritdoc ILeaseMarket
    function leaseAccount(uint256 leaseId) external view returns (LeaseAccount memory) {
        return _account(_knownLease(leaseId));
    }

    /// @inheritdoc ILeaseMarket
    function quoteEscrow(uint32 gpus, uint128 pricePerGpuHour, uint32 termEpochs) external view returns (uint256) {
        return _escrowFor(gpus, pricePerGpuHour, termEpochs);
    }

    /// @inheritdoc ILeaseMarket
    function settlementOf(uint256 assetId, uint64 epoch) external view returns (EpochSettlement memory) {
        if (!_isSettled(assetId, epoch)) revert EpochNotSettled(assetId, epoch);
        return LeaseSettlement.recordOf($, _config(), assetId, epoch);
    }

    /// @inheritdoc ILeaseMarket
    function operatorBalance(address operator) external view returns (uint256) {
        return $.operatorBalance[operator];
    }

    /// @inheritdoc ILeaseMarket
    function deferredShareRevenue(uint256 assetId) external view returns (uint256) {
        return $.deferredShareRevenue[assetId];
    }

    /// @inheritdoc ILeaseMarket
    function addedRevenue(uint256 assetId, uint64 epoch) external view returns (uint256) {
        return $.addedRevenue[assetId][epoch];
    }

    /// @inheritdoc ILeaseMarket
    function firstEpochOf(uint256 assetId) external view returns (uint64) {
        return $.markets[assetId].firstEpoch;
    }

    /// @inheritdoc ILeaseMarket
    function leasedGpusOfAsset(uint256 assetId, uint64 epoch) external view returns (uint256 leased) {
        uint256[] storage offers = $.assetOffers[assetId];
        for (uint256 i; i < offers.length; ++i) {
            leased += _leasedAt(offers[i], assetId, epoch);
        }
    }

    /// @inheritdoc ILeaseMarket
    function netRevenueBetween(uint256 assetId, uint64 fromEpoch, uint64 toEpoch) external view returns (uint256) {
        AssetMarket memory market = $.markets[assetId];
        if (toEpoch > market.nextSettleEpoch) revert EpochNotSettled(assetId, toEpoch - 1);
        uint64 first = market.firstEpoch;
        if (fromEpoch < first) fromEpoch = first;
        if (toEpoch <= fromEpoch) return 0;
        uint256 upTo = $.settlements[assetId][toEpoch - 1].cumulativeNet;
        uint256 below = fromEpoch > first ? $.settlements[assetId][fromEpoch - 1].cumulativeNet : 0;
        return upTo - below;
    }

    /* INTERNAL: LEASES */

    function _openLease(uint256 offerId, uint32 gpus, uint32 termEpochs, uint128 maxPrice)
        internal
        returns (uint256 leaseId)
    {
        (uint128 price, uint64 start) = _checkOpen(offerId, gpus, termEpochs, maxPrice);
        uint256 escrow = _escrowFor(gpus, price, termEpochs);
        uint64 end = start + termEpochs;
        leaseId = ++$.leaseCount;
        $.leases[leaseId] = Lease({
            offerId: uint64(offerId),
            gpus: gpus,
            startEpoch: start,
            endEpoch: end,
            status: LeaseStatus.Active,
            pricePerGpuHour: price,
            escrow: uint128(escrow),
            penalty: 0,
            refunded: 0
        });
        _schedule(offerId, uint256(gpus) * price, gpus, start, end);
        positions.mint(msg.sender, leaseId);

        emit LeaseOpened(leaseId, offerId, msg.sender, gpus, start, end, price, escrow);

        settlementToken.safeTransferFrom(msg.sender, address(this), escrow);
    }

    /// @dev Checks a new lease and returns its price and start epoch (the next epoch).
    function _checkOpen(uint256 offerId, uint32 gpus, uint32 termEpochs, uint128 maxPrice)
        internal
        view
        returns (uint128 price, uint64 start)
    {
        OfferBook storage state = _knownOffer(offerId);
        if (!state.active) revert OfferNotActive(offerId);
        OfferTerms storage terms = $.terms[offerId];
        uint256 assetId = terms.assetId;
        (IAssetRegistry.AssetStatus status,,) = assetRegistry.meteringProfile(assetId);
        _requireActive(assetId, status);
        if (gpus == 0) revert ZeroAmount();
        if (termEpochs < terms.minTermEpochs || termEpochs > terms.maxTermEpochs) {
            revert TermOutOfRange(offerId, termEpochs, terms.minTermEpochs, terms.maxTermEpochs);
        }
        price = terms.pricePerGpuHour;
        if (price > maxPrice) revert PriceAboveMaximum(offerId, price, maxPrice);
        uint64 now_ = currentEpoch();
        uint64 next = $.markets[assetId].nextSettleEpoch;
        if (now_ > next + MAX_SETTLEMENT_LAG) revert SettlementLagging(assetId, next, now_);
        start = now_ + 1;
        uint256 leased = _leasedAt(offerId, assetId, start);
        if (leased + gpus > terms.gpus) revert InsufficientCapacity(offerId, gpus, terms.gpus - leased);
    }

    /// @dev A lease's rate joins its offer when its start epoch settles and leaves when its end epoch does.
    function _schedule(uint256 offerId, uint256 rate, uint32 gpus, uint64 start, uint64 end) internal {
        // gpus < 2**32 and price <= 2**96: the rate fits in 128 bits with room for every lease of an offer.
        Delta storage startDelta = $.deltas[offerId][start];
        startDelta.rate += int128(uint128(rate));
        startDelta.gpus += int32(gpus);
        startDelta.boundary = true;
        Delta storage endDelta = $.deltas[offerId][end];
        endDelta.rate -= int128(uint128(rate));
        endDelta.gpus -= int32(gpus);
        endDelta.boundary = true;
    }

    /// @dev A lease's accounts from the offer's indexes. Bills round up, credits round down, and the escrow
    /// still reserved for unsettled epochs rounds up, so the lease never takes out more than it put in.
    function _account(Lease storage lease) internal view returns (LeaseAccount memory account) {
        uint256 offerId = lease.offerId;
        uint64 next = $.markets[$.terms[offerId].assetId].nextSettleEpoch;
        uint64 start = lease.startEpoch;
        uint64 end = lease.endEpoch;
        uint64 settledThrough = next < start ? start : (next > end ? end : next);
        IndexPoint memory atStart = _indexBefore(offerId, start, next);
        IndexPoint memory atSettled = _indexBefore(offerId, settledThrough, next);
        uint256 rate = _rateOf(lease);
        uint256 hourScale = SECONDS_PER_HOUR * WAD;

        account.settledThrough = settledThrough;
        account.billed =
            Math.mulDiv(rate * _epochLength, atSettled.charge - atStart.charge, hourScale, Math.Rounding.Ceil);
        account.credited = Math.mulDiv(rate * _epochLength, atSettled.credit - atStart.credit, hourScale);
        account.reserved = _escrowFor(lease.gpus, lease.pricePerGpuHour, end - settledThrough);
        account.refunded = lease.refunded;
        uint256 total = uint256(lease.escrow) + lease.penalty;
        uint256 kept = account.billed + account.reserved + account.refunded;
        account.refundable = total > kept ? total - kept : 0;
    }

    /// @dev The offer's cumulative indexes before `epoch` was settled, for `epoch <= next`: the running value
    /// at `next`, or the snapshot taken at a lease boundary.
    function _indexBefore(uint256 offerId, uint64 epoch, uint64 next) internal view returns (IndexPoint memory) {
        if (epoch >= next) {
            OfferBook storage state = $.offerStates[offerId];
            return IndexPoint(state.chargeIndex, state.creditIndex);
        }
        return $.indexAt[offerId][epoch];
    }

    function _leasedAt(uint256 offerId, uint256 assetId, uint64 epoch) internal view returns (uint256) {
        return LeaseSettlement.leasedAt($, offerId, assetId, epoch);
    }

    function _moveEnd(uint256 offerId, uint256 rate, uint32 gpus, uint64 oldEnd, uint64 newEnd) internal {
        LeaseSettlement.moveEnd($, offerId, rate, gpus, oldEnd, newEnd);
    }

    function _rateOf(Lease storage lease) internal view returns (uint256) {
        return uint256(lease.gpus) * lease.pricePerGpuHour;
    }

    function _escrowFor(uint256 gpus, uint256 pricePerGpuHour, uint256 epochs) internal view returns (uint256) {
        return LeaseSettlement.escrowFor(_epochLength, gpus, pricePerGpuHour, epochs);
    }

    /* INTERNAL: SETTLEMENT */

    /* INTERNAL: CHECKS */

    function _config() internal view returns (MarketConfig memory) {
        return MarketConfig(assetRegistry, oracle, _genesis, _epochLength, gracePeriod);
    }

    function _requireOperator(uint256 assetId) internal view {
        if (assetRegistry.operatorOf(assetId) != msg.sender) revert NotOperator(assetId, msg.sender);
    }

    function _requireLessee(uint256 leaseId) internal view {
        if (positions.ownerOf(leaseId) != msg.sender) revert NotLessee(leaseId, msg.sender);
    }

    function _requireActive(uint256 assetId, IAssetRegistry.AssetStatus status) internal pure {
        if (status != IAssetRegistry.AssetStatus.Active) revert AssetNotActive(assetId, status);
    }

    function _knownOffer(uint256 offerId) internal view returns (OfferBook storage state) {
        if (offerId == 0 || offerId > $.offerCount) revert UnknownOffer(offerId);
        return $.offerStates[offerId];
    }

    function _knownLease(uint256 leaseId) internal view returns (Lease storage lease) {
        lease = $.leases[leaseId];
        if (lease.status == LeaseStatus.None) revert UnknownLease(leaseId);
    }

    function _isSettled(uint256 assetId, uint64 epoch) internal view returns (bool) {
        AssetMarket memory market = $.markets[assetId];
        return market.enrolled && epoch >= market.firstEpoch && epoch < market.nextSettleEpoch;
    }
}
