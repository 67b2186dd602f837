// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {
    AccessControlDefaultAdminRules
} from "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {IAssetRegistry} from "./interfaces/IAssetRegistry.sol";
import {ILeaseMarket} from "./interfaces/ILeaseMarket.sol";
import {IMeteringOracle} from "./interfaces/IMeteringOracle.sol";
import {IShareValuation} from "./interfaces/IShareValuation.sol";

/// @title YieldValuation
/// @notice Values GPU-asset shares from their settled net yield (see IShareValuation for the formula).
contract YieldValuation is IShareValuation, AccessControlDefaultAdminRules {
    using SafeCast for uint256;

    bytes32 public constant VALUATION_ADMIN_ROLE = keccak256("VALUATION_ADMIN_ROLE");

    uint256 internal constant BPS = 10_000;
    uint256 internal constant SECONDS_PER_YEAR = 365 days;
    uint256 internal constant SHARE_UNIT = 1e18;
    uint32 public constant MAX_WINDOW_EPOCHS = 24 * 365;
    /// @notice The largest `maxRiseBpsPerYear`: 100% of the snapshot per hour, so that the ceiling's maths stays
    /// far from overflow. Deployments use far less (the demo: 50% a year; docs/security.md, "Wash leasing").
    uint32 public constant MAX_RISE_BPS_PER_YEAR = 87_600_000;
    uint256 internal constant SECONDS_PER_HOUR = 3600;

    ILeaseMarket public immutable leaseMarket;
    IMeteringOracle public immutable oracle;
    IAssetRegistry public immutable assetRegistry;
    /// @inheritdoc IShareValuation
    IERC20 public immutable quoteToken;
    uint64 internal immutable _genesis;
    uint64 internal immutable _epochLength;

    /// @dev The prices stored (anchor, snapshot) are capped at 2**96 - 1 base units a share, so that the anchor
    /// and its snapshot share one slot: one read and one write per anchoring.
    uint256 internal constant MAX_STORED_PRICE = type(uint96).max;

    /// @dev What every anchoring reads, in one slot (window and snapshot period are <= MAX_WINDOW_EPOCHS, so 16
    /// bits hold them). `windowEpochs != 0` marks a configured asset.
    struct AssetConfig {
        uint16 windowEpochs;
        uint16 capRateBps;
        uint16 decayBpsPerYear;
        uint16 maxMoveBpsPerEpoch;
        uint32 maxSilenceEpochs;
        uint16 silenceHaircutBps;
        uint16 suspendedHaircutBps;
        uint96 initialPrice;
        uint16 snapshotEpochs;
    }

    /// @dev Read only when needed: on a rise (the rise rate), with settled history (the reference price) and
    /// with age decay (the commissioning date, fixed at registration and cached here).
    struct AssetGuards {
        uint32 maxRiseBpsPerYear;
        uint96 referencePricePerGpuHour;
        uint64 commissionedAt;
    }

    /// @dev The anchor and the snapshot the rise ceiling grows from, in one slot.
    struct AnchorSlot {
        uint96 price;
        uint32 epoch;
        uint96 snapshotPrice;
        uint32 snapshotEpoch;
    }

    mapping(uint256 assetId => AssetConfig) internal _configs;
    mapping(uint256 assetId => AssetGuards) internal _guards;
    mapping(uint256 assetId => AnchorSlot) internal _anchors;

    constructor(ILeaseMarket market, uint48 adminDelay, address admin)
        AccessControlDefaultAdminRules(adminDelay, admin)
    {
        leaseMarket = market;
        oracle = market.oracle();
        assetRegistry = market.assetRegistry();
        quoteToken = market.settlementToken();
        _genesis = oracle.genesis();
        _epochLength = oracle.epochLength();
        _grantRole(VALUATION_ADMIN_ROLE, admin);
    }

    /// @inheritdoc IShareValuation
    function configure(uint256 assetId, ValuationParams calldata params, uint128 initialPrice)
        external
        onlyRole(VALUATION_ADMIN_ROLE)
    {
        if (assetRegistry.statusOf(assetId) == IAssetRegistry.AssetStatus.None) {
            revert InvalidValuationParams(assetId);
        }
        if (
            params.windowEpochs == 0 || params.windowEpochs > MAX_WINDOW_EPOCHS || params.capRateBps == 0
                || params.decayBpsPerYear > BPS || params.maxMoveBpsPerEpoch == 0 || params.maxMoveBpsPerEpoch > BPS
                || params.maxSilenceEpochs == 0 || params.silenceHaircutBps > BPS || params.suspendedHaircutBps > BPS
                || params.maxRiseBpsPerYear == 0 || params.maxRiseBpsPerYear > MAX_RISE_BPS_PER_YEAR
                || params.snapshotEpochs == 0 || params.snapshotEpochs > MAX_WINDOW_EPOCHS
                || params.referencePricePerGpuHour == 0
                || params.referencePricePerGpuHour > leaseMarket.MAX_PRICE_PER_GPU_HOUR()
        ) revert InvalidValuationParams(assetId);
        AssetConfig storage config = _configs[assetId];
        uint96 initial = config.initialPrice;
        bool first = config.windowEpochs == 0;
        if (first) {
            if (initialPrice == 0 || initialPrice > MAX_STORED_PRICE) revert InvalidAnchorPrice(assetId, initialPrice);
            initial = uint96(initialPrice);
        }

        // The bounds above make every narrowing cast below exact (window and snapshot <= 8,760; the reference
        // price <= LeaseMarket's maximum, 2**96 - 1).
        _configs[assetId] = AssetConfig({
            windowEpochs: uint16(params.windowEpochs),
            capRateBps: params.capRateBps,
            decayBpsPerYear: params.decayBpsPerYear,
            maxMoveBpsPerEpoch: params.maxMoveBpsPerEpoch,
            maxSilenceEpochs: params.maxSilenceEpochs,
            silenceHaircutBps: params.silenceHaircutBps,
            suspendedHaircutBps: params.suspendedHaircutBps,
            initialPrice: initial,
            snapshotEpochs: uint16(params.snapshotEpochs)
        });
        _guards[assetId] = AssetGuards({
            maxRiseBpsPerYear: params.maxRiseBpsPerYear,
            referencePricePerGpuHour: uint96(params.referencePricePerGpuHour),
            commissionedAt: assetRegistry.commissionedAtOf(assetId)
        });
        uint32 epoch = uint256(_currentEpoch()).toUint32();
        if (first) _anchors[assetId] = AnchorSlot(initial, epoch, initial, epoch);

        emit AssetConfigured(assetId, params, _anchors[assetId].price);
        if (first) emit SnapshotTaken(assetId, epoch, initial);
    }

    /// @inheritdoc IShareValuation
    function update(uint256 assetId) external returns (uint256 price, bool frozen) {
        AssetConfig memory params = _configured(assetId);
        AnchorSlot memory anchor = _anchors[assetId];
        uint64 epoch = _currentEpoch();
        if (anchor.epoch == epoch) return (anchor.price, _isFrozen(assetId, params, epoch));

        Breakdown memory parts = _breakdown(assetId, params, epoch);
        frozen = parts.retired || parts.suspended || parts.silent;
        uint256 target = parts.target;
        price = _price(assetId, anchor, target, params, epoch);
        uint32 epoch32 = uint256(epoch).toUint32();
        bool moveSnapshot = price < anchor.snapshotPrice || epoch >= anchor.snapshotEpoch + params.snapshotEpochs;
        // `price` <= MAX_STORED_PRICE (_price caps it): the casts are exact.
        _anchors[assetId] = moveSnapshot
            ? AnchorSlot(uint96(price), epoch32, uint96(price), epoch32)
            : AnchorSlot(uint96(price), epoch32, anchor.snapshotPrice, anchor.snapshotEpoch);

        emit PriceUpdated(assetId, epoch, uint128(price), target);
        if (moveSnapshot) emit SnapshotTaken(assetId, epoch, uint128(price));
    }

    /// @inheritdoc IShareValuation
    function quote(uint256 assetId) external view returns (uint256 price, bool frozen) {
        AssetConfig memory params = _configured(assetId);
        AnchorSlot memory anchor = _anchors[assetId];
        uint64 epoch = _currentEpoch();
        frozen = _isFrozen(assetId, params, epoch);
        if (anchor.epoch == epoch) return (anchor.price, frozen);
        price = _price(assetId, anchor, _breakdown(assetId, params, epoch).target, params, epoch);
    }

    /// @inheritdoc IShareValuation
    function breakdown(uint256 assetId) external view returns (Breakdown memory) {
        return _breakdown(assetId, _configured(assetId), _currentEpoch());
    }

    /// @inheritdoc IShareValuation
    function paramsOf(uint256 assetId) external view returns (ValuationParams memory) {
        AssetConfig memory config = _configs[assetId];
        AssetGuards memory guards = _guards[assetId];
        return ValuationParams({
            windowEpochs: config.windowEpochs,
            capRateBps: config.capRateBps,
            decayBpsPerYear: config.decayBpsPerYear,
            maxMoveBpsPerEpoch: config.maxMoveBpsPerEpoch,
            maxSilenceEpochs: config.maxSilenceEpochs,
            silenceHaircutBps: config.silenceHaircutBps,
            suspendedHaircutBps: config.suspendedHaircutBps,
            maxRiseBpsPerYear: guards.maxRiseBpsPerYear,
            snapshotEpochs: config.snapshotEpochs,
            referencePricePerGpuHour: guards.referencePricePerGpuHour
        });
    }

    /// @inheritdoc IShareValuation
    function anchorOf(uint256 assetId) external view returns (Anchor memory) {
        AnchorSlot memory anchor = _anchors[assetId];
        return Anchor(anchor.price, anchor.epoch, _configs[assetId].windowEpochs != 0);
    }

    /// @inheritdoc IShareValuation
    function snapshotOf(uint256 assetId) external view returns (Snapshot memory) {
        AnchorSlot memory anchor = _anchors[assetId];
        return Snapshot(anchor.snapshotPrice, anchor.snapshotEpoch);
    }

    /// @inheritdoc IShareValuation
    function riseCeiling(uint256 assetId) external view returns (uint256) {
        AssetConfig memory params = _configured(assetId);
        uint64 epoch = _currentEpoch();
        return _riseCeilingOf(assetId, _anchors[assetId], _breakdown(assetId, params, epoch).target, epoch);
    }

    /* INTERNAL */

    function _breakdown(uint256 assetId, AssetConfig memory params, uint64 epoch)
        internal
        view
        returns (Breakdown memory parts)
    {
        (IAssetRegistry.AssetStatus status, uint32 gpuCount,) = assetRegistry.meteringProfile(assetId);
        parts.retired = status == IAssetRegistry.AssetStatus.Retired;
        parts.suspended = status == IAssetRegistry.AssetStatus.Suspended;
        if (parts.retired) return parts; // target 0: the GPUs are gone

        parts.silentEpochs = _silentEpochs(assetId, epoch);
        parts.silent = parts.silentEpochs >= params.maxSilenceEpochs;

        uint64 next = leaseMarket.nextSettleEpoch(assetId);
        uint64 first = leaseMarket.firstEpochOf(assetId);
        uint64 from = next > first + params.windowEpochs ? next - params.windowEpochs : first;
        parts.windowEpochs = next - from;
        uint256 supply = IERC20(assetRegistry.sharesOf(assetId)).totalSupply();
        if (parts.windowEpochs == 0 || supply == 0) {
            // No settled history yet: the initial price (the offering price) stands in for the capitalised
            // yield. Not the last anchor: decay and haircuts would then compound at every anchoring.
            parts.capitalised = params.initialPrice;
        } else {
            parts.windowNet = leaseMarket.netRevenueBetween(assetId, from, next);
            uint256 windowSeconds = parts.windowEpochs * _epochLength;
            // Every GPU leased all window long at the reference price: revenue above it (a wash lease at 20x)
            // is settled and paid out as usual, but not capitalised into the collateral value.
            parts.referenceCap = Math.mulDiv(
                uint256(_guards[assetId].referencePricePerGpuHour) * gpuCount, windowSeconds, SECONDS_PER_HOUR
            );
            parts.countedNet = Math.min(parts.windowNet, parts.referenceCap);
            parts.annualNetPerShare =
                Math.mulDiv(parts.countedNet * SECONDS_PER_YEAR, SHARE_UNIT, windowSeconds * supply);
            // One rounding for the capitalised value, not two: computed from the counted net directly.
            parts.capitalised = Math.mulDiv(
                parts.countedNet * SECONDS_PER_YEAR, SHARE_UNIT * BPS, windowSeconds * supply * params.capRateBps
            );
        }

        // No decay, no need to read the commissioning date.
        uint256 decay;
        if (params.decayBpsPerYear != 0) {
            uint256 age = block.timestamp - _guards[assetId].commissionedAt;
            decay = Math.mulDiv(params.decayBpsPerYear, age, SECONDS_PER_YEAR);
        }
        parts.decayFactorBps = decay >= BPS ? 0 : BPS - decay;

        // Decay and haircuts multiply together before the single division.
        uint256 keepBps = parts.decayFactorBps;
        uint256 scale = BPS;
        if (parts.silent) {
            keepBps *= BPS - params.silenceHaircutBps;
            scale *= BPS;
        }
        if (parts.suspended) {
            keepBps *= BPS - params.suspendedHaircutBps;
            scale *= BPS;
        }
        parts.target = Math.mulDiv(parts.capitalised, keepBps, scale);
    }

    /// @dev The anchoring rule: one bounded step toward the target, and a rise no higher than the ceiling that
    /// grows linearly from the snapshot (never below the previous anchor: the ceiling only holds a price back).
    /// The stored price is capped at MAX_STORED_PRICE.
    function _price(uint256 assetId, AnchorSlot memory anchor, uint256 target, AssetConfig memory params, uint64 epoch)
        internal
        view
        returns (uint256 price)
    {
        price = _step(anchor.price, target, params.maxMoveBpsPerEpoch);
        if (price > anchor.price) {
            uint256 ceiling = _riseCeilingOf(assetId, anchor, target, epoch);
            price = Math.min(Math.max(anchor.price, Math.min(price, ceiling)), MAX_STORED_PRICE);
        }
    }

    /// @dev snapshot + snapshot x maxRise x elapsed / year, rounded down (of the target when the snapshot is 0,
    /// so that a price can recover from zero at the same bounded pace).
    function _riseCeilingOf(uint256 assetId, AnchorSlot memory anchor, uint256 target, uint64 epoch)
        internal
        view
        returns (uint256)
    {
        uint256 scale = anchor.snapshotPrice == 0 ? target : anchor.snapshotPrice;
        uint256 elapsedSeconds = uint256(epoch - anchor.snapshotEpoch) * _epochLength;
        uint256 rise = uint256(_guards[assetId].maxRiseBpsPerYear) * elapsedSeconds;
        return anchor.snapshotPrice + Math.mulDiv(scale, rise, BPS * SECONDS_PER_YEAR);
    }

    /// @dev One epoch's move from the anchor toward the target: at most maxMoveBps of the anchor (rounded up,
    /// so that a small price still moves), or of the target when the anchor has fallen to zero, so that a
    /// price can recover from zero at the same bounded pace.
    function _step(uint256 anchorPrice, uint256 target, uint16 maxMoveBps) internal pure returns (uint256) {
        uint256 scale = anchorPrice == 0 ? target : anchorPrice;
        uint256 maxMove = Math.mulDiv(scale, maxMoveBps, BPS, Math.Rounding.Ceil);
        if (target >= anchorPrice) return Math.min(target, anchorPrice + maxMove);
        return anchorPrice - Math.min(anchorPrice - target, maxMove);
    }

    /// @dev New borrowing stops while the meter is silent or the asset is not active (read fresh, not cached).
    function _isFrozen(uint256 assetId, AssetConfig memory params, uint64 epoch) internal view returns (bool) {
        if (assetRegistry.statusOf(assetId) != IAssetRegistry.AssetStatus.Active) return true;
        return _silentEpochs(assetId, epoch) >= params.maxSilenceEpochs;
    }

    /// @dev Ended epochs still unreported (the epoch in progress cannot be reported yet).
    function _silentEpochs(uint256 assetId, uint64 epoch) internal view returns (uint256) {
        uint64 nextReport = oracle.cursorOf(assetId).nextEpoch;
        return epoch > nextReport ? epoch - nextReport : 0;
    }

    function _configured(uint256 assetId) internal view returns (AssetConfig memory params) {
        params = _configs[assetId];
        if (params.windowEpochs == 0) revert AssetNotConfigured(assetId);
    }

    function _currentEpoch() internal view returns (uint64) {
        return uint64((block.timestamp - _genesis) / _epochLength);
    }
}
