// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

import {AssetShares} from "../../../../contracts/AssetShares.sol";
import {LeaseMarket} from "../../../../contracts/LeaseMarket.sol";
import {LendingMarket} from "../../../../contracts/LendingMarket.sol";
import {YieldValuation} from "../../../../contracts/YieldValuation.sol";
import {Test} from "../../utils/Test.sol";

/// @notice Drives the wash-leasing world (WashFixture) with four kinds of actor side by side:
///  - honest lessees: every epoch that ends earns their $16 (8 GPUs at $2), whatever else happens;
///  - the washer (the operator, holding part of the shares): in any epoch it may also lease any number of its
///    idle GPUs to itself at any price; at any time it may post all its shares and borrow all it can;
///  - a lender who supplies and withdraws;
///  - an honest holder who posts its shares and borrows within its limit;
///  - anyone: anchors the price.
/// Ghosts: the wash's net (what the washer paid, less the fee it got back as operator) and its cost (the other
/// holders' part of that net), epochs elapsed since the valuation was configured.
contract WashHandler is Test {
    uint256 internal constant USD = 1e6;
    uint256 internal constant SHARE = 1e18;
    uint256 internal constant WAD = 1e18;
    uint64 internal constant EPOCH = 3600;

    LeaseMarket public immutable leases;
    YieldValuation public immutable valuation;
    LendingMarket public immutable market;
    AssetShares public immutable token;
    uint256 public immutable assetId;
    address public immutable washer;
    address public immutable holder;
    address public immutable lender;
    uint256 public immutable honestGross;
    uint256 public immutable honestNet;

    uint256 public ghost_washNet;
    uint256 public ghost_washCost;
    uint256 public ghost_epochs;
    uint256 public ghost_washerBorrowed;
    uint256 public ghost_unexpectedReverts;

    constructor(
        LeaseMarket leases_,
        YieldValuation valuation_,
        LendingMarket market_,
        uint256 assetId_,
        address washer_,
        address holder_,
        address lender_,
        uint256 honestGross_,
        uint256 honestNet_
    ) {
        leases = leases_;
        valuation = valuation_;
        market = market_;
        token = AssetShares(address(market_.collateralToken()));
        assetId = assetId_;
        washer = washer_;
        holder = holder_;
        lender = lender_;
        honestGross = honestGross_;
        honestNet = honestNet_;
    }

    /// The epoch in progress earns the honest leases' revenue plus, if the washer wants, a wash of `washGpus`
    /// of the 8 idle GPUs at `washPricePerGpuHour` (1 base unit to $1M); then it ends and settles.
    function advance(uint256 washGpus, uint256 washPricePerGpuHour) external {
        washGpus = bound(washGpus, 0, 8);
        washPricePerGpuHour = bound(washPricePerGpuHour, 1, 1_000_000 * USD);
        uint64 epoch = leases.currentEpoch();
        vm.prank(washer);
        leases.addRevenue(assetId, epoch, honestGross + washGpus * washPricePerGpuHour, "LEASE");
        vm.warp(block.timestamp + EPOCH);
        leases.settleThrough(assetId, epoch);
        uint256 washNet = leases.settlementOf(assetId, epoch).net - honestNet;
        ghost_washNet += washNet;
        uint256 totalShares = token.totalSupply();
        uint256 othersShares = totalShares - token.balanceOf(washer) - _posted(washer);
        ghost_washCost += Math.mulDiv(washNet, othersShares, totalShares);
        ++ghost_epochs;
    }

    /// Anyone anchors the price for this epoch.
    function anchor() external {
        valuation.update(assetId);
    }

    /// The washer posts all its shares and borrows everything the market will lend it.
    function washerBorrowMax() external {
        _postAll(washer);
        (uint256 price,) = valuation.update(assetId);
        uint256 maxDebt = Math.mulDiv(Math.mulDiv(_posted(washer), price, SHARE), market.borrowLtv(), WAD);
        uint256 debt = market.debtOf(washer);
        if (maxDebt <= debt + 1) return;
        uint256 amount = Math.min(maxDebt - debt - 1, market.liquidity());
        if (amount == 0) return;
        vm.prank(washer);
        try market.borrow(amount, washer) {
            ghost_washerBorrowed += amount;
        } catch {
            ++ghost_unexpectedReverts;
        }
    }

    /// The honest holder posts its shares and borrows up to `amount`, within its limit.
    function honestBorrow(uint256 amount) external {
        _postAll(holder);
        (uint256 price,) = valuation.update(assetId);
        uint256 maxDebt = Math.mulDiv(Math.mulDiv(_posted(holder), price, SHARE), market.borrowLtv(), WAD);
        uint256 debt = market.debtOf(holder);
        if (maxDebt <= debt + 1) return;
        uint256 most = Math.min(maxDebt - debt - 1, market.liquidity());
        if (most == 0) return;
        amount = bound(amount, 1, most);
        vm.prank(holder);
        try market.borrow(amount, holder) {}
        catch {
            ++ghost_unexpectedReverts;
        }
    }

    /// The lender supplies `amount` more (up to $1M).
    function supply(uint256 amount) external {
        amount = bound(amount, 1, 1_000_000 * USD);
        vm.prank(lender);
        market.deposit(amount, lender);
    }

    /// The lender withdraws up to `amount` of what is not lent.
    function withdraw(uint256 amount) external {
        uint256 most = market.maxWithdraw(lender);
        if (most == 0) return;
        amount = bound(amount, 1, most);
        vm.prank(lender);
        market.withdraw(amount, lender, lender);
    }

    function _postAll(address account) internal {
        uint256 shares = token.balanceOf(account);
        if (shares == 0) return;
        vm.prank(account);
        market.supplyCollateral(shares, account);
    }

    function _posted(address account) internal view returns (uint256) {
        return market.positionOf(account).collateral;
    }
}
