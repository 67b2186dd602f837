// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {VenueFixture} from "./VenueFixture.sol";
import {VenueHandler} from "./handlers/VenueHandler.sol";

/// @notice Invariants of the venue's H100 market under random sequences of orders, cancels, taker buys and sells,
/// revenue deposits, withdrawals, expiry and a trader losing and regaining its verification (see VenueHandler).
contract VenueInvariantTest is VenueFixture {
    VenueHandler internal handler;

    function setUp() public {
        _deployVenue();
        address[] memory traders = new address[](4);
        traders[0] = _trader("alice", 400 * SHARE, 1e9 * USD);
        traders[1] = _trader("bob", 300 * SHARE, 1e9 * USD);
        traders[2] = _trader("carol", 200 * SHARE, 1e9 * USD);
        traders[3] = _trader("dave", 100 * SHARE, 1e9 * USD);
        handler = new VenueHandler(venue, shares, coin, investors, compliance, lessee, traders);
        vm.startPrank(admin);
        coin.grantRole(coin.MINTER_ROLE(), lessee);
        vm.stopPrank();

        targetContract(address(handler));
        bytes4[] memory selectors = new bytes4[](9);
        selectors[0] = VenueHandler.placeAsk.selector;
        selectors[1] = VenueHandler.placeBid.selector;
        selectors[2] = VenueHandler.cancel.selector;
        selectors[3] = VenueHandler.buy.selector;
        selectors[4] = VenueHandler.sell.selector;
        selectors[5] = VenueHandler.deposit.selector;
        selectors[6] = VenueHandler.withdraw.selector;
        selectors[7] = VenueHandler.toggleVerification.selector;
        selectors[8] = VenueHandler.warp.selector;
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
    }

    /// The venue holds exactly the resting bids' escrow, the proceeds it owes and its revenue reserve in stablecoin.
    function invariant_escrowed_stablecoin_equals_venue_balance() public view {
        (uint256 coinEscrow,) = handler.escrowed();
        assertEq(
            coin.balanceOf(address(venue)),
            coinEscrow + handler.sumProceeds() + venue.revenueReserveOf(book),
            "stablecoin = bids + proceeds + reserve"
        );
    }

    /// The venue holds exactly the resting asks' shares.
    function invariant_escrowed_shares_equal_venue_balance() public view {
        (, uint256 shareEscrow) = handler.escrowed();
        assertEq(shares.balanceOf(address(venue)), shareEscrow, "shares = asks");
    }

    /// No order was ever filled beyond its size, nor at a price outside the taker's limit.
    function invariant_no_fill_beyond_size_or_outside_limit() public view {
        assertEq(handler.ghost_overfilled(), 0, "filled beyond size");
        assertEq(handler.ghost_outsideLimit(), 0, "filled outside the limit");
    }

    /// No fill ever delivered shares to an address that could not hold them at that moment.
    function invariant_fills_never_deliver_to_unverified() public view {
        assertEq(handler.ghost_deliveredToUnverified(), 0, "delivered to an unverified address");
    }

    /// What the venue may still have to forward is covered by what it holds and what the token owes it.
    function invariant_revenue_reserve_covers_pending_revenue() public view {
        assertGe(
            venue.revenueReserveOf(book) + shares.claimable(address(venue)),
            handler.pendingRevenue(address(0)),
            "reserve + claimable >= pending"
        );
    }

    /// Revenue across trades, against the distribution: each trader gets (from the token, forwarded by the venue,
    /// or still pending on its resting asks) what holding its shares itself would have paid, never more, and less
    /// only by rounding: one unit for the token's own floor and one per fill or cancel of its asks.
    function invariant_escrowed_shares_earn_their_makers_revenue() public view {
        address[] memory traders = handler.traders();
        for (uint256 i; i < traders.length; ++i) {
            address t = traders[i];
            uint256 got = shares.accumulatedRevenueOf(t) + handler.ghost_forwarded(t) + handler.pendingRevenue(t);
            uint256 entitled = handler.ghost_entitledMagnified(t) / MAGNITUDE;
            assertLe(got, entitled, "paid more than holding would");
            assertLe(entitled - got, 1 + handler.ghost_revenueLegs(t) + handler.openAsksOf(t), "revenue lost");
        }
    }

    /// Concrete twin of the campaign: every path once, with the checks above after each step.
    function test_handler_reaches_every_path_concrete() public {
        handler.placeAsk(0, 0, 50 * SHARE, 0); // order 1: alice asks 50 at 97
        handler.placeBid(1, 4, 20 * SHARE, 0); // order 2: bob bids 20 at 103.000004
        handler.placeBid(3, 4, 10 * SHARE, 0); // order 3: dave bids 10
        handler.deposit(1_000 * USD); // revenue while alice's 50 rest in escrow
        for (uint256 pick; pick < 8; ++pick) {
            handler.buy(2, pick, 4, 5 * SHARE, 50_000 * USD); // carol buys: some picks include the ask
        }
        handler.toggleVerification(); // dave revoked
        for (uint256 pick; pick < 8; ++pick) {
            handler.sell(0, pick, 0, 3 * SHARE); // alice sells into bids; dave's is skipped
        }
        handler.deposit(777);
        handler.cancel(0); // alice cancels what is left
        handler.withdraw(0);
        handler.toggleVerification(); // dave verified again
        handler.warp(2 days);
        handler.buy(1, 1, 4, 1 * SHARE, 1_000 * USD); // everything expired: nothing filled

        assertGt(handler.ghost_fills(), 0, "some fills");
        assertGt(handler.ghost_deposits(), 1, "deposits");
        invariant_escrowed_stablecoin_equals_venue_balance();
        invariant_escrowed_shares_equal_venue_balance();
        invariant_no_fill_beyond_size_or_outside_limit();
        invariant_fills_never_deliver_to_unverified();
        invariant_revenue_reserve_covers_pending_revenue();
        invariant_escrowed_shares_earn_their_makers_revenue();
    }
}
