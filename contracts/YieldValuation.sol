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

    ILeaseMarket public immutable leaseMarket;
    IMeteringOracle public immutable oracle;
    IAssetRegistry public immutable assetRegistry;
    /// @inheritdoc IShareValuation
    IERC20 public immutable quoteToken;
    uint64 internal immutable _genesis;
    uint64 internal immutable _epochLength;

    mapping(uint256 assetId => ValuationParams) internal _params;
    mapping(uint256 assetId => Anchor) internal _anchors;

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
        ) revert InvalidValuationParams(assetId);
        Anchor storage anchor = _anchors[assetId];
        if (!anchor.configured) {
            if (initialPrice == 0) revert InvalidAnchorPrice(assetId, initialPrice);
            anchor.price = initialPrice;
            anchor.epoch = _currentEpoch();
            anchor.configured = true;
        }

        _params[assetId] = params;

        emit AssetConfigured(assetId, params, anchor.price);
    }

    /// @inheritdoc IShareValuation
    function update(uint256 assetId) external returns (uint256 price) {
        Anchor memory anchor = _configured(assetId);
        uint64 epoch = _currentEpoch();
        if (epoch == anchor.epoch) revert NothingChanged(assetId);
        Breakdown memory parts = _breakdown(assetId, anchor);
        price = _bounded(anchor, parts.target, _params[assetId].maxMoveBpsPerEpoch, epoch);

        _anchors[assetId] = Anchor(price.toUint128(), epoch, true);

        emit PriceUpdated(assetId, epoch, uint128(price), parts.target);
    }

    /// @inheritdoc IShareValuation
    function quote(uint256 assetId) external view returns (uint256 price, bool frozen) {
        Anchor memory anchor = _configured(assetId);
        Breakdown memory parts = _breakdown(assetId, anchor);
        price = _bounded(anchor, parts.target, _params[assetId].maxMoveBpsPerEpoch, _currentEpoch());
        frozen = parts.silent || parts.suspended || parts.retired;
    }

    /// @inheritdoc IShareValuation
    function breakdown(uint256 assetId) external view returns (Breakdown memory) {
        return _breakdown(assetId, _configured(assetId));
    }

    /// @inheritdoc IShareValuation
    function paramsOf(uint256 assetId) external view returns (ValuationParams memory) {
        return _params[assetId];
    }

    /// @inheritdoc IShareValuation
    function anchorOf(uint256 assetId) external view returns (Anchor memory) {
        return _anchors[assetId];
    }

    /* INTERNAL */

    function _breakdown(uint256 assetId, Anchor memory anchor) internal view returns (Breakdown memory parts) {
        ValuationParams memory params = _params[assetId];
        IAssetRegistry.AssetStatus status = assetRegistry.statusOf(assetId);
        parts.retired = status == IAssetRegistry.AssetStatus.Retired;
        parts.suspended = status == IAssetRegistry.AssetStatus.Suspended;
        if (parts.retired) return parts; // target 0: the GPUs are gone

        uint64 current = _currentEpoch();
        uint64 nextReport = oracle.cursorOf(assetId).nextEpoch;
        // The epoch in progress cannot be reported yet: silence counts the ended epochs still unreported.
        parts.silentEpochs = current > nextReport ? current - nextReport : 0;
        parts.silent = parts.silentEpochs >= params.maxSilenceEpochs;

        uint64 next = leaseMarket.nextSettleEpoch(assetId);
        uint64 first = leaseMarket.firstEpochOf(assetId);
        uint64 from = next > first + params.windowEpochs ? next - params.windowEpochs : first;
        parts.windowEpochs = next - from;
        uint256 supply = IERC20(assetRegistry.sharesOf(assetId)).totalSupply();
        if (parts.windowEpochs == 0 || supply == 0) {
            // No settled history yet: the anchor (the offering price) stands in for the capitalised yield.
            parts.capitalised = anchor.price;
        } else {
            parts.windowNet = leaseMarket.netRevenueBetween(assetId, from, next);
            uint256 windowSeconds = parts.windowEpochs * _epochLength;
            parts.annualNetPerShare =
                Math.mulDiv(parts.windowNet * SECONDS_PER_YEAR, SHARE_UNIT, windowSeconds * supply);
            // One rounding for the capitalised value, not two: computed from the window's net directly.
            parts.capitalised = Math.mulDiv(
                parts.windowNet * SECONDS_PER_YEAR, SHARE_UNIT * BPS, windowSeconds * supply * params.capRateBps
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

    /// @dev Moves `anchor.price` toward `target` by at most maxMoveBps of the anchor per elapsed epoch.
    function _bounded(Anchor memory anchor, uint256 target, uint16 maxMoveBps, uint64 epoch)
        internal
        pure
        returns (uint256)
    {
        uint256 elapsed = epoch > anchor.epoch ? epoch - anchor.epoch : 0;
        uint256 maxMove = Math.mulDiv(anchor.price, Math.min(uint256(maxMoveBps) * elapsed, BPS * 1_000), BPS);
        if (target >= anchor.price) return Math.min(target, anchor.price + maxMove);
        return anchor.price - Math.min(anchor.price - target, maxMove);
    }

    function _configured(uint256 assetId) internal view returns (Anchor memory anchor) {
        anchor = _anchors[assetId];
        if (!anchor.configured) revert AssetNotConfigured(assetId);
    }

    function _currentEpoch() internal view returns (uint64) {
        return uint64((block.timestamp - _genesis) / _epochLength);
    }
}
