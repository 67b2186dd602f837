// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IAssetRegistry} from "./IAssetRegistry.sol";
import {IAssetShares} from "./IAssetShares.sol";
import {IInvestorRegistry} from "./IInvestorRegistry.sol";
import {ILeaseMarket} from "./ILeaseMarket.sol";
import {ILendingFactory} from "./ILendingFactory.sol";

/// @title IPortfolioLens
/// @notice A wallet's whole position across the suite in one `eth_call`: KYC record, stablecoin balance and
/// permit nonce, every asset's shares with claimable and claimed revenue, lease positions with their
/// accounts, and every lending market's borrower and lender position with health factor and liquidation
/// price. The investor app renders its portfolio page from this one call (plus the chain id and accounts).
///
/// Lease ids come from the caller (an indexer of `LeasePositions` transfers): the lens keeps only those the
/// wallet still owns, so a stale list never shows a lease sold since. Views only; no state, no owner.
interface IPortfolioLens {
    /// @notice One asset the wallet holds shares of, or has revenue to claim from.
    /// @param balance Shares held (18 decimals).
    /// @param claimable Settlement-token base units the wallet can claim now.
    /// @param claimed Settlement-token base units claimed to date.
    /// @param sharesNonce The wallet's EIP-2612 nonce on the share token.
    struct AssetPosition {
        uint256 assetId;
        address shares;
        IAssetRegistry.AssetStatus status;
        uint256 balance;
        uint256 totalSupply;
        uint256 claimable;
        uint256 claimed;
        uint256 sharesNonce;
    }

    /// @notice One lease position the wallet owns, with its accounts (bills, SLA credits, refunds).
    struct LeasePosition {
        uint256 leaseId;
        uint256 assetId;
        ILeaseMarket.Lease lease;
        ILeaseMarket.LeaseAccount account;
    }

    /// @notice The wallet's position in one lending market, as borrower and as lender.
    /// @param collateral Shares posted (18 decimals).
    /// @param debt Settlement-token base units owed, interest included (rounded up).
    /// @param collateralValue The collateral at the valuation's price, in base units.
    /// @param healthFactorWad `collateralValue x lltv / debt` (WAD); `type(uint256).max` with no debt.
    /// @param liquidationPricePerShare The share price (base units per whole share) at which the health factor
    /// reaches 1, rounded up; 0 with no debt.
    /// @param pricePerShare The valuation's price now (base units per whole share).
    /// @param priceFrozen Whether the valuation is frozen (the meter went silent): borrowing is then refused.
    /// @param lenderShares The wallet's ERC-4626 shares of the market's supply side.
    /// @param lenderAssets What those shares redeem for now (base units, rounded down).
    /// @param claimableYield Collateral yield the borrower can claim (what did not repay debt).
    struct LoanPosition {
        address market;
        uint256 assetId;
        uint256 collateral;
        uint256 debt;
        uint256 collateralValue;
        uint256 healthFactorWad;
        uint256 liquidationPricePerShare;
        uint256 pricePerShare;
        bool priceFrozen;
        uint256 lltv;
        uint256 lenderShares;
        uint256 lenderAssets;
        uint256 claimableYield;
    }

    /// @notice Everything the wallet holds, as of `blockNumber`.
    /// @param canHold Whether the InvestorRegistry lets the wallet hold shares now (verified, not expired).
    /// @param cash The wallet's settlement-token balance (base units).
    /// @param cashNonce The wallet's EIP-2612 nonce on the settlement token (for the next permit).
    struct Portfolio {
        uint256 blockNumber;
        uint256 timestamp;
        IInvestorRegistry.Investor investor;
        bool canHold;
        uint256 cash;
        uint256 cashNonce;
        AssetPosition[] assets;
        LeasePosition[] leases;
        LoanPosition[] loans;
    }

    function assetRegistry() external view returns (IAssetRegistry);

    function leaseMarket() external view returns (ILeaseMarket);

    function lendingFactory() external view returns (ILendingFactory);

    /// @notice `account`'s whole position. Assets and markets with nothing of the wallet's are left out;
    /// `leaseIds` the wallet does not own (or that do not exist) are skipped.
    function portfolioOf(address account, uint256[] calldata leaseIds) external view returns (Portfolio memory);
}
