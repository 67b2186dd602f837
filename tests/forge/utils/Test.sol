// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Vm} from "./Vm.sol";

/// @notice The small test base every forge test here inherits: cheatcodes, assertions that revert with the
/// values that differ, `bound` for fuzz inputs, `makeAddr` for named actors, and the invariant target lists
/// that forge reads by ABI (`targetContracts`, `targetSelectors`, `targetSenders`).
abstract contract Test {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    struct FuzzSelector {
        address addr;
        bytes4[] selectors;
    }

    address[] private _targetContracts;
    address[] private _targetSenders;
    FuzzSelector[] private _targetSelectors;

    error AssertionFailed(string message);

    /* INVARIANT TARGETS */

    function targetContract(address target) internal {
        _targetContracts.push(target);
    }

    function targetSender(address sender) internal {
        _targetSenders.push(sender);
    }

    function targetSelector(FuzzSelector memory selector) internal {
        _targetSelectors.push(selector);
    }

    function targetContracts() public view returns (address[] memory) {
        return _targetContracts;
    }

    function targetSenders() public view returns (address[] memory) {
        return _targetSenders;
    }

    function targetSelectors() public view returns (FuzzSelector[] memory) {
        return _targetSelectors;
    }

    /* ACTORS */

    function makeAddr(string memory name) internal returns (address account) {
        account = vm.addr(uint256(keccak256(bytes(name))));
        vm.label(account, name);
    }

    function makeKey(string memory name) internal returns (address account, uint256 key) {
        key = uint256(keccak256(bytes(name)));
        account = vm.addr(key);
        vm.label(account, name);
    }

    /* SIGNATURES */

    /// @dev EIP-2098's `vs`: a low `s` with the recovery bit (v - 27) in its top bit.
    function compactVs(uint8 v, bytes32 s) internal pure returns (bytes32) {
        return bytes32(uint256(s) | (uint256(v - 27) << 255));
    }

    /* FUZZ INPUTS */

    /// @dev Maps `x` into [min, max] without discarding runs (forge-std's `bound`, simplified).
    function bound(uint256 x, uint256 min, uint256 max) internal pure returns (uint256) {
        if (min > max) revert AssertionFailed("bound: min > max");
        if (x >= min && x <= max) return x;
        uint256 size = max - min + 1;
        if (size == 0) return x; // full range
        return min + (x % size);
    }

    /* ASSERTIONS */

    function fail(string memory message) internal pure {
        revert AssertionFailed(message);
    }

    function assertTrue(bool condition, string memory message) internal pure {
        if (!condition) revert AssertionFailed(message);
    }

    function assertFalse(bool condition, string memory message) internal pure {
        if (condition) revert AssertionFailed(message);
    }

    function assertEq(uint256 a, uint256 b, string memory message) internal pure {
        if (a != b) revert AssertionFailed(string.concat(message, ": ", vm.toString(a), " != ", vm.toString(b)));
    }

    function assertEq(int256 a, int256 b, string memory message) internal pure {
        if (a != b) revert AssertionFailed(string.concat(message, ": ", vm.toString(a), " != ", vm.toString(b)));
    }

    function assertEq(address a, address b, string memory message) internal pure {
        if (a != b) revert AssertionFailed(string.concat(message, ": ", vm.toString(a), " != ", vm.toString(b)));
    }

    function assertEq(bytes32 a, bytes32 b, string memory message) internal pure {
        if (a != b) revert AssertionFailed(string.concat(message, ": ", vm.toString(a), " != ", vm.toString(b)));
    }

    function assertEq(bool a, bool b, string memory message) internal pure {
        if (a != b) revert AssertionFailed(message);
    }

    function assertLe(uint256 a, uint256 b, string memory message) internal pure {
        if (a > b) revert AssertionFailed(string.concat(message, ": ", vm.toString(a), " > ", vm.toString(b)));
    }

    function assertGe(uint256 a, uint256 b, string memory message) internal pure {
        if (a < b) revert AssertionFailed(string.concat(message, ": ", vm.toString(a), " < ", vm.toString(b)));
    }

    function assertLt(uint256 a, uint256 b, string memory message) internal pure {
        if (a >= b) revert AssertionFailed(string.concat(message, ": ", vm.toString(a), " >= ", vm.toString(b)));
    }

    function assertGt(uint256 a, uint256 b, string memory message) internal pure {
        if (a <= b) revert AssertionFailed(string.concat(message, ": ", vm.toString(a), " <= ", vm.toString(b)));
    }

    function assertApproxEqAbs(uint256 a, uint256 b, uint256 maxDelta, string memory message) internal pure {
        uint256 delta = a > b ? a - b : b - a;
        if (delta > maxDelta) {
            revert AssertionFailed(
                string.concat(message, ": |", vm.toString(a), " - ", vm.toString(b), "| > ", vm.toString(maxDelta))
            );
        }
    }
}
