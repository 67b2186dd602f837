// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {SharesFixture} from "./SharesFixture.sol";

/// @notice Fuzz tests of the revenue accumulator's maths on the real contracts, each with a concrete twin.
/// Inputs are bounded to meaningful ranges: holdings up to a billion shares, deposits up to a billion dev-USD
/// (far beyond one GPU asset's revenue, far inside the accumulator's overflow margin).
contract SharesDistributionTest is SharesFixture {
    uint256 internal constant MAX_HOLDING = 1e9 * SHARE;
    uint256 internal constant MAX_DEPOSIT = 1e9 * USD;

    address[4] internal holders;

    function setUp() public {
        _deploySuite(address(0));
        _openOffering(uint128(USD)); // one dev-USD per share
        holders = [makeAddr("alice"), makeAddr("bob"), makeAddr("carol"), makeAddr("dave")];
        for (uint256 i; i < holders.length; ++i) {
            _verify(holders[i]);
        }
    }

    /* PRO-RATA SPLIT */

    /// One deposit among up to four arbitrary holdings: each holder gets its exact pro-rata share rounded down,
    /// at most one unit less, never more; all together lose at most one unit per holder.
    function testFuzz_deposit_splits_pro_rata_within_dust(uint256[4] memory seeds, uint256 amount) public {
        uint256[4] memory balances;
        balances[0] = bound(seeds[0], SHARE, MAX_HOLDING); // at least one whole share: the deposit distributes
        for (uint256 i = 1; i < 4; ++i) {
            balances[i] = bound(seeds[i], 0, MAX_HOLDING);
        }
        amount = bound(amount, 1, MAX_DEPOSIT);
        _checkProRata(balances, amount);
    }

    function test_deposit_splits_pro_rata_within_dust_concrete() public {
        // 300 / 100 / 600 shares and 1,000 dev-USD: exact, no dust.
        _checkProRata([300 * SHARE, 100 * SHARE, 600 * SHARE, uint256(0)], 1_000 * USD);
        assertEq(shares.claimable(holders[0]), 300 * USD, "alice");
        assertEq(shares.claimable(holders[1]), 100 * USD, "bob");
        assertEq(shares.claimable(holders[2]), 600 * USD, "carol");
        assertEq(shares.claimable(holders[3]), 0, "dave holds nothing");
    }

    function test_deposit_splits_pro_rata_within_dust_concrete_with_rounding() public {
        // Three equal holders and 100 units: 33 each, one unit of dust (carried, see below).
        _checkProRata([SHARE, SHARE, SHARE, uint256(0)], 100);
        assertEq(shares.claimable(holders[0]), 33, "alice");
        assertEq(_claimableSum(_holderList()), 99, "one unit of dust");
    }

    function _checkProRata(uint256[4] memory balances, uint256 amount) internal {
        uint256 supply;
        uint256 funded;
        for (uint256 i; i < 4; ++i) {
            if (balances[i] == 0) continue;
            _subscribe(holders[i], balances[i]);
            supply += balances[i];
            ++funded;
        }
        _deposit(amount);

        uint256 paid;
        for (uint256 i; i < 4; ++i) {
            uint256 ideal = _mulDivDown(amount, balances[i], supply);
            uint256 got = shares.claimable(holders[i]);
            assertLe(got, ideal, "never more than the exact share");
            assertLe(ideal, got + 1, "at most one unit less than the exact share");
            paid += got;
        }
        assertLe(paid, amount, "never more than deposited");
        assertLe(amount - paid, funded, "dust at most one unit per holder");
        assertEq(shares.totalDeposited(), amount, "totalDeposited");
    }

    /* CARRY ACROSS DEPOSITS */

    /// Many deposits, some tiny: the magnified remainder of each is carried into the next, so with a fixed
    /// supply every holder ends with exactly what one deposit of the sum would have paid it, and the dust
    /// stays under one unit per holder however many deposits there were.
    function testFuzz_carry_across_deposits_loses_nothing(uint256[3] memory seeds, uint256[8] memory amounts)
        public
    {
        uint256[3] memory balances;
        balances[0] = bound(seeds[0], SHARE, MAX_HOLDING);
        balances[1] = bound(seeds[1], 1, MAX_HOLDING);
        balances[2] = bound(seeds[2], 1, MAX_HOLDING);
        uint256[] memory deposits = new uint256[](8);
        for (uint256 i; i < 8; ++i) {
            // half the deposits are a few base units: the ones rounding would eat without the carry
            deposits[i] = amounts[i] % 2 == 0 ? bound(amounts[i], 1, 1_000) : bound(amounts[i], 1, MAX_DEPOSIT);
        }
        _checkCarry(balances, deposits);
    }

    function test_carry_across_deposits_loses_nothing_concrete() public {
        // Three equal holders and three deposits of one unit: nothing after the first two, one each after the third.
        uint256[] memory deposits = new uint256[](3);
        (deposits[0], deposits[1], deposits[2]) = (1, 1, 1);
        _checkCarry([SHARE, SHARE, SHARE], deposits);
        for (uint256 i; i < 3; ++i) {
            assertEq(shares.claimable(holders[i]), 1, "one unit each");
        }
    }

    function _checkCarry(uint256[3] memory balances, uint256[] memory deposits) internal {
        uint256 supply;
        for (uint256 i; i < 3; ++i) {
            _subscribe(holders[i], balances[i]);
            supply += balances[i];
        }
        uint256 total;
        for (uint256 i; i < deposits.length; ++i) {
            _deposit(deposits[i]);
            total += deposits[i];
        }
        uint256 perShare = total * MAGNITUDE / supply; // one deposit of the sum
        assertEq(shares.magnifiedRevenuePerShare(), perShare, "accumulator as if one deposit");
        uint256 paid;
        for (uint256 i; i < 3; ++i) {
            uint256 got = shares.claimable(holders[i]);
            assertEq(got, perShare * balances[i] / MAGNITUDE, "as if one deposit of the sum");
            paid += got;
        }
        assertLe(paid, total, "never more than deposited");
        assertLe(total - paid, 3, "dust under one unit per holder, not per deposit");
    }

    /* TRANSFER BETWEEN DEPOSITS */

    /// A deposit, a transfer of any part of the sender's holding, another deposit: revenue deposited before
    /// the transfer stays with the sender, revenue after it follows the shares, exactly (checkpointed), and
    /// nobody gets more than two units away from its exact share of the two deposits.
    function testFuzz_transfer_between_deposits_keeps_entitlements(
        uint256 a,
        uint256 b,
        uint256 c,
        uint256 moved,
        uint256 first,
        uint256 second
    ) public {
        a = bound(a, SHARE, MAX_HOLDING);
        b = bound(b, 0, MAX_HOLDING);
        c = bound(c, 0, MAX_HOLDING);
        moved = bound(moved, 0, a);
        first = bound(first, 1, MAX_DEPOSIT);
        second = bound(second, 1, MAX_DEPOSIT);
        _checkTransfer(a, b, c, moved, first, second);
    }

    function test_transfer_between_deposits_keeps_entitlements_concrete() public {
        // Alice 300, Bob 100, Carol 600; 1,000 dev-USD; Alice sends Bob all 300; 1,000 dev-USD more.
        _checkTransfer(300 * SHARE, 100 * SHARE, 600 * SHARE, 300 * SHARE, 1_000 * USD, 1_000 * USD);
        assertEq(shares.claimable(holders[0]), 300 * USD, "alice keeps the first deposit's share");
        assertEq(shares.claimable(holders[1]), 100 * USD + 400 * USD, "bob");
        assertEq(shares.claimable(holders[2]), 1_200 * USD, "carol unaffected");
    }

    /// @dev The case's inputs and what the run observed (a struct: too many values for the stack).
    struct TransferCase {
        uint256 a;
        uint256 b;
        uint256 c;
        uint256 moved;
        uint256 first;
        uint256 second;
        uint256 p1;
        uint256 p2;
    }

    function _checkTransfer(uint256 a, uint256 b, uint256 c, uint256 moved, uint256 first, uint256 second)
        internal
    {
        TransferCase memory t = TransferCase(a, b, c, moved, first, second, 0, 0);
        (address alice, address bob, address carol) = (holders[0], holders[1], holders[2]);
        _subscribe(alice, t.a);
        if (t.b != 0) _subscribe(bob, t.b);
        if (t.c != 0) _subscribe(carol, t.c);

        _deposit(t.first);
        t.p1 = shares.magnifiedRevenuePerShare();
        uint256 aliceBefore = shares.accumulatedRevenueOf(alice);
        uint256 bobBefore = shares.accumulatedRevenueOf(bob);
        vm.prank(alice);
        shares.transfer(bob, t.moved);
        assertEq(shares.accumulatedRevenueOf(alice), aliceBefore, "sender checkpointed");
        assertEq(shares.accumulatedRevenueOf(bob), bobBefore, "receiver checkpointed");

        _deposit(t.second);
        t.p2 = shares.magnifiedRevenuePerShare() - t.p1;

        // Exact: the accumulator over each holding while it was held.
        assertEq(shares.claimable(alice), (t.p1 * t.a + t.p2 * (t.a - t.moved)) / MAGNITUDE, "alice exact");
        assertEq(shares.claimable(bob), (t.p1 * t.b + t.p2 * (t.b + t.moved)) / MAGNITUDE, "bob exact");
        assertEq(shares.claimable(carol), (t.p1 + t.p2) * t.c / MAGNITUDE, "carol exact");

        // Close to the ideal split of each deposit over the holdings of its time.
        uint256 supply = t.a + t.b + t.c;
        _assertNear(shares.claimable(alice), t.first * t.a / supply + t.second * (t.a - t.moved) / supply, 2, "alice");
        _assertNear(shares.claimable(bob), t.first * t.b / supply + t.second * (t.b + t.moved) / supply, 2, "bob");
        uint256 paid = shares.claimable(alice) + shares.claimable(bob) + shares.claimable(carol);
        assertLe(paid, t.first + t.second, "never more than deposited");
        assertLe(t.first + t.second - paid, 3, "dust under one unit per holder");
    }

    /* HELD REVENUE */

    /// Revenue deposited while the supply is below one whole share is held for the operator: however the first
    /// holders time their purchases and deposits, the next deposit once the supply has reached a share
    /// distributes only its own amount, and the operator alone withdraws what was held (issue 9: before, the
    /// next deposit distributed the held revenue too, so whoever held the first share took all of it).
    function testFuzz_held_revenue_goes_to_the_operator_not_the_first_holders(
        uint256 early,
        uint256 held,
        uint256 later,
        uint256 next
    ) public {
        early = bound(early, 0, SHARE - 1);
        held = bound(held, 1, MAX_DEPOSIT);
        later = bound(later, SHARE - early, MAX_HOLDING);
        next = bound(next, 1, MAX_DEPOSIT);
        _checkHeld(early, held, later, next);
    }

    function test_held_revenue_goes_to_the_operator_not_the_first_holders_concrete() public {
        _checkHeld(0, 70 * USD, 40 * SHARE, 30 * USD);
        assertEq(shares.claimable(holders[1]), 30 * USD, "only the deposit made while it held shares");
    }

    function _checkHeld(uint256 early, uint256 held, uint256 later, uint256 next) internal {
        if (early != 0) _subscribe(holders[0], early);
        _deposit(held);
        assertEq(shares.heldRevenue(), held, "held");
        assertEq(shares.magnifiedRevenuePerShare(), 0, "not distributed");
        assertEq(shares.claimable(holders[0]), 0, "nobody is paid yet");

        _subscribe(holders[1], later);
        _deposit(next);
        assertEq(shares.heldRevenue(), held, "still held, for the operator");
        uint256 supply = early + later;
        uint256 got0 = shares.claimable(holders[0]);
        uint256 got1 = shares.claimable(holders[1]);
        _assertNear(got0, next * early / supply, 1, "early holder: its part of the later deposit");
        _assertNear(got1, next * later / supply, 1, "later holder: its part of the later deposit");
        assertLe(next - got0 - got1, 2, "nothing lost");

        uint256 before = money.balanceOf(operator);
        vm.prank(operator);
        assertEq(shares.withdrawHeldRevenue(operator), held, "withdrawn");
        assertEq(money.balanceOf(operator) - before, held, "the operator is paid what was held");
        assertEq(shares.heldRevenue(), 0, "nothing left held");
    }

    /* HELPERS */

    function _holderList() internal view returns (address[] memory list) {
        list = new address[](4);
        for (uint256 i; i < 4; ++i) {
            list[i] = holders[i];
        }
    }

    function _assertNear(uint256 got, uint256 ideal, uint256 tolerance, string memory what) internal pure {
        assertApproxEqAbs(got, ideal, tolerance, what);
    }
}
