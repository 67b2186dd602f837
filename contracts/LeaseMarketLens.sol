// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

import {ILeaseMarket} from "./interfaces/ILeaseMarket.sol";
import {ILeaseMarketLens} from "./interfaces/ILeaseMarketLens.sol";
import {IMeteringOracle} from "./interfaces/IMeteringOracle.sol";

/// @title LeaseMarketLens
/// @notice Investor-facing figures of a LeaseMarket's assets.
contract LeaseMarketLens is ILeaseMarketLens {
    uint256 internal constant BPS = 10_000;
    uint256 internal constant SECONDS_PER_HOUR = 3600;
    uint256 internal constant SECONDS_PER_YEAR = 365 days;
    uint256 internal constant WH_PER_MWH = 1e6;
    uint256 internal constant SHARE_UNIT = 1e18;

    /// @inheritdoc ILeaseMarketLens
    ILeaseMarket public immutable market;

    constructor(ILeaseMarket market_) {
        market = market_;
    }

    /// @inheritdoc ILeaseMarketLens
    function cursorsOf(uint256[] calldata assetIds) external view returns (AssetCursors[] memory cursors) {
        IMeteringOracle.AssetCursor[] memory reporting = market.oracle().cursorsOf(assetIds);
        cursors = new AssetCursors[](assetIds.length);
        for (uint256 i; i < assetIds.length; ++i) {
            uint256 assetId = assetIds[i];
            cursors[i] = AssetCursors({
                nextReportEpoch: reporting[i].nextEpoch,
                reportingStarted: reporting[i].started,
                nextSettleEpoch: market.nextSettleEpoch(assetId),
                enrolled: market.isEnrolled(assetId)
            });
        }
    }

    /// @inheritdoc ILeaseMarketLens
    function leasedFractionBps(uint256 assetId) external view returns (uint256) {
        (, uint32 gpuCount,) = market.assetRegistry().meteringProfile(assetId);
        if (gpuCount == 0 || !market.isEnrolled(assetId)) return 0;
        return market.leasedGpusOfAsset(assetId, market.currentEpoch()) * BPS / gpuCount;
    }

    /// @inheritdoc ILeaseMarketLens
    function trailingUtilizationBps(uint256 assetId, uint64 window) external view returns (uint256) {
        (ILeaseMarket.EpochSettlement memory last, ILeaseMarket.EpochSettlement memory before,) =
            _window(assetId, window);
        uint256 gpuSeconds = last.cumulativeGpuSeconds - before.cumulativeGpuSeconds;
        if (gpuSeconds == 0) return 0;
        return (last.cumulativeBusyGpuSeconds - before.cumulativeBusyGpuSeconds) * BPS / gpuSeconds;
    }

    /// @inheritdoc ILeaseMarketLens
    function gpuHoursPerMWh(uint256 assetId, uint64 window) external view returns (uint256) {
        (ILeaseMarket.EpochSettlement memory last, ILeaseMarket.EpochSettlement memory before,) =
            _window(assetId, window);
        uint256 energyWh = last.cumulativeEnergyWh - before.cumulativeEnergyWh;
        if (energyWh == 0) return 0;
        return (last.cumulativeGpuSeconds - before.cumulativeGpuSeconds) * WH_PER_MWH / (SECONDS_PER_HOUR * energyWh);
    }

    /// @inheritdoc ILeaseMarketLens
    function annualizedNetPerShare(uint256 assetId, uint64 window) public view returns (uint256) {
        (ILeaseMarket.EpochSettlement memory last, ILeaseMarket.EpochSettlement memory before, uint256 epochs) =
            _window(assetId, window);
        uint256 supply = IERC20(market.assetRegistry().sharesOf(assetId)).totalSupply();
        if (epochs == 0 || supply == 0) return 0;
        uint256 net = last.cumulativeNet - before.cumulativeNet;
        return Math.mulDiv(net * SECONDS_PER_YEAR, SHARE_UNIT, epochs * market.oracle().epochLength() * supply);
    }

    /// @inheritdoc ILeaseMarketLens
    function annualizedYieldBps(uint256 assetId, uint64 window, uint256 pricePerShare) external view returns (uint256) {
        if (pricePerShare == 0) return 0;
        return annualizedNetPerShare(assetId, window) * BPS / pricePerShare;
    }

    /// @dev The settlements bounding the last `window` settled epochs: the last one and the one just before
    /// the window (empty when the window reaches the asset's first epoch), and the window's length.
    function _window(uint256 assetId, uint64 window)
        internal
        view
        returns (ILeaseMarket.EpochSettlement memory last, ILeaseMarket.EpochSettlement memory before, uint256 epochs)
    {
        if (window == 0 || !market.isEnrolled(assetId)) return (last, before, 0);
        uint64 first = market.firstEpochOf(assetId);
        uint64 next = market.nextSettleEpoch(assetId);
        if (next == first) return (last, before, 0);
        uint64 start = next > first + window ? next - window : first;
        last = market.settlementOf(assetId, next - 1);
        if (start > first) before = market.settlementOf(assetId, start - 1);
        epochs = next - start;
    }
}
