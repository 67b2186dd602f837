// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ERC4626} from "@openzeppelin/contracts/token/ERC20/extensions/ERC4626.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

import {LendingMarket} from "../../../contracts/LendingMarket.sol";
import {LinearKinkIrm} from "../../../contracts/LinearKinkIrm.sol";
import {IAssetShares} from "../../../contracts/interfaces/IAssetShares.sol";
import {IInterestRateModel} from "../../../contracts/interfaces/IInterestRateModel.sol";
import {ILendingMarket} from "../../../contracts/interfaces/ILendingMarket.sol";
import {IShareValuation} from "../../../contracts/interfaces/IShareValuation.sol";
import {SharesMath} from "../../../contracts/libraries/SharesMath.sol";
import {LendingFixture} from "./LendingFixture.sol";

/// @dev Exposes the internal SharesMath library to the tests.
contract SharesMathHarness {
    function toSharesDown(uint256 a, uint256 ta, uint256 ts) external pure returns (uint256) {
        return SharesMath.toSharesDown(a, ta, ts);
    }

    function toSharesUp(uint256 a, uint256 ta, uint256 ts) external pure returns (uint256) {
        return SharesMath.toSharesUp(a, ta, ts);
    }

    function toAssetsDown(uint256 s, uint256 ta, uint256 ts) external pure returns (uint256) {
        return SharesMath.toAssetsDown(s, ta, ts);
    }

    function toAssetsUp(uint256 s, uint256 ta, uint256 ts) external pure returns (uint256) {
        return SharesMath.toAssetsUp(s, ta, ts);
    }

    function wTaylorCompounded(uint256 x, uint256 n) external pure returns (uint256) {
        return SharesMath.wTaylorCompounded(x, n);
    }
}

/// @notice Fuzz properties, each with a concrete twin: SharesMath conversions and rounding, the kink IRM, the
/// liquidation incentive factor of markets over any LLTV, and repaying by shares after the borrower's yield;
/// and which market actions call the valuation's update().
contract LendingFuzzTest is LendingFixture {
    uint256 internal constant YEAR = 365 days;
    uint256 internal constant MAX_ASSETS = 1e30; // 10^24 dollars of a 6-decimal coin: more than exists
    uint256 internal constant MAX_SHARES = 1e36;

    SharesMathHarness internal math;

    function setUp() public {
        _deployLendingWorld(1);
        math = new SharesMathHarness();
    }

    /* SHARES MATH */

    /// Down never exceeds up, and they differ by at most one unit, both ways.
    function testFuzz_shares_math_rounding_brackets(uint256 amount, uint256 totalAssets, uint256 totalShares)
        public
        view
    {
        amount = bound(amount, 0, MAX_ASSETS);
        totalAssets = bound(totalAssets, 0, MAX_ASSETS);
        totalShares = bound(totalShares, 0, MAX_SHARES);
        uint256 sharesDown = math.toSharesDown(amount, totalAssets, totalShares);
        uint256 sharesUp = math.toSharesUp(amount, totalAssets, totalShares);
        assertLe(sharesDown, sharesUp, "shares down <= up");
        assertLe(sharesUp - sharesDown, 1, "shares up - down <= 1");
        uint256 assetsDown = math.toAssetsDown(amount, totalAssets, totalShares);
        uint256 assetsUp = math.toAssetsUp(amount, totalAssets, totalShares);
        assertLe(assetsDown, assetsUp, "assets down <= up");
        assertLe(assetsUp - assetsDown, 1, "assets up - down <= 1");
    }

    function test_shares_math_rounding_brackets_concrete() public view {
        // The brownie figures: a first borrow of 5,750e6 is 5.75e15 shares, worth 5,750e6 again.
        assertEq(math.toSharesUp(5_750e6, 0, 0), 5_750e12, "first borrow shares");
        assertEq(math.toAssetsUp(5_750e12, 5_750e6, 5_750e12), 5_750e6, "its debt");
        assertEq(math.toSharesDown(1_000e6, 5_750e6, 5_750e12), 1_000e12, "repay 1,000 by assets");
        // Uneven totals: 1 unit after a year of interest buys fewer than 10^6 shares, rounded down, or up.
        assertEq(math.toSharesDown(1, 5_309_179_999, 5e15), 941_765, "1 unit down");
        assertEq(math.toSharesUp(1, 5_309_179_999, 5e15), 941_766, "1 unit up");
        testFuzz_shares_math_rounding_brackets(1, 5_309_179_999, 5e15);
    }

    /// Round trips never favour the caller: assets -> shares (down) -> assets (down) <= assets (repay by
    /// assets); assets -> shares (up) -> assets (up) >= assets (a borrower owes at least what it took);
    /// shares -> assets (up) -> shares (down) >= shares (repay by shares covers the shares).
    function testFuzz_shares_math_round_trips_favour_the_market(
        uint256 amount,
        uint256 totalAssets,
        uint256 totalShares
    ) public view {
        amount = bound(amount, 0, MAX_ASSETS);
        totalAssets = bound(totalAssets, 0, MAX_ASSETS);
        totalShares = bound(totalShares, 0, MAX_SHARES);
        uint256 down = math.toAssetsDown(math.toSharesDown(amount, totalAssets, totalShares), totalAssets, totalShares);
        assertLe(down, amount, "assets -> shares down -> assets down <= assets");
        uint256 up = math.toAssetsUp(math.toSharesUp(amount, totalAssets, totalShares), totalAssets, totalShares);
        assertGe(up, amount, "assets -> shares up -> assets up >= assets");
        uint256 shares = bound(amount, 0, MAX_SHARES);
        uint256 back = math.toSharesDown(math.toAssetsUp(shares, totalAssets, totalShares), totalAssets, totalShares);
        assertGe(back, shares, "shares -> assets up -> shares down >= shares");
    }

    function test_shares_math_round_trips_favour_the_market_concrete() public view {
        // 1 unit at an uneven price: 941,765 shares (down) are worth 0 units (down): the market keeps the unit;
        // 941,766 shares (up) are worth ceil(1.0000012) = 2 units (up): the borrower owes more, never less.
        assertEq(math.toAssetsDown(941_765, 5_309_179_999, 5e15), 0, "round trip down");
        assertEq(math.toAssetsUp(941_766, 5_309_179_999, 5e15), 2, "round trip up");
        testFuzz_shares_math_round_trips_favour_the_market(1, 5_309_179_999, 5e15);
        testFuzz_shares_math_round_trips_favour_the_market(7_777, 0, 0);
    }

    /// The compounding factor is at least the simple rate and grows with time.
    function testFuzz_taylor_compounding_at_least_simple_and_monotone(uint256 rate, uint256 seconds_, uint256 more)
        public
        view
    {
        rate = bound(rate, 0, 1e11); // up to ~315% a year per second
        seconds_ = bound(seconds_, 0, 5 * YEAR);
        more = bound(more, 0, YEAR);
        uint256 growth = math.wTaylorCompounded(rate, seconds_);
        assertGe(growth, rate * seconds_, "compounded >= simple");
        assertGe(math.wTaylorCompounded(rate, seconds_ + more), growth, "monotone in time");
    }

    function test_taylor_compounding_concrete() public view {
        // 6% a year for a year: 0.06 + 0.0018 + 0.000036 (the brownie interest test)
        assertEq(math.wTaylorCompounded(1_902_587_519, YEAR), 61_835_999_999_133_571, "6% for a year");
        testFuzz_taylor_compounding_at_least_simple_and_monotone(1_902_587_519, YEAR, 1);
    }

    /* KINK IRM */

    function _kinkRate(uint256 u, uint256 base, uint256 slope1, uint256 slope2, uint256 kink)
        internal
        pure
        returns (uint256)
    {
        if (u > WAD) u = WAD;
        uint256 annual = u <= kink ? base + slope1 * u / WAD : base + slope1 * kink / WAD + slope2 * (u - kink) / WAD;
        return annual / YEAR;
    }

    /// The rate is the documented two-slope curve, non-decreasing in utilisation, flat above 100%.
    function testFuzz_kink_irm_follows_the_curve(
        uint256 base,
        uint256 slope1,
        uint256 slope2,
        uint256 kink,
        uint256 u1,
        uint256 u2
    ) public {
        base = bound(base, 0, 1e18);
        slope1 = bound(slope1, 0, 5e18);
        slope2 = bound(slope2, 0, 50e18);
        kink = bound(kink, 1, WAD - 1);
        u1 = bound(u1, 0, 3 * WAD);
        u2 = bound(u2, u1, 3 * WAD);
        LinearKinkIrm model = new LinearKinkIrm(base, slope1, slope2, kink);
        uint256 r1 = model.borrowRatePerSecond(u1);
        assertEq(r1, _kinkRate(u1, base, slope1, slope2, kink), "rate = curve");
        assertLe(r1, model.borrowRatePerSecond(u2), "non-decreasing");
        if (u1 > WAD) assertEq(r1, model.borrowRatePerSecond(WAD), "flat above 100%");
    }

    function test_kink_irm_follows_the_curve_concrete() public {
        // The deploy script's model (the fixture's irm): 2% + 8% u up to 80%, +100% above.
        assertEq(irm.borrowRatePerSecond(0), 634_195_839, "0%: 2% a year");
        assertEq(irm.borrowRatePerSecond(0.5e18), 1_902_587_519, "50%: 6%");
        assertEq(irm.borrowRatePerSecond(0.8e18), 2_663_622_526, "80%: 8.4%");
        assertEq(irm.borrowRatePerSecond(0.9e18), 5_834_601_725, "90%: 18.4%");
        assertEq(irm.borrowRatePerSecond(1e18), 9_005_580_923, "100%: 28.4%");
        testFuzz_kink_irm_follows_the_curve(0.02e18, 0.08e18, 1e18, 0.8e18, 0.5e18, 0.9e18);
    }

    /* LIQUIDATION INCENTIVE FACTOR */

    function _lif(uint256 lltv) internal pure returns (uint256) {
        return Math.min(1.15e18, WAD * WAD / (WAD - 0.3e18 * (WAD - lltv) / WAD));
    }

    function _marketAt(uint256 lltv) internal returns (LendingMarket) {
        return new LendingMarket(
            "m",
            "m",
            coin,
            IAssetShares(address(token)),
            IShareValuation(address(valuation)),
            IInterestRateModel(address(irm)),
            lltv,
            MARGIN,
            investors
        );
    }

    /// LIF = min(1.15, 1 / (1 - 0.3 (1 - LLTV))): between 1 and 1.15, non-increasing in the LLTV, and below
    /// the cap its inverse is 1 - 0.3 (1 - LLTV) to rounding.
    function testFuzz_liquidation_incentive_factor_formula(uint256 lltv, uint256 higher) public {
        lltv = bound(lltv, MARGIN + 1, WAD - 1);
        higher = bound(higher, lltv, WAD - 1);
        LendingMarket m = _marketAt(lltv);
        uint256 factor = m.liquidationIncentiveFactor();
        assertEq(factor, _lif(lltv), "LIF = min(1.15, 1 / (1 - 0.3 (1 - LLTV)))");
        assertGe(factor, WAD, "LIF >= 1");
        assertLe(factor, 1.15e18, "LIF <= 1.15");
        assertEq(m.borrowLtv(), lltv - MARGIN, "borrow LTV = LLTV - margin");
        assertLe(_marketAt(higher).liquidationIncentiveFactor(), factor, "non-increasing in LLTV");
        if (factor < 1.15e18) {
            uint256 inverse = WAD - 0.3e18 * (WAD - lltv) / WAD;
            assertApproxEqAbs(factor * inverse / WAD, WAD, 2, "LIF x (1 - 0.3 (1 - LLTV)) = 1");
        }
    }

    function test_liquidation_incentive_factor_formula_concrete() public {
        assertEq(_marketAt(0.5e18).liquidationIncentiveFactor(), 1.15e18, "50%: capped");
        assertEq(_marketAt(0.625e18).liquidationIncentiveFactor(), 1_126_760_563_380_281_690, "62.5%: 1/0.8875");
        assertEq(_marketAt(0.945e18).liquidationIncentiveFactor(), 1_016_776_817_488_561_260, "94.5%: 1/0.9835");
        // The cap binds up to LLTV = 1 - 0.15 / (0.3 x 1.15) = 0.5652...
        assertEq(_marketAt(0.565e18).liquidationIncentiveFactor(), 1.15e18, "56.5%: still capped");
        assertLt(_marketAt(0.566e18).liquidationIncentiveFactor(), 1.15e18, "56.6%: below the cap");
        testFuzz_liquidation_incentive_factor_formula(0.625e18, 0.86e18);
    }

    /* REPAY BY SHARES */

    /// @dev A lender with 100,000 dev-USD in the market; the actor (all 1,000 shares) posts 100 and borrows.
    function _borrowAgainstHundredShares(uint256 borrowed) internal returns (address borrower) {
        borrower = actors[0];
        address lender = makeAddr("lender");
        vm.startPrank(admin);
        coin.mint(lender, 100_000 * USD);
        coin.mint(address(this), 1_000_000 * USD);
        vm.stopPrank();
        vm.startPrank(lender);
        coin.approve(address(market), type(uint256).max);
        market.deposit(100_000 * USD, lender);
        vm.stopPrank();
        coin.approve(address(token), type(uint256).max); // pays revenue
        coin.approve(address(market), type(uint256).max); // repays for the borrower
        vm.startPrank(borrower);
        market.supplyCollateral(100 * SHARE, borrower);
        market.borrow(borrowed, borrower);
        vm.stopPrank();
    }

    /// Repaying by shares with at least the shares `positionOf` shows (or type(uint256).max) clears the position,
    /// whatever yield was harvested into the index and is applied first, and pays exactly what the workaround
    /// (applyYield, then repay the shares left) pays: min(shares asked, shares left) at the rounded-up price.
    function testFuzz_repay_by_shares_repays_min_of_asked_and_left(
        uint256 borrowed,
        uint256 revenue,
        uint256 asked,
        uint256 elapsed,
        bool harvest
    ) public {
        borrowed = bound(borrowed, 1, 5_750 * USD); // 100 shares x $100 x 0.575
        revenue = bound(revenue, 0, 200_000 * USD); // the market's 100 shares earn a tenth of it
        elapsed = bound(elapsed, 0, 30 days);
        address borrower = _borrowAgainstHundredShares(borrowed);
        if (revenue != 0) token.depositRevenue(revenue, "TEST");
        if (harvest) market.harvestYield();
        vm.warp(block.timestamp + elapsed);
        uint256 owned = market.positionOf(borrower).borrowShares;
        asked = bound(asked, owned, type(uint256).max);

        // The workaround, in a snapshot: yield applied first, then the shares left.
        uint256 snapshot = vm.snapshotState();
        market.applyYield(borrower);
        uint256 left = market.positionOf(borrower).borrowShares;
        uint256 owedLeft = market.debtOf(borrower);
        vm.revertToState(snapshot);
        if (harvest) assertEq(market.pendingYieldOf(borrower) > 0, revenue >= 10, "harvested yield pending");

        uint256 paidBefore = coin.balanceOf(address(this));
        (uint256 repaidAssets, uint256 repaidShares) = market.repay(0, asked, borrower);
        if (harvest) {
            assertEq(repaidShares, left, "repaid the shares left after the yield");
            assertEq(repaidAssets, owedLeft, "paid the debt left after the yield");
        } else {
            // Unharvested yield is not applied by repay: the whole position is repaid by the payer.
            assertEq(repaidShares, owned, "repaid the whole position");
        }
        assertLe(repaidShares, owned, "never more than the position");
        assertEq(paidBefore - coin.balanceOf(address(this)), repaidAssets, "paid what it reports");
        assertEq(market.positionOf(borrower).borrowShares, 0, "position cleared");
        assertEq(market.totalBorrowShares(), 0, "no borrow shares left");
        assertEq(market.totalBorrowAssets(), 0, "no debt left");
    }

    function test_repay_by_shares_repays_min_of_asked_and_left_concrete() public {
        // Borrow $1,000 (10^15 shares); $1,000 of revenue: the market's 100 shares earn $100, harvested. Asking for
        // the 10^15 shares positionOf shows: the $100 repays floor(100e6 x (10^15 + 10^6) / (1,000e6 + 1)) =
        // 10^14 first, then 9 x 10^14 shares are repaid for ceil(9e14 x (900e6 + 1) / (9e14 + 10^6)) = 900e6.
        uint256 snapshot = vm.snapshotState();
        address borrower = _borrowAgainstHundredShares(1_000 * USD);
        token.depositRevenue(1_000 * USD, "TEST");
        market.harvestYield();
        assertEq(market.positionOf(borrower).borrowShares, 1e15, "shown");
        (uint256 repaidAssets, uint256 repaidShares) = market.repay(0, 1e15, borrower);
        assertEq(repaidShares, 9e14, "shares left after the yield");
        assertEq(repaidAssets, 900 * USD, "$900");
        assertEq(market.positionOf(borrower).borrowShares, 0, "cleared");
        vm.revertToState(snapshot);
        testFuzz_repay_by_shares_repays_min_of_asked_and_left(1_000 * USD, 1_000 * USD, type(uint256).max, 0, true);
    }

    /* WHICH ACTIONS CALL THE VALUATION */

    /// borrow, withdrawCollateral with debt and liquidate call valuation.update() (the real one anchors the
    /// price for the epoch there); supplyCollateral, repay and a withdrawal without debt do not.
    function test_markets_call_update_where_they_rely_on_the_price() public {
        address borrower = _borrowAgainstHundredShares(5_000 * USD);
        assertEq(valuation.updateCalls(assetId), 1, "borrow: update");
        vm.startPrank(borrower);
        market.supplyCollateral(10 * SHARE, borrower);
        market.repay(1_000 * USD, 0, borrower);
        assertEq(valuation.updateCalls(assetId), 1, "supplyCollateral, repay: no update");
        market.withdrawCollateral(1 * SHARE, borrower);
        assertEq(valuation.updateCalls(assetId), 2, "withdrawCollateral in debt: update");
        vm.stopPrank();
        // $50 a share: 109 shares x $50 x 0.625 = 3,406.25 < 4,000 owed.
        valuation.setPrice(assetId, uint128(50 * USD));
        address liquidator = makeAddr("liquidator");
        _verify(liquidator);
        vm.prank(admin);
        coin.mint(liquidator, 1_000 * USD);
        vm.startPrank(liquidator);
        coin.approve(address(market), type(uint256).max);
        market.liquidate(borrower, 0, 1e14);
        vm.stopPrank();
        assertEq(valuation.updateCalls(assetId), 3, "liquidate: update");
        // Debt cleared: a withdrawal needs no price.
        vm.startPrank(borrower);
        market.repay(0, type(uint256).max, borrower);
        ILendingMarket.Position memory p = market.positionOf(borrower);
        assertEq(p.borrowShares, 0, "repaid");
        market.withdrawCollateral(p.collateral, borrower);
        vm.stopPrank();
        assertEq(valuation.updateCalls(assetId), 3, "withdrawCollateral without debt: no update");
    }

    /* STORAGE PACKING */

    /// What every lender and borrower action reads and writes shares one word (slot 6 of LendingMarket's layout,
    /// `forge inspect LendingMarket storageLayout`): total borrowed (uint112), liquidity (uint112) and the last
    /// accrual time (uint32).
    function test_borrow_total_liquidity_and_accrual_time_share_one_slot() public {
        _borrowAgainstHundredShares(1_000 * USD); // 100,000 lent, 1,000 borrowed
        uint256 word = uint256(vm.load(address(market), bytes32(uint256(6))));
        assertEq(word & type(uint112).max, 1_000 * USD, "bits 0-111: total borrowed");
        assertEq((word >> 112) & type(uint112).max, 99_000 * USD, "bits 112-223: liquidity");
        assertEq(word >> 224, block.timestamp, "bits 224-255: last accrual");
        assertEq(market.totalBorrowAssets(), 1_000 * USD, "view");
        assertEq(market.liquidity(), 99_000 * USD, "view");
    }

    /// Amounts past uint112 revert instead of wrapping, and maxDeposit says so first (EIP-4626: it must not
    /// exceed what a deposit accepts): ERC4626ExceededMaxDeposit (issue 9; before, maxDeposit returned
    /// type(uint256).max and the deposit failed later, in SafeCast.toUint112).
    function test_liquidity_past_uint112_reverts() public {
        address whale = makeAddr("whale");
        uint256 most = type(uint112).max;
        vm.prank(admin);
        coin.mint(whale, 2 * most + 2);
        vm.startPrank(whale);
        coin.approve(address(market), type(uint256).max);
        assertEq(market.maxDeposit(whale), most, "maxDeposit: the whole uint112 room");
        vm.expectRevert(abi.encodeWithSelector(ERC4626.ERC4626ExceededMaxDeposit.selector, whale, most + 1, most));
        market.deposit(most + 1, whale);
        market.deposit(most, whale);
        assertEq(market.liquidity(), most, "the most the market can hold");
        assertEq(market.maxDeposit(whale), 0, "full");
        assertEq(market.maxMint(whale), 0, "full");
        vm.expectRevert(abi.encodeWithSelector(ERC4626.ERC4626ExceededMaxDeposit.selector, whale, 1, 0));
        market.deposit(1, whale);
        vm.stopPrank();
    }
}
