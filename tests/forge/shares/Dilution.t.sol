// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";

import {AssetShares} from "../../../contracts/AssetShares.sol";
import {IAssetRegistry} from "../../../contracts/interfaces/IAssetRegistry.sol";
import {IAssetShares} from "../../../contracts/interfaces/IAssetShares.sol";
import {SharesFixture} from "./SharesFixture.sol";

/// @notice Issue 9, item 3: the operator cannot dilute holders with an underpriced round. A second asset is
/// registered with a supply cap of 10,000 shares; its first round sells at a fuzzed price; every later round
/// must stay within the cap and sell at or above the highest earlier price, unless the registrar approved that
/// round's lower price.
contract DilutionTest is SharesFixture {
    uint128 internal constant MAX_SHARES = 10_000e18;

    address internal alice = makeAddr("alice");
    address internal accomplice = makeAddr("accomplice");
    AssetShares internal capped;
    uint256 internal cappedId;

    function setUp() public {
        _deploySuite(address(0));
        vm.prank(admin);
        (uint256 id, address token) = registry.registerAsset(_params());
        cappedId = id;
        capped = AssetShares(token);
        _verify(alice);
        _verify(accomplice);
    }

    function _params() internal view returns (IAssetRegistry.AssetParams memory) {
        return IAssetRegistry.AssetParams({
            operator: operator,
            tier: IAssetRegistry.Tier.NeoCloud,
            gpuCount: 8,
            powerPerGpuW: 700,
            pueBps: 12_000,
            energyTariffPerKWh: uint128(12 * USD / 100),
            operatorFeeBps: 1_000,
            commissionedAt: uint64(block.timestamp - 180 days),
            gpuModel: "NVIDIA H100 80GB HBM3",
            region: "eu-north-1",
            metadataURI: "ipfs://h100-02",
            metadataHash: keccak256("h100-02"),
            sharesName: "Wellhead H100 Node 02",
            sharesSymbol: "WH-H100-02",
            maxShareSupply: MAX_SHARES
        });
    }

    function _open(uint128 price, uint128 cap) internal {
        vm.prank(operator);
        capped.openOffering(price, cap, uint64(block.timestamp + 1 days));
    }

    function _buy(address investor, uint256 amount) internal {
        uint256 cost = capped.previewSubscribe(amount);
        _fund(investor, cost);
        _approve(investor, address(capped), cost);
        vm.prank(investor);
        capped.subscribe(amount, cost);
    }

    function _close() internal {
        vm.prank(operator);
        capped.closeOffering();
    }

    /// For any first-round price and any amount sold, a later round below that price reverts PriceBelowFloor
    /// (round, price, floor) and one at or above it opens; no round may offer more than the cap leaves.
    function testFuzz_later_round_below_the_floor_or_past_the_cap_reverts(
        uint128 firstPrice,
        uint256 sold,
        uint128 laterPrice,
        uint128 laterCap
    ) public {
        firstPrice = uint128(bound(firstPrice, 2, 1_000_000 * USD));
        sold = bound(sold, 1, MAX_SHARES);
        laterPrice = uint128(bound(laterPrice, 1, 2_000_000 * USD));
        laterCap = uint128(bound(laterCap, 1, 2 * MAX_SHARES));
        _open(firstPrice, MAX_SHARES);
        _buy(alice, sold);
        _close();
        assertEq(capped.offeringPriceFloor(), firstPrice, "floor: the first round's price");

        uint256 available = MAX_SHARES - sold;
        vm.prank(operator);
        if (laterCap > available) {
            vm.expectRevert(abi.encodeWithSelector(IAssetShares.ExceedsMaxSupply.selector, laterCap, available));
        } else if (laterPrice < firstPrice) {
            vm.expectRevert(abi.encodeWithSelector(IAssetShares.PriceBelowFloor.selector, 2, laterPrice, firstPrice));
        }
        capped.openOffering(laterPrice, laterCap, uint64(block.timestamp + 1 days));
        if (laterCap <= available && laterPrice >= firstPrice) {
            (uint256 round, IAssetShares.Offering memory offering) = capped.currentOffering();
            assertEq(round, 2, "round 2 open");
            assertEq(offering.pricePerShare, laterPrice, "at its price");
        }
        assertLe(capped.totalSupply(), capped.maxSupply(), "supply within the cap");
    }

    /// The issue's attack: 1,000 shares sold at $100; the operator opens a round at one base unit a share for
    /// a million shares so that an accomplice takes almost all future revenue for $1. Both the cap and the floor
    /// refuse it; a round at $100 within the cap opens.
    function test_later_round_below_the_floor_or_past_the_cap_reverts_concrete() public {
        _open(uint128(100 * USD), 1_000e18);
        _buy(alice, 1_000e18);
        _close();
        vm.startPrank(operator);
        vm.expectRevert(abi.encodeWithSelector(IAssetShares.ExceedsMaxSupply.selector, 1_000_000e18, 9_000e18));
        capped.openOffering(1, 1_000_000e18, uint64(block.timestamp + 1 days));
        vm.expectRevert(abi.encodeWithSelector(IAssetShares.PriceBelowFloor.selector, 2, 1, 100 * USD));
        capped.openOffering(1, 9_000e18, uint64(block.timestamp + 1 days));
        capped.openOffering(uint128(100 * USD), 9_000e18, uint64(block.timestamp + 1 days));
        vm.stopPrank();
    }

    /// A round that sold nothing sets no floor: the operator may retry lower.
    function test_unsold_round_sets_no_floor() public {
        _open(uint128(100 * USD), 1_000e18);
        _close();
        assertEq(capped.offeringPriceFloor(), 0, "no floor");
        _open(uint128(50 * USD), 1_000e18);
    }

    /// The registrar may approve a lower price for one future round (e.g. after the valuation fell), with an
    /// event holders can watch; the round may then sell at that price or more, not below.
    function test_registrar_approved_round_may_sell_below_the_floor() public {
        _open(uint128(100 * USD), 1_000e18);
        _buy(alice, 1_000e18);
        _close();
        vm.recordLogs();
        vm.prank(admin);
        registry.approveOfferingPrice(cappedId, 2, uint128(60 * USD));
        assertEq(registry.approvedOfferingPrice(cappedId, 2), 60 * USD, "approved");
        assertEq(vm.getRecordedLogs()[0].topics[0], IAssetRegistry.OfferingPriceApproved.selector, "event");

        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(IAssetShares.PriceBelowFloor.selector, 2, 59 * USD, 100 * USD));
        capped.openOffering(uint128(59 * USD), 1_000e18, uint64(block.timestamp + 1 days));
        _open(uint128(60 * USD), 1_000e18);
        _buy(accomplice, 1_000e18);
        _close();
        // Round 3 has no approval: the floor is still the highest price sold at, $100.
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(IAssetShares.PriceBelowFloor.selector, 3, 60 * USD, 100 * USD));
        capped.openOffering(uint128(60 * USD), 1_000e18, uint64(block.timestamp + 1 days));
    }

    /// Only the registrar approves, only for a round not opened yet, and never at price 0.
    function test_approve_offering_price_reverts_for_others_past_rounds_or_zero() public {
        _open(uint128(100 * USD), 1_000e18);
        bytes32 role = registry.REGISTRAR_ROLE();
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, operator, role));
        registry.approveOfferingPrice(cappedId, 2, 1);
        vm.startPrank(admin);
        vm.expectRevert(abi.encodeWithSelector(IAssetRegistry.InvalidApprovedPrice.selector, cappedId, 1, 1));
        registry.approveOfferingPrice(cappedId, 1, 1);
        vm.expectRevert(abi.encodeWithSelector(IAssetRegistry.InvalidApprovedPrice.selector, cappedId, 2, 0));
        registry.approveOfferingPrice(cappedId, 2, 0);
        vm.stopPrank();
    }

    /// The registrar must fix a cap at registration.
    function test_register_asset_reverts_without_a_supply_cap() public {
        IAssetRegistry.AssetParams memory params = _params();
        params.maxShareSupply = 0;
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(IAssetRegistry.InvalidMaxShareSupply.selector, 0));
        registry.registerAsset(params);
    }
}
