// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

import {ILeaseListings} from "./interfaces/ILeaseListings.sol";
import {ILeaseMarket} from "./interfaces/ILeaseMarket.sol";
import {ILeasePositions} from "./interfaces/ILeasePositions.sol";

/// @title LeaseListings
/// @notice Lease positions sold for stablecoin: non-custodial listings, atomic purchase, proceeds by pull.
/// @dev No reentrancy guard: the only external calls are to the LeaseMarket's views, its settlement token and its
/// position token, whose `transferFrom` (not `safeTransferFrom`) calls no receiver; effects come first.
contract LeaseListings is ILeaseListings {
    using SafeERC20 for IERC20;

    /// @inheritdoc ILeaseListings
    ILeaseMarket public immutable market;
    /// @inheritdoc ILeaseListings
    ILeasePositions public immutable positions;
    /// @inheritdoc ILeaseListings
    IERC20 public immutable settlementToken;

    mapping(uint256 leaseId => Listing) internal _listings;
    /// @inheritdoc ILeaseListings
    mapping(address account => uint256) public proceedsOf;

    /// @param market_ The LeaseMarket whose positions are sold (its settlement token is the money).
    constructor(ILeaseMarket market_) {
        market = market_;
        positions = market_.positions();
        settlementToken = market_.settlementToken();
    }

    /* SELLERS */

    /// @inheritdoc ILeaseListings
    function list(uint256 leaseId, uint128 price, uint40 expiresAt) external {
        address owner = positions.ownerOf(leaseId);
        if (owner != msg.sender) revert NotPositionOwner(leaseId, msg.sender, owner);
        address approved = positions.getApproved(leaseId);
        if (approved != address(this)) revert NotApproved(leaseId, approved);
        if (price == 0) revert InvalidPrice(price);
        if (expiresAt <= block.timestamp) revert InvalidExpiry(expiresAt, block.timestamp);
        _requireRunning(leaseId);

        _listings[leaseId] = Listing({seller: msg.sender, expiresAt: expiresAt, price: price});

        emit Listed(leaseId, msg.sender, price, expiresAt);
    }

    /// @inheritdoc ILeaseListings
    function cancel(uint256 leaseId) external {
        Listing memory listing = _listings[leaseId];
        if (listing.seller == address(0)) revert NotListed(leaseId);
        if (msg.sender != listing.seller && _isBuyable(leaseId, listing)) {
            revert NotSeller(leaseId, msg.sender, listing.seller);
        }

        delete _listings[leaseId];

        emit ListingCancelled(leaseId, listing.seller);
    }

    /// @inheritdoc ILeaseListings
    function withdrawProceeds() external returns (uint256 amount) {
        amount = proceedsOf[msg.sender];
        if (amount == 0) revert NothingToWithdraw(msg.sender);

        proceedsOf[msg.sender] = 0;

        emit ProceedsWithdrawn(msg.sender, amount);

        // The seller's own call: a seller frozen by the stablecoin fails alone.
        settlementToken.safeTransfer(msg.sender, amount);
    }

    /* BUYERS */

    /// @inheritdoc ILeaseListings
    function buy(uint256 leaseId, uint128 maxPrice) external {
        Listing memory listing = _listings[leaseId];
        if (listing.seller == address(0)) revert NotListed(leaseId);
        if (listing.expiresAt <= block.timestamp) revert ListingExpired(leaseId, listing.expiresAt);
        address owner = positions.ownerOf(leaseId);
        if (owner != listing.seller) revert ListingStale(leaseId, listing.seller, owner);
        // A transfer clears the token's approval: a position that moved (even back) is no longer for sale.
        address approved = positions.getApproved(leaseId);
        if (approved != address(this)) revert NotApproved(leaseId, approved);
        _requireRunning(leaseId);
        if (listing.price > maxPrice) revert PriceAboveMaximum(leaseId, listing.price, maxPrice);

        delete _listings[leaseId];
        proceedsOf[listing.seller] += listing.price;

        emit PositionSold(leaseId, listing.seller, msg.sender, listing.price);

        settlementToken.safeTransferFrom(msg.sender, address(this), listing.price);
        // Escrow, refunds, credits and the right to name the ERC-4907 user follow the token; the token clears
        // the seller's user in this transfer.
        positions.transferFrom(listing.seller, msg.sender, leaseId);
    }

    /* VIEWS */

    /// @inheritdoc ILeaseListings
    function listingOf(uint256 leaseId) external view returns (Listing memory) {
        return _listings[leaseId];
    }

    /// @inheritdoc ILeaseListings
    function isBuyable(uint256 leaseId) external view returns (bool) {
        Listing memory listing = _listings[leaseId];
        return listing.seller != address(0) && _isBuyable(leaseId, listing);
    }

    /* INTERNAL */

    function _isBuyable(uint256 leaseId, Listing memory listing) internal view returns (bool) {
        if (listing.expiresAt <= block.timestamp) return false;
        if (positions.ownerOf(leaseId) != listing.seller) return false;
        if (positions.getApproved(leaseId) != address(this)) return false;
        ILeaseMarket.Lease memory lease = market.getLease(leaseId);
        return lease.status == ILeaseMarket.LeaseStatus.Active && market.currentEpoch() < lease.endEpoch;
    }

    /// @dev Listing cancels on lease end: only an Active lease with epochs left to run is for sale.
    function _requireRunning(uint256 leaseId) internal view {
        ILeaseMarket.Lease memory lease = market.getLease(leaseId);
        uint64 nowEpoch = market.currentEpoch();
        if (lease.status != ILeaseMarket.LeaseStatus.Active || nowEpoch >= lease.endEpoch) {
            revert LeaseNotListable(leaseId, lease.status, lease.endEpoch, nowEpoch);
        }
    }
}
