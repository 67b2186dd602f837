// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IMeteringOracle} from "../../../contracts/interfaces/IMeteringOracle.sol";
import {OracleFixture} from "./MeteringOracle.t.sol";

/// @notice Range proofs: for any tree of 1..MAX_LEAVES reports (built here bottom-up with the daemon's rule: sorted
/// pairs, an odd last node promoted unchanged) and any contiguous run of its leaves, `verifyReportRange` accepts
/// the run with its true range proof and returns the leaves, and rejects it with any one proof hash flipped, a
/// report changed, or a hash too many. Fuzzed over the tree size and the run, with a concrete twin.
contract RangeProofsTest is OracleFixture {
    uint256 internal constant ASSETS = 4;
    uint256 internal constant MAX_LEAVES = 100;
    uint64 internal constant EPOCH = 3;

    uint256[] internal assetIds;

    function setUp() public {
        _deployWorld();
        oracle = _deployOracle(EPOCH_LENGTH, MARGIN_BPS, _firstSigners(5), THRESHOLD);
        for (uint256 i; i < ASSETS; ++i) {
            uint256 assetId = _register(8, 700);
            _start(oracle, assetId, 0);
            assetIds.push(assetId);
        }
    }

    /// For any tree size, run and tampered hash: the true proof verifies, the tampered ones revert.
    function testFuzz_verify_report_range_accepts_the_true_proof_and_rejects_a_flipped_hash(
        uint256 size,
        uint256 first,
        uint256 count,
        uint256 flipAt
    ) public {
        size = bound(size, 1, MAX_LEAVES);
        first = bound(first, 0, size - 1);
        count = bound(count, 1, size - first);
        _checkRange(size, first, count, flipAt);
    }

    function test_verify_report_range_accepts_the_true_proof_and_rejects_a_flipped_hash_concrete() public {
        // 21 leaves, the run [7, 12): left siblings at layers 0, 1 and 2, right ones at layers 2 and 4.
        _checkRange(21, 7, 5, 2);
    }

    function test_verify_report_range_of_a_whole_tree_takes_an_empty_proof() public {
        (IMeteringOracle.Report[] memory reports, bytes32[][] memory layers) = _tree(13);
        _commitRoot(layers);
        bytes32[] memory proof = _rangeProof(layers, 0, 13);
        assertEq(proof.length, 0, "no hash for the whole tree");
        assertEq(oracle.verifyReportRange(reports, 0, proof).length, 13, "every leaf");
    }

    function _checkRange(uint256 size, uint256 first, uint256 count, uint256 flipAt) internal {
        (IMeteringOracle.Report[] memory reports, bytes32[][] memory layers) = _tree(size);
        _commitRoot(layers);
        IMeteringOracle.Report[] memory run = new IMeteringOracle.Report[](count);
        for (uint256 i; i < count; ++i) {
            run[i] = reports[first + i];
        }
        bytes32[] memory proof = _rangeProof(layers, first, count);
        assertLe(proof.length, 2 * (layers.length - 1), "at most two hashes per layer");

        bytes32[] memory hashes = oracle.verifyReportRange(run, first, proof);
        assertEq(hashes.length, count, "one hash per report");
        for (uint256 i; i < count; ++i) {
            assertEq(hashes[i], layers[0][first + i], "the leaf");
        }

        bytes memory invalid =
            abi.encodeWithSelector(IMeteringOracle.InvalidRangeProof.selector, EPOCH, first, count);
        if (proof.length != 0) {
            uint256 at = flipAt % proof.length;
            proof[at] ^= bytes32(uint256(1));
            vm.expectRevert(invalid);
            oracle.verifyReportRange(run, first, proof);
            proof[at] ^= bytes32(uint256(1));
        }
        uint256 changed = flipAt % count;
        run[changed].energyWh += 1;
        vm.expectRevert(invalid);
        oracle.verifyReportRange(run, first, proof);
        run[changed].energyWh -= 1;

        bytes32[] memory longer = new bytes32[](proof.length + 1);
        for (uint256 i; i < proof.length; ++i) {
            longer[i] = proof[i];
        }
        vm.expectRevert(
            abi.encodeWithSelector(IMeteringOracle.RangeProofLength.selector, EPOCH, proof.length + 1, proof.length)
        );
        oracle.verifyReportRange(run, first, longer);
    }

    /// @dev `size` distinct reports of the registered assets (in turn) and the tree's layers, leaves first.
    function _tree(uint256 size)
        internal
        view
        returns (IMeteringOracle.Report[] memory reports, bytes32[][] memory layers)
    {
        reports = new IMeteringOracle.Report[](size);
        uint256 depth;
        for (uint256 n = size; n > 1; n = (n + 1) / 2) {
            ++depth;
        }
        layers = new bytes32[][](depth + 1);
        layers[0] = new bytes32[](size);
        for (uint256 i; i < size; ++i) {
            reports[i] = _report(assetIds[i % ASSETS], EPOCH, uint64(100 + i), 0, 5_000, uint64(10 + i));
            layers[0][i] = oracle.hashReport(reports[i]);
        }
        for (uint256 level; level < depth; ++level) {
            bytes32[] memory below = layers[level];
            bytes32[] memory above = new bytes32[]((below.length + 1) / 2);
            for (uint256 j; j < above.length; ++j) {
                above[j] = 2 * j + 1 < below.length ? _hashPair(below[2 * j], below[2 * j + 1]) : below[2 * j];
            }
            layers[level + 1] = above;
        }
    }

    /// @dev The range proof as `IMeteringOracle.verifyReportRange` documents it: per layer, the left sibling
    /// when the run starts at an odd position, then the right one when it ends at an even, not-last position.
    function _rangeProof(bytes32[][] memory layers, uint256 first, uint256 count)
        internal
        pure
        returns (bytes32[] memory proof)
    {
        proof = new bytes32[](2 * layers.length);
        uint256 length;
        uint256 lo = first;
        uint256 hi = first + count - 1;
        for (uint256 level; level + 1 < layers.length; ++level) {
            if (lo % 2 == 1) proof[length++] = layers[level][lo - 1];
            if (hi % 2 == 0 && hi + 1 < layers[level].length) proof[length++] = layers[level][hi + 1];
            lo /= 2;
            hi /= 2;
        }
        assembly ("memory-safe") {
            mstore(proof, length)
        }
    }

    function _commitRoot(bytes32[][] memory layers) internal {
        IMeteringOracle.RootCommitment memory commitment =
            IMeteringOracle.RootCommitment(EPOCH, uint32(layers[0].length), layers[layers.length - 1][0]);
        uint64 version = oracle.configVersion();
        IMeteringOracle.Signature[] memory sigs =
            _signWith(oracle.rootDigest(version, commitment), _range(0, oracle.threshold()));
        oracle.commitRoot(version, commitment, oracle.signers(), sigs);
    }

    function _hashPair(bytes32 a, bytes32 b) internal pure returns (bytes32) {
        return a < b ? keccak256(abi.encodePacked(a, b)) : keccak256(abi.encodePacked(b, a));
    }
}
