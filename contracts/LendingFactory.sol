// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {
    AccessControlDefaultAdminRules
} from "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";

import {IAssetRegistry} from "./interfaces/IAssetRegistry.sol";
import {IAssetShares} from "./interfaces/IAssetShares.sol";
import {IInvestorRegistry} from "./interfaces/IInvestorRegistry.sol";
import {ILendingFactory} from "./interfaces/ILendingFactory.sol";
import {IShareValuation} from "./interfaces/IShareValuation.sol";
import {LendingMarketDeployer} from "./libraries/LendingMarketDeployer.sol";

/// @title LendingFactory
/// @notice Permissionless creation of isolated lending markets from admin-enabled parameters.
/// @dev Needs HOLDER_MANAGER_ROLE on the InvestorRegistry to approve each market as a share holder.
contract LendingFactory is ILendingFactory, AccessControlDefaultAdminRules {
    /// @inheritdoc ILendingFactory
    bytes32 public constant MARKET_ADMIN_ROLE = keccak256("MARKET_ADMIN_ROLE");
    uint256 internal constant WAD = 1e18;
    uint256 public constant MAX_BORROW_MARGIN_WAD = 0.5e18;

    /// @inheritdoc ILendingFactory
    IAssetRegistry public immutable assetRegistry;
    /// @inheritdoc ILendingFactory
    IInvestorRegistry public immutable investorRegistry;
    /// @inheritdoc ILendingFactory
    uint256 public borrowMarginWad;

    /// @inheritdoc ILendingFactory
    mapping(address irm => bool) public isIrmEnabled;
    /// @inheritdoc ILendingFactory
    mapping(address valuation => bool) public isValuationEnabled;
    /// @inheritdoc ILendingFactory
    mapping(uint256 lltv => bool) public isLltvEnabled;
    /// @inheritdoc ILendingFactory
    mapping(bytes32 id => address) public marketOf;
    address[] internal _markets;

    constructor(IAssetRegistry registry, uint256 borrowMarginWad_, uint48 adminDelay, address admin)
        AccessControlDefaultAdminRules(adminDelay, admin)
    {
        if (borrowMarginWad_ == 0 || borrowMarginWad_ > MAX_BORROW_MARGIN_WAD) {
            revert InvalidBorrowMargin(borrowMarginWad_);
        }
        assetRegistry = registry;
        investorRegistry = registry.investorRegistry();
        borrowMarginWad = borrowMarginWad_;
        _grantRole(MARKET_ADMIN_ROLE, admin);
    }

    /* ADMIN */

    /// @inheritdoc ILendingFactory
    function setIrmEnabled(address irm, bool enabled) external onlyRole(MARKET_ADMIN_ROLE) {
        if (isIrmEnabled[irm] == enabled) revert NothingChanged();
        isIrmEnabled[irm] = enabled;
        emit IrmEnabled(irm, enabled);
    }

    /// @inheritdoc ILendingFactory
    function setValuationEnabled(address valuation, bool enabled) external onlyRole(MARKET_ADMIN_ROLE) {
        if (isValuationEnabled[valuation] == enabled) revert NothingChanged();
        isValuationEnabled[valuation] = enabled;
        emit ValuationEnabled(valuation, enabled);
    }

    /// @inheritdoc ILendingFactory
    function setLltvEnabled(uint256 lltv, bool enabled) external onlyRole(MARKET_ADMIN_ROLE) {
        if (lltv >= WAD || lltv <= borrowMarginWad) revert InvalidLltv(lltv, borrowMarginWad);
        if (isLltvEnabled[lltv] == enabled) revert NothingChanged();
        isLltvEnabled[lltv] = enabled;
        emit LltvEnabled(lltv, enabled);
    }

    /// @inheritdoc ILendingFactory
    function setBorrowMargin(uint256 newMarginWad) external onlyRole(MARKET_ADMIN_ROLE) {
        if (newMarginWad == 0 || newMarginWad > MAX_BORROW_MARGIN_WAD) revert InvalidBorrowMargin(newMarginWad);
        if (newMarginWad == borrowMarginWad) revert NothingChanged();
        borrowMarginWad = newMarginWad;
        emit BorrowMarginSet(newMarginWad);
    }

    /* MARKETS */

    /// @inheritdoc ILendingFactory
    function createMarket(MarketParams calldata params) external returns (address market) {
        if (!isIrmEnabled[params.irm]) revert IrmNotEnabled(params.irm);
        if (!isValuationEnabled[params.valuation]) revert ValuationNotEnabled(params.valuation);
        if (!isLltvEnabled[params.lltv]) revert LltvNotEnabled(params.lltv);
        // LLTVs enabled under a smaller margin must still leave room for the current one.
        if (params.lltv <= borrowMarginWad) revert InvalidLltv(params.lltv, borrowMarginWad);
        uint256 assetId = _assetIdOf(params.collateralToken);
        IShareValuation valuation = IShareValuation(params.valuation);
        if (address(valuation.quoteToken()) != params.loanToken) {
            revert LoanTokenMismatch(params.loanToken, address(valuation.quoteToken()));
        }
        if (!valuation.anchorOf(assetId).configured) revert ValuationNotConfigured(params.valuation, assetId);
        bytes32 id = marketId(params);
        address existing = marketOf[id];
        if (existing != address(0)) revert MarketExists(id, existing);

        string memory symbol = IERC20Metadata(params.collateralToken).symbol();
        market = LendingMarketDeployer.deploy(
            id,
            string.concat("Wellhead Lending ", symbol),
            string.concat("wl", symbol),
            params,
            borrowMarginWad,
            investorRegistry
        );
        marketOf[id] = market;
        _markets.push(market);

        emit MarketCreated(id, market, params);

        investorRegistry.setApprovedHolder(market, true);
    }

    /// @inheritdoc ILendingFactory
    function marketId(MarketParams calldata params) public pure returns (bytes32) {
        return keccak256(abi.encode(params));
    }

    /// @inheritdoc ILendingFactory
    function markets() external view returns (address[] memory) {
        return _markets;
    }

    /// @dev The collateral must be a share token this suite's registry deployed.
    function _assetIdOf(address collateralToken) internal view returns (uint256 assetId) {
        // Without code the call below "succeeds" with no return data and fails to decode outside the try.
        if (collateralToken.code.length == 0) revert NotAssetShares(collateralToken);
        try IAssetShares(collateralToken).assetId() returns (uint256 id) {
            assetId = id;
        } catch {
            revert NotAssetShares(collateralToken);
        }
        if (assetId == 0 || assetId > assetRegistry.assetCount() || assetRegistry.sharesOf(assetId) != collateralToken)
        {
            revert NotAssetShares(collateralToken);
        }
    }
}
