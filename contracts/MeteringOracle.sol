// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {
    AccessControlDefaultAdminRules
} from "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {Hashes} from "@openzeppelin/contracts/utils/cryptography/Hashes.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {IAssetRegistry} from "./interfaces/IAssetRegistry.sol";
import {IMeteringOracle} from "./interfaces/IMeteringOracle.sol";

/// @title MeteringOracle
/// @notice Accepts quorum-signed epoch reports of what each GPU asset delivered.
/// @dev Gas shape: the signer set is committed as one 20-byte hash in the same slot as the version,
/// threshold and energy margin, and passed in calldata, so verifying a signature reads no storage
/// (ecrecover plus a merge-walk over the calldata set). Each report is one new storage slot; the asset's
/// registry profile and cursor are read once per run of consecutive reports of that asset.
contract MeteringOracle is IMeteringOracle, EIP712, AccessControlDefaultAdminRules {
    /// @inheritdoc IMeteringOracle
    bytes32 public constant ORACLE_ADMIN_ROLE = keccak256("ORACLE_ADMIN_ROLE");

    bytes32 internal constant REPORT_TYPEHASH = keccak256(
        "Report(uint256 assetId,uint64 epoch,uint64 gpuSeconds,uint64 curtailedGpuSeconds,uint16 utilizationBps,uint64 energyWh)"
    );
    bytes32 internal constant BATCH_TYPEHASH = keccak256(
        "ReportBatch(uint64 configVersion,Report[] reports)Report(uint256 assetId,uint64 epoch,uint64 gpuSeconds,uint64 curtailedGpuSeconds,uint16 utilizationBps,uint64 energyWh)"
    );
    bytes32 internal constant ROOT_TYPEHASH =
        keccak256("ReportRoot(uint64 configVersion,uint64 epoch,uint32 reportCount,bytes32 root)");

    /// @inheritdoc IMeteringOracle
    uint256 public constant MAX_SIGNERS = 31;
    uint16 public constant MAX_ENERGY_MARGIN_BPS = 5_000;
    uint64 public constant MIN_EPOCH_LENGTH = 60;
    uint64 public constant MAX_EPOCH_LENGTH = 1 days;

    uint256 internal constant BPS = 10_000;
    uint256 internal constant SECONDS_PER_HOUR = 3600;
    uint256 internal constant MASK_48 = (1 << 48) - 1;
    uint256 internal constant POSTED_AT_SHIFT = 160;

    /// @inheritdoc IMeteringOracle
    IAssetRegistry public immutable assetRegistry;
    /// @inheritdoc IMeteringOracle
    uint64 public immutable genesis;
    /// @inheritdoc IMeteringOracle
    uint64 public immutable epochLength;

    /// @dev Everything `submit` needs besides calldata, in one slot.
    struct Config {
        bytes20 signerSetHash;
        uint64 configVersion;
        uint8 threshold;
        uint16 energyMarginBps;
    }

    Config internal _config;
    address[] internal _signers;
    mapping(address account => bool) public isSigner;
    mapping(uint256 assetId => AssetCursor) internal _cursors;
    /// @dev One word per report: gpuSeconds [0,48) | curtailedGpuSeconds [48,96) | energyWh [96,144) |
    /// utilizationBps [144,160) | postedAt [160,200). Written in one SSTORE (a struct assignment is not).
    mapping(uint256 assetId => mapping(uint64 epoch => uint256)) internal _reports;
    mapping(uint64 epoch => RootInfo) internal _roots;

    error BeforeGenesis(uint256 timestamp, uint64 genesis);

    /// @param registry The AssetRegistry whose assets are metered.
    /// @param genesis_ Start of epoch 0 (Unix time).
    /// @param epochLength_ Seconds per epoch (60 s .. 1 day; 3600 by default in the deploy script).
    /// @param energyMarginBps_ How far above rated power metered energy may go (bps).
    /// @param initialSigners The first signer set, ascending.
    /// @param initialThreshold Signatures needed, 1..initialSigners.length.
    constructor(
        IAssetRegistry registry,
        uint64 genesis_,
        uint64 epochLength_,
        uint16 energyMarginBps_,
        address[] memory initialSigners,
        uint8 initialThreshold,
        uint48 adminDelay,
        address admin
    ) EIP712("Wellhead MeteringOracle", "1") AccessControlDefaultAdminRules(adminDelay, admin) {
        if (epochLength_ < MIN_EPOCH_LENGTH || epochLength_ > MAX_EPOCH_LENGTH) {
            revert InvalidEpochConfig(genesis_, epochLength_);
        }
        if (energyMarginBps_ > MAX_ENERGY_MARGIN_BPS) {
            revert EnergyMarginOutOfRange(energyMarginBps_, MAX_ENERGY_MARGIN_BPS);
        }
        assetRegistry = registry;
        genesis = genesis_;
        epochLength = epochLength_;
        _config.energyMarginBps = energyMarginBps_;
        _grantRole(ORACLE_ADMIN_ROLE, admin);
        _setSigners(initialSigners, initialThreshold);
    }

    /* CONFIGURATION */

    /// @inheritdoc IMeteringOracle
    function setSigners(address[] calldata newSigners, uint8 newThreshold) external onlyRole(ORACLE_ADMIN_ROLE) {
        if (newThreshold == _config.threshold && _hashSignerSet(newSigners) == _config.signerSetHash) {
            revert NothingChanged();
        }
        _setSigners(newSigners, newThreshold);
    }

    /// @inheritdoc IMeteringOracle
    function setEnergyMargin(uint16 newMarginBps) external onlyRole(ORACLE_ADMIN_ROLE) {
        if (newMarginBps > MAX_ENERGY_MARGIN_BPS) revert EnergyMarginOutOfRange(newMarginBps, MAX_ENERGY_MARGIN_BPS);
        uint16 previous = _config.energyMarginBps;
        if (previous == newMarginBps) revert NothingChanged();

        _config.energyMarginBps = newMarginBps;

        emit EnergyMarginSet(previous, newMarginBps);
    }

    /// @inheritdoc IMeteringOracle
    function startReporting(uint256 assetId, uint64 firstEpoch) external onlyRole(ORACLE_ADMIN_ROLE) {
        if (assetRegistry.statusOf(assetId) == IAssetRegistry.AssetStatus.None) revert UnknownAsset(assetId);
        AssetCursor storage cursor = _cursors[assetId];
        if (cursor.started) revert ReportingAlreadyStarted(assetId, cursor.nextEpoch);

        cursor.started = true;
        cursor.nextEpoch = firstEpoch;

        emit ReportingStarted(assetId, firstEpoch);
    }

    /* POSTING */

    /// @inheritdoc IMeteringOracle
    function submit(
        uint64 version,
        Report[] calldata reports,
        address[] calldata signerSet,
        Signature[] calldata signatures
    ) external {
        uint256 count = reports.length;
        if (count == 0) revert EmptyBatch();
        Config memory config = _config;
        if (version != config.configVersion) revert ConfigVersionMismatch(version, config.configVersion);

        bytes32[] memory hashes = new bytes32[](count);
        for (uint256 i; i < count; ++i) {
            hashes[i] = _hashReport(reports[i]);
        }
        bytes32 digest =
            _hashTypedDataV4(keccak256(abi.encode(BATCH_TYPEHASH, version, keccak256(abi.encodePacked(hashes)))));

        _verifyQuorum(digest, config, signerSet, signatures);
        _storeReports(reports, hashes, config.energyMarginBps);
    }

    /// @inheritdoc IMeteringOracle
    function commitRoot(
        uint64 version,
        RootCommitment calldata commitment,
        address[] calldata signerSet,
        Signature[] calldata signatures
    ) external {
        Config memory config = _config;
        if (version != config.configVersion) revert ConfigVersionMismatch(version, config.configVersion);
        if (commitment.root == bytes32(0)) revert EmptyRoot(commitment.epoch);
        uint256 endsAt = _epochEnd(commitment.epoch);
        if (endsAt > block.timestamp) revert RootEpochNotEnded(commitment.epoch, endsAt);
        // A void root (voided by the admin, or committed under a rotated-out set) may be replaced by the
        // current set's; a live one never.
        RootInfo memory existing = _roots[commitment.epoch];
        if (existing.root != bytes32(0) && !_isVoid(existing, version)) {
            revert RootAlreadyCommitted(commitment.epoch, existing.root);
        }

        bytes32 digest = _rootDigest(version, commitment);
        _verifyQuorum(digest, config, signerSet, signatures);

        _roots[commitment.epoch] = RootInfo(commitment.root, commitment.reportCount, version, false);

        emit RootCommitted(commitment.epoch, commitment.root, commitment.reportCount, digest);
    }

    /// @inheritdoc IMeteringOracle
    function proveReports(Report[] calldata reports, bytes32[][] calldata proofs) external {
        uint256 count = reports.length;
        if (count == 0) revert EmptyBatch();
        if (proofs.length != count) revert ProofCountMismatch(count, proofs.length);

        Config memory config = _config;
        bytes32[] memory hashes = new bytes32[](count);
        for (uint256 i; i < count; ++i) {
            hashes[i] = _verifyProof(reports[i], proofs[i], config.configVersion);
        }

        _storeReports(reports, hashes, config.energyMarginBps);
    }

    /// @inheritdoc IMeteringOracle
    function voidRoot(uint64 epoch) external onlyRole(ORACLE_ADMIN_ROLE) {
        RootInfo storage record = _roots[epoch];
        bytes32 root = record.root;
        if (root == bytes32(0)) revert RootNotCommitted(epoch);
        if (record.voided) revert RootAlreadyVoided(epoch);

        record.voided = true;

        emit RootVoided(epoch, root, record.configVersion);
    }

    /* PROOF AT SETTLEMENT */

    /// @inheritdoc IMeteringOracle
    function verifyReport(Report calldata report, bytes32[] calldata proof) external view returns (bytes32 reportHash) {
        Config memory config = _config;
        reportHash = _verifyProof(report, proof, config.configVersion);
        _checkUnstored(report, report.epoch, config.energyMarginBps);
    }

    /// @inheritdoc IMeteringOracle
    function verifyReportRange(Report[] calldata reports, uint256 firstLeaf, bytes32[] calldata proof)
        external
        view
        returns (bytes32[] memory reportHashes)
    {
        uint256 count = reports.length;
        if (count == 0) revert EmptyBatch();
        Config memory config = _config;
        uint64 epoch = reports[0].epoch;
        RootInfo memory record = _roots[epoch];
        if (record.root == bytes32(0)) revert RootNotCommitted(epoch);
        if (_isVoid(record, config.configVersion)) revert RootVoid(epoch, record.configVersion, config.configVersion);
        uint256 leafCount = record.reportCount;
        if (firstLeaf >= leafCount || count > leafCount - firstLeaf) {
            revert RangeOutOfBounds(epoch, firstLeaf, count, record.reportCount);
        }

        reportHashes = new bytes32[](count);
        for (uint256 i; i < count; ++i) {
            uint64 given = reports[i].epoch;
            if (given != epoch) revert MixedEpochs(i, given, epoch);
            reportHashes[i] = _hashReport(reports[i]);
        }
        uint256 expected = _rangeProofLength(firstLeaf, count, leafCount);
        if (proof.length != expected) revert RangeProofLength(epoch, proof.length, expected);
        if (_rangeRoot(reportHashes, firstLeaf, leafCount, proof) != record.root) {
            revert InvalidRangeProof(epoch, firstLeaf, count);
        }

        for (uint256 i; i < count; ++i) {
            _checkUnstored(reports[i], epoch, config.energyMarginBps);
        }
    }

    /* VIEWS */

    /// @inheritdoc IMeteringOracle
    function configVersion() external view returns (uint64) {
        return _config.configVersion;
    }

    /// @inheritdoc IMeteringOracle
    function threshold() external view returns (uint8) {
        return _config.threshold;
    }

    /// @inheritdoc IMeteringOracle
    function energyMarginBps() external view returns (uint16) {
        return _config.energyMarginBps;
    }

    /// @inheritdoc IMeteringOracle
    function signers() external view returns (address[] memory) {
        return _signers;
    }

    /// @inheritdoc IMeteringOracle
    function signerSetHash() external view returns (bytes20) {
        return _config.signerSetHash;
    }

    /// @inheritdoc IMeteringOracle
    function epochAt(uint256 timestamp) external view returns (uint64) {
        if (timestamp < genesis) revert BeforeGenesis(timestamp, genesis);
        return SafeCast.toUint64((timestamp - genesis) / epochLength);
    }

    /// @inheritdoc IMeteringOracle
    function epochEnd(uint64 epoch) external view returns (uint256) {
        return _epochEnd(epoch);
    }

    /// @inheritdoc IMeteringOracle
    function cursorOf(uint256 assetId) external view returns (AssetCursor memory) {
        return _cursors[assetId];
    }

    /// @inheritdoc IMeteringOracle
    function hasReport(uint256 assetId, uint64 epoch) external view returns (bool) {
        return _reports[assetId][epoch] != 0;
    }

    /// @inheritdoc IMeteringOracle
    function getReport(uint256 assetId, uint64 epoch) public view returns (Report memory report, uint40 postedAt) {
        uint256 word = _reports[assetId][epoch];
        if (word == 0) revert ReportNotFound(assetId, epoch);
        report = Report({
            assetId: assetId,
            epoch: epoch,
            gpuSeconds: uint64(word & MASK_48),
            curtailedGpuSeconds: uint64((word >> 48) & MASK_48),
            utilizationBps: uint16(word >> 144),
            energyWh: uint64((word >> 96) & MASK_48)
        });
        postedAt = uint40(word >> POSTED_AT_SHIFT);
    }

    /// @inheritdoc IMeteringOracle
    function reportHashOf(uint256 assetId, uint64 epoch) external view returns (bytes32) {
        (Report memory report,) = getReport(assetId, epoch);
        return keccak256(
            abi.encode(
                REPORT_TYPEHASH,
                report.assetId,
                report.epoch,
                report.gpuSeconds,
                report.curtailedGpuSeconds,
                report.utilizationBps,
                report.energyWh
            )
        );
    }

    /// @inheritdoc IMeteringOracle
    function rootOf(uint64 epoch) external view returns (bytes32 root, uint32 reportCount) {
        RootInfo memory record = _roots[epoch];
        return (record.root, record.reportCount);
    }

    /// @inheritdoc IMeteringOracle
    function rootInfo(uint64 epoch) external view returns (RootInfo memory info) {
        info = _roots[epoch];
        if (info.root != bytes32(0)) info.voided = _isVoid(info, _config.configVersion);
    }

    /// @inheritdoc IMeteringOracle
    function cursorsOf(uint256[] calldata assetIds) external view returns (AssetCursor[] memory cursors) {
        cursors = new AssetCursor[](assetIds.length);
        for (uint256 i; i < assetIds.length; ++i) {
            cursors[i] = _cursors[assetIds[i]];
        }
    }

    /// @inheritdoc IMeteringOracle
    function hashReport(Report calldata report) external pure returns (bytes32) {
        return _hashReport(report);
    }

    /// @inheritdoc IMeteringOracle
    function batchDigest(uint64 version, Report[] calldata reports) external view returns (bytes32) {
        bytes32[] memory hashes = new bytes32[](reports.length);
        for (uint256 i; i < reports.length; ++i) {
            hashes[i] = _hashReport(reports[i]);
        }
        return _hashTypedDataV4(keccak256(abi.encode(BATCH_TYPEHASH, version, keccak256(abi.encodePacked(hashes)))));
    }

    /// @inheritdoc IMeteringOracle
    function rootDigest(uint64 version, RootCommitment calldata commitment) external view returns (bytes32) {
        return _rootDigest(version, commitment);
    }

    /// @inheritdoc IMeteringOracle
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    /* INTERNAL: SIGNATURES */

    /// @dev Signatures, then quorum (Chainlink OCR2's order). Each signature must recover (OpenZeppelin's
    /// ECDSA rejects high-s and invalid v, and never returns a zero address without an error), the recovered
    /// signers must rise strictly (so none counts twice), and each must be in the calldata set, which
    /// itself must hash to the committed set. Both lists ascend, so one forward walk checks membership.
    function _verifyQuorum(
        bytes32 digest,
        Config memory config,
        address[] calldata signerSet,
        Signature[] calldata signatures
    ) internal pure {
        bytes20 given = _hashSignerSet(signerSet);
        if (given != config.signerSetHash) revert SignerSetMismatch(given, config.signerSetHash);

        uint256 setSize = signerSet.length;
        uint256 cursor;
        address previous;
        for (uint256 i; i < signatures.length; ++i) {
            Signature calldata signature = signatures[i];
            (address recovered, ECDSA.RecoverError error, bytes32 errorArg) =
                ECDSA.tryRecover(digest, signature.r, signature.vs);
            if (error == ECDSA.RecoverError.InvalidSignatureS) revert HighSSignature(i, errorArg);
            if (error != ECDSA.RecoverError.NoError) revert InvalidSignature(i);
            if (recovered <= previous) revert SignersNotAscending(i, previous, recovered);
            while (cursor < setSize && signerSet[cursor] < recovered) {
                // `cursor < setSize <= MAX_SIGNERS`: cannot overflow.
                unchecked {
                    ++cursor;
                }
            }
            if (cursor == setSize || signerSet[cursor] != recovered) revert NotSigner(i, recovered);
            unchecked {
                ++cursor;
            }
            previous = recovered;
        }
        if (signatures.length < config.threshold) revert QuorumNotReached(signatures.length, config.threshold);
    }

    function _setSigners(address[] memory newSigners, uint8 newThreshold) internal {
        uint256 count = newSigners.length;
        if (count > MAX_SIGNERS) revert TooManySigners(count, MAX_SIGNERS);
        if (newThreshold == 0 || newThreshold > count) revert ThresholdOutOfRange(newThreshold, count);
        address previous;
        for (uint256 i; i < count; ++i) {
            address signer = newSigners[i];
            if (signer == address(0)) revert ZeroSigner(i);
            if (signer <= previous) revert SignerSetNotAscending(i, previous, signer);
            previous = signer;
        }

        address[] storage current = _signers;
        for (uint256 i; i < current.length; ++i) {
            isSigner[current[i]] = false;
        }
        for (uint256 i; i < count; ++i) {
            isSigner[newSigners[i]] = true;
        }
        _signers = newSigners;
        uint64 version = _config.configVersion + 1;
        _config.configVersion = version;
        _config.threshold = newThreshold;
        _config.signerSetHash = bytes20(keccak256(abi.encodePacked(newSigners)));

        emit SignersSet(version, newSigners, newThreshold);
    }

    function _hashSignerSet(address[] calldata signerSet) internal pure returns (bytes20) {
        return bytes20(keccak256(abi.encodePacked(signerSet)));
    }

    /* INTERNAL: REPORTS */

    /// @dev Per report, in this order: the asset exists and is active, the epoch has ended, it is exactly
    /// the asset's next epoch, and the values are physically possible. Consecutive reports of one asset
    /// share one registry read and one cursor write.
    function _storeReports(Report[] calldata reports, bytes32[] memory hashes, uint16 marginBps) internal {
        bool loaded;
        uint256 currentAsset;
        uint64 next;
        uint256 maxGpuSeconds;
        uint256 maxEnergyWh;
        for (uint256 i; i < reports.length; ++i) {
            Report calldata report = reports[i];
            uint256 assetId = report.assetId;
            if (!loaded || assetId != currentAsset) {
                if (loaded) _cursors[currentAsset].nextEpoch = next;
                (maxGpuSeconds, maxEnergyWh) = _boundsOf(assetId, marginBps);
                AssetCursor memory cursor = _cursors[assetId];
                if (!cursor.started) revert ReportingNotStarted(assetId);
                next = cursor.nextEpoch;
                currentAsset = assetId;
                loaded = true;
            }

            uint64 epoch = report.epoch;
            uint256 endsAt = _epochEnd(epoch);
            if (endsAt > block.timestamp) revert EpochNotEnded(assetId, epoch, endsAt);
            if (epoch < next) revert EpochAlreadyReported(assetId, epoch);
            if (epoch > next) revert EpochGap(assetId, epoch, next);

            _reports[assetId][epoch] = _checkedWord(report, assetId, epoch, maxGpuSeconds, maxEnergyWh);

            emit ReportAccepted(assetId, epoch, hashes[i]);

            // `epoch == next` and `next` came from storage, where it only ever grows by one per report.
            unchecked {
                next = epoch + 1;
            }
        }
        _cursors[currentAsset].nextEpoch = next;
    }

    /// @dev A proven report's checks for use without storing it (`verifyReport`, `verifyReportRange`): the asset
    /// exists and is active, its reporting started, nothing is stored for `epoch` or later, the values are
    /// within the bounds.
    function _checkUnstored(Report calldata report, uint64 epoch, uint16 marginBps) internal view {
        uint256 assetId = report.assetId;
        (uint256 maxGpuSeconds, uint256 maxEnergyWh) = _boundsOf(assetId, marginBps);
        AssetCursor memory cursor = _cursors[assetId];
        if (!cursor.started) revert ReportingNotStarted(assetId);
        // Epochs below the cursor were stored by `submit`/`proveReports` (the stored report governs) or came
        // before reporting started. The market's own cursor keeps the rest contiguous.
        if (epoch < cursor.nextEpoch) revert EpochAlreadyReported(assetId, epoch);
        _checkedWord(report, assetId, epoch, maxGpuSeconds, maxEnergyWh);
    }

    /// @dev The asset must exist and be active; returns its physical bounds for one epoch.
    function _boundsOf(uint256 assetId, uint16 marginBps)
        internal
        view
        returns (uint256 maxGpuSeconds, uint256 maxEnergyWh)
    {
        (IAssetRegistry.AssetStatus status, uint32 gpuCount, uint32 powerPerGpuW) = assetRegistry.meteringProfile(assetId);
        if (status == IAssetRegistry.AssetStatus.None) revert UnknownAsset(assetId);
        if (status != IAssetRegistry.AssetStatus.Active) revert AssetNotActive(assetId, status);
        uint256 length = epochLength;
        maxGpuSeconds = uint256(gpuCount) * length;
        maxEnergyWh = uint256(gpuCount) * powerPerGpuW * length * (BPS + marginBps) / (SECONDS_PER_HOUR * BPS);
    }

    /// @dev The report's leaf, proven against its epoch's live root.
    function _verifyProof(Report calldata report, bytes32[] calldata proof, uint64 currentVersion)
        internal
        view
        returns (bytes32 leaf)
    {
        uint64 epoch = report.epoch;
        RootInfo memory record = _roots[epoch];
        if (record.root == bytes32(0)) revert RootNotCommitted(epoch);
        if (_isVoid(record, currentVersion)) revert RootVoid(epoch, record.configVersion, currentVersion);
        leaf = _hashReport(report);
        if (!MerkleProof.verifyCalldata(proof, record.root, leaf)) revert InvalidProof(report.assetId, epoch);
    }

    /// @dev How many hashes the range proof of leaves [first, first + count) of a `size`-leaf tree holds: per
    /// layer, one left sibling when the run starts at an odd position and one right sibling when it ends at an
    /// even position that is not the layer's last (see `IMeteringOracle.verifyReportRange`).
    function _rangeProofLength(uint256 first, uint256 count, uint256 size) internal pure returns (uint256 length) {
        uint256 last = first + count - 1;
        // `first <= last < size <= type(uint32).max` and `length` is at most 2 per layer (64 layers at most):
        // nothing here can overflow.
        unchecked {
            while (size > 1) {
                if (first & 1 == 1) ++length;
                if (last & 1 == 0 && last + 1 < size) ++length;
                first >>= 1;
                last >>= 1;
                size = (size + 1) >> 1;
            }
        }
    }

    /// @dev The root a range proof gives for the run of `leaves` starting at position `first` of a `size`-leaf
    /// tree; `proof` has the length `_rangeProofLength` gives. Each layer's run is computed in a scratch copy,
    /// overwriting it from the front (node j of the next layer is written after nodes >= j were read).
    function _rangeRoot(bytes32[] memory leaves, uint256 first, uint256 size, bytes32[] calldata proof)
        internal
        pure
        returns (bytes32)
    {
        uint256 count = leaves.length;
        bytes32[] memory nodes = new bytes32[](count);
        for (uint256 i; i < count; ++i) {
            nodes[i] = leaves[i];
        }
        uint256 used;
        // Positions and counts are below `size <= type(uint32).max`, `used` below the proof's length: no
        // arithmetic here can overflow.
        unchecked {
            while (size > 1) {
                uint256 i;
                uint256 out;
                if (first & 1 == 1) {
                    nodes[0] = Hashes.commutativeKeccak256(proof[used++], nodes[0]);
                    i = 1;
                    out = 1;
                }
                for (; i + 1 < count; i += 2) {
                    nodes[out++] = Hashes.commutativeKeccak256(nodes[i], nodes[i + 1]);
                }
                if (i < count) {
                    // The run's last node, at an even position: paired with the right sibling, or promoted
                    // when it is the layer's last node.
                    nodes[out++] = first + i + 1 < size ? Hashes.commutativeKeccak256(nodes[i], proof[used++]) : nodes[i];
                }
                count = out;
                first >>= 1;
                size = (size + 1) >> 1;
            }
        }
        return nodes[0];
    }

    /// @dev Voided by the admin, or committed under a signer set that has since been rotated out.
    function _isVoid(RootInfo memory record, uint64 currentVersion) internal pure returns (bool) {
        return record.voided || record.configVersion != currentVersion;
    }

    /// @dev The physical bounds, then the report packed into its storage word.
    function _checkedWord(
        Report calldata report,
        uint256 assetId,
        uint64 epoch,
        uint256 maxGpuSeconds,
        uint256 maxEnergyWh
    ) internal view returns (uint256) {
        uint64 gpuSeconds = report.gpuSeconds;
        uint64 curtailed = report.curtailedGpuSeconds;
        uint16 utilizationBps = report.utilizationBps;
        uint64 energyWh = report.energyWh;
        uint256 delivered = uint256(gpuSeconds) + curtailed;
        if (delivered > maxGpuSeconds) revert GpuSecondsOutOfBounds(assetId, epoch, delivered, maxGpuSeconds);
        if (utilizationBps > BPS || (gpuSeconds == 0 && utilizationBps != 0)) {
            revert UtilizationOutOfBounds(assetId, epoch, utilizationBps, gpuSeconds);
        }
        if (energyWh > maxEnergyWh) revert EnergyOutOfBounds(assetId, epoch, energyWh, maxEnergyWh);

        // The bounds above keep every value below 2**48: gpuCount <= 1e6 and epochLength <= 86,400 s give at
        // most 8.64e10 GPU-seconds and 3.6e11 Wh (10 kW per GPU, +50% margin). postedAt is never zero, which is
        // how an empty slot is told from an outage report of all zeros.
        return uint256(gpuSeconds) | (uint256(curtailed) << 48) | (uint256(energyWh) << 96)
            | (uint256(utilizationBps) << 144) | (block.timestamp << POSTED_AT_SHIFT);
    }

    /// @dev `keccak256(abi.encode(REPORT_TYPEHASH, report))`, hashed straight from calldata: a Report is six
    /// static words, already ABI-encoded there. Words with dirty high bits would hash differently from the
    /// values the contract reads, but every field of every stored report is read (and so validated) by the
    /// checks in `_storeReports`, which revert on such words.
    function _hashReport(Report calldata report) internal pure returns (bytes32 digest) {
        bytes32 typehash = REPORT_TYPEHASH;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, typehash)
            calldatacopy(add(ptr, 0x20), report, 0xc0)
            digest := keccak256(ptr, 0xe0)
        }
    }

    function _rootDigest(uint64 version, RootCommitment calldata commitment) internal view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(abi.encode(ROOT_TYPEHASH, version, commitment.epoch, commitment.reportCount, commitment.root))
        );
    }

    function _epochEnd(uint64 epoch) internal view returns (uint256) {
        return uint256(genesis) + (uint256(epoch) + 1) * epochLength;
    }
}
