// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC4626} from "@openzeppelin/contracts/token/ERC20/extensions/ERC4626.sol";

/// @notice Bench baseline only (scripts/benchmarks/lending.py): OpenZeppelin's plain ERC-4626 vault, nothing
/// added, so that the lending market's deposit gas can be read next to it in the same run.
contract PlainVault is ERC4626 {
    constructor(IERC20 asset_) ERC20("Plain", "PV") ERC4626(asset_) {}
}
