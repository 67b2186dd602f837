// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import {IAssetRegistry} from "./IAssetRegistry.sol";

/// @title IAssetShares
/// @notice Shares of one GPU asset's net cash flows (ERC-20 + EIP-2612, 18 decimals). Shares move only
/// between holders the InvestorRegistry allows; they are minted only by the primary offering; the
/// settlement-token revenue deposited to them is split among holders by an O(1) accumulator and pulled
/// by each holder with `claim`.
///
/// Distribution maths (the "magnified dividend" accumulator): each deposit of `a` base units raises
/// `magnifiedRevenuePerShare` by `(a * MAGNITUDE + carry) / totalSupply`; each holder's entitlement is
/// `(magnifiedRevenuePerShare * balance + correction) / MAGNITUDE - claimed`, where `correction` is moved
/// on every mint and transfer so that entitlement earned before a balance change is kept. A deposit costs
/// the same with one holder or ten thousand; a claim costs the same after one deposit or a thousand.
/// Rounding is always down (towards the contract): the total undistributed dust stays below one base unit
/// per holder per deposit, and the magnified remainder of each deposit is carried into the next one.
///
/// The token also implements OpenZeppelin's `Multicall` (`multicall(bytes[])`, each call a DELEGATECALL to
/// itself with the caller kept): e.g. `claim` then `subscribeWithPermit` reinvests yield in one transaction.
interface IAssetShares is IERC20 {
    /// @notice A primary-offering round.
    /// @param pricePerShare Settlement-token base units per whole share (1e18 share units).
    /// @param cap Shares this round may sell (share units).
    /// @param sold Shares this round has sold so far (share units).
    /// @param closesAt Unix time after which the round no longer sells.
    /// @param open Whether the round is open (the operator may close it early).
    struct Offering {
        uint128 pricePerShare;
        uint128 cap;
        uint128 sold;
        uint64 closesAt;
        bool open;
    }

    /* EVENTS */

    event OfferingOpened(uint256 indexed round, uint128 pricePerShare, uint128 cap, uint64 closesAt);
    event OfferingClosed(uint256 indexed round, uint128 sold);
    event Subscribed(address indexed investor, uint256 indexed round, uint256 shares, uint256 cost);
    event ProceedsWithdrawn(address indexed operator, address indexed to, uint256 amount);
    /// @param source A tag of where the revenue comes from (e.g. "LEASE", "SPOT", "DEMAND_RESPONSE").
    /// @param distributed The amount added to holders' entitlements (deposit plus any revenue held while no
    /// shares existed).
    event RevenueDeposited(address indexed from, bytes32 indexed source, uint256 amount, uint256 distributed);
    /// @notice Revenue that arrived while no shares existed; it joins the next distribution.
    event RevenueHeld(address indexed from, bytes32 indexed source, uint256 amount, uint256 totalHeld);
    event RevenueClaimed(address indexed holder, uint256 amount);

    /* ERRORS */

    error OnlyRegistry(address caller);
    error NotOperator(address caller, address operator);
    error TransferNotAllowed(address from, address to);
    error ZeroAmount();
    error ZeroAddress();
    error InvalidPrice(uint128 pricePerShare);
    error InvalidOfferingClose(uint64 closesAt, uint256 nowTimestamp);
    error OfferingAlreadyOpen(uint256 round);
    error OfferingNotOpen(uint256 round);
    error OfferingEnded(uint256 round, uint64 closesAt);
    error ExceedsOfferingCap(uint256 round, uint256 requested, uint256 remaining);
    error CostAboveMaximum(uint256 cost, uint256 maxCost);
    error AssetNotActive(uint256 assetId);
    error NothingToClaim(address holder);

    /* IDENTITY */

    function assetId() external view returns (uint256);

    function registry() external view returns (IAssetRegistry);

    function settlementToken() external view returns (IERC20);

    /// @notice The fixed-point scale of `magnifiedRevenuePerShare` (1e36: decimal, so that decimal amounts split exactly).
    function MAGNITUDE() external view returns (uint256);

    /* PRIMARY OFFERING */

    /// @notice The operator opens a round selling up to `cap` shares at `pricePerShare` until `closesAt`.
    function openOffering(uint128 pricePerShare, uint128 cap, uint64 closesAt) external;

    /// @notice The operator closes the current round early.
    function closeOffering() external;

    /// @notice Buys `shares` from the open round, paying at most `maxCost` settlement-token base units
    /// (cost rounded up). The caller must be allowed to hold shares. Returns the cost paid.
    function subscribe(uint256 shares, uint256 maxCost) external returns (uint256 cost);

    /// @notice `subscribe` with an EIP-2612 permit of the settlement token for `maxCost`, so that a wallet
    /// subscribes with one signature and one transaction instead of approve + subscribe. A permit that fails
    /// (already used by someone who copied it from the mempool) is ignored: the allowance it set remains, and
    /// the transfer decides. Batch it with `claim` through `multicall` to reinvest yield in one transaction.
    function subscribeWithPermit(uint256 shares, uint256 maxCost, uint256 deadline, uint8 v, bytes32 r, bytes32 s)
        external
        returns (uint256 cost);

    /// @notice The cost of `shares` in the current round, rounded up.
    function previewSubscribe(uint256 shares) external view returns (uint256 cost);

    /// @notice Current round number (0 before the first round) and its terms.
    function currentOffering() external view returns (uint256 round, Offering memory offering);

    /// @notice Offering proceeds not yet withdrawn by the operator.
    function proceedsOutstanding() external view returns (uint256);

    /// @notice The operator pulls the offering proceeds to `to`.
    function withdrawProceeds(address to) external returns (uint256 amount);

    /* REVENUE */

    /// @notice Pulls `amount` of the settlement token from the caller and distributes it to holders pro
    /// rata (held for the next distribution if no shares exist yet). Anyone may deposit.
    function depositRevenue(uint256 amount, bytes32 source) external;

    /// @notice Pays the caller everything it is owed. Reverts NothingToClaim when that is zero.
    function claim() external returns (uint256 amount);

    /// @notice What `holder` could claim now.
    function claimable(address holder) external view returns (uint256);

    /// @notice Everything `holder` has ever been entitled to (claimed plus claimable).
    function accumulatedRevenueOf(address holder) external view returns (uint256);

    function claimedBy(address holder) external view returns (uint256);

    function magnifiedRevenuePerShare() external view returns (uint256);

    /// @notice Revenue ever deposited (distributed or held).
    function totalDeposited() external view returns (uint256);

    /// @notice Revenue ever claimed.
    function totalClaimed() external view returns (uint256);

    /// @notice Revenue held because it arrived while no shares existed.
    function heldRevenue() external view returns (uint256);
}
