// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AssetShares} from "../AssetShares.sol";

/// @title AssetSharesFactory
/// @notice Creates an asset's share token. An external library: it is deployed once and reached by
/// DELEGATECALL, so the AssetRegistry stays under the contract size limit while the new token still sees the
/// registry as its deployer (`msg.sender`). Tokens are created, not cloned, because ERC20Permit binds the
/// token's name and address into immutables.
library AssetSharesFactory {
    function deploy(uint256 assetId, string calldata name, string calldata symbol, uint256 maxSupply)
        external
        returns (address)
    {
        return address(new AssetShares{salt: bytes32(assetId)}(assetId, name, symbol, maxSupply));
    }
}
