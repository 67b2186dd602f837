// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IShareVenue} from "../../../contracts/interfaces/IShareVenue.sol";
import {VenueFixture} from "./VenueFixture.sol";

/// @notice Fuzzed fills of one order: never beyond its size, never outside the taker's limits, every split of
/// an order paying exactly its whole value, and revenue on escrowed shares matching holding them. Each fuzz
/// test has a concrete twin.
contract VenueFuzzTest is VenueFixture {
    address internal maker;
    address internal taker;

    function setUp() public {
        _deployVenue();
        maker = _trader("maker", 1e9 * SHARE, 1e28);
        taker = _trader("taker", 1e9 * SHARE, 1e28); // enough for 1e9 shares at MAX_PRICE
    }

    /* A taker buying from one ask */

    function testFuzz_buy_never_exceeds_size_budget_or_limit(
        uint256 price,
        uint256 size,
        uint256 maxShares,
        uint256 maxSpend
    ) public {
        price = bound(price, 1, MAX_PRICE);
        size = bound(size, 1, 1e9 * SHARE);
        maxShares = bound(maxShares, 1, 2e9 * SHARE);
        maxSpend = bound(maxSpend, 1, 2 * _valueUp(size, price));
        _checkBuy(price, size, maxShares, maxSpend);
    }

    function test_buy_never_exceeds_size_budget_or_limit_concrete() public {
        _checkBuy(1_234_567, 10 * SHARE + 1, 4 * SHARE, 3 * USD); // budget-bound: 2.43 shares
        _checkBuy(1, 1, 1, 1); // the smallest order
        _checkBuy(MAX_PRICE, 1e8 * SHARE, 2e9 * SHARE, type(uint256).max); // the largest, filled whole
    }

    function _checkBuy(uint256 price, uint256 size, uint256 maxShares, uint256 maxSpend) internal {
        uint256 id = _place(maker, IShareVenue.Side.Sell, price, size);
        uint256 coinBefore = coin.balanceOf(taker);
        vm.prank(taker);
        try venue.buy(book, _ids(id), uint128(price), maxShares, maxSpend) returns (uint256 bought, uint256 spent) {
            assertLe(bought, size, "beyond size");
            assertLe(bought, maxShares, "beyond share cap");
            assertLe(spent, maxSpend, "beyond budget");
            assertLe(spent, _valueUp(bought, price), "above the limit price");
            assertEq(spent, _valueUp(size, price) - _valueUp(size - bought, price), "value of the fill");
            assertEq(venue.orderOf(book, id).remaining, size - bought, "remaining");
            assertEq(coinBefore - coin.balanceOf(taker), spent, "taker paid");
            assertEq(venue.proceedsOf(maker), spent, "maker credited");
        } catch (bytes memory reason) {
            // Only a budget too small for one share unit can fill nothing.
            assertEq(bytes4(reason), IShareVenue.NothingFilled.selector, "unexpected revert");
            assertLt(maxSpend * SHARE, price, "nothing filled although affordable");
        }
        _reset(id);
    }

    /// @dev Cancels what is left of `id` and withdraws the maker's proceeds, so the next check starts clean.
    function _reset(uint256 id) internal {
        bool resting = venue.orderOf(book, id).maker != address(0);
        vm.startPrank(maker);
        if (resting) venue.cancelOrder(book, id);
        if (venue.proceedsOf(maker) != 0) venue.withdrawProceeds();
        vm.stopPrank();
    }

    /* Splitting a bid */

    function testFuzz_split_fills_of_a_bid_sum_to_its_escrow(uint256 price, uint256 size, uint256 seed) public {
        price = bound(price, 1, MAX_PRICE);
        size = bound(size, 2, 1e9 * SHARE);
        _checkSplits(price, size, seed);
    }

    function test_split_fills_of_a_bid_sum_to_its_escrow_concrete() public {
        _checkSplits(1_000_001, 3 * SHARE / 2, 7);
        _checkSplits(3, 5, 11);
    }

    function _checkSplits(uint256 price, uint256 size, uint256 seed) internal {
        uint256 id = _place(maker, IShareVenue.Side.Buy, price, size);
        uint256 escrow = _valueUp(size, price);
        assertEq(coin.balanceOf(address(venue)), escrow, "escrowed");
        uint256 received;
        uint256 left = size;
        for (uint256 i; left != 0; ++i) {
            uint256 part = i == 4 ? left : bound(uint256(keccak256(abi.encode(seed, i))), 1, left);
            vm.prank(taker);
            (uint256 sold, uint256 paid) = venue.sell(book, _ids(id), uint128(price), part);
            assertEq(sold, part, "sold");
            assertGe(paid * SHARE + SHARE, sold * price, "paid at least the limit, less rounding");
            received += paid;
            left -= part;
        }
        assertEq(received, escrow, "the parts sum to the escrow");
        assertEq(coin.balanceOf(address(venue)), 0, "nothing left behind");
    }

    /* Revenue on escrowed shares */

    function testFuzz_escrowed_shares_earn_what_holding_them_would(
        uint256 size,
        uint256 firstDeposit,
        uint256 fillPart,
        uint256 secondDeposit
    ) public {
        size = bound(size, 1, 1e9 * SHARE);
        firstDeposit = bound(firstDeposit, 1, 1e12 * USD);
        fillPart = bound(fillPart, 1, size);
        secondDeposit = bound(secondDeposit, 1, 1e12 * USD);
        _checkRevenue(size, firstDeposit, fillPart, secondDeposit);
    }

    function test_escrowed_shares_earn_what_holding_them_would_concrete() public {
        _checkRevenue(100 * SHARE, 1_000 * USD, 40 * SHARE, 1_000 * USD);
        _checkRevenue(1, 1, 1, 1);
    }

    function _checkRevenue(uint256 size, uint256 firstDeposit, uint256 fillPart, uint256 secondDeposit) internal {
        uint256 venueBefore = shares.accumulatedRevenueOf(address(venue));
        uint256 id = _place(maker, IShareVenue.Side.Sell, USD, size);
        uint256 perShare0 = shares.magnifiedRevenuePerShare();
        _deposit(firstDeposit);
        uint256 perShare1 = shares.magnifiedRevenuePerShare();
        vm.prank(taker);
        venue.buy(book, _ids(id), uint128(USD), fillPart, type(uint256).max);
        _deposit(secondDeposit);
        uint256 perShare2 = shares.magnifiedRevenuePerShare();
        if (fillPart < size) {
            vm.prank(maker);
            venue.cancelOrder(book, id);
        }
        uint256 forwarded = venue.proceedsOf(maker) - (_valueUp(size, USD) - _valueUp(size - fillPart, USD));
        // Exactly the floors of the escrowed shares' magnified entitlement, per leg.
        uint256 expected = fillPart * (perShare1 - perShare0) / MAGNITUDE
            + (size - fillPart) * (perShare2 - perShare0) / MAGNITUDE;
        assertEq(forwarded, expected, "forwarded revenue");
        // The venue never credits more than the token paid it for these shares, and keeps at most a unit per leg.
        uint256 earned = shares.accumulatedRevenueOf(address(venue)) - venueBefore;
        assertGe(earned, forwarded, "venue solvent");
        assertLe(earned - forwarded, 2, "at most a unit per leg left behind");
        _reset(id);
    }
}
