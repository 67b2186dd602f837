// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @notice TEST DOUBLE (forge only): a settlement token with 18 decimals, to show nothing assumes USDC's six.
/// Anyone may mint.
contract MockToken18 is ERC20 {
    constructor() ERC20("Mock 18-decimal USD", "M18") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }
}
