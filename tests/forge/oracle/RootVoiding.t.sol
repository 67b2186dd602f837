// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";

import {IMeteringOracle} from "../../../contracts/interfaces/IMeteringOracle.sol";
import {Vm} from "../utils/Vm.sol";
import {OracleFixture} from "./MeteringOracle.t.sol";

/// @notice Root voiding: a root is bound to the signer-set version it was committed under. Any rotation voids
/// every root of an older version for the reports not yet used; the admin may void a root; a proof against a
/// void root reverts `RootVoid`; the current set may commit the epoch again. Fuzzed over which epochs were
/// proven before a rotation, with a concrete twin.
contract RootVoidingTest is OracleFixture {
    uint256 internal constant ASSETS = 4;
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

    /// For any subset of assets proven before a rotation: those reports stay stored; every other report of
    /// the old root reverts `RootVoid` (through `proveReports` and `verifyReport`); the new set's root of the
    /// same epoch proves them.
    function testFuzz_rotation_voids_only_the_unused_reports_of_old_roots(uint8 provenMask, uint8 rotations) public {
        provenMask = uint8(bound(provenMask, 0, (1 << ASSETS) - 1));
        rotations = uint8(bound(rotations, 1, 3));
        _checkRotation(provenMask, rotations);
    }

    function test_rotation_voids_only_the_unused_reports_of_old_roots_concrete() public {
        // Assets 0 and 2 proven before one rotation; 1 and 3 need the new set's root.
        _checkRotation(0x5, 1);
    }

    /// For any epoch with a root: after `voidRoot` no proof against it holds, and a new root can be committed.
    function testFuzz_void_root_blocks_every_proof_until_recommitted(uint64 epoch, uint8 asset) public {
        epoch = uint64(bound(epoch, 0, ENDED_EPOCHS - 1));
        asset = uint8(bound(asset, 0, ASSETS - 1));
        _checkVoidRoot(epoch, asset);
    }

    function test_void_root_blocks_every_proof_until_recommitted_concrete() public {
        _checkVoidRoot(0, 1);
    }

    function test_void_root_reverts_for_non_admin_missing_or_already_void_root() public {
        (IMeteringOracle.Report[] memory reports,) = _reports(0, 1);
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(IMeteringOracle.RootNotCommitted.selector, uint64(0)));
        oracle.voidRoot(0);
        _commit(0, reports);
        bytes32 role = oracle.ORACLE_ADMIN_ROLE();
        vm.prank(keeper);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, keeper, role));
        oracle.voidRoot(0);
        vm.prank(admin);
        oracle.voidRoot(0);
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(IMeteringOracle.RootAlreadyVoided.selector, uint64(0)));
        oracle.voidRoot(0);
    }

    function test_live_root_cannot_be_replaced() public {
        (IMeteringOracle.Report[] memory reports, bytes32 root) = _reports(0, 1);
        _commit(0, reports);
        IMeteringOracle.RootCommitment memory again = IMeteringOracle.RootCommitment(0, 4, bytes32(uint256(1)));
        uint64 version = oracle.configVersion();
        address[] memory set = oracle.signers();
        IMeteringOracle.Signature[] memory sigs = _signWith(oracle.rootDigest(version, again), _range(0, THRESHOLD));
        vm.expectRevert(abi.encodeWithSelector(IMeteringOracle.RootAlreadyCommitted.selector, uint64(0), root));
        oracle.commitRoot(version, again, set, sigs);
    }

    /* HELPERS */

    function _checkRotation(uint8 provenMask, uint8 rotations) internal {
        uint64 epoch = 0;
        (IMeteringOracle.Report[] memory reports,) = _reports(epoch, 1);
        bytes32[][] memory proofs = _commit(epoch, reports);
        uint64 oldVersion = oracle.configVersion();
        for (uint256 i; i < ASSETS; ++i) {
            if (provenMask & (1 << i) != 0) oracle.proveReports(_oneReport(reports[i]), _oneProof(proofs[i]));
        }

        for (uint256 r; r < rotations; ++r) {
            vm.prank(admin);
            oracle.setSigners(_firstSigners(5), uint8(r % 2 == 0 ? THRESHOLD + 1 : THRESHOLD));
        }
        uint64 newVersion = oracle.configVersion();
        assertEq(newVersion, oldVersion + rotations, "one version per rotation");
        IMeteringOracle.RootInfo memory info = oracle.rootInfo(epoch);
        assertTrue(info.voided, "old root void");
        assertEq(info.configVersion, oldVersion, "committed under the old version");

        for (uint256 i; i < ASSETS; ++i) {
            if (provenMask & (1 << i) != 0) {
                assertTrue(oracle.hasReport(assetIds[i], epoch), "used report stays");
                continue;
            }
            bytes memory voidError =
                abi.encodeWithSelector(IMeteringOracle.RootVoid.selector, epoch, oldVersion, newVersion);
            vm.expectRevert(voidError);
            oracle.verifyReport(reports[i], proofs[i]);
            vm.expectRevert(voidError);
            oracle.proveReports(_oneReport(reports[i]), _oneProof(proofs[i]));
        }

        bytes32[][] memory fresh = _commit(epoch, reports);
        for (uint256 i; i < ASSETS; ++i) {
            if (provenMask & (1 << i) != 0) continue;
            assertEq(oracle.verifyReport(reports[i], fresh[i]), oracle.hashReport(reports[i]), "new root proves it");
        }
    }

    function _checkVoidRoot(uint64 epoch, uint8 asset) internal {
        (IMeteringOracle.Report[] memory reports,) = _reports(epoch, 2);
        bytes32[][] memory proofs = _commit(epoch, reports);
        uint64 version = oracle.configVersion();
        assertEq(oracle.verifyReport(reports[asset], proofs[asset]), oracle.hashReport(reports[asset]), "live");

        bytes32 root = oracle.rootInfo(epoch).root;
        vm.recordLogs();
        vm.prank(admin);
        oracle.voidRoot(epoch);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        assertEq(logs.length, 1, "one event");
        assertEq(logs[0].topics[0], IMeteringOracle.RootVoided.selector, "RootVoided");
        assertEq(logs[0].topics[1], bytes32(uint256(epoch)), "indexed epoch");
        assertEq(keccak256(logs[0].data), keccak256(abi.encode(root, version)), "root and version");

        vm.expectRevert(abi.encodeWithSelector(IMeteringOracle.RootVoid.selector, epoch, version, version));
        oracle.verifyReport(reports[asset], proofs[asset]);
        (IMeteringOracle.Report[] memory honest,) = _reports(epoch, 3);
        bytes32[][] memory honestProofs = _commit(epoch, honest);
        assertEq(oracle.verifyReport(honest[asset], honestProofs[asset]), oracle.hashReport(honest[asset]), "again");
    }

    /// @dev One report per asset for `epoch` (values scaled by `seed` so different trees differ), and the
    /// 4-leaf tree's root.
    function _reports(uint64 epoch, uint64 seed) internal view returns (IMeteringOracle.Report[] memory reports, bytes32 root) {
        reports = new IMeteringOracle.Report[](ASSETS);
        bytes32[] memory leaves = new bytes32[](ASSETS);
        for (uint256 i; i < ASSETS; ++i) {
            reports[i] = _report(assetIds[i], epoch, uint64(1000 * seed + i), 0, 5_000, 100 * seed);
            leaves[i] = oracle.hashReport(reports[i]);
        }
        root = _hashPair(_hashPair(leaves[0], leaves[1]), _hashPair(leaves[2], leaves[3]));
    }

    /// @dev Commits the 4-leaf root of `reports` with the current set; returns each leaf's proof.
    function _commit(uint64 epoch, IMeteringOracle.Report[] memory reports) internal returns (bytes32[][] memory proofs) {
        bytes32[] memory leaves = new bytes32[](ASSETS);
        for (uint256 i; i < ASSETS; ++i) {
            leaves[i] = oracle.hashReport(reports[i]);
        }
        bytes32 left = _hashPair(leaves[0], leaves[1]);
        bytes32 right = _hashPair(leaves[2], leaves[3]);
        proofs = new bytes32[][](ASSETS);
        for (uint256 i; i < ASSETS; ++i) {
            proofs[i] = new bytes32[](2);
            proofs[i][0] = leaves[i ^ 1];
            proofs[i][1] = i < 2 ? right : left;
        }
        IMeteringOracle.RootCommitment memory commitment =
            IMeteringOracle.RootCommitment(epoch, uint32(ASSETS), _hashPair(left, right));
        uint64 version = oracle.configVersion();
        IMeteringOracle.Signature[] memory sigs =
            _signWith(oracle.rootDigest(version, commitment), _range(0, oracle.threshold()));
        oracle.commitRoot(version, commitment, oracle.signers(), sigs);
    }

    function _hashPair(bytes32 a, bytes32 b) internal pure returns (bytes32) {
        return a < b ? keccak256(abi.encodePacked(a, b)) : keccak256(abi.encodePacked(b, a));
    }

    function _oneReport(IMeteringOracle.Report memory report) internal pure returns (IMeteringOracle.Report[] memory) {
        return _one(report);
    }

    function _oneProof(bytes32[] memory proof) internal pure returns (bytes32[][] memory proofs) {
        proofs = new bytes32[][](1);
        proofs[0] = proof;
    }
}
