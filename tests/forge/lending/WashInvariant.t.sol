// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

import {WashFixture} from "./WashFixture.sol";
import {WashHandler} from "./handlers/WashHandler.sol";

/// @notice Issue 9, item 1, as invariants: a washer beside honest lessees, a lender and an honest borrower
/// (WashHandler), on the real YieldValuation and LendingMarket with the demo's guarded settings.
contract WashInvariantTest is WashFixture {
    WashHandler internal handler;

    function setUp() public {
        _deployWashWorld(5_000, _guardedParams());
        handler = new WashHandler(
            leases, valuation, market, assetId, washer, holder, lender, HONEST_GROSS, HONEST_NET
        );
        vm.startPrank(admin);
        coin.mint(lender, 1_000_000_000 * USD);
        vm.stopPrank();
        vm.prank(holder);
        token.approve(address(market), type(uint256).max);

        targetContract(address(handler));
        bytes4[] memory selectors = new bytes4[](7);
        selectors[0] = WashHandler.advance.selector;
        selectors[1] = WashHandler.advance.selector; // time passes often: long washes
        selectors[2] = WashHandler.anchor.selector;
        selectors[3] = WashHandler.washerBorrowMax.selector;
        selectors[4] = WashHandler.honestBorrow.selector;
        selectors[5] = WashHandler.supply.selector;
        selectors[6] = WashHandler.withdraw.selector;
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
    }

    /// Walking away never pays: what the washer owes (all it borrowed, with interest, less what its shares'
    /// yield repaid) stays below what it leaves the lenders (its shares at their honest value) plus what its
    /// washes cost it.
    function invariant_washer_debt_lt_honest_collateral_value_plus_wash_cost() public view {
        uint256 shares = token.balanceOf(washer) + market.positionOf(washer).collateral;
        uint256 honestValue = Math.mulDiv(shares, FAIR_PRICE, SHARE);
        assertLt(market.debtOf(washer), honestValue + handler.ghost_washCost(), "a wash never pays");
    }

    /// The price never passes the rise ceiling that grows from the fair price at 50% a year (weekly snapshots),
    /// however the washer leases, and never falls below the fair price (the honest leases never stop).
    function invariant_price_within_fair_and_rise_ceiling() public view {
        (uint256 price,) = valuation.quote(assetId);
        assertLe(price, _ceilingAfter(_epoch() - startEpoch), "at most the ceiling");
        assertGe(price, FAIR_PRICE, "never below the honest price");
    }

    /// Every borrow the handler predicted to succeed did.
    function invariant_no_unexpected_revert() public view {
        assertEq(handler.ghost_unexpectedReverts(), 0, "unexpected reverts");
    }

    /// Concrete twin of the campaign: one wash epoch at 20x, an anchoring, an honest epoch, the washer borrowing
    /// all it can, the honest holder borrowing, the lender in and out; every invariant holds after it.
    function test_handler_reaches_every_action_concrete() public {
        handler.advance(8, 40 * USD);
        handler.anchor();
        handler.advance(0, 1);
        handler.washerBorrowMax();
        handler.honestBorrow(1_000 * USD);
        handler.supply(1_000 * USD);
        handler.withdraw(500 * USD);
        assertEq(handler.ghost_epochs(), 2, "two epochs");
        assertEq(handler.ghost_washNet(), 288 * USD, "one wash epoch: 8 x $40 x 90%");
        assertEq(handler.ghost_washCost(), 144 * USD, "half of it is the other holder's");
        assertGt(handler.ghost_washerBorrowed(), 0, "the washer borrowed");
        assertGt(market.debtOf(holder), 0, "the honest holder borrowed");
        invariant_washer_debt_lt_honest_collateral_value_plus_wash_cost();
        invariant_price_within_fair_and_rise_ceiling();
        invariant_no_unexpected_revert();
    }
}
