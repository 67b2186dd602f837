// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";
import {IERC721Metadata} from "@openzeppelin/contracts/token/ERC721/extensions/IERC721Metadata.sol";
import {Base64} from "@openzeppelin/contracts/utils/Base64.sol";
import {Strings} from "@openzeppelin/contracts/utils/Strings.sol";

import {ILeaseMarket} from "./interfaces/ILeaseMarket.sol";

import {IERC4907, ILeasePositions} from "./interfaces/ILeasePositions.sol";

/// @title LeasePositions
/// @notice ERC-721 lease positions with ERC-4907 users. Created by the LeaseMarket in its constructor.
contract LeasePositions is ILeasePositions, ERC721 {
    struct UserInfo {
        address user;
        uint64 expires;
    }

    /// @inheritdoc ILeasePositions
    address public immutable market;

    mapping(uint256 tokenId => UserInfo) internal _users;

    constructor() ERC721("Wellhead GPU Lease", "WH-LEASE") {
        market = msg.sender;
    }

    /// @inheritdoc ILeasePositions
    function mint(address lessee, uint256 leaseId) external {
        if (msg.sender != market) revert OnlyMarket(msg.sender);
        // `_mint`, not `_safeMint`: no receiver callback runs in the middle of opening a lease.
        _mint(lessee, leaseId);
    }

    /// @inheritdoc IERC4907
    function setUser(uint256 tokenId, address user, uint64 expires) external {
        address owner = _requireOwned(tokenId);
        if (!_isAuthorized(owner, msg.sender, tokenId)) revert NotUserManager(tokenId, msg.sender);
        _users[tokenId] = UserInfo(user, expires);
        emit UpdateUser(tokenId, user, expires);
    }

    /// @inheritdoc IERC4907
    function userOf(uint256 tokenId) external view returns (address) {
        UserInfo memory info = _users[tokenId];
        return info.expires >= block.timestamp ? info.user : address(0);
    }

    /// @inheritdoc IERC4907
    function userExpires(uint256 tokenId) external view returns (uint256) {
        return _users[tokenId].expires;
    }

    /// @inheritdoc IERC721Metadata
    /// @dev On-chain JSON (ERC-721 metadata) so that any wallet shows the lease without a server: asset, GPUs,
    /// term in epochs, locked price and status, read live from the market. Every value is a number or one of
    /// the fixed status words: nothing user-chosen is spliced into the JSON, so it needs no escaping.
    function tokenURI(uint256 tokenId) public view override(ERC721, IERC721Metadata) returns (string memory) {
        _requireOwned(tokenId);
        ILeaseMarket.Lease memory lease = ILeaseMarket(market).getLease(tokenId);
        uint256 assetId = ILeaseMarket(market).offerTerms(lease.offerId).assetId;
        bytes memory json = abi.encodePacked(
            '{"name":"Wellhead GPU Lease #',
            Strings.toString(tokenId),
            '","description":"A lease of metered GPU capacity on Wellhead: billed each epoch for what the meter proves was delivered, credited when uptime falls below its SLA.","attributes":[',
            _trait("Asset", assetId),
            _trait("Offer", lease.offerId),
            _trait("GPUs", lease.gpus)
        );
        json = abi.encodePacked(
            json,
            _trait("Start epoch", lease.startEpoch),
            _trait("End epoch", lease.endEpoch),
            _trait("Price per GPU-hour (base units)", lease.pricePerGpuHour),
            _trait("Escrow (base units)", lease.escrow),
            '{"trait_type":"Status","value":"',
            _statusName(lease.status),
            '"}]}'
        );
        return string.concat("data:application/json;base64,", Base64.encode(json));
    }

    function supportsInterface(bytes4 interfaceId) public view override(ERC721, IERC165) returns (bool) {
        return interfaceId == type(IERC4907).interfaceId || super.supportsInterface(interfaceId);
    }

    /// @dev A transfer clears the user (ERC-4907's reference behaviour): the new owner names its own.
    function _update(address to, uint256 tokenId, address auth) internal override returns (address from) {
        from = super._update(to, tokenId, auth);
        if (from != to && from != address(0) && _users[tokenId].user != address(0)) {
            delete _users[tokenId];
            emit UpdateUser(tokenId, address(0), 0);
        }
    }

    function _trait(string memory name, uint256 value) internal pure returns (bytes memory) {
        return abi.encodePacked('{"trait_type":"', name, '","value":', Strings.toString(value), "},");
    }

    function _statusName(ILeaseMarket.LeaseStatus status) internal pure returns (string memory) {
        if (status == ILeaseMarket.LeaseStatus.Active) return "Active";
        if (status == ILeaseMarket.LeaseStatus.Terminated) return "Terminated";
        if (status == ILeaseMarket.LeaseStatus.Cancelled) return "Cancelled";
        if (status == ILeaseMarket.LeaseStatus.Closed) return "Closed";
        return "None";
    }
}
