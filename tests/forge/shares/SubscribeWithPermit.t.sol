// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";

import {IAssetShares} from "../../../contracts/interfaces/IAssetShares.sol";
import {SharesFixture} from "./SharesFixture.sol";

/// @notice AssetShares.subscribeWithPermit: one signature of the settlement token's EIP-2612 permit buys
/// shares in one transaction, for any amount the offering sells, and leaves no allowance behind.
contract SubscribeWithPermitTest is SharesFixture {
    bytes32 internal constant PERMIT_TYPEHASH =
        keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)");
    uint256 internal constant MAX_SHARES = 1e9 * SHARE; // the offering's cap is 1e12 shares

    function setUp() public {
        _deploySuite(address(0));
        _openOffering(uint128(100 * USD + 1)); // an odd price: the cost rounds up
    }

    /// Any investor key, any amount up to a billion shares: the cost is pulled through the permit exactly.
    function testFuzz_subscribeWithPermit_buys_and_leaves_no_allowance(uint256 keySeed, uint256 amount) public {
        uint256 key = bound(keySeed, 1, 1e30);
        amount = bound(amount, 1, MAX_SHARES);
        _buyWithPermit(key, amount);
    }

    function test_subscribeWithPermit_buys_and_leaves_no_allowance() public {
        _buyWithPermit(0xA11CE, 7 * SHARE);
    }

    function test_subscribeWithPermit_reverts_when_the_cost_exceeds_the_permit() public {
        uint256 key = 0xB0B;
        address investor = vm.addr(key);
        _verify(investor);
        _fund(investor, 1_000 * USD);
        uint256 cost = shares.previewSubscribe(SHARE);
        (uint8 v, bytes32 r, bytes32 s) = _sign(key, investor, cost, block.timestamp + 1 hours);
        vm.prank(investor);
        vm.expectRevert(abi.encodeWithSelector(IAssetShares.CostAboveMaximum.selector, cost, cost - 1));
        shares.subscribeWithPermit(SHARE, cost - 1, block.timestamp + 1 hours, v, r, s);
    }

    function _buyWithPermit(uint256 key, uint256 amount) internal {
        address investor = vm.addr(key);
        _verify(investor);
        uint256 cost = shares.previewSubscribe(amount);
        assertEq(cost, (amount * (100 * USD + 1) + SHARE - 1) / SHARE, "cost rounded up");
        _fund(investor, cost);
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _sign(key, investor, cost, deadline);

        vm.prank(investor);
        assertEq(shares.subscribeWithPermit(amount, cost, deadline, v, r, s), cost, "cost paid");

        assertEq(shares.balanceOf(investor), amount, "shares minted");
        assertEq(money.balanceOf(investor), 0, "exactly the cost pulled");
        assertEq(money.allowance(investor, address(shares)), 0, "no allowance left");
        assertEq(IERC20Permit(address(money)).nonces(investor), 1, "permit used");
    }

    function _sign(uint256 key, address owner, uint256 value, uint256 deadline)
        internal
        view
        returns (uint8, bytes32, bytes32)
    {
        IERC20Permit token = IERC20Permit(address(money));
        bytes32 structHash =
            keccak256(abi.encode(PERMIT_TYPEHASH, owner, address(shares), value, token.nonces(owner), deadline));
        bytes32 digest = keccak256(abi.encodePacked("\x19\x01", token.DOMAIN_SEPARATOR(), structHash));
        return vm.sign(key, digest);
    }
}
