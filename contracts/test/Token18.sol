// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title Token18 — TEST DOUBLE, never deployed outside the tests
/// @notice A plain settlement token with 18 decimals (like DAI), to check that nothing in the suite assumes
/// the six decimals of USDC. Anyone may mint.
contract Token18 is ERC20 {
    constructor() ERC20("Eighteen-Decimal USD (test double)", "USD18") {}

    /// @notice Test faucet: mints `amount` to `to`.
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }
}
