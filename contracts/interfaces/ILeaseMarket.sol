// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import {IAssetRegistry} from "./IAssetRegistry.sol";
import {ILeasePositions} from "./ILeasePositions.sol";
import {IMeteringOracle} from "./IMeteringOracle.sol";

/// @title ILeaseMarket
/// @notice Where an asset earns. Operators offer GPUs of an asset for lease; lessees rent them for a term of
/// epochs and prepay the whole term into escrow in the settlement stablecoin; each lease is an ERC-721
/// position in `positions()` (transferable; ERC-4907 user) whose owner is the lessee. Every epoch, once the MeteringOracle holds its report,
/// `settle` bills the leases for what was really delivered, credits lessees when uptime fell below their
/// SLA, and splits the revenue: energy cost and operator fee to the operator, the rest to the asset's
/// share holders. No charge without proof of delivery: an epoch still unreported a grace period after it
/// ended settles as void and its escrow goes back to the lessees.
///
/// Billing model (per offer, per epoch e, with leased capacity L = leasedGpus x epochLength GPU-seconds, where
/// leasedGpus counts the GPUs of every lease of the asset with startEpoch <= e < endEpoch):
///   delivered   d = min(1, gpuSeconds / L)                        (WAD, floored; 0 when L = 0)
///   available   a = min(1, (gpuSeconds + curtailedGpuSeconds) / L) (WAD, floored)
///   SLA metric  firm leases: d; interruptible leases: a (a demand-response curtailment is no breach)
///   credit      c = slaCreditBps if the SLA metric < slaUptimeBps, else 0
///   a lease renting g GPUs at price p per GPU-hour is billed g x p x epochLength/3600 x d x (1 - c) and
///   credited g x p x epochLength/3600 x d x c; the undelivered part (1 - d) stays the lessee's.
/// The meter counts healthy GPU-seconds of the whole asset without knowing which GPU serves which lease; GPUs
/// are interchangeable, so healthy capacity up to the leased amount counts as delivered (idle faulty GPUs
/// bill nobody less; a shortfall below the leased capacity bills every lessee of the asset alike).
/// Each offer keeps a cumulative charge index and credit index (sum over epochs of d(1-c) and dc); a lease
/// reads its bill as rate x (index at its end - index at its start), so settlement costs the same whatever
/// the number of leases. Lease bills round up and epoch revenue rounds down, so the market always holds
/// what it owes.
///
/// Capacity: the offers of an asset never sum to more than its GPUs, and a lease starts at the next epoch,
/// so every lease active after the current epoch is active at the next one, and usage from there on never
/// rises: checking an offer's usage at the next epoch when a lease opens, or when a lease in its last epoch
/// is extended, is enough for capacity never to be leased twice.
interface ILeaseMarket {
    enum LeaseClass {
        Firm,
        Interruptible
    }

    /// @notice Lifecycle of a lease; states only move forward (Active -> Terminated | Cancelled -> Closed,
    /// or Active -> Closed at the end of its term).
    enum LeaseStatus {
        None,
        Active,
        Terminated,
        Cancelled,
        Closed
    }

    /// @notice Dynamic pricing in the spirit of EIP-1559: after each settled epoch the offer's price moves
    /// toward the asset's metered utilisation target by at most `maxChangeBps`, within [minPrice, maxPrice].
    /// Prices lock when a lease opens; dynamic prices move what new leases pay.
    struct DynamicPricing {
        bool enabled;
        uint16 targetUtilizationBps;
        uint16 maxChangeBps;
        uint128 minPricePerGpuHour;
        uint128 maxPricePerGpuHour;
    }

    /// @notice What an operator offers.
    /// @param assetId The asset whose GPUs are offered.
    /// @param gpus GPUs reserved for this offer.
    /// @param pricePerGpuHour Settlement-token base units per GPU-hour (the starting price if dynamic).
    /// @param minTermEpochs Shortest lease term.
    /// @param maxTermEpochs Longest lease term, extensions included.
    /// @param noticeEpochs Epochs of notice a lessee gives to end early.
    /// @param slaUptimeBps The uptime the operator promises.
    /// @param slaCreditBps Share of an epoch's charge credited back when uptime falls below the promise.
    /// @param cancelPenaltyBps What the operator pays on cancelling, as a share of the escrow it returns.
    /// @param leaseClass Firm, or Interruptible (cheaper; curtailment for grid demand response is no breach).
    struct OfferTerms {
        uint256 assetId;
        uint32 gpus;
        uint128 pricePerGpuHour;
        uint32 minTermEpochs;
        uint32 maxTermEpochs;
        uint32 noticeEpochs;
        uint16 slaUptimeBps;
        uint16 slaCreditBps;
        uint16 cancelPenaltyBps;
        LeaseClass leaseClass;
        DynamicPricing pricing;
    }

    /// @notice The running state of an offer, advanced by settlement.
    /// @param rateSum Sum over the leases active in the last settled epoch of gpus x pricePerGpuHour.
    /// @param activeGpus GPUs leased in the last settled epoch.
    /// @param chargeIndex Cumulative billed fraction (WAD) over settled epochs.
    /// @param creditIndex Cumulative credited fraction (WAD) over settled epochs.
    struct OfferState {
        uint128 rateSum;
        uint32 activeGpus;
        bool active;
        bool retired;
        uint128 chargeIndex;
        uint128 creditIndex;
    }

    /// @notice One lease. Its ERC-721 owner is the lessee and receives its refunds.
    struct Lease {
        uint64 offerId;
        uint32 gpus;
        uint64 startEpoch;
        uint64 endEpoch; // exclusive
        LeaseStatus status;
        uint128 pricePerGpuHour;
        uint128 escrow;
        uint128 penalty;
        uint128 refunded;
    }

    /// @notice The audit trail of one settled epoch of one asset: everything needed to recompute its payouts.
    /// `gross = credits + energyCost + fee + net` exactly.
    struct EpochSettlement {
        bytes32 reportHash; // the MeteringOracle report's EIP-712 struct hash; zero for a void epoch
        uint128 gross; // lease charges at delivered capacity plus revenue the operator added
        uint128 credits; // SLA credits returned to lessees
        uint128 energyCost; // energyWh x PUE x tariff, to the operator
        uint128 fee; // operator fee on what is left after energy, to the operator
        uint128 net; // to the share holders
        uint128 addedRevenue; // part of gross the operator added (spot work, demand response)
        uint128 cumulativeNet; // sum of net over the asset's settled epochs up to this one
        uint64 cumulativeGpuSeconds;
        uint64 cumulativeEnergyWh;
        uint64 cumulativeBusyGpuSeconds; // gpuSeconds x utilisation
        uint32 leasedGpus; // GPUs leased in the epoch, over all the asset's offers
        bool voided;
        uint64 deliveredWad; // d = min(1, gpuSeconds / (leasedGpus x epochLength)), floored; 0 if none leased
        uint64 availableWad; // a = min(1, (gpuSeconds + curtailedGpuSeconds) / (leasedGpus x epochLength))
    }

    /// @notice A lease's accounts: `billed + reserved + refundable + refunded == escrow + penalty` (bills and
    /// the reserve round up, so the sum may pass it by a unit while `refundable` is 0). `credited` (SLA credits)
    /// is part of `refundable + refunded`; `LeaseClosed` reports `refunded` without the credits, so that there
    /// `billed + credited + refunded == escrow + penalty`.
    struct LeaseAccount {
        uint256 billed;
        uint256 credited;
        uint256 reserved; // escrow held for epochs not yet settled
        uint256 refundable; // can be pulled now
        uint256 refunded;
        uint64 settledThrough; // epochs of the lease before this one are settled
    }

    /* EVENTS */

    event AssetEnrolled(uint256 indexed assetId, uint64 firstEpoch);
    event OfferCreated(
        uint256 indexed offerId, uint256 indexed assetId, uint32 gpus, uint128 pricePerGpuHour, LeaseClass leaseClass
    );
    event OfferActiveSet(uint256 indexed offerId, bool active);
    event OfferRetired(uint256 indexed offerId);
    event OfferPriceUpdated(uint256 indexed offerId, uint64 indexed epoch, uint128 pricePerGpuHour);
    event LeaseOpened(
        uint256 indexed leaseId,
        uint256 indexed offerId,
        address indexed lessee,
        uint32 gpus,
        uint64 startEpoch,
        uint64 endEpoch,
        uint128 pricePerGpuHour,
        uint256 escrow
    );
    event LeaseExtended(uint256 indexed leaseId, uint64 endEpoch, uint256 addedEscrow);
    event LeaseTerminated(uint256 indexed leaseId, uint64 endEpoch);
    event LeaseCancelled(uint256 indexed leaseId, uint64 endEpoch, uint256 penalty);
    event LeaseClosed(uint256 indexed leaseId, uint256 billed, uint256 credited, uint256 refunded);
    event RefundClaimed(uint256 indexed leaseId, address indexed to, uint256 amount);
    event RevenueAdded(uint256 indexed assetId, uint64 indexed epoch, bytes32 indexed source, uint256 amount);
    event EpochSettled(
        uint256 indexed assetId,
        uint64 indexed epoch,
        bytes32 reportHash,
        uint256 gross,
        uint256 credits,
        uint256 energyCost,
        uint256 fee,
        uint256 net
    );
    event EpochVoided(uint256 indexed assetId, uint64 indexed epoch);
    event ShareRevenueDeferred(uint256 indexed assetId, uint256 amount);
    event ShareRevenueFlushed(uint256 indexed assetId, uint256 amount);
    event OperatorWithdrawal(address indexed operator, address indexed to, uint256 amount);

    /* ERRORS */

    error ZeroAddress();
    error ZeroAmount();
    error NotOperator(uint256 assetId, address caller);
    error NotLessee(uint256 leaseId, address caller);
    error AssetNotActive(uint256 assetId, IAssetRegistry.AssetStatus status);
    error UnknownOffer(uint256 offerId);
    error UnknownLease(uint256 leaseId);
    error InvalidOfferGpus(uint32 gpus);
    error InvalidOfferPrice(uint128 pricePerGpuHour, uint128 maxPricePerGpuHour);
    error InvalidOfferTerm(uint32 minTermEpochs, uint32 maxTermEpochs);
    error InvalidOfferSla(uint16 slaUptimeBps, uint16 slaCreditBps);
    error InvalidCancelPenalty(uint16 cancelPenaltyBps);
    error InvalidDynamicPricing(
        uint16 targetUtilizationBps, uint16 maxChangeBps, uint128 minPricePerGpuHour, uint128 maxPricePerGpuHour
    );
    error TooManyOffers(uint256 assetId, uint256 maxOffers);
    error OfferCapacityExceeded(uint256 assetId, uint256 requested, uint256 available);
    error OfferNotActive(uint256 offerId);
    error OfferHasLeases(uint256 offerId, uint256 leasedGpus);
    error OfferUnchanged(uint256 offerId);
    error TermOutOfRange(uint256 offerId, uint256 termEpochs, uint32 minTermEpochs, uint32 maxTermEpochs);
    error InsufficientCapacity(uint256 offerId, uint256 requested, uint256 available);
    error PriceAboveMaximum(uint256 offerId, uint128 price, uint128 maxPrice);
    error SettlementLagging(uint256 assetId, uint64 nextSettleEpoch, uint64 currentEpoch);
    error LeaseNotActive(uint256 leaseId, LeaseStatus status);
    error LeaseEnded(uint256 leaseId, uint64 endEpoch);
    error NothingToTerminate(uint256 leaseId, uint64 endEpoch);
    error AssetNotEnrolled(uint256 assetId);
    error EpochNotSettleable(uint256 assetId, uint64 epoch, uint64 nextSettleEpoch);
    error ReportPending(uint256 assetId, uint64 epoch, uint256 voidableAt);
    error EpochAlreadySettled(uint256 assetId, uint64 epoch);
    error EpochNotSettled(uint256 assetId, uint64 epoch);
    error NothingToClaim(address account);
    error NothingToFlush(uint256 assetId);
    error ProofCountMismatch(uint256 reports, uint256 proofs);

    /* OPERATOR */

    /// @notice The asset's operator offers GPUs of it. Enrols the asset in the market on first use.
    function createOffer(OfferTerms calldata terms) external returns (uint256 offerId);

    /// @notice Pauses or resumes new leases on an offer (existing leases run on).
    function setOfferActive(uint256 offerId, bool active) external;

    /// @notice Frees an offer's GPUs for other offers once it has no lease left running.
    function retireOffer(uint256 offerId) external;

    /// @notice The operator cancels a lease from the next epoch: the unused escrow goes back to the lessee
    /// with a penalty of `cancelPenaltyBps` of it, paid by the operator.
    function cancelLease(uint256 leaseId) external;

    /// @notice The operator adds revenue of an unsettled epoch that is not lease rent (spot or interruptible
    /// work sold elsewhere, a grid demand-response payment); it joins that epoch's split.
    function addRevenue(uint256 assetId, uint64 epoch, uint256 amount, bytes32 source) external;

    /// @notice Pays the caller's energy cost and fee balance to `to`.
    function withdrawOperatorBalance(address to) external returns (uint256 amount);

    /* LESSEE */

    /// @notice Rents `gpus` GPUs of an offer for `termEpochs` epochs from the next epoch, paying the whole
    /// term into escrow. `maxPricePerGpuHour` protects against a dynamic price moving first.
    function openLease(uint256 offerId, uint32 gpus, uint32 termEpochs, uint128 maxPricePerGpuHour)
        external
        returns (uint256 leaseId);

    /// @notice `openLease` with an EIP-2612 permit of the settlement token, so one signature suffices.
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
    ) external returns (uint256 leaseId);

    /// @notice Extends a running lease at its locked price, paying the added escrow.
    function extendLease(uint256 leaseId, uint32 extraEpochs) external;

    /// @notice The lessee ends a lease early, after the offer's notice period.
    function terminateLease(uint256 leaseId) external;

    /// @notice Pulls what the lease can refund now (undelivered capacity, SLA credits, a cancelled or
    /// terminated lease's unused escrow) to the lease's owner; closes the lease once its term is settled.
    function claimRefund(uint256 leaseId) external returns (uint256 amount);

    /* SETTLEMENT */

    /// @notice Settles one epoch of one asset, exactly once, in order: with its report once the oracle holds
    /// it, or as void once `gracePeriod` has passed after the epoch ended without one. Anyone may call.
    function settle(uint256 assetId, uint64 epoch) external;

    /// @notice Settles every settleable epoch of an asset up to `lastEpoch`; returns how many it settled.
    function settleThrough(uint256 assetId, uint64 lastEpoch) external returns (uint256 settled);

    /// @notice Proof at settlement: settles the asset's next epoch with a report proven against the epoch's
    /// committed root (`IMeteringOracle.verifyReport`: live root, valid proof, active asset, bounds); the
    /// report is not stored, its hash is the audit record's `reportHash`. Anyone may call.
    function settleWithProof(IMeteringOracle.Report calldata report, bytes32[] calldata proof) external;

    /// @notice `settleWithProof` for many (asset, epoch) reports in one transaction, for keepers. Each must
    /// be its asset's next epoch (reports of one asset in epoch order); one already settled is skipped, so a
    /// batch can be replayed. Returns how many it settled.
    function settleMany(IMeteringOracle.Report[] calldata reports, bytes32[][] calldata proofs)
        external
        returns (uint256 settled);

    /// @notice `settleMany` for a contiguous run of one epoch's leaves, for keepers: the run is proven with one
    /// range proof (`IMeteringOracle.verifyReportRange`: at most two hashes per tree layer for the whole run)
    /// in one oracle call, then each report settles as in `settleWithProof`. A report whose epoch its asset has
    /// settled already is skipped (a run may hold such gaps, and a batch can be replayed); one whose asset has
    /// an earlier epoch still open reverts `EpochNotSettleable`. Returns how many it settled.
    /// @param reports The leaves [firstLeaf, firstLeaf + reports.length) of one epoch's tree, in leaf order.
    /// @param firstLeaf The first report's leaf index.
    /// @param proof The range proof (its layout in `IMeteringOracle.verifyReportRange`).
    function settleRange(IMeteringOracle.Report[] calldata reports, uint256 firstLeaf, bytes32[] calldata proof)
        external
        returns (uint256 settled);

    /// @notice Retries depositing share revenue that the share token could not take at settlement.
    function flushShareRevenue(uint256 assetId) external;

    /* VIEWS */

    /// @notice At most this many offers of one asset exist at once (settlement walks them all).
    function MAX_OFFERS_PER_ASSET() external view returns (uint256);

    /// @notice Prices are capped so that gpus x price always fits the 128-bit rate accumulators.
    function MAX_PRICE_PER_GPU_HOUR() external view returns (uint128);

    function settlementToken() external view returns (IERC20);

    /// @notice The ERC-721 (+ ERC-4907) token of lease positions; token id = lease id.
    function positions() external view returns (ILeasePositions);

    function assetRegistry() external view returns (IAssetRegistry);

    function oracle() external view returns (IMeteringOracle);

    function gracePeriod() external view returns (uint64);

    function currentEpoch() external view returns (uint64);

    function nextSettleEpoch(uint256 assetId) external view returns (uint64);

    /// @notice The first epoch the market settles for an asset (the epoch it enrolled in).
    function firstEpochOf(uint256 assetId) external view returns (uint64);

    function isEnrolled(uint256 assetId) external view returns (bool);

    function offerTerms(uint256 offerId) external view returns (OfferTerms memory);

    function offerState(uint256 offerId) external view returns (OfferState memory);

    function offersOf(uint256 assetId) external view returns (uint256[] memory);

    /// @notice GPUs of an offer already leased at `epoch` (>= the asset's next settle epoch).
    function leasedGpusAt(uint256 offerId, uint64 epoch) external view returns (uint256);

    function getLease(uint256 leaseId) external view returns (Lease memory);

    function leaseAccount(uint256 leaseId) external view returns (LeaseAccount memory);

    /// @notice Escrow a lease of `gpus` for `termEpochs` costs at `pricePerGpuHour` (rounded up).
    function quoteEscrow(uint32 gpus, uint128 pricePerGpuHour, uint32 termEpochs) external view returns (uint256);

    function settlementOf(uint256 assetId, uint64 epoch) external view returns (EpochSettlement memory);

    function operatorBalance(address operator) external view returns (uint256);

    function deferredShareRevenue(uint256 assetId) external view returns (uint256);

    function addedRevenue(uint256 assetId, uint64 epoch) external view returns (uint256);

    /// @notice GPUs of the asset leased in `epoch` (>= the next settle epoch), over all its offers.
    function leasedGpusOfAsset(uint256 assetId, uint64 epoch) external view returns (uint256);

    /// @notice Sum of net revenue of the settled epochs in [fromEpoch, toEpoch) (toEpoch <= next settle).
    function netRevenueBetween(uint256 assetId, uint64 fromEpoch, uint64 toEpoch) external view returns (uint256);
}
