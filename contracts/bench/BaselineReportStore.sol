// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title BaselineReportStore
/// @notice The bench's floor for MeteringOracle.submit (scripts/benchmarks/oracle.py), not part of the suite:
/// it only recovers each signature with the ecrecover precompile over a digest it is given, and stores one
/// word per report. No EIP-712 hashing, no signer set, no ordering or quorum, no asset, epoch or bound check,
/// no event. Same calldata shape as `submit` (reports and (v, r, s) signatures), so the ratio measures what
/// the oracle's checks cost on top of the unavoidable work.
contract BaselineReportStore {
    /// @dev Same layout as IMeteringOracle.Report / Signature, so the calldata is the same size.
    struct Report {
        uint256 assetId;
        uint64 epoch;
        uint64 gpuSeconds;
        uint64 curtailedGpuSeconds;
        uint16 utilizationBps;
        uint64 energyWh;
    }

    struct Signature {
        uint8 v;
        bytes32 r;
        bytes32 s;
    }

    error InvalidSignature(uint256 index);

    /// @notice One packed word per (asset, epoch): the values and the time they were stored.
    mapping(uint256 assetId => mapping(uint64 epoch => uint256)) public word;

    function submit(bytes32 digest, Report[] calldata reports, Signature[] calldata signatures) external {
        for (uint256 i; i < signatures.length; ++i) {
            // the recovered address must at least exist, or the recovery could be skipped altogether
            if (ecrecover(digest, signatures[i].v, signatures[i].r, signatures[i].s) == address(0)) {
                revert InvalidSignature(i);
            }
        }
        for (uint256 i; i < reports.length; ++i) {
            Report calldata report = reports[i];
            word[report.assetId][report.epoch] = uint256(report.gpuSeconds) | uint256(report.curtailedGpuSeconds) << 48
                | uint256(report.energyWh) << 96 | uint256(report.utilizationBps) << 144 | block.timestamp << 160;
        }
    }
}
