// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {SharesFixture} from "./SharesFixture.sol";
import {SharesHandler} from "./handlers/SharesHandler.sol";

/// @notice Invariants of one asset's share token under random sequences of deposits, subscriptions,
/// transfers, claims, proceeds withdrawals and a holder frozen by the stablecoin (see SharesHandler).
/// The round sells at 1.234567 dev-USD per share, so that subscription costs round.
contract SharesInvariantTest is SharesFixture {
    SharesHandler internal handler;

    function setUp() public {
        _deploySuite(address(0));
        _openOffering(uint128(1_234_567));
        address[] memory holders = new address[](4);
        holders[0] = makeAddr("alice");
        holders[1] = makeAddr("bob");
        holders[2] = makeAddr("carol");
        holders[3] = makeAddr("frozen-dave");
        for (uint256 i; i < holders.length; ++i) {
            _verify(holders[i]);
            // An unlimited allowance: the stablecoin then never re-approves inside transferFrom, so a frozen
            // holder's subscription fails on the frozen balance itself (AccountBlocklisted).
            vm.prank(holders[i]);
            coin.approve(address(shares), type(uint256).max);
        }
        handler = new SharesHandler(shares, coin, operator, lessee, holders);
        vm.startPrank(admin);
        coin.grantRole(coin.MINTER_ROLE(), address(handler));
        coin.grantRole(coin.BLOCKLISTER_ROLE(), address(handler));
        vm.stopPrank();

        targetContract(address(handler));
        bytes4[] memory selectors = new bytes4[](6);
        selectors[0] = SharesHandler.deposit.selector;
        selectors[1] = SharesHandler.subscribe.selector;
        selectors[2] = SharesHandler.transfer.selector;
        selectors[3] = SharesHandler.claim.selector;
        selectors[4] = SharesHandler.withdrawProceeds.selector;
        selectors[5] = SharesHandler.toggleFreeze.selector;
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
    }

    /// Nobody is ever owed, in all, more than was deposited.
    function invariant_claimed_plus_claimable_le_deposited() public view {
        assertLe(shares.totalClaimed() + handler.sumClaimable(), shares.totalDeposited(), "claimed + claimable");
    }

    /// Rounding leaves behind less than one base unit per holder per deposit (revenue held while no whole share
    /// existed is not dust: it is the operator's).
    function invariant_dust_below_one_unit_per_holder_per_deposit() public view {
        uint256 dust =
            shares.totalDeposited() - shares.totalClaimed() - handler.sumClaimable() - shares.heldRevenue();
        assertLe(dust, handler.holderCount() * handler.ghost_deposits(), "dust <= holders * deposits");
    }

    /// Stronger, thanks to the carried remainder: the dust never exceeds one unit per holder, however many
    /// deposits there were.
    function invariant_dust_at_most_one_unit_per_holder_overall() public view {
        uint256 dust =
            shares.totalDeposited() - shares.totalClaimed() - handler.sumClaimable() - shares.heldRevenue();
        assertLe(dust, handler.holderCount(), "dust <= holders");
    }

    /// The token holds enough stablecoin to pay every claim and the operator's proceeds at once; exactly the
    /// proceeds plus the revenue not yet claimed.
    function invariant_token_balance_covers_claimable_and_proceeds() public view {
        uint256 balance = coin.balanceOf(address(shares));
        assertGe(
            balance, handler.sumClaimable() + shares.proceedsOutstanding() + shares.heldRevenue(), "balance covers"
        );
        assertEq(
            balance,
            shares.proceedsOutstanding() + shares.totalDeposited() - shares.totalClaimed(),
            "balance = proceeds + unclaimed revenue"
        );
    }

    /// Shares are only minted to, and moved between, the four holders.
    function invariant_supply_equals_sum_of_balances() public view {
        assertEq(shares.totalSupply(), handler.sumBalances(), "supply = sum of balances");
        assertEq(shares.totalSupply(), handler.ghost_subscribedShares(), "supply = shares subscribed");
    }

    /// The contract's totals are the handler's: every deposit and claim counted once.
    function invariant_totals_match_the_ghosts() public view {
        assertEq(shares.totalDeposited(), handler.ghost_deposited(), "deposited");
        assertEq(shares.totalClaimed(), handler.ghost_claimed(), "claimed");
    }

    /// Every action ended as predicted: exact amounts, exact errors, the frozen holder failing alone, and
    /// transfers leaving both sides' earned revenue untouched.
    function invariant_every_outcome_as_predicted() public view {
        assertEq(handler.ghost_unexpected(), 0, "unexpected outcomes");
    }

    /// Concrete twin of the campaign: one deterministic sequence through every path the invariants rely on:
    /// a held deposit, subscriptions, a freeze, the frozen holder's failed claim and failed subscription while
    /// another holder claims, the unfreeze and the late claim, a transfer and the proceeds.
    function test_handler_reaches_every_path_concrete() public {
        handler.deposit(1); // no shares yet: held
        handler.subscribe(3, 100e18 + 1); // the holder that will be frozen
        handler.subscribe(0, 100e18 + 1);
        handler.deposit(1_000_001); // distributed; the held unit stays the operator's
        handler.toggleFreeze();
        handler.claim(3); // frozen: AccountBlocklisted
        handler.claim(0); // alice is paid regardless
        handler.subscribe(3, 1e18 + 1); // frozen: AccountBlocklisted
        handler.claim(1); // bob holds nothing: NothingToClaim
        handler.toggleFreeze();
        handler.claim(3); // paid in full after the unfreeze
        handler.transfer(0, 2, 50e18);
        handler.withdrawProceeds();
        handler.withdrawProceeds(); // nothing left: ZeroAmount

        assertEq(handler.ghost_unexpected(), 0, "unexpected outcomes");
        assertEq(handler.ghost_heldDeposits(), 1, "held deposit");
        assertEq(handler.ghost_frozenClaims(), 1, "frozen claim refused");
        assertEq(handler.ghost_claimsWhileOneFrozen(), 1, "others claim while one is frozen");
        assertEq(shares.heldRevenue(), 1, "held revenue stays the operator's");
        assertEq(shares.claimable(makeAddr("frozen-dave")), 0, "frozen holder paid after the unfreeze");
        assertEq(shares.totalClaimed(), handler.ghost_claimed(), "claimed");
        assertLe(shares.totalDeposited() - shares.totalClaimed() - handler.sumClaimable(), 4, "dust");
        invariant_claimed_plus_claimable_le_deposited();
        invariant_dust_at_most_one_unit_per_holder_overall();
        invariant_token_balance_covers_claimable_and_proceeds();
        invariant_supply_equals_sum_of_balances();
    }
}
