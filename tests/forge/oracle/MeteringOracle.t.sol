// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import {AssetRegistry} from "../../../contracts/AssetRegistry.sol";
import {InvestorRegistry} from "../../../contracts/InvestorRegistry.sol";
import {MeteringOracle} from "../../../contracts/MeteringOracle.sol";
import {DevStablecoin} from "../../../contracts/dev/DevStablecoin.sol";
import {IAssetRegistry} from "../../../contracts/interfaces/IAssetRegistry.sol";
import {IMeteringOracle} from "../../../contracts/interfaces/IMeteringOracle.sol";
import {Test} from "../utils/Test.sol";

/// @notice The oracle's world for forge: the real AssetRegistry (with a DevStablecoin and an InvestorRegistry
/// behind it), MeteringOracles deployed on demand, and ten signer keys sorted by address.
abstract contract OracleFixture is Test {
    uint64 internal constant GENESIS = 1_700_000_000;
    uint64 internal constant EPOCH_LENGTH = 3600;
    uint16 internal constant MARGIN_BPS = 2_000;
    uint8 internal constant THRESHOLD = 3;
    /// @dev Epochs 0..ENDED_EPOCHS-1 have ended when a test starts.
    uint64 internal constant ENDED_EPOCHS = 40;
    uint256 internal constant KEY_COUNT = 10;

    uint256 internal constant BPS = 10_000;
    uint256 internal constant SECONDS_PER_HOUR = 3600;

    address internal admin;
    address internal keeper;
    AssetRegistry internal registry;
    MeteringOracle internal oracle;

    /// @dev Signer keys and their addresses, ascending by address.
    uint256[] internal keys;
    address[] internal addrs;

    function _deployWorld() internal {
        admin = makeAddr("admin");
        keeper = makeAddr("keeper");
        DevStablecoin stablecoin = new DevStablecoin("Dev USD", "dUSD", 0, admin);
        InvestorRegistry investors = new InvestorRegistry(0, admin);
        registry = new AssetRegistry(IERC20(address(stablecoin)), investors, 0, admin);
        bytes32 registrarRole = registry.REGISTRAR_ROLE();
        vm.prank(admin);
        registry.grantRole(registrarRole, admin);
        _makeKeys();
        vm.warp(GENESIS + ENDED_EPOCHS * EPOCH_LENGTH + 1);
    }

    function _makeKeys() internal {
        for (uint256 i; i < KEY_COUNT; ++i) {
            (address account, uint256 key) = makeKey(string.concat("oracle-signer-", vm.toString(i)));
            keys.push(key);
            addrs.push(account);
        }
        // insertion sort by address
        for (uint256 i = 1; i < KEY_COUNT; ++i) {
            for (uint256 j = i; j > 0 && addrs[j] < addrs[j - 1]; --j) {
                (addrs[j], addrs[j - 1]) = (addrs[j - 1], addrs[j]);
                (keys[j], keys[j - 1]) = (keys[j - 1], keys[j]);
            }
        }
    }

    /// @dev The first `n` sorted signer addresses.
    function _firstSigners(uint256 n) internal view returns (address[] memory set) {
        set = new address[](n);
        for (uint256 i; i < n; ++i) {
            set[i] = addrs[i];
        }
    }

    function _deployOracle(uint64 epochLength, uint16 marginBps, address[] memory set, uint8 threshold)
        internal
        returns (MeteringOracle deployed)
    {
        deployed = new MeteringOracle(registry, GENESIS, epochLength, marginBps, set, threshold, 0, admin);
    }

    function _register(uint32 gpuCount, uint32 powerPerGpuW) internal returns (uint256 assetId) {
        IAssetRegistry.AssetParams memory params = IAssetRegistry.AssetParams({
            operator: makeAddr("operator"),
            tier: IAssetRegistry.Tier.NeoCloud,
            gpuCount: gpuCount,
            powerPerGpuW: powerPerGpuW,
            pueBps: 12_000,
            energyTariffPerKWh: 120_000,
            operatorFeeBps: 1_000,
            commissionedAt: uint64(block.timestamp - 1),
            gpuModel: "NVIDIA H100 80GB HBM3",
            region: "eu-north-1",
            metadataURI: "ipfs://datasheet",
            metadataHash: keccak256("datasheet"),
            sharesName: "Wellhead GPU",
            sharesSymbol: "WH-GPU",
            maxShareSupply: 1_000_000e18
        });
        vm.prank(admin);
        (assetId,) = registry.registerAsset(params);
    }

    function _start(MeteringOracle target, uint256 assetId, uint64 firstEpoch) internal {
        vm.prank(admin);
        target.startReporting(assetId, firstEpoch);
    }

    function _one(IMeteringOracle.Report memory report) internal pure returns (IMeteringOracle.Report[] memory batch) {
        batch = new IMeteringOracle.Report[](1);
        batch[0] = report;
    }

    function _report(uint256 assetId, uint64 epoch, uint64 healthy, uint64 curtailed, uint16 utilization, uint64 energy)
        internal
        pure
        returns (IMeteringOracle.Report memory)
    {
        return IMeteringOracle.Report(assetId, epoch, healthy, curtailed, utilization, energy);
    }

    /// @dev Signatures by the keys at `indices` (into the sorted key list), in the order given.
    function _signWith(bytes32 digest, uint256[] memory indices)
        internal
        view
        returns (IMeteringOracle.Signature[] memory sigs)
    {
        sigs = new IMeteringOracle.Signature[](indices.length);
        for (uint256 i; i < indices.length; ++i) {
            (uint8 v, bytes32 r, bytes32 s) = vm.sign(keys[indices[i]], digest);
            sigs[i] = IMeteringOracle.Signature(r, compactVs(v, s));
        }
    }

    function _range(uint256 from, uint256 count) internal pure returns (uint256[] memory indices) {
        indices = new uint256[](count);
        for (uint256 i; i < count; ++i) {
            indices[i] = from + i;
        }
    }

    /// @dev Submits `reports` to `target` signed by the first `threshold` signers of its current set, which
    /// must be the first signers of the sorted key list.
    function _submitSigned(MeteringOracle target, IMeteringOracle.Report[] memory reports, uint256 signerCount)
        internal
    {
        uint64 version = target.configVersion();
        bytes32 digest = target.batchDigest(version, reports);
        IMeteringOracle.Signature[] memory sigs = _signWith(digest, _range(0, signerCount));
        address[] memory set = target.signers();
        _armRevert();
        vm.prank(keeper);
        target.submit(version, reports, set, sigs);
    }

    /// @dev vm.expectRevert applies to the next call, and the submit helpers make view calls first: the
    /// expected revert data is kept here and armed right before `submit` itself.
    bytes internal _pendingRevert;

    function _expectSubmitRevert(bytes memory data) internal {
        _pendingRevert = data;
    }

    function _armRevert() internal {
        if (_pendingRevert.length != 0) {
            vm.expectRevert(_pendingRevert);
            delete _pendingRevert;
        }
    }

    function _maxEnergyWh(uint256 gpuCount, uint256 power, uint256 epochLength, uint256 marginBps)
        internal
        pure
        returns (uint256)
    {
        return gpuCount * power * epochLength * (BPS + marginBps) / (SECONDS_PER_HOUR * BPS);
    }

    function _assertStored(MeteringOracle target, IMeteringOracle.Report memory expected) internal view {
        (IMeteringOracle.Report memory stored, uint40 postedAt) = target.getReport(expected.assetId, expected.epoch);
        assertEq(stored.gpuSeconds, expected.gpuSeconds, "gpuSeconds");
        assertEq(stored.curtailedGpuSeconds, expected.curtailedGpuSeconds, "curtailedGpuSeconds");
        assertEq(stored.utilizationBps, expected.utilizationBps, "utilizationBps");
        assertEq(stored.energyWh, expected.energyWh, "energyWh");
        assertEq(postedAt, block.timestamp, "postedAt");
        assertEq(target.reportHashOf(expected.assetId, expected.epoch), target.hashReport(expected), "reportHash");
    }
}

/// @notice Fuzz tests of the physical bounds and of signer subsets; each has a concrete twin with numbers
/// worked out by hand.
contract MeteringOracleTest is OracleFixture {
    uint256 internal h100;

    function setUp() public {
        _deployWorld();
        oracle = _deployOracle(EPOCH_LENGTH, MARGIN_BPS, _firstSigners(5), THRESHOLD);
        h100 = _register(8, 700);
        _start(oracle, h100, 0);
    }

    /* BOUNDS: WITHIN */

    /// Random assets (1..1e6 GPUs, 1..10 kW), margins and epoch lengths: every report within the physical
    /// limits is accepted and stored exactly (no truncation in the one-slot record).
    function testFuzz_submit_accepts_values_within_physical_limits(
        uint256 gpuCount,
        uint256 power,
        uint256 marginBps,
        uint256 epochLength,
        uint256 delivered,
        uint256 curtailed,
        uint256 utilization,
        uint256 energy
    ) public {
        gpuCount = bound(gpuCount, 1, 1_000_000);
        power = bound(power, 1, 10_000);
        marginBps = bound(marginBps, 0, 5_000);
        epochLength = bound(epochLength, 60, 86_400);
        MeteringOracle target = _deployOracle(uint64(epochLength), uint16(marginBps), _firstSigners(5), THRESHOLD);
        uint256 assetId = _register(uint32(gpuCount), uint32(power));
        _start(target, assetId, 0);
        uint256 maxEnergy = _maxEnergyWh(gpuCount, power, epochLength, marginBps);
        _checkAcceptedWithin(target, assetId, gpuCount * epochLength, maxEnergy, delivered, curtailed, utilization, energy);
    }

    function _checkAcceptedWithin(
        MeteringOracle target,
        uint256 assetId,
        uint256 maxGpuSeconds,
        uint256 maxEnergy,
        uint256 delivered,
        uint256 curtailed,
        uint256 utilization,
        uint256 energy
    ) internal {
        delivered = bound(delivered, 0, maxGpuSeconds);
        curtailed = bound(curtailed, 0, delivered);
        uint256 healthy = delivered - curtailed;
        utilization = healthy == 0 ? 0 : bound(utilization, 0, BPS);
        energy = bound(energy, 0, maxEnergy);
        IMeteringOracle.Report memory report =
            _report(assetId, 0, uint64(healthy), uint64(curtailed), uint16(utilization), uint64(energy));

        _submitSigned(target, _one(report), THRESHOLD);

        _assertStored(target, report);
        assertEq(target.cursorOf(assetId).nextEpoch, 1, "cursor");
    }

    /// Twin: the 8 x H100 (700 W) asset at its exact limits (28,800 GPU-s, 6,720 Wh), and the largest asset the
    /// registry allows (1e6 GPUs x 10 kW, one-day epochs, +50%): 8.64e10 GPU-s and 3.6e11 Wh stored intact.
    function test_submit_accepts_values_at_physical_limits() public {
        IMeteringOracle.Report memory edge = _report(h100, 0, 28_000, 800, 10_000, 6_720);
        _submitSigned(oracle, _one(edge), THRESHOLD);
        _assertStored(oracle, edge);

        MeteringOracle dayLong = _deployOracle(86_400, 5_000, _firstSigners(5), THRESHOLD);
        uint256 giant = _register(1_000_000, 10_000);
        _start(dayLong, giant, 0);
        IMeteringOracle.Report memory huge = _report(giant, 0, 86_400_000_000, 0, 10_000, 360_000_000_000);
        _submitSigned(dayLong, _one(huge), THRESHOLD);
        _assertStored(dayLong, huge);
    }

    /* BOUNDS: OUTSIDE */

    function testFuzz_submit_rejects_gpu_seconds_above_gpu_count_times_epoch(
        uint256 gpuCount,
        uint256 healthy,
        uint256 curtailed
    ) public {
        gpuCount = bound(gpuCount, 1, 1_000_000);
        uint256 assetId = _register(uint32(gpuCount), 700);
        _start(oracle, assetId, 0);
        uint256 maxGpuSeconds = gpuCount * EPOCH_LENGTH;
        healthy = bound(healthy, 0, type(uint64).max);
        curtailed = bound(curtailed, healthy > maxGpuSeconds ? 0 : maxGpuSeconds + 1 - healthy, type(uint64).max);
        IMeteringOracle.Report memory report =
            _report(assetId, 0, uint64(healthy), uint64(curtailed), healthy == 0 ? 0 : 5_000, 0);

        _expectSubmitRevert(
            abi.encodeWithSelector(
                IMeteringOracle.GpuSecondsOutOfBounds.selector, assetId, uint64(0), healthy + curtailed, maxGpuSeconds
            )
        );
        _submitSigned(oracle, _one(report), THRESHOLD);
    }

    function test_submit_rejects_gpu_seconds_above_gpu_count_times_epoch() public {
        _expectSubmitRevert(
            abi.encodeWithSelector(IMeteringOracle.GpuSecondsOutOfBounds.selector, h100, uint64(0), 28_801, 28_800)
        );
        _submitSigned(oracle, _one(_report(h100, 0, 20_000, 8_801, 5_000, 0)), THRESHOLD);
    }

    function testFuzz_submit_rejects_utilization_above_100_percent(uint256 utilization, uint256 healthy) public {
        utilization = bound(utilization, BPS + 1, type(uint16).max);
        healthy = bound(healthy, 1, 28_800);
        _expectSubmitRevert(
            abi.encodeWithSelector(
                IMeteringOracle.UtilizationOutOfBounds.selector, h100, uint64(0), uint16(utilization), uint64(healthy)
            )
        );
        _submitSigned(oracle, _one(_report(h100, 0, uint64(healthy), 0, uint16(utilization), 0)), THRESHOLD);
    }

    function test_submit_rejects_utilization_above_100_percent() public {
        _expectSubmitRevert(
            abi.encodeWithSelector(IMeteringOracle.UtilizationOutOfBounds.selector, h100, uint64(0), uint16(10_001), uint64(3_600))
        );
        _submitSigned(oracle, _one(_report(h100, 0, 3_600, 0, 10_001, 0)), THRESHOLD);
    }

    function testFuzz_submit_rejects_utilization_without_healthy_time(uint256 utilization, uint256 curtailed) public {
        utilization = bound(utilization, 1, type(uint16).max);
        curtailed = bound(curtailed, 0, 28_800);
        _expectSubmitRevert(
            abi.encodeWithSelector(
                IMeteringOracle.UtilizationOutOfBounds.selector, h100, uint64(0), uint16(utilization), uint64(0)
            )
        );
        _submitSigned(oracle, _one(_report(h100, 0, 0, uint64(curtailed), uint16(utilization), 0)), THRESHOLD);
    }

    function test_submit_rejects_utilization_without_healthy_time() public {
        _expectSubmitRevert(
            abi.encodeWithSelector(IMeteringOracle.UtilizationOutOfBounds.selector, h100, uint64(0), uint16(1), uint64(0))
        );
        _submitSigned(oracle, _one(_report(h100, 0, 0, 0, 1, 0)), THRESHOLD);
    }

    function testFuzz_submit_rejects_energy_above_rated_power_plus_margin(
        uint256 gpuCount,
        uint256 power,
        uint256 marginBps,
        uint256 energy
    ) public {
        gpuCount = bound(gpuCount, 1, 1_000_000);
        power = bound(power, 1, 10_000);
        marginBps = bound(marginBps, 0, 5_000);
        MeteringOracle target = _deployOracle(EPOCH_LENGTH, uint16(marginBps), _firstSigners(5), THRESHOLD);
        uint256 assetId = _register(uint32(gpuCount), uint32(power));
        _start(target, assetId, 0);
        uint256 maxEnergy = _maxEnergyWh(gpuCount, power, EPOCH_LENGTH, marginBps);
        energy = bound(energy, maxEnergy + 1, type(uint64).max);

        _expectSubmitRevert(
            abi.encodeWithSelector(
                IMeteringOracle.EnergyOutOfBounds.selector, assetId, uint64(0), uint64(energy), maxEnergy
            )
        );
        _submitSigned(target, _one(_report(assetId, 0, 1, 0, 1, uint64(energy))), THRESHOLD);
    }

    /// Twin: 8 x 700 W for 3600 s at +20% is 6,720 Wh; 4 x 350 W with no margin is 1,400 Wh.
    function test_submit_rejects_energy_above_rated_power_plus_margin() public {
        _expectSubmitRevert(
            abi.encodeWithSelector(IMeteringOracle.EnergyOutOfBounds.selector, h100, uint64(0), uint64(6_721), 6_720)
        );
        _submitSigned(oracle, _one(_report(h100, 0, 1, 0, 1, 6_721)), THRESHOLD);

        MeteringOracle noMargin = _deployOracle(EPOCH_LENGTH, 0, _firstSigners(5), THRESHOLD);
        uint256 l40s = _register(4, 350);
        _start(noMargin, l40s, 0);
        _expectSubmitRevert(
            abi.encodeWithSelector(IMeteringOracle.EnergyOutOfBounds.selector, l40s, uint64(0), uint64(1_401), 1_400)
        );
        _submitSigned(noMargin, _one(_report(l40s, 0, 1, 0, 1, 1_401)), THRESHOLD);
    }

    /* EPOCHS */

    /// Any epoch but the asset's next one is rejected with the error for where it lies.
    function testFuzz_submit_rejects_any_epoch_but_the_next(uint64 epoch) public {
        uint256 assetId = _register(8, 700);
        uint64 next = 5;
        _start(oracle, assetId, next);
        vm.assume(epoch != next);
        uint256 endsAt = uint256(GENESIS) + (uint256(epoch) + 1) * EPOCH_LENGTH;
        bytes memory expected;
        if (endsAt > block.timestamp) {
            expected = abi.encodeWithSelector(IMeteringOracle.EpochNotEnded.selector, assetId, epoch, endsAt);
        } else if (epoch < next) {
            expected = abi.encodeWithSelector(IMeteringOracle.EpochAlreadyReported.selector, assetId, epoch);
        } else {
            expected = abi.encodeWithSelector(IMeteringOracle.EpochGap.selector, assetId, epoch, next);
        }
        _expectSubmitRevert(expected);
        _submitSigned(oracle, _one(_report(assetId, epoch, 1, 0, 1, 1)), THRESHOLD);
    }

    function test_submit_rejects_any_epoch_but_the_next() public {
        uint256 assetId = _register(8, 700);
        _start(oracle, assetId, 5);
        _expectSubmitRevert(abi.encodeWithSelector(IMeteringOracle.EpochAlreadyReported.selector, assetId, uint64(4)));
        _submitSigned(oracle, _one(_report(assetId, 4, 1, 0, 1, 1)), THRESHOLD);
        _expectSubmitRevert(abi.encodeWithSelector(IMeteringOracle.EpochGap.selector, assetId, uint64(6), uint64(5)));
        _submitSigned(oracle, _one(_report(assetId, 6, 1, 0, 1, 1)), THRESHOLD);
        // epoch 40 ends at GENESIS + 41 h, one hour after now
        _expectSubmitRevert(
            abi.encodeWithSelector(
                IMeteringOracle.EpochNotEnded.selector, assetId, uint64(40), uint256(GENESIS) + 41 * 3600
            )
        );
        _submitSigned(oracle, _one(_report(assetId, 40, 1, 0, 1, 1)), THRESHOLD);
        _submitSigned(oracle, _one(_report(assetId, 5, 1, 0, 1, 1)), THRESHOLD);
        assertTrue(oracle.hasReport(assetId, 5), "epoch 5 stored");
    }

    /* SIGNER SUBSETS */

    /// @dev Makes all ten keys the signer set with threshold `threshold`.
    function _useAllKeys(uint8 threshold) internal {
        vm.prank(admin);
        oracle.setSigners(addrs, threshold);
    }

    /// @dev `count` distinct key indices chosen by `seed`, ascending.
    function _subset(uint256 seed, uint256 count) internal pure returns (uint256[] memory) {
        return _subsetOf(seed, count, KEY_COUNT);
    }

    /// @dev `count` distinct numbers of 0..poolSize-1 chosen by `seed`, ascending.
    function _subsetOf(uint256 seed, uint256 count, uint256 poolSize) internal pure returns (uint256[] memory indices) {
        uint256[] memory pool = _range(0, poolSize);
        for (uint256 i; i < count; ++i) {
            uint256 j = i + uint256(keccak256(abi.encode(seed, i))) % (poolSize - i);
            (pool[i], pool[j]) = (pool[j], pool[i]);
        }
        indices = new uint256[](count);
        for (uint256 i; i < count; ++i) {
            indices[i] = pool[i];
        }
        for (uint256 i = 1; i < count; ++i) {
            for (uint256 j = i; j > 0 && indices[j] < indices[j - 1]; --j) {
                (indices[j], indices[j - 1]) = (indices[j - 1], indices[j]);
            }
        }
    }

    function _submitWith(uint256[] memory indices) internal {
        IMeteringOracle.Report[] memory reports = _one(_report(h100, 0, 1, 0, 1, 1));
        uint64 version = oracle.configVersion();
        IMeteringOracle.Signature[] memory sigs = _signWith(oracle.batchDigest(version, reports), indices);
        _armRevert();
        vm.prank(keeper);
        oracle.submit(version, reports, addrs, sigs);
    }

    function testFuzz_submit_accepts_any_ascending_subset_of_at_least_threshold(
        uint256 threshold,
        uint256 count,
        uint256 seed
    ) public {
        threshold = bound(threshold, 1, KEY_COUNT);
        count = bound(count, threshold, KEY_COUNT);
        _useAllKeys(uint8(threshold));
        _submitWith(_subset(seed, count));
        assertTrue(oracle.hasReport(h100, 0), "accepted");
    }

    function test_submit_accepts_any_ascending_subset_of_at_least_threshold() public {
        _useAllKeys(4);
        uint256[] memory picked = new uint256[](4);
        (picked[0], picked[1], picked[2], picked[3]) = (1, 4, 7, 9);
        _submitWith(picked);
        assertTrue(oracle.hasReport(h100, 0), "accepted");
    }

    function testFuzz_submit_rejects_subset_below_threshold(uint256 threshold, uint256 count, uint256 seed) public {
        threshold = bound(threshold, 1, KEY_COUNT);
        count = bound(count, 0, threshold - 1);
        _useAllKeys(uint8(threshold));
        _expectSubmitRevert(abi.encodeWithSelector(IMeteringOracle.QuorumNotReached.selector, count, uint8(threshold)));
        _submitWith(_subset(seed, count));
    }

    function test_submit_rejects_subset_below_threshold() public {
        _useAllKeys(10);
        _expectSubmitRevert(abi.encodeWithSelector(IMeteringOracle.QuorumNotReached.selector, 9, uint8(10)));
        _submitWith(_range(0, 9));
    }

    function testFuzz_submit_rejects_subset_out_of_order(uint256 threshold, uint256 count, uint256 seed, uint256 at)
        public
    {
        threshold = bound(threshold, 1, KEY_COUNT);
        count = bound(count, threshold < 2 ? 2 : threshold, KEY_COUNT);
        _useAllKeys(uint8(threshold));
        uint256[] memory indices = _subset(seed, count);
        at = bound(at, 0, count - 2);
        (indices[at], indices[at + 1]) = (indices[at + 1], indices[at]);
        _expectSubmitRevert(
            abi.encodeWithSelector(
                IMeteringOracle.SignersNotAscending.selector, at + 1, addrs[indices[at]], addrs[indices[at + 1]]
            )
        );
        _submitWith(indices);
    }

    function test_submit_rejects_subset_out_of_order() public {
        _useAllKeys(3);
        uint256[] memory picked = new uint256[](3);
        (picked[0], picked[1], picked[2]) = (2, 6, 5);
        _expectSubmitRevert(abi.encodeWithSelector(IMeteringOracle.SignersNotAscending.selector, 2, addrs[6], addrs[5]));
        _submitWith(picked);
    }

    /// A quorum of the set (even key indices 0, 2, 4, 6, 8; threshold 3) plus one outsider (an odd index) in
    /// its ascending place: rejected at the outsider's position, naming it.
    function testFuzz_submit_rejects_subset_with_an_outsider(uint256 count, uint256 seed, uint256 outsider) public {
        address[] memory set = new address[](5);
        for (uint256 i; i < 5; ++i) {
            set[i] = addrs[2 * i];
        }
        vm.prank(admin);
        oracle.setSigners(set, 3);
        count = bound(count, 3, 5);
        uint256[] memory members = _subsetOf(seed, count, 5);
        uint256 stranger = 2 * bound(outsider, 0, 4) + 1;
        uint256[] memory indices = new uint256[](count + 1);
        uint256 strangerAt = count; // last unless a member's key sorts after it
        uint256 k;
        for (uint256 i; i < count; ++i) {
            uint256 member = 2 * members[i];
            if (strangerAt == count && k == i && stranger < member) {
                strangerAt = k;
                indices[k++] = stranger;
            }
            indices[k++] = member;
        }
        if (k == count) indices[k] = stranger;
        IMeteringOracle.Report[] memory reports = _one(_report(h100, 0, 1, 0, 1, 1));
        IMeteringOracle.Signature[] memory sigs = _signWith(oracle.batchDigest(2, reports), indices);

        vm.expectRevert(abi.encodeWithSelector(IMeteringOracle.NotSigner.selector, strangerAt, addrs[stranger]));
        oracle.submit(2, reports, set, sigs);
    }

    function test_submit_rejects_subset_with_an_outsider() public {
        address[] memory set = new address[](3);
        (set[0], set[1], set[2]) = (addrs[0], addrs[2], addrs[4]);
        vm.prank(admin);
        oracle.setSigners(set, 3);
        uint256[] memory indices = new uint256[](4);
        (indices[0], indices[1], indices[2], indices[3]) = (0, 2, 3, 4);
        IMeteringOracle.Report[] memory reports = _one(_report(h100, 0, 1, 0, 1, 1));
        IMeteringOracle.Signature[] memory sigs = _signWith(oracle.batchDigest(2, reports), indices);
        vm.expectRevert(abi.encodeWithSelector(IMeteringOracle.NotSigner.selector, 2, addrs[3]));
        oracle.submit(2, reports, set, sigs);
    }
}
