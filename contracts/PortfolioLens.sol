// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

import {IAssetRegistry} from "./interfaces/IAssetRegistry.sol";
import {IAssetShares} from "./interfaces/IAssetShares.sol";
import {IInvestorRegistry} from "./interfaces/IInvestorRegistry.sol";
import {ILeaseMarket} from "./interfaces/ILeaseMarket.sol";
import {ILeasePositions} from "./interfaces/ILeasePositions.sol";
import {ILendingFactory} from "./interfaces/ILendingFactory.sol";
import {ILendingMarket} from "./interfaces/ILendingMarket.sol";
import {IPortfolioLens} from "./interfaces/IPortfolioLens.sol";

/// @title PortfolioLens
/// @notice One `eth_call` for a wallet's whole position (see IPortfolioLens).
contract PortfolioLens is IPortfolioLens {
    /// @dev One whole share; share prices are quoted per whole share.
    uint256 internal constant SHARE_UNIT = 1e18;
    /// @dev The lltv and health factor scale.
    uint256 internal constant WAD = 1e18;

    /// @inheritdoc IPortfolioLens
    IAssetRegistry public immutable assetRegistry;
    /// @inheritdoc IPortfolioLens
    ILeaseMarket public immutable leaseMarket;
    /// @inheritdoc IPortfolioLens
    ILendingFactory public immutable lendingFactory;

    constructor(ILeaseMarket leaseMarket_, ILendingFactory lendingFactory_) {
        leaseMarket = leaseMarket_;
        lendingFactory = lendingFactory_;
        assetRegistry = leaseMarket_.assetRegistry();
    }

    /// @inheritdoc IPortfolioLens
    function portfolioOf(address account, uint256[] calldata leaseIds) external view returns (Portfolio memory p) {
        p.blockNumber = block.number;
        p.timestamp = block.timestamp;
        IInvestorRegistry investors = assetRegistry.investorRegistry();
        p.investor = investors.investorOf(account);
        p.canHold = investors.canHold(account);
        address cash = address(assetRegistry.settlementToken());
        p.cash = IERC20(cash).balanceOf(account);
        p.cashNonce = IERC20Permit(cash).nonces(account);
        p.assets = _assets(account);
        p.leases = _leases(account, leaseIds);
        p.loans = _loans(account);
    }

    /* SECTIONS */

    function _assets(address account) internal view returns (AssetPosition[] memory kept) {
        uint256 count = assetRegistry.assetCount();
        AssetPosition[] memory all = new AssetPosition[](count);
        uint256 n;
        for (uint256 assetId = 1; assetId <= count; ++assetId) {
            IAssetShares shares = IAssetShares(assetRegistry.sharesOf(assetId));
            uint256 balance = shares.balanceOf(account);
            uint256 claimed = shares.claimedBy(account);
            uint256 claimable = shares.claimable(account);
            if (balance == 0 && claimed == 0 && claimable == 0) continue;
            all[n++] = AssetPosition({
                assetId: assetId,
                shares: address(shares),
                status: assetRegistry.statusOf(assetId),
                balance: balance,
                totalSupply: shares.totalSupply(),
                claimable: claimable,
                claimed: claimed,
                sharesNonce: IERC20Permit(address(shares)).nonces(account)
            });
        }
        kept = _truncateAssets(all, n);
    }

    function _leases(address account, uint256[] calldata leaseIds) internal view returns (LeasePosition[] memory kept) {
        LeasePosition[] memory all = new LeasePosition[](leaseIds.length);
        uint256 n;
        ILeasePositions positions = leaseMarket.positions();
        for (uint256 i; i < leaseIds.length; ++i) {
            uint256 leaseId = leaseIds[i];
            // `ownerOf` reverts for a lease that does not exist: a bad id is skipped, not fatal to the portfolio.
            try positions.ownerOf(leaseId) returns (address owner) {
                if (owner != account) continue;
            } catch {
                continue;
            }
            ILeaseMarket.Lease memory lease = leaseMarket.getLease(leaseId);
            all[n++] = LeasePosition({
                leaseId: leaseId,
                assetId: leaseMarket.offerTerms(lease.offerId).assetId,
                lease: lease,
                account: leaseMarket.leaseAccount(leaseId)
            });
        }
        kept = _truncateLeases(all, n);
    }

    function _loans(address account) internal view returns (LoanPosition[] memory kept) {
        address[] memory markets = lendingFactory.markets();
        LoanPosition[] memory all = new LoanPosition[](markets.length);
        uint256 n;
        for (uint256 i; i < markets.length; ++i) {
            ILendingMarket market = ILendingMarket(markets[i]);
            ILendingMarket.Position memory position = market.positionOf(account);
            uint256 lenderShares = market.balanceOf(account);
            uint256 claimableYield = market.claimableYieldOf(account);
            if (position.collateral == 0 && position.borrowShares == 0 && lenderShares == 0 && claimableYield == 0) {
                continue;
            }
            all[n++] = _loan(market, account, position.collateral, lenderShares, claimableYield);
        }
        kept = _truncateLoans(all, n);
    }

    function _loan(ILendingMarket market, address account, uint256 collateral, uint256 lenderShares, uint256 yield_)
        internal
        view
        returns (LoanPosition memory loan)
    {
        uint256 assetId = market.assetId();
        (uint256 price, bool frozen) = market.valuation().quote(assetId);
        uint256 debt = market.debtOf(account);
        uint256 lltv = market.lltv();
        loan = LoanPosition({
            market: address(market),
            assetId: assetId,
            collateral: collateral,
            debt: debt,
            collateralValue: market.collateralValueOf(account),
            healthFactorWad: market.healthFactor(account),
            liquidationPricePerShare: _liquidationPriceUp(debt, collateral, lltv),
            pricePerShare: price,
            priceFrozen: frozen,
            lltv: lltv,
            lenderShares: lenderShares,
            lenderAssets: market.convertToAssets(lenderShares),
            claimableYield: yield_
        });
    }

    /* HELPERS */

    /// @dev The price per whole share at which `collateral x price x lltv == debt`, rounded up (towards the
    /// lender: the figure warns a little early rather than late).
    function _liquidationPriceUp(uint256 debt, uint256 collateral, uint256 lltv) internal pure returns (uint256) {
        if (debt == 0) return 0;
        if (collateral == 0 || lltv == 0) return type(uint256).max;
        // collateral < 2^128 and lltv <= WAD < 2^60: the product cannot overflow.
        return Math.mulDiv(debt, SHARE_UNIT * WAD, collateral * lltv, Math.Rounding.Ceil);
    }

    /// @dev Shortens a memory array in place to its first `n` entries (n <= length), without copying.
    function _truncateAssets(AssetPosition[] memory a, uint256 n) internal pure returns (AssetPosition[] memory) {
        assembly ("memory-safe") {
            mstore(a, n)
        }
        return a;
    }

    function _truncateLeases(LeasePosition[] memory a, uint256 n) internal pure returns (LeasePosition[] memory) {
        assembly ("memory-safe") {
            mstore(a, n)
        }
        return a;
    }

    function _truncateLoans(LoanPosition[] memory a, uint256 n) internal pure returns (LoanPosition[] memory) {
        assembly ("memory-safe") {
            mstore(a, n)
        }
        return a;
    }
}
