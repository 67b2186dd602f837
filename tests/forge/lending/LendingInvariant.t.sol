// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ILendingMarket} from "../../../contracts/interfaces/ILendingMarket.sol";
import {LendingFixture} from "./LendingFixture.sol";
import {LendingHandler} from "./handlers/LendingHandler.sol";

/// @notice Invariants of a LendingMarket under random sequences of supplies, withdrawals, collateral in and
/// out, borrows, repayments, liquidations, yield payments, time passing and valuation moves, by 3 actors
/// (see LendingHandler). The valuation is MockShareValuation (a test double the factory enables) so that
/// the handler can move the price freely.
contract LendingInvariantTest is LendingFixture {
    LendingHandler internal handler;

    function setUp() public {
        _deployLendingWorld(3);
        handler = new LendingHandler(market, coin, token, valuation, actors);
        vm.startPrank(admin);
        coin.grantRole(coin.MINTER_ROLE(), address(handler));
        vm.stopPrank();

        targetContract(address(handler));
        bytes4[] memory selectors = new bytes4[](13);
        selectors[0] = LendingHandler.supply.selector;
        selectors[1] = LendingHandler.withdraw.selector;
        selectors[2] = LendingHandler.supplyCollateral.selector;
        selectors[3] = LendingHandler.withdrawCollateral.selector;
        selectors[4] = LendingHandler.borrow.selector;
        selectors[5] = LendingHandler.borrow.selector; // borrowing twice as often: positions worth liquidating
        selectors[6] = LendingHandler.repay.selector;
        selectors[7] = LendingHandler.liquidate.selector;
        selectors[8] = LendingHandler.payYield.selector;
        selectors[9] = LendingHandler.applyYield.selector;
        selectors[10] = LendingHandler.claimYield.selector;
        selectors[11] = LendingHandler.warp.selector;
        selectors[12] = LendingHandler.movePrice.selector;
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
    }

    /// Total borrowed never exceeds what the lenders supplied: deposits - withdrawals + interest - bad debt
    /// (+ the units of rounding the market keeps for them), all tracked by the handler; nor the lenders'
    /// assets; utilisation stays <= 100%.
    function invariant_total_borrowed_le_total_supplied() public view {
        uint256 supplied = handler.ghost_deposited() + handler.ghost_interest() + handler.ghost_roundingGain()
            - handler.ghost_withdrawn() - handler.ghost_badDebt();
        uint256 borrowed = market.totalBorrowAssets();
        assertLe(borrowed, supplied, "borrowed <= deposits - withdrawals + interest - bad debt");
        assertLe(borrowed, market.totalAssets(), "borrowed <= totalAssets");
        assertLe(market.utilization(), WAD, "utilisation <= 1");
    }

    /// No action takes value from the lenders except a bad-debt write-off: around every action that moves
    /// neither time nor the price, totalAssets changes only by the deposit, the withdrawal or the bad debt
    /// (and may gain the units of rounding the market keeps, at most a couple per call). supplyCollateral, like
    /// every entry point, accrues interest before its yield repays debt, so a debt is never cleared at a stale
    /// value (tests/contracts/lending/test_yield.py::test_supply_collateral_accrues_interest_before_applying_yield).
    function invariant_lenders_lose_nothing_but_bad_debt() public view {
        assertEq(handler.ghost_lenderLoss(), 0, handler.ghost_lastLenderLoss());
        assertLe(handler.ghost_roundingGain(), 2 * handler.ghost_calls(), "rounding kept: a unit or two a call");
        uint256 flows = handler.ghost_deposited() + handler.ghost_interest() + handler.ghost_roundingGain()
            - handler.ghost_withdrawn() - handler.ghost_badDebt();
        assertEq(market.totalAssets(), flows, "lenders' assets = their flows");
    }

    /// The stablecoin the market holds plus what it lent covers the lenders' assets; what it holds covers
    /// the lenders' liquidity plus every borrower's claimable yield; and with the yield still in the share
    /// token, everything the borrowers were credited or are owed.
    function invariant_balance_plus_borrows_covers_supplies() public view {
        uint256 balance = coin.balanceOf(address(market));
        assertGe(balance + market.totalBorrowAssets(), market.totalAssets(), "balance + borrows >= totalAssets");
        uint256 claimable;
        uint256 pending;
        for (uint256 i; i < actors.length; ++i) {
            claimable += market.claimableYieldOf(actors[i]);
            pending += market.pendingYieldOf(actors[i]);
        }
        assertGe(balance, market.liquidity() + claimable, "balance >= liquidity + claimable yield");
        assertGe(
            balance + token.claimable(address(market)),
            market.liquidity() + claimable + pending,
            "balance + unharvested >= liquidity + claimable + pending"
        );
    }

    /// Vault shares, borrow shares and collateral summed over the actors equal their totals; the market
    /// holds exactly the posted collateral.
    function invariant_shares_sum_to_totals() public view {
        uint256 vaultShares;
        uint256 borrowShares;
        uint256 collateral;
        for (uint256 i; i < actors.length; ++i) {
            vaultShares += market.balanceOf(actors[i]);
            ILendingMarket.Position memory p = market.positionOf(actors[i]);
            borrowShares += p.borrowShares;
            collateral += p.collateral;
        }
        assertEq(vaultShares, market.totalSupply(), "vault shares sum to totalSupply");
        assertEq(borrowShares, market.totalBorrowShares(), "borrow shares sum to totalBorrowShares");
        assertEq(collateral, market.totalCollateral(), "collateral sums to totalCollateral");
        assertEq(token.balanceOf(address(market)), market.totalCollateral(), "market holds the collateral");
    }

    /// Checked in the handler around every action that moves neither time nor the price.
    function invariant_no_action_without_time_makes_healthy_unhealthy() public view {
        assertEq(handler.ghost_healthyBecameUnhealthy(), 0, handler.ghost_lastHealthViolation());
    }

    /// In a snapshot: every borrower repays all its borrow shares (as `positionOf` shows them, even when yield
    /// harvested into the index but not yet applied burns some of them first: repay in shares mode repays
    /// min(shares asked, shares left)) and then withdraws all its collateral.
    function invariant_borrower_can_always_repay_all_and_withdraw_all() public {
        _repayAllAndWithdrawAll(false);
    }

    /// The same with the yield applied first: repay all, withdraw all always succeed.
    function invariant_borrower_can_repay_all_after_applying_yield() public {
        _repayAllAndWithdrawAll(true);
    }

    function _repayAllAndWithdrawAll(bool applyYieldFirst) internal {
        uint256 snapshot = vm.snapshotState();
        for (uint256 i; i < actors.length; ++i) {
            address actor = actors[i];
            if (applyYieldFirst) market.applyYield(actor);
            ILendingMarket.Position memory p = market.positionOf(actor);
            if (p.borrowShares != 0) {
                uint256 debt = market.debtOf(actor);
                vm.prank(admin);
                coin.mint(actor, debt + 1);
                vm.prank(actor);
                market.repay(0, p.borrowShares, actor);
            }
            p = market.positionOf(actor);
            assertEq(p.borrowShares, 0, "all borrow shares repaid");
            if (p.collateral != 0) {
                vm.prank(actor);
                market.withdrawCollateral(p.collateral, actor);
            }
            p = market.positionOf(actor);
            assertEq(p.collateral, 0, "all collateral withdrawn");
        }
        assertEq(market.totalBorrowShares(), 0, "no borrow shares left");
        assertEq(market.totalCollateral(), 0, "no collateral left");
        vm.revertToState(snapshot);
    }

    /// Recorded in the handler's liquidate action: a liquidation of a position whose LTV was below 1/LIF
    /// never leaves its LTV higher.
    function invariant_liquidation_below_inverse_incentive_leaves_healthier() public view {
        assertEq(handler.ghost_liquidationsLeftWorse(), 0, "liquidation below 1/LIF left the position worse");
    }

    /// Every action either succeeded or failed with an error its situation allows.
    function invariant_actions_fail_only_with_expected_errors() public view {
        assertEq(handler.ghost_unexpectedReverts(), 0, handler.ghost_lastUnexpectedAction());
    }

    /// The handler is really driven: each run makes calls.
    function afterInvariant() public view {
        assertGt(handler.ghost_calls(), 0, "handler called");
    }

    /// A fixed pseudo-random drive through the handler (like one long invariant run): every action is
    /// reached, liquidations below and above 1/LIF happen, bad debt is written off, and the invariants hold.
    function test_handler_reaches_every_action() public {
        for (uint256 step; step < 1_200; ++step) {
            uint256 r = uint256(keccak256(abi.encode("lending-drive", step)));
            uint256 which = r % 12;
            uint256 a = r >> 8;
            uint256 b = r >> 40;
            uint256 c = r >> 80;
            if (which == 0) handler.supply(a, b);
            else if (which == 1) handler.withdraw(a, b);
            else if (which == 2) handler.supplyCollateral(a, b);
            else if (which == 3) handler.withdrawCollateral(a, b);
            else if (which <= 5) handler.borrow(a, b % (1_000_000 * USD));
            else if (which == 6) handler.repay(a, b, c, c % 2 == 0);
            else if (which == 7) handler.liquidate(a, b, c, c % 2 == 0);
            else if (which == 8) handler.payYield(b % (1_000 * USD));
            else if (which == 9 && step % 2 == 0) handler.applyYield(a);
            else if (which == 9) handler.claimYield(a);
            else if (which == 10) handler.warp(b);
            else handler.movePrice(a, b);
            invariant_total_borrowed_le_total_supplied();
            invariant_balance_plus_borrows_covers_supplies();
            invariant_shares_sum_to_totals();
            invariant_no_action_without_time_makes_healthy_unhealthy();
            invariant_liquidation_below_inverse_incentive_leaves_healthier();
            invariant_actions_fail_only_with_expected_errors();
            if (step % 25 == 0) invariant_borrower_can_repay_all_after_applying_yield();
        }
        // A crash at the end: every actor borrows to the cap, the price halves twice, liquidators take
        // everything; underwater positions leave bad debt.
        if (valuation.frozenOf(assetId)) valuation.setFrozen(assetId, false);
        for (uint256 i; i < actors.length; ++i) {
            handler.supply(i, 1_000_000 * USD);
            handler.supplyCollateral(i, type(uint256).max);
            handler.borrow(i, 0);
        }
        handler.movePrice(0, 1);
        handler.movePrice(0, 1);
        for (uint256 i; i < actors.length; ++i) {
            handler.liquidate(i + 1, i, 0, true);
        }
        invariant_total_borrowed_le_total_supplied();
        invariant_balance_plus_borrows_covers_supplies();
        invariant_shares_sum_to_totals();
        invariant_no_action_without_time_makes_healthy_unhealthy();
        invariant_liquidation_below_inverse_incentive_leaves_healthier();
        invariant_actions_fail_only_with_expected_errors();
        invariant_borrower_can_repay_all_after_applying_yield();

        string[12] memory names = [
            "supply",
            "withdraw",
            "supplyCollateral",
            "withdrawCollateral",
            "borrow",
            "repay",
            "liquidate",
            "payYield",
            "applyYield",
            "claimYield",
            "warp",
            "movePrice"
        ];
        for (uint256 i; i < names.length; ++i) {
            assertGt(handler.successes(keccak256(bytes(names[i]))), 0, string.concat("reached: ", names[i]));
        }
        assertGt(handler.ghost_unhealthyFound(), 0, "unhealthy positions found");
        assertGt(handler.ghost_liquidationsBelowInverseLif(), 0, "liquidations below 1/LIF happened");
        assertGt(handler.ghost_liquidationsStrictlyHealthier(), 0, "some left strictly healthier");
        assertGt(handler.ghost_badDebtEvents(), 0, "bad debt written off");
        assertGt(handler.ghost_interest(), 0, "interest accrued");
    }
}
