// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC4626} from "@openzeppelin/contracts/interfaces/IERC4626.sol";

import {IAssetShares} from "./IAssetShares.sol";
import {IInterestRateModel} from "./IInterestRateModel.sol";
import {IShareValuation} from "./IShareValuation.sol";

/// @title ILendingMarket
/// @notice One isolated market, in the manner of Morpho Blue: (loan token, collateral shares, valuation,
/// interest-rate model, liquidation LTV). Lenders supply the loan token and hold the market's ERC-4626
/// shares; borrowers post GPU-asset shares as collateral (the market is an approved holder in the
/// InvestorRegistry) and borrow up to the liquidation LTV less a safety margin.
///
/// Self-repaying loans: the collateral shares keep earning; the market claims their yield and credits it to
/// each borrower pro rata to collateral, where it repays the borrower's debt first (when the loan token is
/// the yield's settlement token) and the excess becomes claimable by the borrower.
///
/// Liquidation: once debt exceeds collateral value x LLTV, a verified liquidator repays debt and receives
/// collateral worth the repaid amount times the liquidation incentive factor,
/// LIF = min(1.15, 1 / (1 - 0.3 x (1 - LLTV))) (morpho-blue's formula: the incentive grows as the LLTV falls).
/// Partial liquidations are allowed. When collateral runs out with debt left, the rest is written off
/// against lenders (the vault's assets fall) with a `BadDebtRealized` event.
///
/// Rounding always favours the market: borrow shares round up on borrow and down on repay, vault shares
/// follow OpenZeppelin's ERC-4626 (with a decimals offset against the empty-vault inflation attack), and
/// the lenders' assets are tracked internally, so a donation cannot move the share price.
interface ILendingMarket is IERC4626 {
    struct Position {
        uint128 borrowShares;
        uint128 collateral;
    }

    /* EVENTS */

    event InterestAccrued(uint256 interest, uint256 borrowRatePerSecond, uint256 totalBorrowAssets);
    event CollateralSupplied(address indexed caller, address indexed onBehalf, uint256 amount);
    event CollateralWithdrawn(address indexed borrower, address indexed receiver, uint256 amount);
    event Borrowed(address indexed borrower, address indexed receiver, uint256 assets, uint256 shares);
    event Repaid(address indexed caller, address indexed onBehalf, uint256 assets, uint256 shares);
    event Liquidated(
        address indexed liquidator,
        address indexed borrower,
        uint256 repaidAssets,
        uint256 repaidShares,
        uint256 seizedCollateral,
        uint256 price
    );
    event BadDebtRealized(address indexed borrower, uint256 assets, uint256 shares);
    event YieldHarvested(uint256 amount, uint256 totalCollateral);
    event YieldApplied(address indexed borrower, uint256 yield, uint256 repaidAssets, uint256 credited);
    event YieldClaimed(address indexed borrower, address indexed receiver, uint256 amount);

    /* ERRORS */

    error ZeroAmount();
    error ZeroAddress();
    error InconsistentInput(uint256 assets, uint256 shares);
    error InsufficientCollateral(address borrower, uint256 debt, uint256 maxDebt);
    error InsufficientLiquidity(uint256 requested, uint256 available);
    error BorrowingFrozen(uint256 assetId);
    error HealthyPosition(address borrower, uint256 debt, uint256 liquidationDebt);
    error LiquidatorNotVerified(address liquidator);
    error ExceedsCollateral(address borrower, uint256 requested, uint256 collateral);
    error ExceedsDebt(address borrower, uint256 repaidShares, uint256 borrowShares);
    error NothingToClaim(address borrower);
    error Unauthorized(address caller, address borrower);
    error HarvestMismatch(uint256 claimable, uint256 claimed);

    /* IDENTITY */

    function loanToken() external view returns (IERC20);

    function collateralToken() external view returns (IAssetShares);

    function assetId() external view returns (uint256);

    function valuation() external view returns (IShareValuation);

    function irm() external view returns (IInterestRateModel);

    /// @notice Liquidation loan-to-value (WAD).
    function lltv() external view returns (uint256);

    /// @notice The loan-to-value up to which borrowing is allowed: the LLTV less the safety margin (WAD).
    function borrowLtv() external view returns (uint256);

    /// @notice The liquidation incentive factor (WAD), from the LLTV.
    function liquidationIncentiveFactor() external view returns (uint256);

    /// @notice True when the collateral's yield is paid in the loan token, so it repays debt.
    function yieldRepaysDebt() external view returns (bool);

    /* BORROWERS */

    /// @notice Posts `amount` collateral shares for `onBehalf` (pulled from the caller).
    function supplyCollateral(uint256 amount, address onBehalf) external;

    /// @notice Withdraws the caller's collateral to `receiver` (a verified investor), if the position stays
    /// within the borrow LTV.
    function withdrawCollateral(uint256 amount, address receiver) external;

    /// @notice Borrows `assets` against the caller's collateral, paid to `receiver`. Returns borrow shares.
    function borrow(uint256 assets, address receiver) external returns (uint256 shares);

    /// @notice Repays `assets` or `shares` (exactly one non-zero) of `onBehalf`'s debt, pulled from the caller.
    /// The borrower's pending yield is applied first; in shares mode, asking for at least the position's
    /// shares (e.g. type(uint256).max) repays it all. In assets mode, more than the debt reverts ExceedsDebt.
    function repay(uint256 assets, uint256 shares, address onBehalf)
        external
        returns (uint256 repaidAssets, uint256 repaidShares);

    /// @notice Liquidates an unhealthy position: seize `seizedCollateral` or repay `repaidShares` (exactly one
    /// non-zero). The caller must be a verified investor (it receives the shares).
    function liquidate(address borrower, uint256 seizedCollateral, uint256 repaidShares)
        external
        returns (uint256 seized, uint256 repaidAssets);

    /// @notice Claims the collateral's pending yield from the share token and credits it to borrowers.
    function harvestYield() external returns (uint256 harvested);

    /// @notice Applies `borrower`'s credited yield: repays debt first, the rest becomes claimable. Anyone may
    /// call (a keeper shrinks loans as epochs settle).
    function applyYield(address borrower) external;

    /// @notice Pays the caller's claimable excess yield to `receiver`.
    function claimYield(address receiver) external returns (uint256 amount);

    /// @notice Accrues interest up to now.
    function accrueInterest() external;

    /* VIEWS */

    function positionOf(address borrower) external view returns (Position memory);

    /// @notice `borrower`'s debt with interest up to now (rounded up).
    function debtOf(address borrower) external view returns (uint256);

    /// @notice The collateral's value in loan-token units at the current valuation.
    function collateralValueOf(address borrower) external view returns (uint256);

    /// @notice collateral value x LLTV / debt (WAD); type(uint256).max without debt. Below 1e18: liquidatable.
    function healthFactor(address borrower) external view returns (uint256);

    /// @notice Yield credited to `borrower` and not yet applied, including yield not yet harvested.
    function pendingYieldOf(address borrower) external view returns (uint256);

    function claimableYieldOf(address borrower) external view returns (uint256);

    function totalBorrowAssets() external view returns (uint256);

    function totalBorrowShares() external view returns (uint256);

    function totalCollateral() external view returns (uint256);

    /// @notice Loan tokens lent out or lendable: supplies plus interest less borrows and bad debt.
    function liquidity() external view returns (uint256);

    /// @notice Borrowed / supplied (WAD).
    function utilization() external view returns (uint256);

    function borrowRatePerSecond() external view returns (uint256);
}
