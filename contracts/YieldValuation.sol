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

    /// @dev An asset's parameters and its initial price, packed in one slot (read by every quote).
    struct AssetConfig {
        uint32 windowEpochs;
        uint16 capRateBps;
        uint16 decayBpsPerYear;
        uint16 maxMoveBpsPerEpoch;
        uint32 maxSilenceEpochs;
        uint16 silenceHaircutBps;
        uint16 suspendedHaircutBps;
        uint96 initialPrice;
        // Second slot: the wash-leasing guards.
        uint32 maxRiseBpsPerYear;
        uint32 snapshotEpochs;
        uint128 referencePricePerGpuHour;
    }

    mapping(uint256 assetId => AssetConfig) internal _configs;
    mapping(uint256 assetId => Anchor) internal _anchors;
    /// @dev Written only when the snapshot moves (at configuration, once a snapshot period, on a fall).
    mapping(uint256 assetId => Snapshot) internal _snapshots;

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
        Anchor storage anchor = _anchors[assetId];
        uint96 initial = _configs[assetId].initialPrice;
        if (!anchor.configured) {
            if (initialPrice == 0 || initialPrice > type(uint96).max) revert InvalidAnchorPrice(assetId, initialPrice);
            initial = uint96(initialPrice);
            anchor.price = initialPrice;
            anchor.epoch = _currentEpoch();
            anchor.configured = true;
            _snapshots[assetId] = Snapshot(initialPrice, anchor.epoch);
            emit SnapshotTaken(assetId, anchor.epoch, initialPrice);
        }

        _configs[assetId] = AssetConfig({
            windowEpochs: params.windowEpochs,
            capRateBps: params.capRateBps,
            decayBpsPerYear: params.decayBpsPerYear,
            maxMoveBpsPerEpoch: params.maxMoveBpsPerEpoch,
            maxSilenceEpochs: params.maxSilenceEpochs,
            silenceHaircutBps: params.silenceHaircutBps,
            suspendedHaircutBps: params.suspendedHaircutBps,
            initialPrice: initial,
            maxRiseBpsPerYear: params.maxRiseBpsPerYear,
            snapshotEpochs: params.snapshotEpochs,
            referencePricePerGpuHour: params.referencePricePerGpuHour
        });

        emit AssetConfigured(assetId, params, anchor.price);
    }

    /// @inheritdoc IShareValuation
    function update(uint256 assetId) external returns (uint256 price, bool frozen) {
        Anchor memory anchor = _configured(assetId);
        AssetConfig memory params = _configs[assetId];
        uint64 epoch = _currentEpoch();
        if (anchor.epoch == epoch) return (anchor.price, _isFrozen(assetId, params, epoch));

        Breakdown memory parts = _breakdown(assetId, params, epoch);
        frozen = parts.retired || parts.suspended || parts.silent;
        uint256 target = parts.target;
        Snapshot memory snapshot = _snapshots[assetId];
        price = _price(anchor.price, target, snapshot, params, epoch);
        _anchors[assetId] = Anchor(price.toUint128(), epoch, true);
        bool moveSnapshot = price < snapshot.price || epoch >= snapshot.epoch + params.snapshotEpochs;
        if (moveSnapshot) _snapshots[assetId] = Snapshot(uint128(price), epoch);

        emit PriceUpdated(assetId, epoch, uint128(price), target);
        if (moveSnapshot) emit SnapshotTaken(assetId, epoch, uint128(price));
    }

    /// @inheritdoc IShareValuation
    function quote(uint256 assetId) external view returns (uint256 price, bool frozen) {
        Anchor memory anchor = _configured(assetId);
        AssetConfig memory params = _configs[assetId];
        uint64 epoch = _currentEpoch();
        frozen = _isFrozen(assetId, params, epoch);
        if (anchor.epoch == epoch) return (anchor.price, frozen);
        price = _price(anchor.price, _breakdown(assetId, params, epoch).target, _snapshots[assetId], params, epoch);
    }

    /// @inheritdoc IShareValuation
    function breakdown(uint256 assetId) external view returns (Breakdown memory) {
        _configured(assetId);
        return _breakdown(assetId, _configs[assetId], _currentEpoch());
    }

    /// @inheritdoc IShareValuation
    function paramsOf(uint256 assetId) external view returns (ValuationParams memory) {
        AssetConfig memory config = _configs[assetId];
        return ValuationParams({
            windowEpochs: config.windowEpochs,
            capRateBps: config.capRateBps,
            decayBpsPerYear: config.decayBpsPerYear,
            maxMoveBpsPerEpoch: config.maxMoveBpsPerEpoch,
            maxSilenceEpochs: config.maxSilenceEpochs,
            silenceHaircutBps: config.silenceHaircutBps,
            suspendedHaircutBps: config.suspendedHaircutBps,
            maxRiseBpsPerYear: config.maxRiseBpsPerYear,
            snapshotEpochs: config.snapshotEpochs,
            referencePricePerGpuHour: config.referencePricePerGpuHour
        });
    }

    /// @inheritdoc IShareValuation
    function anchorOf(uint256 assetId) external view returns (Anchor memory) {
        return _anchors[assetId];
    }

    /// @inheritdoc IShareValuation
    function snapshotOf(uint256 assetId) external view returns (Snapshot memory) {
        return _snapshots[assetId];
    }

    /// @inheritdoc IShareValuation
    function riseCeiling(uint256 assetId) external view returns (uint256) {
        _configured(assetId);
        AssetConfig memory params = _configs[assetId];
        uint64 epoch = _currentEpoch();
        return _riseCeilingOf(_snapshots[assetId], _breakdown(assetId, params, epoch).target, params, epoch);
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
                uint256(params.referencePricePerGpuHour) * gpuCount, windowSeconds, SECONDS_PER_HOUR
            );
            parts.countedNet = Math.min(parts.windowNet, parts.referenceCap);
            parts.annualNetPerShare =
                Math.mulDiv(parts.countedNet * SECONDS_PER_YEAR, SHARE_UNIT, windowSeconds * supply);
            // One rounding for the capitalised value, not two: computed from the counted net directly.
            parts.capitalised = Math.mulDiv(
                parts.countedNet * SECONDS_PER_YEAR, SHARE_UNIT * BPS, windowSeconds * supply * params.capRateBps
            );
        }

        uint256 age = block.timestamp - assetRegistry.commissionedAtOf(assetId);
        uint256 decay = Math.mulDiv(params.decayBpsPerYear, age, SECONDS_PER_YEAR);
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
    function _price(
        uint256 anchorPrice,
        uint256 target,
        Snapshot memory snapshot,
        AssetConfig memory params,
        uint64 epoch
    ) internal view returns (uint256 price) {
        price = _step(anchorPrice, target, params.maxMoveBpsPerEpoch);
        if (price > anchorPrice) {
            price = Math.max(anchorPrice, Math.min(price, _riseCeilingOf(snapshot, target, params, epoch)));
        }
    }

    /// @dev snapshot + snapshot x maxRise x elapsed / year, rounded down (of the target when the snapshot is 0,
    /// so that a price can recover from zero at the same bounded pace).
    function _riseCeilingOf(Snapshot memory snapshot, uint256 target, AssetConfig memory params, uint64 epoch)
        internal
        view
        returns (uint256)
    {
        uint256 scale = snapshot.price == 0 ? target : snapshot.price;
        uint256 elapsedSeconds = uint256(epoch - snapshot.epoch) * _epochLength;
        return snapshot.price
            + Math.mulDiv(scale, uint256(params.maxRiseBpsPerYear) * elapsedSeconds, BPS * SECONDS_PER_YEAR);
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

    function _configured(uint256 assetId) internal view returns (Anchor memory anchor) {
        anchor = _anchors[assetId];
        if (!anchor.configured) revert AssetNotConfigured(assetId);
    }

    function _currentEpoch() internal view returns (uint64) {
        return uint64((block.timestamp - _genesis) / _epochLength);
    }
}
