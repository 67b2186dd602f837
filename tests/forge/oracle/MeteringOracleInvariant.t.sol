// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IMeteringOracle} from "../../../contracts/interfaces/IMeteringOracle.sol";
import {OracleFixture} from "./MeteringOracle.t.sol";
import {OracleHandler} from "./handlers/OracleHandler.sol";

/// @notice Invariants of the MeteringOracle under random sequences of batches (valid and broken), signer
/// rotations, asset suspensions and time passing (see OracleHandler).
contract MeteringOracleInvariantTest is OracleFixture {
    OracleHandler internal handler;
    uint256[] internal assetIds;

    function setUp() public {
        _deployWorld();
        // ten keys known, the first five form the initial set (threshold 3)
        oracle = _deployOracle(EPOCH_LENGTH, MARGIN_BPS, _firstSigners(5), THRESHOLD);
        uint64[] memory firstEpochs = new uint64[](3);
        (firstEpochs[0], firstEpochs[1], firstEpochs[2]) = (0, 5, ENDED_EPOCHS - 2);
        assetIds.push(_register(8, 700)); // H100 cluster
        assetIds.push(_register(4, 350)); // L40S edge node
        assetIds.push(_register(1_000, 1_000)); // a hyperscale hall
        for (uint256 i; i < 3; ++i) {
            _start(oracle, assetIds[i], firstEpochs[i]);
        }
        uint256 unstarted = _register(2, 300);

        handler = new OracleHandler(oracle, registry, admin, keys, assetIds, firstEpochs, unstarted);
        targetContract(address(handler));
        bytes4[] memory selectors = new bytes4[](4);
        selectors[0] = OracleHandler.submit.selector;
        selectors[1] = OracleHandler.rotateSigners.selector;
        selectors[2] = OracleHandler.setAssetStatus.selector;
        selectors[3] = OracleHandler.warp.selector;
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
    }

    /// For each asset, every epoch from its first to cursor-1 has a report, and none at or beyond the cursor
    /// (nor just before the first); the cursor equals first + the reports the handler saw accepted.
    function invariant_reported_epochs_contiguous_per_asset() public view {
        for (uint256 i; i < assetIds.length; ++i) {
            uint256 assetId = assetIds[i];
            IMeteringOracle.AssetCursor memory cursor = oracle.cursorOf(assetId);
            uint64 first = handler.ghost_firstEpoch(assetId);
            assertTrue(cursor.started, "asset started");
            assertEq(cursor.nextEpoch, first + handler.ghost_reportCount(assetId), "cursor = first + accepted");
            for (uint64 epoch = first; epoch < cursor.nextEpoch; ++epoch) {
                assertTrue(oracle.hasReport(assetId, epoch), "reported epochs have no hole");
            }
            for (uint64 epoch = cursor.nextEpoch; epoch < cursor.nextEpoch + 3; ++epoch) {
                assertFalse(oracle.hasReport(assetId, epoch), "nothing at or past the cursor");
            }
            if (first > 0) assertFalse(oracle.hasReport(assetId, first - 1), "nothing before the first epoch");
        }
        IMeteringOracle.AssetCursor memory never = oracle.cursorOf(handler.unstartedAsset());
        assertFalse(never.started, "unstarted asset stays unstarted");
        assertEq(never.nextEpoch, 0, "unstarted asset has no cursor");
    }

    /// Every batch the oracle accepted carried signatures of at least `threshold` distinct signers, all in the
    /// set current (last installed by the admin) at that time.
    function invariant_each_accepted_report_had_threshold_distinct_current_signers() public view {
        assertEq(handler.ghost_acceptedWithoutCurrentQuorum(), 0, "accepted without a current quorum");
    }

    /// A stored report is the one accepted, byte for byte, forever (no later batch, proof or rotation moves it).
    function invariant_stored_reports_never_change() public view {
        for (uint256 i; i < assetIds.length; ++i) {
            uint256 assetId = assetIds[i];
            uint64 first = handler.ghost_firstEpoch(assetId);
            uint64 end = first + handler.ghost_reportCount(assetId);
            for (uint64 epoch = first; epoch < end; ++epoch) {
                assertEq(oracle.reportHashOf(assetId, epoch), handler.ghost_reportHash(assetId, epoch), "stored report");
            }
        }
    }

    /// Every batch was accepted or rejected exactly as the spec says (the check order and the exact error).
    function invariant_outcomes_follow_the_spec() public view {
        if (handler.ghost_unexpectedOutcomes() != 0) {
            fail(string.concat("unexpected outcome: ", vm.toString(handler.ghost_lastUnexpected())));
        }
    }

    /// The oracle's signer set and threshold are the ones the admin last installed.
    function invariant_signer_set_is_the_last_installed() public view {
        address[] memory stored = oracle.signers();
        address[] memory installed = handler.currentSet();
        assertEq(stored.length, installed.length, "set size");
        for (uint256 i; i < stored.length; ++i) {
            assertEq(stored[i], installed[i], "signer");
            assertTrue(oracle.isSigner(installed[i]), "isSigner");
        }
        assertEq(oracle.threshold(), handler.currentThreshold(), "threshold");
        assertEq(oracle.configVersion(), 1 + handler.ghost_rotations(), "one version per rotation");
    }

    /// The campaign really drives the handler: checked after each run.
    function afterInvariant() public view {
        assertGt(handler.ghost_calls(), 0, "handler called");
    }
}
