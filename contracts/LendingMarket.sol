// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC4626} from "@openzeppelin/contracts/token/ERC20/extensions/ERC4626.sol";
import {IERC4626} from "@openzeppelin/contracts/interfaces/IERC4626.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

import {IAssetShares} from "./interfaces/IAssetShares.sol";
import {IInterestRateModel} from "./interfaces/IInterestRateModel.sol";
import {IInvestorRegistry} from "./interfaces/IInvestorRegistry.sol";
import {ILendingMarket} from "./interfaces/ILendingMarket.sol";
import {IShareValuation} from "./interfaces/IShareValuation.sol";
import {SharesMath} from "./libraries/SharesMath.sol";

/// @title LendingMarket
/// @notice One isolated market lending a stablecoin against GPU-asset shares. Created by the LendingFactory.
contract LendingMarket is ILendingMarket, ERC4626, ReentrancyGuard {
    using SafeERC20 for IERC20;
    using SafeCast for uint256;
    using SharesMath for uint256;

    uint256 internal constant WAD = 1e18;
    /// @dev Scale of the yield-per-collateral accumulator (as in AssetShares).
    uint256 internal constant MAGNITUDE = 1e36;
    /// @dev Prices are loan-token base units per whole share.
    uint256 internal constant SHARE_UNIT = 1e18;
    uint256 public constant LIQUIDATION_CURSOR = 0.3e18;
    uint256 public constant MAX_LIQUIDATION_INCENTIVE_FACTOR = 1.15e18;
    /// @dev Vault shares carry 6 more decimals than the loan token: the empty-vault inflation attack would
    /// have to donate a million times what it hopes to steal (OpenZeppelin's virtual-offset defence).
    uint8 internal constant DECIMALS_OFFSET = 6;

    /// @inheritdoc ILendingMarket
    IERC20 public immutable loanToken;
    /// @inheritdoc ILendingMarket
    IAssetShares public immutable collateralToken;
    /// @inheritdoc ILendingMarket
    uint256 public immutable assetId;
    /// @inheritdoc ILendingMarket
    IShareValuation public immutable valuation;
    /// @inheritdoc ILendingMarket
    IInterestRateModel public immutable irm;
    /// @inheritdoc ILendingMarket
    uint256 public immutable lltv;
    /// @inheritdoc ILendingMarket
    uint256 public immutable borrowLtv;
    /// @inheritdoc ILendingMarket
    uint256 public immutable liquidationIncentiveFactor;
    /// @inheritdoc ILendingMarket
    bool public immutable yieldRepaysDebt;
    IERC20 internal immutable _yieldToken;
    IInvestorRegistry internal immutable _investors;

    // One slot for what every lender and borrower action reads and writes. 112 bits hold 5e33 base units
    // (5e15 tokens at 18 decimals); a 32-bit timestamp lasts until 2106.
    uint112 internal _totalBorrowAssets;
    /// @dev Loan tokens this market holds for its lenders (supplies, repayments and interest, less borrows
    /// and withdrawals). Tracked, not read from balanceOf, so that donations cannot move the share price.
    uint112 internal _liquidity;
    uint32 internal _lastUpdate;
    uint128 internal _totalBorrowShares;

    /// @inheritdoc ILendingMarket
    uint256 public totalCollateral;
    uint256 internal _yieldPerCollateral;
    uint256 internal _yieldCarry;
    mapping(address borrower => Position) internal _positions;
    mapping(address borrower => uint256) internal _yieldIndexOf;
    mapping(address borrower => uint256) internal _claimableYield;

    /// @param name_ ERC-20 name of the lenders' vault shares.
    /// @param symbol_ ERC-20 symbol of the lenders' vault shares.
    /// @param loanToken_ The stablecoin lent.
    /// @param collateralToken_ The AssetShares token posted as collateral.
    /// @param valuation_ Prices the collateral (must quote in `loanToken_`: the factory checks).
    /// @param irm_ The interest-rate model.
    /// @param lltv_ Liquidation LTV (WAD).
    /// @param borrowMarginWad How far below the LLTV borrowing stops (WAD).
    /// @param investors The InvestorRegistry (liquidators and collateral receivers must be allowed holders).
    constructor(
        string memory name_,
        string memory symbol_,
        IERC20 loanToken_,
        IAssetShares collateralToken_,
        IShareValuation valuation_,
        IInterestRateModel irm_,
        uint256 lltv_,
        uint256 borrowMarginWad,
        IInvestorRegistry investors
    ) ERC20(name_, symbol_) ERC4626(loanToken_) {
        loanToken = loanToken_;
        collateralToken = collateralToken_;
        assetId = collateralToken_.assetId();
        valuation = valuation_;
        irm = irm_;
        lltv = lltv_;
        borrowLtv = lltv_ - borrowMarginWad;
        liquidationIncentiveFactor = Math.min(
            MAX_LIQUIDATION_INCENTIVE_FACTOR,
            Math.mulDiv(WAD, WAD, WAD - Math.mulDiv(LIQUIDATION_CURSOR, WAD - lltv_, WAD))
        );
        _yieldToken = collateralToken_.settlementToken();
        yieldRepaysDebt = address(_yieldToken) == address(loanToken_);
        _investors = investors;
        _lastUpdate = uint32(block.timestamp);
    }

    /* LENDERS (ERC-4626) */

    /// @notice Lenders' assets: the liquidity held plus what is lent out, with interest up to now.
    function totalAssets() public view override(ERC4626, IERC4626) returns (uint256) {
        (uint256 borrowed,,) = _expectedBorrow();
        return _liquidity + borrowed;
    }

    function deposit(uint256 assets, address receiver)
        public
        override(ERC4626, IERC4626)
        nonReentrant
        returns (uint256)
    {
        _accrue();
        return super.deposit(assets, receiver);
    }

    function mint(uint256 shares, address receiver) public override(ERC4626, IERC4626) nonReentrant returns (uint256) {
        _accrue();
        return super.mint(shares, receiver);
    }

    function withdraw(uint256 assets, address receiver, address owner)
        public
        override(ERC4626, IERC4626)
        nonReentrant
        returns (uint256)
    {
        _accrue();
        return super.withdraw(assets, receiver, owner);
    }

    function redeem(uint256 shares, address receiver, address owner)
        public
        override(ERC4626, IERC4626)
        nonReentrant
        returns (uint256)
    {
        _accrue();
        return super.redeem(shares, receiver, owner);
    }

    /// @notice At most what keeps the market's liquidity within its uint112 slot (EIP-4626: never more than a
    /// deposit would accept).
    function maxDeposit(address) public view override(ERC4626, IERC4626) returns (uint256) {
        return type(uint112).max - _liquidity;
    }

    /// @notice The shares `maxDeposit` buys, rounded down, so that `previewMint(maxMint)` <= `maxDeposit`.
    function maxMint(address) public view override(ERC4626, IERC4626) returns (uint256) {
        return _convertToShares(type(uint112).max - _liquidity, Math.Rounding.Floor);
    }

    /// @notice A lender can take out at most what is not lent.
    function maxWithdraw(address owner) public view override(ERC4626, IERC4626) returns (uint256) {
        return Math.min(super.maxWithdraw(owner), _liquidity);
    }

    function maxRedeem(address owner) public view override(ERC4626, IERC4626) returns (uint256) {
        return Math.min(super.maxRedeem(owner), _convertToShares(_liquidity, Math.Rounding.Floor));
    }

    /* BORROWERS */

    /// @inheritdoc ILendingMarket
    function supplyCollateral(uint256 amount, address onBehalf) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        if (onBehalf == address(0)) revert ZeroAddress();
        // Interest first (the yield applied below repays debt at its current value), then the harvest: new
        // collateral must not share yield earned before it arrived.
        _accrue();
        _harvest();
        _applyYield(onBehalf);

        _positions[onBehalf].collateral += amount.toUint128();
        totalCollateral += amount;

        emit CollateralSupplied(msg.sender, onBehalf, amount);

        IERC20(address(collateralToken)).safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @inheritdoc ILendingMarket
    function withdrawCollateral(uint256 amount, address receiver) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        if (receiver == address(0)) revert ZeroAddress();
        _accrue();
        _harvest();
        _applyYield(msg.sender);
        Position storage position = _positions[msg.sender];
        if (amount > position.collateral) revert ExceedsCollateral(msg.sender, amount, position.collateral);

        position.collateral -= uint128(amount);
        totalCollateral -= amount;
        if (position.borrowShares != 0) {
            (uint256 price,) = valuation.update(assetId);
            _requireWithinLtv(msg.sender, position, price, borrowLtv);
        }

        emit CollateralWithdrawn(msg.sender, receiver, amount);

        IERC20(address(collateralToken)).safeTransfer(receiver, amount);
    }

    /// @inheritdoc ILendingMarket
    function borrow(uint256 assets, address receiver) external nonReentrant returns (uint256 shares) {
        if (assets == 0) revert ZeroAmount();
        if (receiver == address(0)) revert ZeroAddress();
        _accrue();
        _applyYield(msg.sender);
        (uint256 price, bool frozen) = valuation.update(assetId);
        if (frozen) revert BorrowingFrozen(assetId);
        uint256 liquidity_ = _liquidity;
        if (assets > liquidity_) revert InsufficientLiquidity(assets, liquidity_);

        shares = assets.toSharesUp(_totalBorrowAssets, _totalBorrowShares);
        Position storage position = _positions[msg.sender];
        position.borrowShares += shares.toUint128();
        _totalBorrowShares += shares.toUint128();
        _totalBorrowAssets += assets.toUint112();
        _liquidity = uint112(liquidity_ - assets);
        _requireWithinLtv(msg.sender, position, price, borrowLtv);

        emit Borrowed(msg.sender, receiver, assets, shares);

        loanToken.safeTransfer(receiver, assets);
    }

    /// @inheritdoc ILendingMarket
    function repay(uint256 assets, uint256 shares, address onBehalf)
        external
        nonReentrant
        returns (uint256 repaidAssets, uint256 repaidShares)
    {
        if ((assets == 0) == (shares == 0)) revert InconsistentInput(assets, shares);
        if (onBehalf == address(0)) revert ZeroAddress();
        _accrue();
        _applyYield(onBehalf);
        Position storage position = _positions[onBehalf];
        uint256 totalAssets_ = _totalBorrowAssets;
        uint256 totalShares_ = _totalBorrowShares;
        if (assets != 0) {
            repaidShares = assets.toSharesDown(totalAssets_, totalShares_);
            repaidAssets = assets;
        } else {
            // The yield applied above may already have repaid part of the debt, so asking for at least the
            // position's shares (type(uint256).max, or what positionOf showed) repays the whole position.
            repaidShares = Math.min(shares, position.borrowShares);
            repaidAssets = repaidShares.toAssetsUp(totalAssets_, totalShares_);
        }
        if (repaidShares > position.borrowShares) revert ExceedsDebt(onBehalf, repaidShares, position.borrowShares);

        position.borrowShares -= uint128(repaidShares);
        _totalBorrowShares = uint128(totalShares_ - repaidShares);
        // Rounding can make the repaid assets exceed the recorded total by a unit: floor at zero.
        _totalBorrowAssets = uint112(totalAssets_ > repaidAssets ? totalAssets_ - repaidAssets : 0);
        _liquidity += repaidAssets.toUint112();

        emit Repaid(msg.sender, onBehalf, repaidAssets, repaidShares);

        loanToken.safeTransferFrom(msg.sender, address(this), repaidAssets);
    }

    /// @inheritdoc ILendingMarket
    function liquidate(address borrower, uint256 seizedCollateral, uint256 repaidShares)
        external
        nonReentrant
        returns (uint256 seized, uint256 repaidAssets)
    {
        if ((seizedCollateral == 0) == (repaidShares == 0)) {
            revert InconsistentInput(seizedCollateral, repaidShares);
        }
        if (!_investors.canHold(msg.sender)) revert LiquidatorNotVerified(msg.sender);
        _accrue();
        _harvest();
        _applyYield(borrower);
        (uint256 price,) = valuation.update(assetId);
        Position storage position = _positions[borrower];
        {
            uint256 debt = uint256(position.borrowShares).toAssetsUp(_totalBorrowAssets, _totalBorrowShares);
            uint256 liquidationDebt = _maxDebt(position.collateral, price, lltv);
            if (debt <= liquidationDebt) revert HealthyPosition(borrower, debt, liquidationDebt);
        }

        (seized, repaidShares) = _liquidationAmounts(position, price, seizedCollateral, repaidShares);
        if (seized > position.collateral) revert ExceedsCollateral(borrower, seized, position.collateral);
        if (repaidShares > position.borrowShares) revert ExceedsDebt(borrower, repaidShares, position.borrowShares);
        repaidAssets = repaidShares.toAssetsUp(_totalBorrowAssets, _totalBorrowShares);

        position.borrowShares -= uint128(repaidShares);
        position.collateral -= uint128(seized);
        totalCollateral -= seized;
        _totalBorrowShares -= uint128(repaidShares);
        _totalBorrowAssets = uint112(_totalBorrowAssets > repaidAssets ? _totalBorrowAssets - repaidAssets : 0);
        _liquidity += repaidAssets.toUint112();
        if (position.collateral == 0 && position.borrowShares != 0) _realizeBadDebt(borrower, position);

        emit Liquidated(msg.sender, borrower, repaidAssets, repaidShares, seized, price);

        if (seized != 0) IERC20(address(collateralToken)).safeTransfer(msg.sender, seized);
        if (repaidAssets != 0) loanToken.safeTransferFrom(msg.sender, address(this), repaidAssets);
    }

    /* YIELD */

    /// @inheritdoc ILendingMarket
    function harvestYield() external nonReentrant returns (uint256 harvested) {
        return _harvest();
    }

    /// @inheritdoc ILendingMarket
    function applyYield(address borrower) external nonReentrant {
        _accrue();
        _harvest();
        _applyYield(borrower);
    }

    /// @inheritdoc ILendingMarket
    function claimYield(address receiver) external nonReentrant returns (uint256 amount) {
        if (receiver == address(0)) revert ZeroAddress();
        _accrue();
        _harvest();
        _applyYield(msg.sender);
        amount = _claimableYield[msg.sender];
        if (amount == 0) revert NothingToClaim(msg.sender);

        _claimableYield[msg.sender] = 0;

        emit YieldClaimed(msg.sender, receiver, amount);

        _yieldToken.safeTransfer(receiver, amount);
    }

    /// @inheritdoc ILendingMarket
    function accrueInterest() external nonReentrant {
        _accrue();
    }

    /* VIEWS */

    /// @inheritdoc ILendingMarket
    function positionOf(address borrower) external view returns (Position memory) {
        return _positions[borrower];
    }

    /// @inheritdoc ILendingMarket
    function debtOf(address borrower) public view returns (uint256) {
        (uint256 borrowed,,) = _expectedBorrow();
        return uint256(_positions[borrower].borrowShares).toAssetsUp(borrowed, _totalBorrowShares);
    }

    /// @inheritdoc ILendingMarket
    function collateralValueOf(address borrower) public view returns (uint256) {
        (uint256 price,) = valuation.quote(assetId);
        return Math.mulDiv(_positions[borrower].collateral, price, SHARE_UNIT);
    }

    /// @inheritdoc ILendingMarket
    function healthFactor(address borrower) external view returns (uint256) {
        uint256 debt = debtOf(borrower);
        if (debt == 0) return type(uint256).max;
        return Math.mulDiv(collateralValueOf(borrower), lltv, debt);
    }

    /// @inheritdoc ILendingMarket
    function pendingYieldOf(address borrower) external view returns (uint256) {
        uint256 index = _yieldPerCollateral;
        uint256 total = totalCollateral;
        if (total != 0) {
            uint256 unharvested = collateralToken.claimable(address(this));
            index += (unharvested * MAGNITUDE + _yieldCarry) / total;
        }
        return Math.mulDiv(_positions[borrower].collateral, index - _yieldIndexOf[borrower], MAGNITUDE);
    }

    /// @inheritdoc ILendingMarket
    function claimableYieldOf(address borrower) external view returns (uint256) {
        return _claimableYield[borrower];
    }

    /// @inheritdoc ILendingMarket
    function totalBorrowAssets() external view returns (uint256) {
        (uint256 borrowed,,) = _expectedBorrow();
        return borrowed;
    }

    /// @inheritdoc ILendingMarket
    function totalBorrowShares() external view returns (uint256) {
        return _totalBorrowShares;
    }

    /// @inheritdoc ILendingMarket
    function liquidity() external view returns (uint256) {
        return _liquidity;
    }

    /// @inheritdoc ILendingMarket
    function utilization() public view returns (uint256) {
        return _utilization(_totalBorrowAssets, _liquidity);
    }

    /// @inheritdoc ILendingMarket
    function borrowRatePerSecond() external view returns (uint256) {
        return irm.borrowRatePerSecond(utilization());
    }

    /* INTERNAL: ERC-4626 HOOKS */

    function _deposit(address caller, address receiver, uint256 assets, uint256 shares) internal override {
        _liquidity += assets.toUint112();
        super._deposit(caller, receiver, assets, shares);
    }

    function _withdraw(address caller, address receiver, address owner, uint256 assets, uint256 shares)
        internal
        override
    {
        uint256 liquidity_ = _liquidity;
        if (assets > liquidity_) revert InsufficientLiquidity(assets, liquidity_);
        _liquidity = uint112(liquidity_ - assets);
        super._withdraw(caller, receiver, owner, assets, shares);
    }

    function _decimalsOffset() internal pure override returns (uint8) {
        return DECIMALS_OFFSET;
    }

    /* INTERNAL: INTEREST */

    function _accrue() internal {
        if (_lastUpdate == block.timestamp) return;
        (uint256 borrowed, uint256 interest, uint256 rate) = _expectedBorrow();
        _lastUpdate = uint32(block.timestamp);
        if (interest == 0) return;
        _totalBorrowAssets = borrowed.toUint112();
        emit InterestAccrued(interest, rate, borrowed);
    }

    /// @dev Total borrowed with interest compounded since the last accrual, at the model's current rate.
    function _expectedBorrow() internal view returns (uint256 borrowed, uint256 interest, uint256 rate) {
        borrowed = _totalBorrowAssets;
        uint256 elapsed = block.timestamp - _lastUpdate;
        if (elapsed == 0 || borrowed == 0) return (borrowed, 0, 0);
        rate = irm.borrowRatePerSecond(_utilization(borrowed, _liquidity));
        interest = Math.mulDiv(borrowed, SharesMath.wTaylorCompounded(rate, elapsed), WAD);
        borrowed += interest;
    }

    function _utilization(uint256 borrowed, uint256 liquidity_) internal pure returns (uint256) {
        uint256 supplied = borrowed + liquidity_;
        return supplied == 0 ? 0 : Math.mulDiv(borrowed, WAD, supplied);
    }

    /* INTERNAL: YIELD */

    /// @dev Claims the market's yield from the share token and spreads it over the collateral posted now,
    /// carrying the magnified remainder so that no unit is lost to rounding across harvests.
    function _harvest() internal returns (uint256 harvested) {
        uint256 total = totalCollateral;
        if (total == 0) return 0;
        harvested = collateralToken.claimable(address(this));
        if (harvested == 0) return 0;
        uint256 magnified = harvested * MAGNITUDE + _yieldCarry;
        uint256 increase = magnified / total;
        _yieldCarry = magnified - increase * total;
        _yieldPerCollateral += increase;

        emit YieldHarvested(harvested, total);

        // Effects first, then the pull: the share token must pay exactly what it reported as claimable.
        uint256 claimed = collateralToken.claim();
        if (claimed != harvested) revert HarvestMismatch(harvested, claimed);
    }

    /// @dev Credits `borrower` the yield its collateral earned since its last checkpoint: it repays debt first
    /// (same token), the rest becomes claimable.
    function _applyYield(address borrower) internal {
        uint256 index = _yieldPerCollateral;
        uint256 paid = _yieldIndexOf[borrower];
        if (index == paid) return;
        _yieldIndexOf[borrower] = index;
        Position storage position = _positions[borrower];
        uint256 earned = Math.mulDiv(position.collateral, index - paid, MAGNITUDE);
        if (earned == 0) return;

        uint256 repaidAssets;
        if (yieldRepaysDebt && position.borrowShares != 0) {
            uint256 totalAssets_ = _totalBorrowAssets;
            uint256 totalShares_ = _totalBorrowShares;
            uint256 debt = uint256(position.borrowShares).toAssetsUp(totalAssets_, totalShares_);
            uint256 repaidShares;
            if (earned >= debt) {
                repaidAssets = debt;
                repaidShares = position.borrowShares;
            } else {
                repaidAssets = earned;
                repaidShares = earned.toSharesDown(totalAssets_, totalShares_);
            }
            position.borrowShares -= uint128(repaidShares);
            _totalBorrowShares = uint128(totalShares_ - repaidShares);
            _totalBorrowAssets = uint112(totalAssets_ > repaidAssets ? totalAssets_ - repaidAssets : 0);
            // The yield tokens already sit in this contract: they become lenders' liquidity.
            _liquidity += repaidAssets.toUint112();
        }
        uint256 credited = earned - repaidAssets;
        if (credited != 0) _claimableYield[borrower] += credited;

        emit YieldApplied(borrower, earned, repaidAssets, credited);
    }

    /* INTERNAL: RISK */

    function _requireWithinLtv(address borrower, Position storage position, uint256 price, uint256 ltv) internal view {
        uint256 debt = uint256(position.borrowShares).toAssetsUp(_totalBorrowAssets, _totalBorrowShares);
        uint256 maxDebt = _maxDebt(position.collateral, price, ltv);
        if (debt > maxDebt) revert InsufficientCollateral(borrower, debt, maxDebt);
    }

    function _maxDebt(uint256 collateral, uint256 price, uint256 ltv) internal pure returns (uint256) {
        return Math.mulDiv(Math.mulDiv(collateral, price, SHARE_UNIT), ltv, WAD);
    }

    /// @dev morpho-blue's liquidation amounts: collateral worth the repaid debt times the incentive factor.
    /// A worthless collateral (price 0) can be taken whole for nothing; its debt then becomes bad debt.
    function _liquidationAmounts(
        Position storage position,
        uint256 price,
        uint256 seizedCollateral,
        uint256 repaidShares
    ) internal view returns (uint256 seized, uint256 shares) {
        uint256 totalAssets_ = _totalBorrowAssets;
        uint256 totalShares_ = _totalBorrowShares;
        if (seizedCollateral != 0) {
            uint256 quoted = Math.mulDiv(seizedCollateral, price, SHARE_UNIT, Math.Rounding.Ceil);
            uint256 repaid = Math.mulDiv(quoted, WAD, liquidationIncentiveFactor, Math.Rounding.Ceil);
            return (seizedCollateral, repaid.toSharesUp(totalAssets_, totalShares_));
        }
        if (price == 0) return (position.collateral, repaidShares);
        uint256 repaidValue = repaidShares.toAssetsDown(totalAssets_, totalShares_);
        seized = Math.mulDiv(Math.mulDiv(repaidValue, liquidationIncentiveFactor, WAD), SHARE_UNIT, price);
        return (seized, repaidShares);
    }

    /// @dev Collateral exhausted with debt left: write the rest off against the lenders, transparently.
    function _realizeBadDebt(address borrower, Position storage position) internal {
        uint256 shares = position.borrowShares;
        uint256 totalAssets_ = _totalBorrowAssets;
        uint256 assets = Math.min(totalAssets_, shares.toAssetsUp(totalAssets_, _totalBorrowShares));
        position.borrowShares = 0;
        _totalBorrowShares -= uint128(shares);
        _totalBorrowAssets = uint112(totalAssets_ - assets);
        emit BadDebtRealized(borrower, assets, shares);
    }
}
