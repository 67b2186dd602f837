// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

import {IAssetRegistry} from "../interfaces/IAssetRegistry.sol";
import {IAssetShares} from "../interfaces/IAssetShares.sol";
import {ILeaseMarket} from "../interfaces/ILeaseMarket.sol";
import {IMeteringOracle} from "../interfaces/IMeteringOracle.sol";

/// @notice An asset's place in the market: enrolled in `firstEpoch`, settled up to `nextSettleEpoch`. No epoch
/// from `revenueAddedUntil` on has revenue added by the operator, so settlement reads `addedRevenue` only below it.
struct AssetMarket {
    bool enrolled;
    uint64 firstEpoch;
    uint64 nextSettleEpoch;
    uint32 offeredGpus;
    uint64 revenueAddedUntil;
}

/// @dev Rate and GPU changes that take effect when an epoch is settled: a lease adds at its start and
/// subtracts at its end. `boundary` marks epochs where the offer's indexes must be snapshotted (a lease
/// starts or ends there), even when the changes of that epoch cancel out.
struct Delta {
    int128 rate;
    int32 gpus;
    bool boundary;
}

/// @dev Cumulative indexes of an offer before an epoch was settled.
struct IndexPoint {
    uint128 charge;
    uint128 credit;
}

/// @dev What one epoch's report says (zero for a void epoch). The delivered and available fractions are
/// taken against the leased capacity once settlement knows it (`_leasedFractions`).
struct Measurement {
    bool voided;
    uint16 utilizationBps;
    uint64 gpuSeconds;
    uint64 curtailedGpuSeconds;
    uint64 energyWh;
    bytes32 reportHash;
    uint256 deliveredWad;
    uint256 availableWad;
}

/// @dev How one epoch's revenue splits.
struct Split {
    uint256 gross;
    uint256 credits;
    uint256 energyCost;
    uint256 fee;
    uint256 net;
    uint256 added;
    uint32 leasedGpus;
    address operator;
    address shares;
}

/// @notice The stored audit record of one settled epoch, in four slots: `ILeaseMarket.EpochSettlement` less
/// what is derived exactly when it is read (`LeaseSettlement.recordOf`): `voided` is a zero `reportHash`;
/// `net` is the rise of `cumulativeNet` over the previous epoch's; `credits = gross - energyCost - fee - net`;
/// the delivered and available fractions follow from the epoch's GPU-seconds (the rise of
/// `cumulativeGpuSeconds`), `curtailedGpuSeconds` and `leasedGpus` by the billing formula; `addedRevenue` is
/// kept per epoch in `LeaseStorage.addedRevenue`, which no longer changes once the epoch is settled.
/// Widths: amounts are bounded by the token's supply (128 bits); GPU-seconds grow by at most
/// `AssetRegistry.MAX_GPU_COUNT` (1e6) per second of time, so 56 bits of busy GPU-seconds last 2,283 years;
/// one epoch's curtailed GPU-seconds are below the oracle's bound of 8.64e10 < 2**40.
struct SettlementRecord {
    bytes32 reportHash;
    uint128 gross;
    uint128 energyCost;
    uint128 fee;
    uint128 cumulativeNet;
    uint64 cumulativeGpuSeconds;
    uint64 cumulativeEnergyWh;
    uint56 cumulativeBusyGpuSeconds;
    uint32 leasedGpus;
    uint40 curtailedGpuSeconds;
}

/// @notice An offer's running state (`ILeaseMarket.OfferState`) with, in its first slot beside the running rate,
/// a copy of the terms settlement reads every epoch (they never change after `createOffer`), so that an epoch's
/// settlement reads no slot of the offer's terms unless its price is dynamic.
struct OfferBook {
    uint128 rateSum;
    uint32 activeGpus;
    bool active;
    bool retired;
    uint16 slaUptimeBps;
    uint16 slaCreditBps;
    ILeaseMarket.LeaseClass leaseClass;
    bool dynamicPricing;
    uint128 chargeIndex;
    uint128 creditIndex;
}

/// @notice Everything the LeaseMarket stores, in one struct so that the settlement library can reach it.
struct LeaseStorage {
    uint256 offerCount;
    uint256 leaseCount;
    mapping(uint256 assetId => AssetMarket) markets;
    mapping(uint256 assetId => uint256[]) assetOffers;
    mapping(uint256 offerId => ILeaseMarket.OfferTerms) terms;
    mapping(uint256 offerId => OfferBook) offerStates;
    mapping(uint256 offerId => mapping(uint64 epoch => Delta)) deltas;
    mapping(uint256 offerId => mapping(uint64 epoch => IndexPoint)) indexAt;
    mapping(uint256 leaseId => ILeaseMarket.Lease) leases;
    mapping(uint256 assetId => mapping(uint64 epoch => SettlementRecord)) settlements;
    mapping(address operator => uint256) operatorBalance;
    mapping(uint256 assetId => uint256) deferredShareRevenue;
    mapping(uint256 assetId => mapping(uint64 epoch => uint256)) addedRevenue;
}

/// @notice The market's immutables, handed to the library.
struct MarketConfig {
    IAssetRegistry registry;
    IMeteringOracle oracle;
    uint64 genesis;
    uint64 epochLength;
    uint64 gracePeriod;
}

/// @title LeaseSettlement
/// @notice The LeaseMarket's epoch settlement, as an external library reached by DELEGATECALL (the market
/// would not fit the contract size limit with it): its events and storage writes are the market's own.
library LeaseSettlement {
    uint256 internal constant WAD = 1e18;
    uint256 internal constant BPS = 10_000;
    uint256 internal constant SECONDS_PER_HOUR = 3600;
    uint256 internal constant WH_PER_KWH = 1000;
    bytes32 internal constant LEASE_SOURCE = "LEASE";
    uint256 internal constant MAX_OFFERS_PER_ASSET = 8;
    uint128 internal constant MAX_PRICE_PER_GPU_HOUR = type(uint96).max;
    uint64 internal constant MAX_SETTLEMENT_LAG = 48;

    function settleable(MarketConfig memory config, uint256 assetId, uint64 epoch) public view returns (bool) {
        if (config.oracle.hasReport(assetId, epoch)) return true;
        return block.timestamp >= _epochEndOf(config, epoch) + config.gracePeriod;
    }

    /// @dev One epoch of one asset: read the report (or void it), advance every offer's indexes, split the
    /// revenue, record the audit trail, credit the operator's balance and pay the share holders last.
    /* OFFERS */

    /// @notice `ILeaseMarket.createOffer`: the asset's operator reserves GPUs of it for an offer.
    function createOffer(LeaseStorage storage $, MarketConfig memory config, ILeaseMarket.OfferTerms calldata terms)
        public
        returns (uint256 offerId)
    {
        uint256 assetId = terms.assetId;
        (IAssetRegistry.AssetStatus status, uint32 gpuCount,) = config.registry.meteringProfile(assetId);
        if (status != IAssetRegistry.AssetStatus.Active) revert ILeaseMarket.AssetNotActive(assetId, status);
        if (config.registry.operatorOf(assetId) != msg.sender) revert ILeaseMarket.NotOperator(assetId, msg.sender);
        _checkTerms(terms);
        AssetMarket storage market = $.markets[assetId];
        if ($.assetOffers[assetId].length >= MAX_OFFERS_PER_ASSET) {
            revert ILeaseMarket.TooManyOffers(assetId, MAX_OFFERS_PER_ASSET);
        }
        uint256 available = gpuCount - market.offeredGpus;
        if (terms.gpus > available) revert ILeaseMarket.OfferCapacityExceeded(assetId, terms.gpus, available);

        if (!market.enrolled) enroll($, config, assetId);
        market.offeredGpus += terms.gpus;
        offerId = ++$.offerCount;
        $.terms[offerId] = terms;
        OfferBook storage book = $.offerStates[offerId];
        book.active = true;
        book.slaUptimeBps = terms.slaUptimeBps;
        book.slaCreditBps = terms.slaCreditBps;
        book.leaseClass = terms.leaseClass;
        book.dynamicPricing = terms.pricing.enabled;
        $.assetOffers[assetId].push(offerId);

        emit ILeaseMarket.OfferCreated(offerId, assetId, terms.gpus, terms.pricePerGpuHour, terms.leaseClass);
    }

    /// @notice `ILeaseMarket.retireOffer` (the offer is known): frees the offer's GPUs once no lease of it is
    /// left to settle.
    function retireOffer(LeaseStorage storage $, uint256 offerId, uint64 currentEpoch) public {
        uint256 assetId = $.terms[offerId].assetId;
        OfferBook storage state = $.offerStates[offerId];
        if (state.retired) revert ILeaseMarket.OfferUnchanged(offerId);
        // Retiring drops the offer from settlement, so every lease of it must be settled to its end: nothing
        // leased in the last settled epoch, and no lease starting or ending in an epoch not yet settled
        // (every lease starts at the latest in the next epoch, so its boundaries there or earlier tell).
        (bool pending, uint256 gpus) = _pendingLeases($, offerId, assetId, currentEpoch);
        if (pending) revert ILeaseMarket.OfferHasLeases(offerId, gpus);

        state.retired = true;
        state.active = false;
        $.markets[assetId].offeredGpus -= $.terms[offerId].gpus;
        uint256[] storage offers = $.assetOffers[assetId];
        for (uint256 i; i < offers.length; ++i) {
            if (offers[i] == offerId) {
                offers[i] = offers[offers.length - 1];
                offers.pop();
                break;
            }
        }

        emit ILeaseMarket.OfferRetired(offerId);
    }

    /// @dev Whether a lease of the offer has an epoch settlement has not reached (and the GPUs concerned):
    /// something leased in the last settled epoch, or a lease starting or ending in [next settle, current + 1].
    function _pendingLeases(LeaseStorage storage $, uint256 offerId, uint256 assetId, uint64 currentEpoch)
        internal
        view
        returns (bool pending, uint256 gpus)
    {
        OfferBook storage state = $.offerStates[offerId];
        if (state.activeGpus != 0 || state.rateSum != 0) return (true, state.activeGpus);
        uint64 last = currentEpoch + 1;
        for (uint64 e = $.markets[assetId].nextSettleEpoch; e <= last; ++e) {
            Delta memory delta = $.deltas[offerId][e];
            if (delta.boundary) return (true, uint256(uint32(delta.gpus < 0 ? -delta.gpus : delta.gpus)));
        }
        return (false, 0);
    }

    /// @notice Enrols an asset: its settlement starts with the epoch in progress (leases start after it).
    function enroll(LeaseStorage storage $, MarketConfig memory config, uint256 assetId) public {
        uint64 epoch = uint64((block.timestamp - config.genesis) / config.epochLength);
        AssetMarket storage market = $.markets[assetId];
        market.enrolled = true;
        market.firstEpoch = epoch;
        market.nextSettleEpoch = epoch;
        emit ILeaseMarket.AssetEnrolled(assetId, epoch);
    }

    function _checkTerms(ILeaseMarket.OfferTerms calldata terms) internal pure {
        if (terms.gpus == 0) revert ILeaseMarket.InvalidOfferGpus(terms.gpus);
        if (terms.pricePerGpuHour == 0 || terms.pricePerGpuHour > MAX_PRICE_PER_GPU_HOUR) {
            revert ILeaseMarket.InvalidOfferPrice(terms.pricePerGpuHour, MAX_PRICE_PER_GPU_HOUR);
        }
        if (terms.minTermEpochs == 0 || terms.minTermEpochs > terms.maxTermEpochs) {
            revert ILeaseMarket.InvalidOfferTerm(terms.minTermEpochs, terms.maxTermEpochs);
        }
        if (terms.slaUptimeBps > BPS || terms.slaCreditBps > BPS) {
            revert ILeaseMarket.InvalidOfferSla(terms.slaUptimeBps, terms.slaCreditBps);
        }
        if (terms.cancelPenaltyBps > BPS) revert ILeaseMarket.InvalidCancelPenalty(terms.cancelPenaltyBps);
        ILeaseMarket.DynamicPricing calldata pricing = terms.pricing;
        if (
            pricing.enabled
                && (pricing.targetUtilizationBps == 0
                    || pricing.targetUtilizationBps > BPS
                    || pricing.maxChangeBps == 0
                    || pricing.maxChangeBps > BPS
                    || pricing.minPricePerGpuHour == 0
                    || pricing.minPricePerGpuHour > terms.pricePerGpuHour
                    || pricing.maxPricePerGpuHour < terms.pricePerGpuHour
                    || pricing.maxPricePerGpuHour > MAX_PRICE_PER_GPU_HOUR)
        ) {
            revert ILeaseMarket.InvalidDynamicPricing(
                pricing.targetUtilizationBps,
                pricing.maxChangeBps,
                pricing.minPricePerGpuHour,
                pricing.maxPricePerGpuHour
            );
        }
    }

    /* LEASES */

    /// @notice `ILeaseMarket.extendLease` (the lease is known and the caller its lessee): checks and records the
    /// extension and returns the escrow it adds, which the market pulls last.
    function extendLease(LeaseStorage storage $, MarketConfig memory config, uint256 leaseId, uint32 extraEpochs)
        public
        returns (uint256 added)
    {
        ILeaseMarket.Lease storage lease = $.leases[leaseId];
        if (lease.status != ILeaseMarket.LeaseStatus.Active) revert ILeaseMarket.LeaseNotActive(leaseId, lease.status);
        uint64 oldEnd = lease.endEpoch;
        uint64 current = uint64((block.timestamp - config.genesis) / config.epochLength);
        if (oldEnd <= current) revert ILeaseMarket.LeaseEnded(leaseId, oldEnd);
        uint256 offerId = lease.offerId;
        ILeaseMarket.OfferTerms storage terms = $.terms[offerId];
        if (!$.offerStates[offerId].active) revert ILeaseMarket.OfferNotActive(offerId);
        uint256 assetId = terms.assetId;
        (IAssetRegistry.AssetStatus status,,) = config.registry.meteringProfile(assetId);
        if (status != IAssetRegistry.AssetStatus.Active) revert ILeaseMarket.AssetNotActive(assetId, status);
        uint256 newTerm = uint256(oldEnd - lease.startEpoch) + extraEpochs;
        if (extraEpochs == 0 || newTerm > terms.maxTermEpochs) {
            revert ILeaseMarket.TermOutOfRange(offerId, newTerm, terms.minTermEpochs, terms.maxTermEpochs);
        }

        // Every lease active after the current epoch started by the next one and is active there, so usage at
        // the next epoch bounds all later usage. A lease still running at the next epoch is part of that
        // usage already; one ending there is not, and its GPUs may have been leased from then on: check it
        // like a new lease.
        if (oldEnd == current + 1) _checkCapacityAt($, offerId, assetId, oldEnd, lease.gpus, terms.gpus);
        uint64 newEnd = uint64(oldEnd + extraEpochs);
        uint256 newEscrow = escrowFor(config.epochLength, lease.gpus, lease.pricePerGpuHour, newTerm);
        added = newEscrow - lease.escrow;
        lease.escrow = uint128(newEscrow);
        lease.endEpoch = newEnd;
        moveEnd($, offerId, uint256(lease.gpus) * lease.pricePerGpuHour, lease.gpus, oldEnd, newEnd);

        emit ILeaseMarket.LeaseExtended(leaseId, newEnd, added);
    }

    /// @dev Room at `epoch` (the next) for `gpus` more of the offer's `offerGpus`, like a new lease's check.
    function _checkCapacityAt(
        LeaseStorage storage $,
        uint256 offerId,
        uint256 assetId,
        uint64 epoch,
        uint32 gpus,
        uint32 offerGpus
    ) private view {
        uint64 settleFrom = $.markets[assetId].nextSettleEpoch;
        if (epoch > settleFrom + MAX_SETTLEMENT_LAG + 1) {
            revert ILeaseMarket.SettlementLagging(assetId, settleFrom, epoch - 1);
        }
        uint256 leased = leasedAt($, offerId, assetId, epoch);
        if (leased + gpus > offerGpus) revert ILeaseMarket.InsufficientCapacity(offerId, gpus, offerGpus - leased);
    }

    /// @dev GPUs of an offer leased at `epoch` (>= the asset's next settle epoch): the settled count plus the
    /// changes scheduled up to that epoch. Walks at most MAX_SETTLEMENT_LAG + 2 epochs for new leases.
    function leasedAt(LeaseStorage storage $, uint256 offerId, uint256 assetId, uint64 epoch)
        internal
        view
        returns (uint256)
    {
        int256 leased = int256(uint256($.offerStates[offerId].activeGpus));
        for (uint64 e = $.markets[assetId].nextSettleEpoch; e <= epoch; ++e) {
            leased += $.deltas[offerId][e].gpus;
        }
        return uint256(leased);
    }

    /// @dev Moves a lease's end from `oldEnd` to `newEnd`: its rate and GPUs stop at the new boundary instead.
    function moveEnd(LeaseStorage storage $, uint256 offerId, uint256 rate, uint32 gpus, uint64 oldEnd, uint64 newEnd)
        internal
    {
        Delta storage oldDelta = $.deltas[offerId][oldEnd];
        oldDelta.rate += int128(uint128(rate));
        oldDelta.gpus += int32(gpus);
        Delta storage newDelta = $.deltas[offerId][newEnd];
        newDelta.rate -= int128(uint128(rate));
        newDelta.gpus -= int32(gpus);
        newDelta.boundary = true;
    }

    /// @dev Escrow for `gpus` at a price over `epochs`, rounded up: ceil(gpus x price x epochs x L / 3,600).
    function escrowFor(uint256 epochLength, uint256 gpus, uint256 pricePerGpuHour, uint256 epochs)
        internal
        pure
        returns (uint256)
    {
        return Math.mulDiv(gpus * pricePerGpuHour, epochs * epochLength, SECONDS_PER_HOUR, Math.Rounding.Ceil);
    }

    /* SETTLEMENT */

    /// @notice Settles every settleable epoch of an asset from its next one up to `lastEpoch`.
    function settleThrough(LeaseStorage storage $, MarketConfig memory config, uint256 assetId, uint64 lastEpoch)
        public
        returns (uint256 settled)
    {
        AssetMarket storage market = $.markets[assetId];
        if (!market.enrolled) revert ILeaseMarket.AssetNotEnrolled(assetId);
        uint64 epoch = market.nextSettleEpoch;
        while (epoch <= lastEpoch && settleable(config, assetId, epoch)) {
            _settleStored($, config, assetId, epoch);
            ++epoch;
            ++settled;
        }
        if (settled == 0) revert ILeaseMarket.EpochNotSettleable(assetId, epoch, market.nextSettleEpoch);
    }

    /// @notice `ILeaseMarket.settle`: the asset's next epoch, exactly once.
    function settleNext(LeaseStorage storage $, MarketConfig memory config, uint256 assetId, uint64 epoch) public {
        uint64 next = _nextSettleEpoch($, assetId);
        if (epoch < next) revert ILeaseMarket.EpochAlreadySettled(assetId, epoch);
        if (epoch > next) revert ILeaseMarket.EpochNotSettleable(assetId, epoch, next);
        _settleStored($, config, assetId, epoch);
    }

    /// @dev One epoch with the report the oracle stores, or void after the grace period.
    function _settleStored(LeaseStorage storage $, MarketConfig memory config, uint256 assetId, uint64 epoch) internal {
        _settle($, config, assetId, epoch, _measureStored(config, assetId, epoch));
    }

    /// @notice `ILeaseMarket.settleWithProof`: one epoch with its report proven against the epoch's root.
    function settleWithProof(
        LeaseStorage storage $,
        MarketConfig memory config,
        IMeteringOracle.Report calldata report,
        bytes32[] calldata proof
    ) public {
        if (!_settleProven($, config, report, proof)) {
            revert ILeaseMarket.EpochAlreadySettled(report.assetId, report.epoch);
        }
    }

    /// @notice `ILeaseMarket.settleMany`: proven epochs of many assets; already settled ones are skipped.
    function settleMany(
        LeaseStorage storage $,
        MarketConfig memory config,
        IMeteringOracle.Report[] calldata reports,
        bytes32[][] calldata proofs
    ) public returns (uint256 settled) {
        uint256 count = reports.length;
        if (proofs.length != count) revert ILeaseMarket.ProofCountMismatch(count, proofs.length);
        for (uint256 i; i < count; ++i) {
            // Idempotent: one another keeper (or an earlier batch) settled already is skipped.
            if (_settleProven($, config, reports[i], proofs[i])) {
                // At most `count` iterations: cannot overflow.
                unchecked {
                    ++settled;
                }
            }
        }
    }

    /// @notice `ILeaseMarket.settleRange`: a contiguous run of one epoch's leaves, proven with one range proof
    /// in one oracle call; already settled ones are skipped.
    function settleRange(
        LeaseStorage storage $,
        MarketConfig memory config,
        IMeteringOracle.Report[] calldata reports,
        uint256 firstLeaf,
        bytes32[] calldata proof
    ) public returns (uint256 settled) {
        bytes32[] memory reportHashes = config.oracle.verifyReportRange(reports, firstLeaf, proof);
        for (uint256 i; i < reports.length; ++i) {
            IMeteringOracle.Report calldata report = reports[i];
            if (_isNextToSettle($, report)) {
                _settle($, config, report.assetId, report.epoch, _measureVerified(report, reportHashes[i]));
                // At most `reports.length` iterations: cannot overflow.
                unchecked {
                    ++settled;
                }
            }
        }
    }

    /// @dev Settles a proven report if its epoch is its asset's next; false if that epoch is settled already.
    function _settleProven(
        LeaseStorage storage $,
        MarketConfig memory config,
        IMeteringOracle.Report calldata report,
        bytes32[] calldata proof
    ) internal returns (bool) {
        if (!_isNextToSettle($, report)) return false;
        _settle($, config, report.assetId, report.epoch, _measureProven(config, report, proof));
        return true;
    }

    /// @dev True if the report's epoch is its asset's next to settle, false if it is settled already; reverts
    /// `EpochNotSettleable` if it lies ahead (an earlier epoch is still open).
    function _isNextToSettle(LeaseStorage storage $, IMeteringOracle.Report calldata report)
        internal
        view
        returns (bool)
    {
        uint256 assetId = report.assetId;
        uint64 epoch = report.epoch;
        uint64 next = _nextSettleEpoch($, assetId);
        if (epoch > next) revert ILeaseMarket.EpochNotSettleable(assetId, epoch, next);
        return epoch == next;
    }

    /// @dev Settles `epoch` (the asset's next) with its measurement: advance the offers, split, record, pay.
    function _settle(LeaseStorage storage $, MarketConfig memory config, uint256 assetId, uint64 epoch, Measurement memory m)
        internal
    {
        Split memory split = _split($, config, assetId, epoch, m);
        _record($, assetId, epoch, m, split);
        $.markets[assetId].nextSettleEpoch = epoch + 1;
        uint256 operatorShare = split.energyCost + split.fee;
        if (operatorShare != 0) $.operatorBalance[split.operator] += operatorShare;

        if (m.voided) emit ILeaseMarket.EpochVoided(assetId, epoch);
        emit ILeaseMarket.EpochSettled(
            assetId, epoch, m.reportHash, split.gross, split.credits, split.energyCost, split.fee, split.net
        );

        if (split.net != 0) depositToShares($, assetId, split.shares, split.net);
    }

    /// @dev `gross = credits + energyCost + fee + net`, exactly.
    function _split(
        LeaseStorage storage $,
        MarketConfig memory config,
        uint256 assetId,
        uint64 epoch,
        Measurement memory m
    ) internal returns (Split memory split) {
        uint256 charged;
        (split.gross, charged, split.leasedGpus) = _advanceOffers($, config, assetId, epoch, m);
        if (epoch < $.markets[assetId].revenueAddedUntil) split.added = $.addedRevenue[assetId][epoch];
        split.gross += split.added;
        uint256 revenue = charged + split.added;
        split.credits = split.gross - revenue;
        uint16 pueBps;
        uint128 tariff;
        uint16 feeBps;
        (split.operator, split.shares, pueBps, tariff, feeBps) = config.registry.economicsOf(assetId);
        // Facility energy (IT energy x PUE) at the tariff per kWh, never more than the epoch's revenue: in a
        // loss-making epoch the operator takes all the revenue and bears the rest of its energy bill.
        split.energyCost = Math.min(uint256(m.energyWh) * pueBps * tariff / (BPS * WH_PER_KWH), revenue);
        split.fee = (revenue - split.energyCost) * feeBps / BPS;
        split.net = revenue - split.energyCost - split.fee;
    }

    function _record(LeaseStorage storage $, uint256 assetId, uint64 epoch, Measurement memory m, Split memory split)
        internal
    {
        // Only the cumulative counters of the previous record are read (its last two slots).
        uint128 cumulativeNet;
        uint64 cumulativeGpuSeconds;
        uint64 cumulativeEnergyWh;
        uint56 cumulativeBusyGpuSeconds;
        if (epoch > $.markets[assetId].firstEpoch) {
            SettlementRecord storage previous = $.settlements[assetId][epoch - 1];
            cumulativeNet = previous.cumulativeNet;
            cumulativeGpuSeconds = previous.cumulativeGpuSeconds;
            cumulativeEnergyWh = previous.cumulativeEnergyWh;
            cumulativeBusyGpuSeconds = previous.cumulativeBusyGpuSeconds;
        }
        // Amounts are bounded by the token's supply, and GPU-seconds, Wh and curtailed GPU-seconds by the
        // oracle's bounds (see SettlementRecord), so no field truncates.
        $.settlements[assetId][epoch] = SettlementRecord({
            reportHash: m.reportHash,
            gross: uint128(split.gross),
            energyCost: uint128(split.energyCost),
            fee: uint128(split.fee),
            cumulativeNet: uint128(cumulativeNet + split.net),
            cumulativeGpuSeconds: cumulativeGpuSeconds + m.gpuSeconds,
            cumulativeEnergyWh: cumulativeEnergyWh + m.energyWh,
            cumulativeBusyGpuSeconds: cumulativeBusyGpuSeconds
                + uint56(uint256(m.gpuSeconds) * m.utilizationBps / BPS),
            leasedGpus: split.leasedGpus,
            curtailedGpuSeconds: uint40(m.curtailedGpuSeconds)
        });
    }

    /// @notice `ILeaseMarket.settlementOf` (the epoch is settled): the stored record with what it derives.
    function recordOf(LeaseStorage storage $, MarketConfig memory config, uint256 assetId, uint64 epoch)
        public
        view
        returns (ILeaseMarket.EpochSettlement memory s)
    {
        SettlementRecord memory r = $.settlements[assetId][epoch];
        uint256 netBefore;
        uint256 gpuSecondsBefore;
        if (epoch > $.markets[assetId].firstEpoch) {
            SettlementRecord storage previous = $.settlements[assetId][epoch - 1];
            netBefore = previous.cumulativeNet;
            gpuSecondsBefore = previous.cumulativeGpuSeconds;
        }
        s.reportHash = r.reportHash;
        s.gross = r.gross;
        s.energyCost = r.energyCost;
        s.fee = r.fee;
        s.net = uint128(r.cumulativeNet - netBefore);
        s.credits = r.gross - r.energyCost - r.fee - s.net;
        s.addedRevenue = uint128($.addedRevenue[assetId][epoch]);
        s.cumulativeNet = r.cumulativeNet;
        s.cumulativeGpuSeconds = r.cumulativeGpuSeconds;
        s.cumulativeEnergyWh = r.cumulativeEnergyWh;
        s.cumulativeBusyGpuSeconds = r.cumulativeBusyGpuSeconds;
        s.leasedGpus = r.leasedGpus;
        s.voided = r.reportHash == bytes32(0);
        // The fractions billed, recomputed exactly as settlement computed them.
        Measurement memory m;
        m.voided = s.voided;
        m.gpuSeconds = uint64(r.cumulativeGpuSeconds - gpuSecondsBefore);
        m.curtailedGpuSeconds = r.curtailedGpuSeconds;
        _leasedFractions(m, r.leasedGpus, config.epochLength);
        s.deliveredWad = uint64(m.deliveredWad);
        s.availableWad = uint64(m.availableWad);
    }

    /// @dev The report the oracle stores for the epoch, or a void measurement once the grace period has passed.
    function _measureStored(MarketConfig memory config, uint256 assetId, uint64 epoch)
        internal
        view
        returns (Measurement memory m)
    {
        if (!config.oracle.hasReport(assetId, epoch)) {
            uint256 voidableAt = _epochEndOf(config, epoch) + config.gracePeriod;
            if (block.timestamp < voidableAt) revert ILeaseMarket.ReportPending(assetId, epoch, voidableAt);
            m.voided = true;
            return m;
        }
        (IMeteringOracle.Report memory report,) = config.oracle.getReport(assetId, epoch);
        m.utilizationBps = report.utilizationBps;
        m.gpuSeconds = report.gpuSeconds;
        m.curtailedGpuSeconds = report.curtailedGpuSeconds;
        m.energyWh = report.energyWh;
        m.reportHash = config.oracle.hashReport(report);
    }

    /// @dev A report proven against its epoch's root: the oracle applies every check `submit` applies but
    /// contiguity (the market's own cursor, checked by the caller) and stores nothing.
    function _measureProven(
        MarketConfig memory config,
        IMeteringOracle.Report calldata report,
        bytes32[] calldata proof
    ) internal view returns (Measurement memory m) {
        return _measureVerified(report, config.oracle.verifyReport(report, proof));
    }

    /// @dev The measurement of a report the oracle has verified (`verifyReport`, `verifyReportRange`).
    function _measureVerified(IMeteringOracle.Report calldata report, bytes32 reportHash)
        internal
        pure
        returns (Measurement memory m)
    {
        m.reportHash = reportHash;
        m.utilizationBps = report.utilizationBps;
        m.gpuSeconds = report.gpuSeconds;
        m.curtailedGpuSeconds = report.curtailedGpuSeconds;
        m.energyWh = report.energyWh;
    }

    function _nextSettleEpoch(LeaseStorage storage $, uint256 assetId) internal view returns (uint64) {
        AssetMarket storage market = $.markets[assetId];
        if (!market.enrolled) revert ILeaseMarket.AssetNotEnrolled(assetId);
        return market.nextSettleEpoch;
    }

    /// @dev Billing by leased capacity: delivered d = min(1, gpuSeconds / (leasedGpus x epochLength)) and
    /// available a = min(1, (gpuSeconds + curtailedGpuSeconds) / (leasedGpus x epochLength)), each floored
    /// to WAD; both 0 when nothing is leased (nothing is billed then).
    function _leasedFractions(Measurement memory m, uint256 leasedGpus, uint256 epochLength) internal pure {
        if (leasedGpus == 0 || m.voided) return;
        uint256 leasedCapacity = leasedGpus * epochLength;
        m.deliveredWad = Math.min(uint256(m.gpuSeconds) * WAD / leasedCapacity, WAD);
        m.availableWad = Math.min((uint256(m.gpuSeconds) + m.curtailedGpuSeconds) * WAD / leasedCapacity, WAD);
    }

    /// @dev Advances each offer of the asset through `epoch`. Cost grows with the offers of the asset (at
    /// most MAX_OFFERS_PER_ASSET), never with its leases. Each offer's amounts floor separately, so
    /// charged <= gross holds.
    function _advanceOffers(
        LeaseStorage storage $,
        MarketConfig memory config,
        uint256 assetId,
        uint64 epoch,
        Measurement memory m
    ) internal returns (uint256 gross, uint256 charged, uint32 leasedGpus) {
        uint256[] storage offers = $.assetOffers[assetId];
        uint256 count = offers.length;
        // First pass: the GPUs leased in this epoch (each offer's count after the epoch's starts and ends),
        // which the delivered fraction is measured against.
        for (uint256 i; i < count; ++i) {
            uint256 offerId = offers[i];
            // The changes scheduled at an epoch were added when leases opened: no offer goes below zero.
            int256 offerGpus = int256(uint256($.offerStates[offerId].activeGpus)) + $.deltas[offerId][epoch].gpus;
            leasedGpus += uint32(uint256(offerGpus));
        }
        _leasedFractions(m, leasedGpus, config.epochLength);
        for (uint256 i; i < count; ++i) {
            (uint256 offerGross, uint256 offerCharged) = _advanceOffer($, config, offers[i], epoch, m);
            gross += offerGross;
            charged += offerCharged;
        }
    }

    /// @dev Applies the lease starts and ends scheduled at `epoch` (snapshotting the indexes first), bills
    /// the offer's running rate for the delivered fraction less any SLA credit, and moves a dynamic price.
    function _advanceOffer(
        LeaseStorage storage $,
        MarketConfig memory config,
        uint256 offerId,
        uint64 epoch,
        Measurement memory m
    ) internal returns (uint256 gross, uint256 charged) {
        OfferBook memory state = $.offerStates[offerId];
        Delta memory delta = $.deltas[offerId][epoch];
        if (delta.boundary) {
            $.indexAt[offerId][epoch] = IndexPoint(state.chargeIndex, state.creditIndex);
            // The changes scheduled here were added when leases opened: the sums never go negative.
            state.rateSum = uint128(int128(state.rateSum) + delta.rate);
            state.activeGpus = uint32(int32(state.activeGpus) + delta.gpus);
            delete $.deltas[offerId][epoch];
        }
        if (state.rateSum != 0 && !m.voided) {
            uint256 slaMetric = state.leaseClass == ILeaseMarket.LeaseClass.Firm ? m.deliveredWad : m.availableWad;
            uint256 creditBps = slaMetric * BPS < uint256(state.slaUptimeBps) * WAD ? state.slaCreditBps : 0;
            uint256 chargeWad = m.deliveredWad * (BPS - creditBps) / BPS;
            state.chargeIndex += uint128(chargeWad);
            state.creditIndex += uint128(m.deliveredWad - chargeWad);
            uint256 epochRate = uint256(state.rateSum) * config.epochLength;
            gross = epochRate * m.deliveredWad / (SECONDS_PER_HOUR * WAD);
            charged = epochRate * chargeWad / (SECONDS_PER_HOUR * WAD);
        }
        $.offerStates[offerId] = state;
        if (state.dynamicPricing && !m.voided) _repriceOffer(offerId, epoch, $.terms[offerId], m.utilizationBps);
        return (gross, charged);
    }

    /// @dev EIP-1559 style: price x (1 + maxChange x (utilisation - target) / target), the relative
    /// deviation capped at +-100%, then kept within the offer's floor and ceiling.
    function _repriceOffer(uint256 offerId, uint64 epoch, ILeaseMarket.OfferTerms storage terms, uint16 utilizationBps)
        internal
    {
        ILeaseMarket.DynamicPricing memory pricing = terms.pricing;
        uint256 price = terms.pricePerGpuHour;
        uint256 target = pricing.targetUtilizationBps;
        uint256 next;
        if (utilizationBps >= target) {
            uint256 deviation = Math.min((utilizationBps - target) * BPS / target, BPS);
            next = price + price * pricing.maxChangeBps * deviation / (BPS * BPS);
        } else {
            uint256 deviation = (target - utilizationBps) * BPS / target;
            next = price - price * pricing.maxChangeBps * deviation / (BPS * BPS);
        }
        next = Math.min(Math.max(next, pricing.minPricePerGpuHour), pricing.maxPricePerGpuHour);
        if (next != price) {
            terms.pricePerGpuHour = uint128(next);
            emit ILeaseMarket.OfferPriceUpdated(offerId, epoch, uint128(next));
        }
    }

    /// @notice Pays share revenue into the asset's share token; false (and deferred for `flushShareRevenue`)
    /// when the token or the stablecoin refuses it. The market approves each share token once, for every
    /// deposit to come (`type(uint256).max`, which OpenZeppelin's ERC-20 never spends down): a share token
    /// pulls only from the caller of `depositRevenue`, so the allowance is usable by the market's own deposits
    /// alone, and no per-epoch approval is written. The first deposit, or one after a stablecoin that spends
    /// allowances down has run it out, finds no allowance, approves and tries again. A share token the
    /// stablecoin has frozen must never stall settlement: each step may fail without reverting.
    function depositToShares(LeaseStorage storage $, uint256 assetId, address shares, uint256 amount)
        public
        returns (bool)
    {
        if (_tryDeposit(shares, amount)) return true;
        // The share token's settlement token is the market's (both are the registry's).
        if (_tryApprove(IAssetShares(shares).settlementToken(), shares, type(uint256).max)) {
            if (_tryDeposit(shares, amount)) return true;
        }
        $.deferredShareRevenue[assetId] += amount;
        emit ILeaseMarket.ShareRevenueDeferred(assetId, amount);
        return false;
    }

    function _tryDeposit(address shares, uint256 amount) private returns (bool) {
        try IAssetShares(shares).depositRevenue(amount, LEASE_SOURCE) {
            return true;
        } catch {
            return false;
        }
    }

    /// @dev `token.approve(spender, amount)` that reports failure instead of reverting, read as SafeERC20
    /// reads it: no return data from a contract (tokens without a bool) or a returned 1 is success.
    function _tryApprove(IERC20 token, address spender, uint256 amount) private returns (bool) {
        (bool ok, bytes memory returned) = address(token).call(abi.encodeCall(IERC20.approve, (spender, amount)));
        if (!ok) return false;
        if (returned.length == 0) return address(token).code.length != 0;
        return returned.length >= 32 && abi.decode(returned, (uint256)) == 1;
    }

    function _epochEndOf(MarketConfig memory config, uint64 epoch) internal pure returns (uint256) {
        return uint256(config.genesis) + (uint256(epoch) + 1) * config.epochLength;
    }

}
