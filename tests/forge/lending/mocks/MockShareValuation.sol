// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import {IShareValuation} from "../../../../contracts/interfaces/IShareValuation.sol";

/// @notice TEST DOUBLE, never deployed outside tests: an IShareValuation whose price and freeze flag anyone can
/// set, so that the lending invariant's handler can move the collateral's value freely (the real YieldValuation
/// only moves with settled lease revenue and by one bounded step per epoch's anchoring). The lending factory
/// enables it like any other valuation, and it quotes in the loan token so that markets over it pass the
/// factory's checks. `update` returns what `quote` returns (the price set, the freeze flag set), as the real
/// one does within an anchored epoch, and counts its calls so that tests can see which market actions anchor.
contract MockShareValuation is IShareValuation {
    IERC20 public immutable quoteToken;

    mapping(uint256 assetId => ValuationParams) internal _params;
    mapping(uint256 assetId => Anchor) internal _anchors;
    mapping(uint256 assetId => bool) public frozenOf;
    /// @notice How many times `update` was called for the asset (by markets, keepers, tests).
    mapping(uint256 assetId => uint256) public updateCalls;

    constructor(IERC20 quoteToken_) {
        quoteToken = quoteToken_;
    }

    /* TEST CONTROLS */

    function setPrice(uint256 assetId, uint128 price) external {
        if (!_anchors[assetId].configured) revert AssetNotConfigured(assetId);
        _anchors[assetId].price = price;
    }

    function setFrozen(uint256 assetId, bool frozen) external {
        frozenOf[assetId] = frozen;
    }

    /* IShareValuation */

    function configure(uint256 assetId, ValuationParams calldata params, uint128 initialPrice) external {
        _params[assetId] = params;
        Anchor storage anchor = _anchors[assetId];
        if (!anchor.configured) {
            anchor.price = initialPrice;
            anchor.configured = true;
        }
        emit AssetConfigured(assetId, params, anchor.price);
    }

    function update(uint256 assetId) external returns (uint256 price, bool frozen) {
        price = _configured(assetId).price;
        frozen = frozenOf[assetId];
        updateCalls[assetId]++;
    }

    function quote(uint256 assetId) external view returns (uint256 price, bool frozen) {
        return (_configured(assetId).price, frozenOf[assetId]);
    }

    function breakdown(uint256 assetId) external view returns (Breakdown memory parts) {
        parts.target = _configured(assetId).price;
        parts.capitalised = parts.target;
    }

    function paramsOf(uint256 assetId) external view returns (ValuationParams memory) {
        return _params[assetId];
    }

    function snapshotOf(uint256 assetId) external view returns (Snapshot memory) {
        Anchor memory anchor = _anchors[assetId];
        return Snapshot(anchor.price, anchor.epoch);
    }

    function riseCeiling(uint256 assetId) external view returns (uint256) {
        return _anchors[assetId].price;
    }

    function anchorOf(uint256 assetId) external view returns (Anchor memory) {
        return _anchors[assetId];
    }

    function _configured(uint256 assetId) internal view returns (Anchor memory anchor) {
        anchor = _anchors[assetId];
        if (!anchor.configured) revert AssetNotConfigured(assetId);
    }
}
