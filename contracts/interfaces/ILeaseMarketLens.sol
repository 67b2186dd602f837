// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ILeaseMarket} from "./ILeaseMarket.sol";

/// @title ILeaseMarketLens
/// @notice The per-asset figures investors look at, computed from a LeaseMarket's settled epochs (its
/// cumulative counters make every trailing window O(1)). Read-only; kept out of the market so that the
/// market fits the contract size limit.
interface ILeaseMarketLens {
    /// @notice Where an asset stands for the daemon and keepers: the oracle's next epoch to report (and
    /// whether reporting started) and the market's next epoch to settle (and whether it is enrolled).
    struct AssetCursors {
        uint64 nextReportEpoch;
        bool reportingStarted;
        uint64 nextSettleEpoch;
        bool enrolled;
    }

    function market() external view returns (ILeaseMarket);

    /// @notice Every listed asset's cursors in one call, so a fleet costs O(1) RPC calls per step.
    function cursorsOf(uint256[] calldata assetIds) external view returns (AssetCursors[] memory);

    /// @notice Share of the asset's GPUs leased in the current epoch, in bps.
    function leasedFractionBps(uint256 assetId) external view returns (uint256);

    /// @notice Mean metered utilisation over healthy time across the last `window` settled epochs, in bps.
    function trailingUtilizationBps(uint256 assetId, uint64 window) external view returns (uint256);

    /// @notice Healthy GPU-hours delivered per MWh of IT energy over the last `window` settled epochs.
    function gpuHoursPerMWh(uint256 assetId, uint64 window) external view returns (uint256);

    /// @notice Net revenue per whole share over the last `window` settled epochs, annualised, in
    /// settlement-token base units per share per year.
    function annualizedNetPerShare(uint256 assetId, uint64 window) external view returns (uint256);

    /// @notice `annualizedNetPerShare` as a yield on `pricePerShare` (base units per whole share), in bps.
    function annualizedYieldBps(uint256 assetId, uint64 window, uint256 pricePerShare) external view returns (uint256);
}
