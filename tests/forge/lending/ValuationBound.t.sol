// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

import {AssetRegistry} from "../../../contracts/AssetRegistry.sol";
import {AssetShares} from "../../../contracts/AssetShares.sol";
import {InvestorRegistry} from "../../../contracts/InvestorRegistry.sol";
import {LeaseMarket} from "../../../contracts/LeaseMarket.sol";
import {MeteringOracle} from "../../../contracts/MeteringOracle.sol";
import {YieldValuation} from "../../../contracts/YieldValuation.sol";
import {Vm} from "../utils/Vm.sol";
import {DevStablecoin} from "../../../contracts/dev/DevStablecoin.sol";
import {IAssetRegistry} from "../../../contracts/interfaces/IAssetRegistry.sol";
import {IShareValuation} from "../../../contracts/interfaces/IShareValuation.sol";
import {Test} from "../utils/Test.sol";

/// @notice The real YieldValuation's move bound, driven by real settled revenue: the operator adds revenue to
/// epochs through LeaseMarket.addRevenue and the epochs settle (void, with no meter report, once they end:
/// grace period 0), so the target follows IShareValuation's formula from that revenue, the GPUs' age and the
/// suspension haircut. The meter never starts reporting and the silence threshold is set out of reach, so
/// silence plays no part here (the brownie tests cover it).
///
/// The bound is per ANCHORING: `update` anchors the price at most once an epoch, one step from the previous
/// anchor of at most maxMoveBpsPerEpoch of it (rounded up; of the target when the anchor is 0), however many
/// epochs passed since. So one update moves at most one bound whatever the elapsed time, and updates across
/// N epochs move at most N bounds (N steps, each of at most one bound of the anchor before it).
contract ValuationBoundTest is Test {
    uint256 internal constant BPS = 10_000;
    uint64 internal constant GENESIS = 1_700_000_000;
    uint64 internal constant EPOCH = 3600;
    uint64 internal constant E0 = 100;

    address internal admin;
    address internal operator;
    DevStablecoin internal coin;
    AssetRegistry internal registry;
    LeaseMarket internal leases;
    YieldValuation internal valuation;
    uint256 internal assetId;

    function setUp() public {
        admin = makeAddr("admin");
        operator = makeAddr("operator");
        vm.warp(GENESIS + E0 * EPOCH + 60);
        coin = new DevStablecoin("Dev USD", "dUSD", 0, admin);
        InvestorRegistry investors = new InvestorRegistry(0, admin);
        registry = new AssetRegistry(IERC20(address(coin)), investors, 0, admin);
        vm.startPrank(admin);
        coin.grantRole(coin.MINTER_ROLE(), admin);
        investors.grantRole(investors.COMPLIANCE_ROLE(), admin);
        registry.grantRole(registry.REGISTRAR_ROLE(), admin);
        vm.stopPrank();
        address[] memory signers = new address[](1);
        signers[0] = makeAddr("signer");
        MeteringOracle oracle = new MeteringOracle(registry, GENESIS, EPOCH, 2_000, signers, 1, 0, admin);
        leases = new LeaseMarket(registry, oracle, 0);
        valuation = new YieldValuation(leases, 0, admin);

        IAssetRegistry.AssetParams memory params = IAssetRegistry.AssetParams({
            operator: operator,
            tier: IAssetRegistry.Tier.NeoCloud,
            gpuCount: 8,
            powerPerGpuW: 700,
            pueBps: 12_000,
            energyTariffPerKWh: 120_000,
            operatorFeeBps: 1_000,
            commissionedAt: uint64(block.timestamp - 180 days),
            gpuModel: "NVIDIA H100 80GB HBM3",
            region: "eu-north-1",
            metadataURI: "ipfs://datasheet",
            metadataHash: keccak256("datasheet"),
            sharesName: "Wellhead H100",
            sharesSymbol: "WH-H100",
            maxShareSupply: 1_000_000e18
        });
        vm.prank(admin);
        (assetId,) = registry.registerAsset(params);

        // 1,000 shares sold at $100 to one investor.
        AssetShares token = AssetShares(registry.sharesOf(assetId));
        address investor = makeAddr("investor");
        vm.startPrank(admin);
        investors.addInvestor(investor, uint64(block.timestamp + 3650 days), 756);
        coin.mint(investor, 100_000e6);
        coin.mint(operator, type(uint128).max);
        vm.stopPrank();
        vm.prank(operator);
        token.openOffering(100e6, 1_000e18, uint64(block.timestamp + 1 days));
        vm.startPrank(investor);
        coin.approve(address(token), 100_000e6);
        token.subscribe(1_000e18, 100_000e6);
        vm.stopPrank();
        vm.prank(operator);
        coin.approve(address(leases), type(uint256).max);
    }

    /* MODEL */

    /// @dev IShareValuation, one anchoring: toward the target by at most maxMove of the previous anchor, rounded
    /// up (of the target when the anchor is zero).
    function _step(uint256 anchor, uint256 target, uint256 maxMoveBps) internal pure returns (uint256) {
        uint256 move = _oneBound(anchor, target, maxMoveBps);
        if (target >= anchor) return Math.min(target, anchor + move);
        return anchor - Math.min(anchor - target, move);
    }

    function _oneBound(uint256 anchor, uint256 target, uint256 maxMoveBps) internal pure returns (uint256) {
        return Math.mulDiv(anchor == 0 ? target : anchor, maxMoveBps, BPS, Math.Rounding.Ceil);
    }

    function _distance(uint256 a, uint256 b) internal pure returns (uint256) {
        return a > b ? a - b : b - a;
    }

    /* SET-UP */

    function _configure(
        uint128 anchorPrice,
        uint32 window,
        uint64 revenuePerEpoch,
        uint16 maxMoveBps,
        uint16 decayBps,
        bool suspend,
        uint16 haircutBps
    ) internal {
        IShareValuation.ValuationParams memory params = IShareValuation.ValuationParams({
            windowEpochs: window,
            capRateBps: 1_500,
            decayBpsPerYear: decayBps,
            maxMoveBpsPerEpoch: maxMoveBps,
            maxSilenceEpochs: type(uint32).max,
            silenceHaircutBps: 5_000,
            suspendedHaircutBps: haircutBps,
            // The rise guards at their loosest (100% of the snapshot per hour, a snapshot every epoch, the
            // largest reference price) so that only the per-anchoring step binds here; WashLeasing.t.sol
            // covers the guards.
            maxRiseBpsPerYear: valuation.MAX_RISE_BPS_PER_YEAR(),
            snapshotEpochs: 1,
            referencePricePerGpuHour: leases.MAX_PRICE_PER_GPU_HOUR()
        });
        vm.prank(admin);
        valuation.configure(assetId, params, anchorPrice);
        if (revenuePerEpoch != 0) {
            for (uint64 e = E0; e < E0 + window; ++e) {
                vm.prank(operator);
                leases.addRevenue(assetId, e, revenuePerEpoch, "SPOT");
            }
        }
        if (suspend) _setStatus(IAssetRegistry.AssetStatus.Suspended);
    }

    function _setStatus(IAssetRegistry.AssetStatus status) internal {
        vm.prank(admin);
        registry.setStatus(assetId, status);
    }

    function _warpToEpoch(uint256 epoch, uint256 into) internal {
        vm.warp(GENESIS + epoch * EPOCH + into);
    }

    /// @dev Calls update, checking it against the model and quote(); returns the price and how many
    /// PriceUpdated events it emitted.
    function _update(uint256 maxMoveBps) internal returns (uint256 price, uint256 writes) {
        IShareValuation.Anchor memory before = valuation.anchorOf(assetId);
        uint256 target = valuation.breakdown(assetId).target;
        (uint256 quoted, bool quotedFrozen) = valuation.quote(assetId);
        vm.recordLogs();
        bool frozen;
        (price, frozen) = valuation.update(assetId);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].emitter == address(valuation) && logs[i].topics[0] == IShareValuation.PriceUpdated.selector) {
                writes++;
                (uint128 logged, uint256 loggedTarget) = abi.decode(logs[i].data, (uint128, uint256));
                assertEq(logs[i].topics[2], bytes32(uint256(_epoch())), "PriceUpdated: this epoch");
                assertEq(logged, price, "PriceUpdated: the price");
                assertEq(loggedTarget, target, "PriceUpdated: the target");
            }
        }
        assertEq(price, quoted, "update returns what quote showed");
        assertEq(frozen, quotedFrozen, "frozen as quoted");
        assertEq(
            frozen, registry.statusOf(assetId) != IAssetRegistry.AssetStatus.Active, "frozen: not active (never silent)"
        );
        IShareValuation.Anchor memory anchor = valuation.anchorOf(assetId);
        if (before.epoch == _epoch()) {
            assertEq(writes, 0, "anchored epoch: nothing written");
            assertEq(price, before.price, "anchored epoch: the anchor");
            assertEq(anchor.price, before.price, "anchor unchanged");
        } else {
            assertEq(writes, 1, "one anchoring");
            assertEq(price, _step(before.price, target, maxMoveBps), "one step from the previous anchor");
            assertEq(anchor.price, price, "anchor written");
            assertEq(anchor.epoch, _epoch(), "anchor epoch");
        }
        assertLe(_distance(price, before.price), _oneBound(before.price, target, maxMoveBps), "at most one bound");
        if (target >= before.price) {
            assertTrue(price >= before.price && price <= target, "between anchor and target (up)");
        } else {
            assertTrue(price <= before.price && price >= target, "between anchor and target (down)");
        }
    }

    function _epoch() internal view returns (uint64) {
        return uint64((block.timestamp - GENESIS) / EPOCH);
    }

    /* ONE UPDATE, ANY ELAPSED TIME */

    /// However many epochs passed since the anchor (1 to 10,000), one update moves the price one step of at
    /// most one bound of the previous anchor toward the target (never past it), writes it as this epoch's
    /// anchor, and a second update in the same epoch returns it without writing.
    function testFuzz_one_update_moves_at_most_one_bound_whatever_the_elapsed_time(
        uint128 anchorPrice,
        uint64 revenuePerEpoch,
        uint16 maxMoveBps,
        uint32 window,
        uint32 elapsed,
        uint16 decayBps,
        bool suspend,
        uint16 haircutBps
    ) public {
        anchorPrice = uint128(bound(anchorPrice, 1, 1e15));
        revenuePerEpoch = uint64(bound(revenuePerEpoch, 0, 1e12));
        maxMoveBps = uint16(bound(maxMoveBps, 1, BPS));
        window = uint32(bound(window, 1, 30));
        elapsed = uint32(bound(elapsed, window, 10_000));
        decayBps = uint16(bound(decayBps, 0, BPS));
        haircutBps = uint16(bound(haircutBps, 0, BPS));
        _configure(anchorPrice, window, revenuePerEpoch, maxMoveBps, decayBps, suspend, haircutBps);

        _warpToEpoch(E0 + elapsed, 1);
        if (revenuePerEpoch != 0) leases.settleThrough(assetId, E0 + window - 1);
        (uint256 price, uint256 writes) = _update(maxMoveBps);
        assertEq(writes, 1, "anchored");
        assertLe(
            _distance(price, anchorPrice), Math.mulDiv(anchorPrice, maxMoveBps, BPS, Math.Rounding.Ceil), "1 bound"
        );

        // Later in the same epoch: the anchor, nothing written.
        _warpToEpoch(E0 + elapsed, EPOCH - 1);
        (uint256 again, uint256 rewrites) = _update(maxMoveBps);
        assertEq(again, price, "same epoch: same price");
        assertEq(rewrites, 0, "same epoch: no write");

        // The next epoch: one bound of the fresh anchor at most.
        _warpToEpoch(E0 + elapsed + 1, 1);
        (uint256 next,) = valuation.quote(assetId);
        assertLe(_distance(next, price), Math.mulDiv(price, maxMoveBps, BPS, Math.Rounding.Ceil), "next: 1 bound");
    }

    function test_one_update_after_ten_epochs_moves_one_bound_concrete() public {
        // $100 anchor, $2 added per epoch for 4 epochs (net $1.80 each after the 10% fee), 1% per anchoring, no
        // decay: target = 7.2e6 x 31,536,000 x 1e18 x 1e4 / (4 x 3600 x 1e21 x 1,500) = 105,120,000. The first
        // update, ten epochs after the anchor, moves ONE bound: 1% of $100 -> $101 (the old per-elapsed-epoch
        // rule allowed +10% and gave the $105.12 target).
        testFuzz_one_update_moves_at_most_one_bound_whatever_the_elapsed_time(100e6, 2e6, 100, 4, 10, 0, false, 0);
        assertEq(valuation.breakdown(assetId).target, 105_120_000, "target");
        IShareValuation.Anchor memory anchor = valuation.anchorOf(assetId);
        assertEq(anchor.price, 101e6, "anchor $101");
        assertEq(anchor.epoch, E0 + 10, "anchored in E0 + 10");
        // E0 + 11: 1% of $101 = $1.01 -> $102.01.
        (uint256 next,) = valuation.quote(assetId);
        assertEq(next, 102_010_000, "next epoch: $102.01");
    }

    function test_one_update_moves_down_one_bound_when_suspended_concrete() public {
        // No revenue: the $100 anchor stands in for the capitalised value; suspended at -50%: target $50;
        // 10% per anchoring: three epochs after the anchor, one update gives $90 (the old rule gave $70).
        testFuzz_one_update_moves_at_most_one_bound_whatever_the_elapsed_time(100e6, 0, 1_000, 1, 3, 0, true, 5_000);
        assertEq(valuation.anchorOf(assetId).price, 90e6, "anchor $90");
    }

    /* A SEQUENCE OF UPDATES ACROSS N EPOCHS */

    /// Updates in N distinct epochs (gaps of 1 to 5 epochs between them, sometimes a second update in the same
    /// epoch) write N anchors, each one step of at most one bound of the anchor before it; so the price ends
    /// within N bounds of where it started: between the all-down and the all-up walks of N bounded steps.
    function testFuzz_updates_across_n_epochs_move_at_most_n_bounds(
        uint128 anchorPrice,
        uint64 revenuePerEpoch,
        uint16 maxMoveBps,
        uint32 window,
        uint8 n,
        uint256 seed,
        uint16 decayBps,
        bool suspend,
        uint16 haircutBps
    ) public {
        anchorPrice = uint128(bound(anchorPrice, 1, 1e15));
        revenuePerEpoch = uint64(bound(revenuePerEpoch, 0, 1e12));
        maxMoveBps = uint16(bound(maxMoveBps, 1, BPS));
        window = uint32(bound(window, 1, 30));
        n = uint8(bound(n, 1, 20));
        decayBps = uint16(bound(decayBps, 0, BPS));
        haircutBps = uint16(bound(haircutBps, 0, BPS));
        _configure(anchorPrice, window, revenuePerEpoch, maxMoveBps, decayBps, suspend, haircutBps);
        _warpToEpoch(E0 + window, 1);
        if (revenuePerEpoch != 0) leases.settleThrough(assetId, E0 + window - 1);
        _walk(anchorPrice, maxMoveBps, E0 + window - 1, n, seed);
    }

    /// @dev n updates in n distinct epochs after `epoch`, from `start`: the checks of the property above.
    function _walk(uint256 start, uint16 maxMoveBps, uint256 epoch, uint256 n, uint256 seed) internal {
        uint256 price = start;
        uint256 up = start;
        uint256 down = start;
        uint256 writes;
        for (uint256 k; k < n; ++k) {
            uint256 r = uint256(keccak256(abi.encode(seed, k)));
            epoch += 1 + r % 5;
            _warpToEpoch(epoch, 1 + (r >> 8) % (EPOCH - 2));
            uint256 before = price;
            uint256 wrote;
            (price, wrote) = _update(maxMoveBps);
            writes += wrote;
            assertLe(_distance(price, before), Math.mulDiv(before, maxMoveBps, BPS, Math.Rounding.Ceil), "one bound");
            if ((r >> 40) % 3 == 0) {
                (uint256 again, uint256 rewrote) = _update(maxMoveBps);
                assertEq(again, price, "same epoch: same price");
                writes += rewrote;
            }
            up += Math.mulDiv(up, maxMoveBps, BPS, Math.Rounding.Ceil);
            down -= Math.min(down, Math.mulDiv(down, maxMoveBps, BPS, Math.Rounding.Ceil));
        }
        assertEq(writes, n, "one anchoring per epoch: N writes");
        assertLe(price, up, "at most N bounds up");
        assertGe(price, down, "at most N bounds down");
    }

    function test_updates_across_four_epochs_move_four_bounds_concrete() public {
        // No revenue, suspended at -50%, 10% per anchoring, updates in E0 + 1, E0 + 3, E0 + 4 and E0 + 9 (twice
        // in E0 + 4): $90, $81, $72.90 (the repeat: $72.90, no write), $65.61: four bounds in nine epochs.
        uint256 fresh = vm.snapshotState();
        _configure(100e6, 1, 0, 1_000, 0, true, 5_000);
        uint256[4] memory epochs = [uint256(E0 + 1), E0 + 3, E0 + 4, E0 + 9];
        uint256[4] memory expected = [uint256(90e6), 81e6, 72_900_000, 65_610_000];
        for (uint256 k; k < 4; ++k) {
            _warpToEpoch(epochs[k], 10);
            (uint256 price, uint256 writes) = _update(1_000);
            assertEq(price, expected[k], "walk");
            assertEq(writes, 1, "anchored");
            if (k == 2) {
                _warpToEpoch(epochs[k], 20);
                (uint256 again, uint256 rewrites) = _update(1_000);
                assertEq(again, 72_900_000, "repeat: same price");
                assertEq(rewrites, 0, "repeat: no write");
            }
        }
        vm.revertToState(fresh);
        testFuzz_updates_across_n_epochs_move_at_most_n_bounds(100e6, 2e6, 100, 4, 10, 7, 2_000, false, 0);
    }

    function test_updates_up_move_one_bound_each_concrete() public {
        // $100 anchor, $20 per epoch for 4 epochs: target $1,051.20; 10% per anchoring: $110, $121, $133.10.
        _configure(100e6, 4, 20e6, 1_000, 0, false, 0);
        _warpToEpoch(E0 + 4, 1);
        leases.settleThrough(assetId, E0 + 3);
        assertEq(valuation.breakdown(assetId).target, 1_051_200_000, "target");
        uint256[3] memory expected = [uint256(110e6), 121e6, 133_100_000];
        for (uint256 k; k < 3; ++k) {
            _warpToEpoch(E0 + 4 + 2 * k, 1);
            (uint256 price,) = _update(1_000);
            assertEq(price, expected[k], "walk up");
        }
    }

    /* ZERO */

    function test_a_zero_price_recovers_by_a_bound_of_the_target_concrete() public {
        // $2 a epoch for 4 epochs (target $105.12), suspended with a 100% haircut (target 0) and 100% per
        // anchoring: the first anchoring takes the price to 0.
        _configure(100e6, 4, 2e6, 10_000, 0, true, 10_000);
        _warpToEpoch(E0 + 4, 1);
        leases.settleThrough(assetId, E0 + 3);
        (uint256 price,) = _update(10_000);
        assertEq(price, 0, "to zero in one anchoring");
        // 50% per anchoring from now on (reconfiguring keeps the zero anchor); active again: target $105.12.
        IShareValuation.ValuationParams memory params = valuation.paramsOf(assetId);
        params.maxMoveBpsPerEpoch = 5_000;
        vm.prank(admin);
        valuation.configure(assetId, params, 1);
        assertEq(valuation.anchorOf(assetId).price, 0, "anchor kept");
        _setStatus(IAssetRegistry.AssetStatus.Active);
        // From zero the step is 50% of the TARGET: $52.56; then 50% of each anchor: $78.84, then the target.
        uint256[3] memory expected = [uint256(52_560_000), 78_840_000, 105_120_000];
        for (uint256 k; k < 3; ++k) {
            _warpToEpoch(E0 + 5 + k, 1);
            (price,) = _update(5_000);
            assertEq(price, expected[k], "recovery");
        }
    }
}
