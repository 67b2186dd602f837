// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC721Metadata} from "@openzeppelin/contracts/token/ERC721/extensions/IERC721Metadata.sol";

/// @title IERC4907
/// @notice ERC-4907: an NFT owner names a user (here: who runs jobs on the leased GPUs) until a time.
interface IERC4907 {
    event UpdateUser(uint256 indexed tokenId, address indexed user, uint64 expires);

    function setUser(uint256 tokenId, address user, uint64 expires) external;

    function userOf(uint256 tokenId) external view returns (address);

    function userExpires(uint256 tokenId) external view returns (uint256);
}

/// @title ILeasePositions
/// @notice The lease positions of a LeaseMarket as ERC-721 tokens (token id = lease id): transferable, so
/// capacity has a secondary market, with an ERC-4907 user who may run jobs until a time. The token's owner
/// is the lessee: it extends, terminates and collects the lease's refunds in the market. A transfer clears
/// the user, as ERC-4907's reference implementation does. `tokenURI` is on-chain JSON (a base64 `data:`
/// URI: asset, offer, GPUs, start and end epoch, locked price per GPU-hour, escrow, status), read live from
/// the market, so a wallet shows the position without any server.
interface ILeasePositions is IERC721Metadata, IERC4907 {
    error OnlyMarket(address caller);
    error NotUserManager(uint256 tokenId, address caller);

    /// @notice The LeaseMarket that created this contract and alone mints positions.
    function market() external view returns (address);

    /// @notice Mints lease `leaseId` to `lessee` (market only).
    function mint(address lessee, uint256 leaseId) external;
}
