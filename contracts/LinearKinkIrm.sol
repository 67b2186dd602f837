// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IInterestRateModel} from "./interfaces/IInterestRateModel.sol";

/// @title LinearKinkIrm
/// @notice The classic two-slope utilisation curve (Compound's jump rate model, Aave's default strategy):
/// `base + slope1 x u` up to the kink, then `slope2` per unit of utilisation above it, so that rates climb
/// steeply before lenders' liquidity runs out. Parameters are annual (WAD) and immutable; the admin enables a
/// model in the lending factory before markets may use it.
contract LinearKinkIrm is IInterestRateModel {
    uint256 internal constant WAD = 1e18;
    uint256 internal constant SECONDS_PER_YEAR = 365 days;

    uint256 public immutable baseRatePerYear;
    uint256 public immutable slope1PerYear;
    uint256 public immutable slope2PerYear;
    uint256 public immutable kinkWad;

    error InvalidKink(uint256 kinkWad);

    constructor(uint256 baseRatePerYear_, uint256 slope1PerYear_, uint256 slope2PerYear_, uint256 kinkWad_) {
        if (kinkWad_ == 0 || kinkWad_ >= WAD) revert InvalidKink(kinkWad_);
        baseRatePerYear = baseRatePerYear_;
        slope1PerYear = slope1PerYear_;
        slope2PerYear = slope2PerYear_;
        kinkWad = kinkWad_;
    }

    /// @inheritdoc IInterestRateModel
    function borrowRatePerSecond(uint256 utilizationWad) external view returns (uint256) {
        uint256 u = utilizationWad > WAD ? WAD : utilizationWad;
        uint256 annual;
        if (u <= kinkWad) {
            annual = baseRatePerYear + slope1PerYear * u / WAD;
        } else {
            annual = baseRatePerYear + slope1PerYear * kinkWad / WAD + slope2PerYear * (u - kinkWad) / WAD;
        }
        return annual / SECONDS_PER_YEAR;
    }
}
