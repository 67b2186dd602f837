// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AssetRegistry} from "../../../../contracts/AssetRegistry.sol";
import {MeteringOracle} from "../../../../contracts/MeteringOracle.sol";
import {IAssetRegistry} from "../../../../contracts/interfaces/IAssetRegistry.sol";
import {IMeteringOracle} from "../../../../contracts/interfaces/IMeteringOracle.sol";
import {Test} from "../../utils/Test.sol";

/// @notice Drives the MeteringOracle through realistic sequences: batches of reports (valid ones and ones
/// broken in one way: a gap, a repeat, a future epoch, a value out of bounds, a signer outside the set, too few
/// signers, signers out of order, a stale version, a stale signer set), signer-set rotations, asset
/// suspensions and reactivations, and time passing. Signatures are made with vm.sign from known keys.
///
/// For every batch the handler predicts, from its own ghost state and the spec's check order, the exact
/// outcome (accepted, or the exact custom error) and counts any difference. On acceptance it records what was
/// stored and which signers vouched for it, against the signer set it itself last installed.
contract OracleHandler is Test {
    uint256 internal constant BPS = 10_000;
    uint256 internal constant SECONDS_PER_HOUR = 3600;
    uint256 internal constant MAX_BATCH = 5;

    enum Fault {
        None,
        Gap,
        Repeat,
        FutureEpoch,
        OutOfBounds,
        Outsider,
        BelowThreshold,
        OutOfOrder,
        StaleVersion,
        StaleSignerSet,
        UnknownAsset,
        NotStarted
    }

    MeteringOracle public immutable oracle;
    AssetRegistry public immutable registry;
    address public immutable admin;
    /// @dev A registered asset whose reporting never starts.
    uint256 public immutable unstartedAsset;

    /// @dev Every key the handler knows, ascending by address; any subset may become the signer set.
    uint256[] internal _keys;
    address[] internal _addrs;
    uint256[] internal _assets;

    /// @dev The signer set and threshold the handler last installed (its own record, not the oracle's).
    address[] internal _set;
    uint256[] internal _setKeyIndices;
    uint8 internal _threshold;
    address[] internal _previousSet;

    /* GHOSTS */

    mapping(uint256 assetId => uint64) public ghost_firstEpoch;
    mapping(uint256 assetId => uint64) public ghost_reportCount;
    mapping(uint256 assetId => mapping(uint64 epoch => bytes32)) public ghost_reportHash;
    /// @dev Accepted batches whose distinct signers were not all in the set current at acceptance, or were
    /// fewer than its threshold. Must stay zero.
    uint256 public ghost_acceptedWithoutCurrentQuorum;
    /// @dev Batches whose outcome differed from the spec's (accepted when it should fail, failed when it
    /// should pass, or failed with another error). Must stay zero.
    uint256 public ghost_unexpectedOutcomes;
    bytes public ghost_lastUnexpected;
    uint256 public ghost_calls;
    uint256 public ghost_acceptedBatches;
    uint256 public ghost_acceptedReports;
    uint256 public ghost_rejectedBatches;
    uint256 public ghost_rotations;
    uint256 public ghost_statusChanges;
    uint256 public ghost_warps;
    /// @dev The fewest distinct current signers any accepted batch carried, minus that set's threshold
    /// (type(uint256).max until a batch is accepted).
    uint256 public ghost_minQuorumSlack = type(uint256).max;

    constructor(
        MeteringOracle oracle_,
        AssetRegistry registry_,
        address admin_,
        uint256[] memory keys_,
        uint256[] memory assets_,
        uint64[] memory firstEpochs,
        uint256 unstartedAsset_
    ) {
        oracle = oracle_;
        registry = registry_;
        admin = admin_;
        unstartedAsset = unstartedAsset_;
        for (uint256 i; i < keys_.length; ++i) {
            _keys.push(keys_[i]);
            _addrs.push(vm.addr(keys_[i]));
            if (i > 0 && _addrs[i] <= _addrs[i - 1]) fail("keys must ascend by address");
        }
        for (uint256 i; i < assets_.length; ++i) {
            _assets.push(assets_[i]);
            ghost_firstEpoch[assets_[i]] = firstEpochs[i];
        }
        address[] memory current = oracle_.signers();
        for (uint256 i; i < current.length; ++i) {
            _set.push(current[i]);
            _setKeyIndices.push(_indexOf(current[i]));
        }
        _threshold = oracle_.threshold();
    }

    /* ACTIONS */

    /// @notice Submits a batch of 1..5 reports over random assets, valid or broken in one way (`faultSeed`).
    function submit(uint256 seed, uint256 faultSeed, uint256 reportCount, uint256 signerCount) external {
        ++ghost_calls;
        // half the batches are valid; the rest spread over the nine faults
        uint256 roll = bound(faultSeed, 0, 21);
        Fault fault = roll < 11 ? Fault.None : Fault(roll - 10);

        IMeteringOracle.Report[] memory reports = _buildReports(seed, bound(reportCount, 1, MAX_BATCH), fault);
        (uint256[] memory signerIndices, uint64 version, address[] memory setGiven) =
            _chooseSigners(seed, signerCount, fault);

        bytes memory expected = _predict(reports, signerIndices, version, setGiven);
        IMeteringOracle.Signature[] memory sigs = _sign(oracle.batchDigest(version, reports), signerIndices);

        try oracle.submit(version, reports, setGiven, sigs) {
            if (expected.length != 0) _unexpected(expected);
            _recordAccepted(reports, signerIndices);
        } catch (bytes memory reason) {
            ++ghost_rejectedBatches;
            if (keccak256(reason) != keccak256(expected)) _unexpected(reason);
        }
    }

    /// @notice Installs a random subset of the known keys as the signer set with a random threshold.
    function rotateSigners(uint256 seed, uint256 size, uint256 threshold) external {
        ++ghost_calls;
        size = bound(size, 1, _keys.length);
        threshold = bound(threshold, 1, size);
        uint256[] memory indices = _subset(seed, size, _keys.length);
        address[] memory newSet = new address[](size);
        for (uint256 i; i < size; ++i) {
            newSet[i] = _addrs[indices[i]];
        }
        if (threshold == _threshold && keccak256(abi.encodePacked(newSet)) == keccak256(abi.encodePacked(_set))) {
            return; // NothingChanged: not a rotation
        }
        vm.prank(admin);
        oracle.setSigners(newSet, uint8(threshold));

        _previousSet = _set;
        _set = newSet;
        _setKeyIndices = indices;
        _threshold = uint8(threshold);
        ++ghost_rotations;
    }

    /// @notice Suspends (one time in three) or reactivates one asset in the registry.
    function setAssetStatus(uint256 assetSeed, uint256 statusSeed) external {
        ++ghost_calls;
        uint256 assetId = _assets[bound(assetSeed, 0, _assets.length - 1)];
        bool active = statusSeed % 3 != 0;
        IAssetRegistry.AssetStatus target = active ? IAssetRegistry.AssetStatus.Active : IAssetRegistry.AssetStatus.Suspended;
        if (registry.statusOf(assetId) == target) return;
        vm.prank(admin);
        registry.setStatus(assetId, target);
        ++ghost_statusChanges;
    }

    /// @notice Lets up to three epochs pass.
    function warp(uint256 secondsAhead) external {
        ++ghost_calls;
        secondsAhead = bound(secondsAhead, 1, 3 * uint256(oracle.epochLength()));
        vm.warp(block.timestamp + secondsAhead);
        ++ghost_warps;
    }

    /* VIEWS FOR THE INVARIANTS */

    function assets() external view returns (uint256[] memory) {
        return _assets;
    }

    function currentSet() external view returns (address[] memory) {
        return _set;
    }

    function currentThreshold() external view returns (uint8) {
        return _threshold;
    }

    function nextEpochOf(uint256 assetId) public view returns (uint64) {
        return ghost_firstEpoch[assetId] + ghost_reportCount[assetId];
    }

    /* BUILDING BATCHES */

    function _buildReports(uint256 seed, uint256 count, Fault fault)
        internal
        view
        returns (IMeteringOracle.Report[] memory reports)
    {
        reports = new IMeteringOracle.Report[](count);
        uint64[] memory next = new uint64[](_assets.length);
        for (uint256 a; a < _assets.length; ++a) {
            next[a] = nextEpochOf(_assets[a]);
        }
        // mostly one asset catching up (runs of the same asset), sometimes interleaved
        uint256 assetIndex = uint256(keccak256(abi.encode(seed, "asset"))) % _assets.length;
        for (uint256 i; i < count; ++i) {
            uint256 r = uint256(keccak256(abi.encode(seed, i)));
            if (r % 3 == 0) assetIndex = (r >> 8) % _assets.length;
            uint256 assetId = _assets[assetIndex];
            reports[i] = _validValues(assetId, next[assetIndex], r);
            ++next[assetIndex];
        }

        uint256 at = uint256(keccak256(abi.encode(seed, "fault"))) % count;
        IMeteringOracle.Report memory target = reports[at];
        if (fault == Fault.Gap) {
            target.epoch += uint64(1 + (seed >> 16) % 3);
        } else if (fault == Fault.Repeat) {
            // an epoch at or before the asset's last reported one (or before its first)
            target.epoch = target.epoch == 0 ? 0 : target.epoch - 1 - uint64((seed >> 16) % target.epoch);
        } else if (fault == Fault.FutureEpoch) {
            target.epoch = oracle.epochAt(block.timestamp) + uint64((seed >> 16) % 3);
        } else if (fault == Fault.OutOfBounds) {
            (, uint32 gpuCount, uint32 power) = registry.meteringProfile(target.assetId);
            uint256 pick = (seed >> 16) % 3;
            if (pick == 0) {
                target.curtailedGpuSeconds = uint64(uint256(gpuCount) * oracle.epochLength() + 1 - target.gpuSeconds);
            } else if (pick == 1) {
                target.utilizationBps = uint16(BPS + 1 + (seed >> 24) % 1000);
                if (target.gpuSeconds == 0) target.gpuSeconds = 1;
            } else {
                target.energyWh = uint64(_maxEnergy(gpuCount, power) + 1 + (seed >> 24) % 1000);
            }
        } else if (fault == Fault.UnknownAsset) {
            // ids past the registry's last one (id 0, the "none loaded" sentinel, is left to its own test)
            target.assetId = registry.assetCount() + 1 + (seed >> 16) % 1000;
        } else if (fault == Fault.NotStarted) {
            target.assetId = unstartedAsset;
        }
    }

    function _validValues(uint256 assetId, uint64 epoch, uint256 r)
        internal
        view
        returns (IMeteringOracle.Report memory report)
    {
        (, uint32 gpuCount, uint32 power) = registry.meteringProfile(assetId);
        uint256 maxGpuSeconds = uint256(gpuCount) * oracle.epochLength();
        uint256 delivered = (r >> 16) % (maxGpuSeconds + 1);
        uint256 curtailed = r % 4 == 0 ? (r >> 80) % (delivered + 1) : 0;
        uint256 healthy = delivered - curtailed;
        uint256 utilization = healthy == 0 ? 0 : (r >> 120) % (BPS + 1);
        uint256 energy = (r >> 160) % (_maxEnergy(gpuCount, power) + 1);
        report = IMeteringOracle.Report(
            assetId, epoch, uint64(healthy), uint64(curtailed), uint16(utilization), uint64(energy)
        );
    }

    function _maxEnergy(uint256 gpuCount, uint256 power) internal view returns (uint256) {
        return gpuCount * power * oracle.epochLength() * (BPS + oracle.energyMarginBps()) / (SECONDS_PER_HOUR * BPS);
    }

    /// @return indices Key indices in the order their signatures are passed.
    /// @return version The config version passed.
    /// @return setGiven The signer set passed.
    function _chooseSigners(uint256 seed, uint256 signerCount, Fault fault)
        internal
        view
        returns (uint256[] memory indices, uint64 version, address[] memory setGiven)
    {
        version = oracle.configVersion();
        setGiven = _set;
        uint256 size = _set.length;
        uint256 count = bound(signerCount, _threshold, size);
        if (fault == Fault.BelowThreshold) count = bound(signerCount, 0, _threshold - 1);
        uint256[] memory chosen = _subset(uint256(keccak256(abi.encode(seed, "signers"))), count, size);
        indices = new uint256[](count);
        for (uint256 i; i < count; ++i) {
            indices[i] = _setKeyIndices[chosen[i]];
        }

        if (fault == Fault.Outsider) {
            uint256 outsider = type(uint256).max;
            for (uint256 k; k < _keys.length; ++k) {
                uint256 candidate = (k + seed % _keys.length) % _keys.length;
                if (!_inSet(_addrs[candidate])) {
                    outsider = candidate;
                    break;
                }
            }
            if (outsider != type(uint256).max) indices = _insertSorted(indices, outsider);
        } else if (fault == Fault.OutOfOrder && count >= 2) {
            uint256 at = (seed >> 32) % (count - 1);
            (indices[at], indices[at + 1]) = (indices[at + 1], indices[at]);
        } else if (fault == Fault.StaleVersion) {
            version = version - 1 - uint64((seed >> 32) % version);
        } else if (fault == Fault.StaleSignerSet && _previousSet.length != 0) {
            setGiven = _previousSet;
        }
    }

    function _sign(bytes32 digest, uint256[] memory indices)
        internal
        view
        returns (IMeteringOracle.Signature[] memory sigs)
    {
        sigs = new IMeteringOracle.Signature[](indices.length);
        for (uint256 i; i < indices.length; ++i) {
            (uint8 v, bytes32 r, bytes32 s) = vm.sign(_keys[indices[i]], digest);
            sigs[i] = IMeteringOracle.Signature(r, compactVs(v, s));
        }
    }

    /* THE SPEC, AS A PREDICTION */

    /// @dev The exact revert data the spec demands for this batch, or empty when it must be accepted. Order:
    /// version; the signer set; each signature (ascending, in the set); quorum; then per report: asset,
    /// started, ended, next epoch, GPU-seconds, utilisation, energy.
    function _predict(
        IMeteringOracle.Report[] memory reports,
        uint256[] memory signerIndices,
        uint64 version,
        address[] memory setGiven
    ) internal view returns (bytes memory) {
        uint64 current = oracle.configVersion();
        if (version != current) {
            return abi.encodeWithSelector(IMeteringOracle.ConfigVersionMismatch.selector, version, current);
        }
        bytes20 givenHash = bytes20(keccak256(abi.encodePacked(setGiven)));
        bytes20 expectedHash = bytes20(keccak256(abi.encodePacked(_set)));
        if (givenHash != expectedHash) {
            return abi.encodeWithSelector(IMeteringOracle.SignerSetMismatch.selector, givenHash, expectedHash);
        }
        address previous;
        for (uint256 i; i < signerIndices.length; ++i) {
            address signer = _addrs[signerIndices[i]];
            if (signer <= previous) {
                return abi.encodeWithSelector(IMeteringOracle.SignersNotAscending.selector, i, previous, signer);
            }
            if (!_inSet(signer)) return abi.encodeWithSelector(IMeteringOracle.NotSigner.selector, i, signer);
            previous = signer;
        }
        if (signerIndices.length < _threshold) {
            return abi.encodeWithSelector(IMeteringOracle.QuorumNotReached.selector, signerIndices.length, _threshold);
        }
        return _predictReports(reports);
    }

    function _predictReports(IMeteringOracle.Report[] memory reports) internal view returns (bytes memory) {
        uint64[] memory next = new uint64[](_assets.length);
        for (uint256 a; a < _assets.length; ++a) {
            next[a] = nextEpochOf(_assets[a]);
        }
        for (uint256 i; i < reports.length; ++i) {
            IMeteringOracle.Report memory report = reports[i];
            (IAssetRegistry.AssetStatus status, uint32 gpuCount, uint32 power) =
                registry.meteringProfile(report.assetId);
            if (status == IAssetRegistry.AssetStatus.None) {
                return abi.encodeWithSelector(IMeteringOracle.UnknownAsset.selector, report.assetId);
            }
            if (status != IAssetRegistry.AssetStatus.Active) {
                return abi.encodeWithSelector(IMeteringOracle.AssetNotActive.selector, report.assetId, status);
            }
            if (report.assetId == unstartedAsset) {
                return abi.encodeWithSelector(IMeteringOracle.ReportingNotStarted.selector, report.assetId);
            }
            uint256 a = _assetIndex(report.assetId);
            uint256 endsAt = uint256(oracle.genesis()) + (uint256(report.epoch) + 1) * oracle.epochLength();
            if (endsAt > block.timestamp) {
                return abi.encodeWithSelector(IMeteringOracle.EpochNotEnded.selector, report.assetId, report.epoch, endsAt);
            }
            if (report.epoch < next[a]) {
                return abi.encodeWithSelector(IMeteringOracle.EpochAlreadyReported.selector, report.assetId, report.epoch);
            }
            if (report.epoch > next[a]) {
                return abi.encodeWithSelector(IMeteringOracle.EpochGap.selector, report.assetId, report.epoch, next[a]);
            }
            uint256 maxGpuSeconds = uint256(gpuCount) * oracle.epochLength();
            uint256 delivered = uint256(report.gpuSeconds) + report.curtailedGpuSeconds;
            if (delivered > maxGpuSeconds) {
                return abi.encodeWithSelector(
                    IMeteringOracle.GpuSecondsOutOfBounds.selector, report.assetId, report.epoch, delivered, maxGpuSeconds
                );
            }
            if (report.utilizationBps > BPS || (report.gpuSeconds == 0 && report.utilizationBps != 0)) {
                return abi.encodeWithSelector(
                    IMeteringOracle.UtilizationOutOfBounds.selector,
                    report.assetId,
                    report.epoch,
                    report.utilizationBps,
                    report.gpuSeconds
                );
            }
            uint256 maxEnergy = _maxEnergy(gpuCount, power);
            if (report.energyWh > maxEnergy) {
                return abi.encodeWithSelector(
                    IMeteringOracle.EnergyOutOfBounds.selector, report.assetId, report.epoch, report.energyWh, maxEnergy
                );
            }
            next[a] = report.epoch + 1;
        }
        return "";
    }

    /* RECORDING */

    function _recordAccepted(IMeteringOracle.Report[] memory reports, uint256[] memory signerIndices) internal {
        ++ghost_acceptedBatches;
        // the signers that vouched: distinct, and each in the set the handler last installed
        uint256 distinct;
        bool allCurrent = true;
        for (uint256 i; i < signerIndices.length; ++i) {
            address signer = _addrs[signerIndices[i]];
            bool seen;
            for (uint256 j; j < i; ++j) {
                if (_addrs[signerIndices[j]] == signer) seen = true;
            }
            if (!seen) ++distinct;
            if (!_inSet(signer)) allCurrent = false;
        }
        if (!allCurrent || distinct < _threshold) {
            ++ghost_acceptedWithoutCurrentQuorum;
        } else if (distinct - _threshold < ghost_minQuorumSlack) {
            ghost_minQuorumSlack = distinct - _threshold;
        }
        for (uint256 i; i < reports.length; ++i) {
            IMeteringOracle.Report memory report = reports[i];
            ghost_reportHash[report.assetId][report.epoch] = oracle.hashReport(report);
            ++ghost_reportCount[report.assetId];
            ++ghost_acceptedReports;
        }
    }

    function _unexpected(bytes memory what) internal {
        ++ghost_unexpectedOutcomes;
        ghost_lastUnexpected = what;
    }

    /* HELPERS */

    function _inSet(address account) internal view returns (bool) {
        for (uint256 i; i < _set.length; ++i) {
            if (_set[i] == account) return true;
        }
        return false;
    }

    function _indexOf(address account) internal view returns (uint256) {
        for (uint256 i; i < _addrs.length; ++i) {
            if (_addrs[i] == account) return i;
        }
        revert("unknown signer");
    }

    function _assetIndex(uint256 assetId) internal view returns (uint256) {
        for (uint256 i; i < _assets.length; ++i) {
            if (_assets[i] == assetId) return i;
        }
        revert("unknown asset");
    }

    /// @dev `count` distinct numbers of 0..poolSize-1 chosen by `seed`, ascending.
    function _subset(uint256 seed, uint256 count, uint256 poolSize) internal pure returns (uint256[] memory picked) {
        uint256[] memory pool = new uint256[](poolSize);
        for (uint256 i; i < poolSize; ++i) {
            pool[i] = i;
        }
        for (uint256 i; i < count; ++i) {
            uint256 j = i + uint256(keccak256(abi.encode(seed, i))) % (poolSize - i);
            (pool[i], pool[j]) = (pool[j], pool[i]);
        }
        picked = new uint256[](count);
        for (uint256 i; i < count; ++i) {
            picked[i] = pool[i];
        }
        for (uint256 i = 1; i < count; ++i) {
            for (uint256 j = i; j > 0 && picked[j] < picked[j - 1]; --j) {
                (picked[j], picked[j - 1]) = (picked[j - 1], picked[j]);
            }
        }
    }

    function _insertSorted(uint256[] memory sorted, uint256 value) internal pure returns (uint256[] memory out) {
        out = new uint256[](sorted.length + 1);
        uint256 k;
        bool placed;
        for (uint256 i; i < sorted.length; ++i) {
            if (!placed && value < sorted[i]) {
                out[k++] = value;
                placed = true;
            }
            out[k++] = sorted[i];
        }
        if (!placed) out[k] = value;
    }
}
