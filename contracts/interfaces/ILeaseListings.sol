// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import {ILeaseMarket} from "./ILeaseMarket.sol";
import {ILeasePositions} from "./ILeasePositions.sol";

/// @title ILeaseListings
/// @notice A lessee sells its lease position (an ERC-721 of the LeaseMarket, token id = lease id) for the
/// settlement stablecoin. The listing is non-custodial: the position stays in the seller's wallet, its ERC-4907
/// user keeps running jobs, and the seller keeps extending, terminating and claiming refunds until a buyer
/// comes. The seller lists after approving this contract for that one token (`approve(listings, leaseId)`).
///
/// A purchase is atomic: the buyer pays, the position moves from the seller to the buyer, and with it
/// everything the LeaseMarket pays to the position's owner: the remaining prepaid escrow, every future refund
/// and SLA credit, and whatever is refundable at that moment (the seller claims that before listing if it
/// wants it; `ILeaseMarket.leaseAccount` shows it). The position token clears the seller's ERC-4907 user in the
/// same transfer, so the seller's right to run jobs ends in the same transaction in which the buyer, now the
/// owner, holds the right to name the user. The seller pulls the price with `withdrawProceeds`.
///
/// A listing cancels itself on transfer and on lease end: a purchase needs the seller to still own the
/// position, this contract to still be its approved address (an ERC-721 transfer clears it), the listing
/// unexpired, and the lease still Active with epochs left to run.
interface ILeaseListings {
    /// @param seller Who listed it (the position's owner then).
    /// @param expiresAt Unix time (s) from which it can no longer be bought.
    /// @param price Settlement-token base units for the whole position.
    struct Listing {
        address seller;
        uint40 expiresAt;
        uint128 price;
    }

    /* EVENTS */

    event Listed(uint256 indexed leaseId, address indexed seller, uint128 price, uint40 expiresAt);
    event ListingCancelled(uint256 indexed leaseId, address indexed seller);
    event PositionSold(uint256 indexed leaseId, address indexed seller, address indexed buyer, uint128 price);
    event ProceedsWithdrawn(address indexed account, uint256 amount);

    /* ERRORS */

    error NotPositionOwner(uint256 leaseId, address caller, address owner);
    error NotApproved(uint256 leaseId, address approved);
    error InvalidPrice(uint128 price);
    error InvalidExpiry(uint40 expiresAt, uint256 nowTimestamp);
    error LeaseNotListable(uint256 leaseId, ILeaseMarket.LeaseStatus status, uint64 endEpoch, uint64 currentEpoch);
    error NotListed(uint256 leaseId);
    error ListingExpired(uint256 leaseId, uint40 expiresAt);
    error ListingStale(uint256 leaseId, address seller, address owner);
    error PriceAboveMaximum(uint256 leaseId, uint128 price, uint128 maxPrice);
    error NotSeller(uint256 leaseId, address caller, address seller);
    error NothingToWithdraw(address account);

    /* SELLERS */

    /// @notice Lists lease `leaseId` for `price` until `expiresAt` (a new listing replaces the seller's old one).
    /// The caller must own the position and have approved this contract for it; the lease must be Active with
    /// epochs left to run.
    function list(uint256 leaseId, uint128 price, uint40 expiresAt) external;

    /// @notice Removes a listing: its seller at any time, anyone once it is stale (the position moved, the lease
    /// ended or the listing expired).
    function cancel(uint256 leaseId) external;

    /// @notice Pays the caller its sale proceeds. Reverts NothingToWithdraw when zero.
    function withdrawProceeds() external returns (uint256 amount);

    /* BUYERS */

    /// @notice Buys the listed position for its price (at most `maxPrice`, in case the seller re-listed higher):
    /// pulls the price (approve this contract on the stablecoin first) and moves the position to the caller.
    function buy(uint256 leaseId, uint128 maxPrice) external;

    /* VIEWS */

    function market() external view returns (ILeaseMarket);

    function positions() external view returns (ILeasePositions);

    function settlementToken() external view returns (IERC20);

    function listingOf(uint256 leaseId) external view returns (Listing memory);

    /// @notice Whether `leaseId` can be bought now (listed, unexpired, not stale).
    function isBuyable(uint256 leaseId) external view returns (bool);

    function proceedsOf(address account) external view returns (uint256);
}
