// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title IInterestRateModel
/// @notice A lending market's borrow rate as a function of its utilisation.
interface IInterestRateModel {
    /// @notice Borrow rate per second (WAD) at `utilizationWad` (borrowed / supplied, WAD).
    function borrowRatePerSecond(uint256 utilizationWad) external view returns (uint256);
}
