// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IAssetRegistry} from "./IAssetRegistry.sol";

/// @title IMeteringOracle
/// @notice The meter's on-chain end. A quorum (m of n) of authorised signers vouches, with EIP-712
/// signatures, for what each GPU asset delivered in each epoch; the oracle accepts a report only when the
/// quorum signed exactly those numbers for this chain, this contract and the current signer set, the epoch
/// has ended and is the next one for that asset, and the values are physically possible for the asset.
///
/// Typed data (domain: name "Wellhead MeteringOracle", version "1", chainId, verifyingContract):
///   Report(uint256 assetId,uint64 epoch,uint64 gpuSeconds,uint64 curtailedGpuSeconds,uint16 utilizationBps,uint64 energyWh)
///   ReportBatch(uint64 configVersion,Report[] reports)
///   ReportRoot(uint64 configVersion,uint64 epoch,uint32 reportCount,bytes32 root)
/// `configVersion` rises with every signer-set change, so a signature is worthless for any other set.
///
/// Ways to post: `submit` stores a signed batch (many assets, or several epochs of one asset, one set of
/// signatures for all); at fleet scale `commitRoot` stores one signed Merkle root of an epoch's reports, and
/// each report is proven where it is used: the LeaseMarket's `settleWithProof`/`settleMany` check it with
/// `verifyReport`, its `settleRange` a contiguous run of an epoch's leaves with `verifyReportRange` (nothing
/// stored here), or anyone stores it with `proveReports`.
///
/// Root voiding: a root records the signer-set version it was committed under. A rotation (`setSigners`,
/// which bumps the version) voids every root of an older version for every report not yet used (stored by
/// `proveReports`, or settled with a proof); the ORACLE_ADMIN_ROLE may also `voidRoot(epoch)` a compromised
/// quorum's root (`RootVoided`). A proof against a void root reverts `RootVoid`; the current set may commit
/// the epoch's root again.
///
/// Epochs: `epoch = (t - genesis) / epochLength`; an epoch can be reported once it has ended, each asset's
/// epochs in order with no gap. An outage is reported as zero healthy GPU-seconds, never skipped.
interface IMeteringOracle {
    /// @notice What one asset delivered in one epoch (the signed message).
    /// @param assetId The AssetRegistry id.
    /// @param epoch The epoch number.
    /// @param gpuSeconds Healthy GPU-seconds delivered (no long scrape gap, no XID error).
    /// @param curtailedGpuSeconds GPU-seconds idled on purpose for a grid demand-response request (not a fault).
    /// @param utilizationBps Mean GPU utilisation over healthy time, in bps (0 when gpuSeconds is 0).
    /// @param energyWh IT energy the asset's GPUs consumed, in Wh.
    struct Report {
        uint256 assetId;
        uint64 epoch;
        uint64 gpuSeconds;
        uint64 curtailedGpuSeconds;
        uint16 utilizationBps;
        uint64 energyWh;
    }

    /// @notice A secp256k1 signature over an EIP-712 digest in EIP-2098's compact form: `vs` is `s` with the
    /// recovery bit (v - 27) in its top bit. 64 bytes instead of 96 of calldata per signature; OpenZeppelin's
    /// ECDSA still refuses an `s` in the upper half order.
    struct Signature {
        bytes32 r;
        bytes32 vs;
    }

    /// @notice One signed Merkle root of an epoch's reports (leaves: each report's EIP-712 struct hash,
    /// combined as OpenZeppelin's MerkleProof does: commutative keccak256 of sorted pairs).
    struct RootCommitment {
        uint64 epoch;
        uint32 reportCount;
        bytes32 root;
    }

    /// @notice A committed root. `voided` (in views) is true when the admin voided it or the signer set it was
    /// committed under (`configVersion`) has been rotated out.
    struct RootInfo {
        bytes32 root;
        uint32 reportCount;
        uint64 configVersion;
        bool voided;
    }

    /// @notice Where an asset's reporting stands.
    struct AssetCursor {
        uint64 nextEpoch;
        bool started;
    }

    /* EVENTS */

    event SignersSet(uint64 indexed configVersion, address[] signers, uint8 threshold);
    event EnergyMarginSet(uint16 previousBps, uint16 energyMarginBps);
    event ReportingStarted(uint256 indexed assetId, uint64 firstEpoch);
    /// @notice One per stored report. The batch's signatures are in the transaction's calldata; its digest is
    /// `batchDigest(configVersion, reports)`.
    /// @param reportHash The report's EIP-712 struct hash (also a leaf of a committed root).
    event ReportAccepted(uint256 indexed assetId, uint64 indexed epoch, bytes32 reportHash);
    event RootCommitted(uint64 indexed epoch, bytes32 root, uint32 reportCount, bytes32 digest);
    /// @notice The admin voided an epoch's root (a compromised quorum); its unused reports can no longer be proven.
    event RootVoided(uint64 indexed epoch, bytes32 root, uint64 configVersion);

    /* ERRORS */

    // signer-set configuration
    error ThresholdOutOfRange(uint8 threshold, uint256 signerCount);
    error TooManySigners(uint256 signerCount, uint256 maxSigners);
    error ZeroSigner(uint256 index);
    error SignerSetNotAscending(uint256 index, address previous, address current);
    error EnergyMarginOutOfRange(uint16 energyMarginBps, uint16 maxBps);
    error NothingChanged();
    error InvalidEpochConfig(uint64 genesis, uint64 epochLength);

    // signatures and quorum
    error ConfigVersionMismatch(uint64 given, uint64 current);
    error SignerSetMismatch(bytes20 given, bytes20 expected);
    error InvalidSignature(uint256 index);
    error HighSSignature(uint256 index, bytes32 s);
    error SignersNotAscending(uint256 index, address previous, address recovered);
    error NotSigner(uint256 index, address recovered);
    error QuorumNotReached(uint256 signatures, uint8 threshold);

    // reports
    error EmptyBatch();
    error UnknownAsset(uint256 assetId);
    error AssetNotActive(uint256 assetId, IAssetRegistry.AssetStatus status);
    error ReportingNotStarted(uint256 assetId);
    error ReportingAlreadyStarted(uint256 assetId, uint64 nextEpoch);
    error EpochNotEnded(uint256 assetId, uint64 epoch, uint256 endsAt);
    error EpochAlreadyReported(uint256 assetId, uint64 epoch);
    error EpochGap(uint256 assetId, uint64 given, uint64 expected);
    error GpuSecondsOutOfBounds(uint256 assetId, uint64 epoch, uint256 given, uint256 max);
    error UtilizationOutOfBounds(uint256 assetId, uint64 epoch, uint16 utilizationBps, uint64 gpuSeconds);
    error EnergyOutOfBounds(uint256 assetId, uint64 epoch, uint64 energyWh, uint256 max);
    error ReportNotFound(uint256 assetId, uint64 epoch);

    // commitments
    error RootAlreadyCommitted(uint64 epoch, bytes32 root);
    error RootNotCommitted(uint64 epoch);
    error RootEpochNotEnded(uint64 epoch, uint256 endsAt);
    error EmptyRoot(uint64 epoch);
    error ProofCountMismatch(uint256 reports, uint256 proofs);
    error InvalidProof(uint256 assetId, uint64 epoch);
    error RootVoid(uint64 epoch, uint64 rootConfigVersion, uint64 currentConfigVersion);
    error RootAlreadyVoided(uint64 epoch);

    // range proofs
    error MixedEpochs(uint256 index, uint64 epoch, uint64 expected);
    error RangeOutOfBounds(uint64 epoch, uint256 firstLeaf, uint256 count, uint32 reportCount);
    error RangeProofLength(uint64 epoch, uint256 given, uint256 expected);
    error InvalidRangeProof(uint64 epoch, uint256 firstLeaf, uint256 count);

    /* ROLES */

    /// @notice Changes the signer set and the energy margin, starts an asset's reporting, voids roots.
    function ORACLE_ADMIN_ROLE() external view returns (bytes32);

    /* CONFIGURATION */

    /// @notice Replaces the signer set: `signers` strictly ascending, none zero, at most MAX_SIGNERS,
    /// 1 <= threshold <= signers.length. Bumps `configVersion`, which invalidates every signature made
    /// for an earlier set and voids every root committed under one (reports already used stay).
    function setSigners(address[] calldata signers, uint8 threshold) external;

    /// @notice Sets the margin (bps) above rated power that metered energy may reach.
    function setEnergyMargin(uint16 energyMarginBps) external;

    /// @notice Registers the first epoch an asset reports. Once per asset: nothing else about past epochs
    /// can ever be changed.
    function startReporting(uint256 assetId, uint64 firstEpoch) external;

    /* POSTING */

    /// @notice Stores a batch of reports that a quorum signed together.
    /// @param configVersion The signer-set version the signatures were made for.
    /// @param reports Sorted or not; each asset's reports must be in epoch order.
    /// @param signers The current signer set (must hash to the committed one), ascending.
    /// @param signatures At least `threshold` signatures, by distinct signers in ascending address order.
    function submit(
        uint64 configVersion,
        Report[] calldata reports,
        address[] calldata signers,
        Signature[] calldata signatures
    ) external;

    /// @notice Stores a quorum-signed Merkle root of an epoch's reports: once the epoch has ended, and only if
    /// the epoch has no root or its root is void.
    function commitRoot(
        uint64 configVersion,
        RootCommitment calldata commitment,
        address[] calldata signers,
        Signature[] calldata signatures
    ) external;

    /// @notice Stores reports proven against their epoch's committed root. Anyone may call.
    function proveReports(Report[] calldata reports, bytes32[][] calldata proofs) external;

    /// @notice Voids an epoch's root (ORACLE_ADMIN_ROLE): for a compromised quorum. Reports already used stay.
    function voidRoot(uint64 epoch) external;

    /// @notice Checks a report for use without storing it (proof at settlement), applying every check
    /// `proveReports` applies except contiguity, which the caller keeps: the epoch's root is committed and
    /// live (`RootNotCommitted`, `RootVoid`), the proof holds (`InvalidProof`), the asset exists and is active,
    /// its reporting started, no report of it is stored for this epoch or later (`EpochAlreadyReported`), and
    /// the values are within the physical bounds.
    /// @return reportHash The report's EIP-712 struct hash (the leaf).
    function verifyReport(Report calldata report, bytes32[] calldata proof) external view returns (bytes32 reportHash);

    /// @notice `verifyReport` for a contiguous run of one epoch's leaves with one range proof (keepers settle
    /// runs of assets: at most two hashes per tree layer for the whole run instead of a full proof per report).
    ///
    /// The tree is the one `commitRoot` signs: leaves in the committed order, each layer's nodes paired left to
    /// right with OpenZeppelin's commutative keccak256 (sorted pair), an odd last node promoted unchanged to the
    /// next layer; the layer sizes follow from the root's `reportCount` (n, ceil(n/2), ..., 1).
    ///
    /// Proof layout: walking the layers from the leaves up, with the run at positions [lo, hi] of a layer of
    /// size s (starting at [firstLeaf, firstLeaf + reports.length - 1] and moving to [lo / 2, hi / 2]), the
    /// layer consumes, in this order:
    ///   1. the left sibling, node lo - 1, when lo is odd;
    ///   2. the right sibling, node hi + 1, when hi is even and hi + 1 < s (when hi = s - 1 is even, that
    ///      node is promoted and takes nothing).
    /// Nothing more: the proof must have exactly the length this walk consumes (`RangeProofLength`), and it
    /// must end at the committed root (`InvalidRangeProof`). A run that covers a whole tree takes an empty proof.
    ///
    /// Checks, in this order: `reports` is not empty (`EmptyBatch`); the epoch's root (that of `reports[0]`)
    /// is committed and live (`RootNotCommitted`, `RootVoid`); the run lies within `reportCount`
    /// (`RangeOutOfBounds`); every report is of that epoch (`MixedEpochs`); the proof's length and the proof;
    /// then per report, as `verifyReport`: the asset exists and is active, its reporting started, no report
    /// of it is stored for this epoch or later, and the values are within the physical bounds.
    /// @param reports The leaves [firstLeaf, firstLeaf + reports.length), in leaf order.
    /// @param firstLeaf The first report's leaf index in the epoch's tree.
    /// @param proof The boundary siblings, in the order above.
    /// @return reportHashes Each report's EIP-712 struct hash (its leaf), in the order of `reports`.
    function verifyReportRange(Report[] calldata reports, uint256 firstLeaf, bytes32[] calldata proof)
        external
        view
        returns (bytes32[] memory reportHashes);

    /* VIEWS */

    function assetRegistry() external view returns (IAssetRegistry);

    function genesis() external view returns (uint64);

    function epochLength() external view returns (uint64);

    function MAX_SIGNERS() external view returns (uint256);

    function configVersion() external view returns (uint64);

    function threshold() external view returns (uint8);

    function energyMarginBps() external view returns (uint16);

    /// @notice The current signer set, ascending.
    function signers() external view returns (address[] memory);

    /// @notice The committed hash of the current signer set (first 20 bytes of keccak256 of the packed set).
    function signerSetHash() external view returns (bytes20);

    function isSigner(address account) external view returns (bool);

    /// @notice The epoch containing `timestamp` (reverts before genesis).
    function epochAt(uint256 timestamp) external view returns (uint64);

    /// @notice Unix time at which `epoch` ends (and can be reported).
    function epochEnd(uint64 epoch) external view returns (uint256);

    function cursorOf(uint256 assetId) external view returns (AssetCursor memory);

    function hasReport(uint256 assetId, uint64 epoch) external view returns (bool);

    /// @notice A stored report; reverts ReportNotFound.
    function getReport(uint256 assetId, uint64 epoch) external view returns (Report memory report, uint40 postedAt);

    /// @notice The EIP-712 struct hash of a stored report: the audit trail's report digest.
    function reportHashOf(uint256 assetId, uint64 epoch) external view returns (bytes32);

    function rootOf(uint64 epoch) external view returns (bytes32 root, uint32 reportCount);

    /// @notice An epoch's root with the version it was committed under and whether it is void now.
    function rootInfo(uint64 epoch) external view returns (RootInfo memory);

    /// @notice The cursors of many assets in one call (the daemon reads a whole fleet with it).
    function cursorsOf(uint256[] calldata assetIds) external view returns (AssetCursor[] memory);

    /// @notice EIP-712 struct hash of `report`.
    function hashReport(Report calldata report) external pure returns (bytes32);

    /// @notice The EIP-712 digest a quorum signs for `submit`.
    function batchDigest(uint64 configVersion, Report[] calldata reports) external view returns (bytes32);

    /// @notice The EIP-712 digest a quorum signs for `commitRoot`.
    function rootDigest(uint64 configVersion, RootCommitment calldata commitment) external view returns (bytes32);

    function domainSeparator() external view returns (bytes32);
}
