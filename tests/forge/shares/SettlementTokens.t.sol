// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import {IAssetShares} from "../../../contracts/interfaces/IAssetShares.sol";
import {NoBoolToken} from "../../../contracts/test/NoBoolToken.sol";
import {Token18} from "../../../contracts/test/Token18.sol";
import {SharesFixture} from "./SharesFixture.sol";

/// @notice The asset layer with settlement tokens other than the 6-decimal DevStablecoin: an 18-decimal token
/// and a USDT-style token whose transfer/transferFrom/approve return nothing. Offering, deposit, claims and
/// proceeds must work the same, in the token's own units.
abstract contract SettlementTokenCase is SharesFixture {
    address internal alice = makeAddr("alice");
    address internal bob = makeAddr("bob");
    uint256 internal unit; // one whole token in base units

    function _token() internal virtual returns (address);

    function _fund(address to, uint256 amount) internal override {
        Token18(address(money)).mint(to, amount); // both test tokens have the same open `mint`
    }

    function setUp() public {
        address token = _token();
        _deploySuite(token);
        unit = 10 ** _decimals(token);
        _verify(alice);
        _verify(bob);
    }

    function test_offering_deposit_claims_and_proceeds_in_the_token_units() public {
        uint256 price = 100 * unit + 1; // an odd price: costs round up in the token's own decimals
        _openOffering(uint128(price));
        uint256 costAlice = _subscribe(alice, 300 * SHARE);
        uint256 costBob = _subscribe(bob, 100 * SHARE / 3);
        assertEq(costAlice, 300 * price, "exact cost");
        assertEq(costBob, (100 * SHARE / 3 * price + SHARE - 1) / SHARE, "cost rounded up");
        assertEq(money.balanceOf(address(shares)), costAlice + costBob, "proceeds held");

        _deposit(1_000 * unit);
        uint256 supply = shares.totalSupply();
        uint256 owedAlice = 1_000 * unit * (300 * SHARE) / supply;
        uint256 owedBob = 1_000 * unit * (100 * SHARE / 3) / supply;
        assertApproxEqAbs(shares.claimable(alice), owedAlice, 1, "alice");
        assertApproxEqAbs(shares.claimable(bob), owedBob, 1, "bob");

        uint256 claimable = shares.claimable(alice);
        vm.prank(alice);
        assertEq(shares.claim(), claimable, "claim pays claimable");
        assertEq(money.balanceOf(alice), claimable, "alice paid in the token");
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IAssetShares.NothingToClaim.selector, alice));
        shares.claim();
        vm.prank(bob);
        shares.claim();

        vm.prank(operator);
        assertEq(shares.withdrawProceeds(operator), costAlice + costBob, "proceeds");
        assertEq(money.balanceOf(operator), costAlice + costBob, "operator paid");
        assertLe(money.balanceOf(address(shares)), 2, "only dust left");
    }

    /// Any deposit and holdings: the token's decimals never enter the split.
    function testFuzz_split_is_exact_in_the_token_units(uint256 aliceShares, uint256 bobShares, uint256 amount) public {
        aliceShares = bound(aliceShares, SHARE, 1e9 * SHARE);
        bobShares = bound(bobShares, 1, 1e9 * SHARE);
        amount = bound(amount, 1, 1e9 * unit);
        _openOffering(uint128(unit));
        _subscribe(alice, aliceShares);
        _subscribe(bob, bobShares);
        _deposit(amount);
        uint256 supply = aliceShares + bobShares;
        uint256 perShare = amount * MAGNITUDE / supply;
        assertEq(shares.claimable(alice), perShare * aliceShares / MAGNITUDE, "alice");
        assertEq(shares.claimable(bob), perShare * bobShares / MAGNITUDE, "bob");
        assertLe(amount - shares.claimable(alice) - shares.claimable(bob), 2, "dust");
    }

    function _decimals(address token) internal view returns (uint8) {
        (bool ok, bytes memory data) = token.staticcall(abi.encodeWithSignature("decimals()"));
        assertTrue(ok, "decimals");
        return abi.decode(data, (uint8));
    }
}

contract Token18SettlementTest is SettlementTokenCase {
    function _token() internal override returns (address) {
        return address(new Token18());
    }
}

contract NoBoolSettlementTest is SettlementTokenCase {
    function _token() internal override returns (address) {
        return address(new NoBoolToken());
    }

    /// The double really returns nothing: a caller decoding a bool (IERC20) reverts, SafeERC20 does not.
    function test_token_returns_no_bool() public {
        NoBoolToken(address(money)).mint(address(this), 10);
        (bool ok, bytes memory data) = address(money).call(abi.encodeCall(IERC20.transfer, (alice, 1)));
        assertTrue(ok, "transfer succeeded");
        assertEq(data.length, 0, "and returned nothing");
        vm.expectRevert();
        this.transferExpectingBool(alice, 1);
    }

    function transferExpectingBool(address to, uint256 amount) external returns (bool) {
        return money.transfer(to, amount);
    }
}
