// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IAssetRegistry} from "./IAssetRegistry.sol";
import {IInvestorRegistry} from "./IInvestorRegistry.sol";

/// @title ILendingFactory
/// @notice Creates isolated lending markets permissionlessly, from parameters the admin has enabled (the
/// interest-rate models, LLTVs and collateral valuations it trusts), one market per parameter set. Each new
/// market is approved as a share holder in the InvestorRegistry so that it can hold collateral.
interface ILendingFactory {
    /// @notice What a market is made of.
    /// @param loanToken The stablecoin lent (the valuation must quote in it).
    /// @param collateralToken An AssetShares token of the AssetRegistry.
    /// @param valuation An enabled IShareValuation configured for the collateral's asset.
    /// @param irm An enabled IInterestRateModel.
    /// @param lltv An enabled liquidation LTV (WAD).
    struct MarketParams {
        address loanToken;
        address collateralToken;
        address valuation;
        address irm;
        uint256 lltv;
    }

    event IrmEnabled(address indexed irm, bool enabled);
    event ValuationEnabled(address indexed valuation, bool enabled);
    event LltvEnabled(uint256 lltv, bool enabled);
    event BorrowMarginSet(uint256 borrowMarginWad);
    event MarketCreated(bytes32 indexed id, address indexed market, MarketParams params);

    error IrmNotEnabled(address irm);
    error ValuationNotEnabled(address valuation);
    error LltvNotEnabled(uint256 lltv);
    error InvalidLltv(uint256 lltv, uint256 borrowMarginWad);
    error InvalidBorrowMargin(uint256 borrowMarginWad);
    error NotAssetShares(address collateralToken);
    error LoanTokenMismatch(address loanToken, address quoteToken);
    error ValuationNotConfigured(address valuation, uint256 assetId);
    error MarketExists(bytes32 id, address market);
    error NothingChanged();

    function MARKET_ADMIN_ROLE() external view returns (bytes32);

    function assetRegistry() external view returns (IAssetRegistry);

    function investorRegistry() external view returns (IInvestorRegistry);

    /// @notice How far below the LLTV borrowing stops in new markets (WAD).
    function borrowMarginWad() external view returns (uint256);

    function setIrmEnabled(address irm, bool enabled) external;

    function setValuationEnabled(address valuation, bool enabled) external;

    /// @notice Enables an LLTV; it must exceed the borrow margin and stay below 1.
    function setLltvEnabled(uint256 lltv, bool enabled) external;

    function setBorrowMargin(uint256 borrowMarginWad) external;

    function isIrmEnabled(address irm) external view returns (bool);

    function isValuationEnabled(address valuation) external view returns (bool);

    function isLltvEnabled(uint256 lltv) external view returns (bool);

    /// @notice Creates the market for `params`. Anyone may call.
    function createMarket(MarketParams calldata params) external returns (address market);

    /// @notice keccak256 of the abi-encoded params.
    function marketId(MarketParams calldata params) external pure returns (bytes32);

    function marketOf(bytes32 id) external view returns (address);

    function markets() external view returns (address[] memory);
}
