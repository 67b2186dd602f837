// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {LeasePositions} from "../LeasePositions.sol";

/// @title LeasePositionsFactory
/// @notice Creates a LeaseMarket's position token. An external library reached by DELEGATECALL, so the
/// market stays under the contract size limit while the new token still sees the market as its creator.
library LeasePositionsFactory {
    function deploy() external returns (address) {
        return address(new LeasePositions());
    }
}
