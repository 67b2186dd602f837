// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import {IAssetRegistry} from "./IAssetRegistry.sol";
import {IAssetShares} from "./IAssetShares.sol";
import {IInvestorRegistry} from "./IInvestorRegistry.sol";

/// @title IShareVenue
/// @notice A permissioned secondary market for the share tokens of the AssetRegistry: one order book per
/// share token against the registry's settlement stablecoin. Makers place limit orders whose escrow the venue
/// holds (a bid escrows stablecoin, an ask escrows shares); takers fill a list of resting orders, chosen off
/// chain from the `OrderPlaced` / `OrderFilled` / `OrderCancelled` events, under a limit price, a share cap and
/// (when buying) a maximum spend. Shares and stablecoin move in the same transaction or not at all.
///
/// Compliance: the venue is an approved holder contract in the InvestorRegistry and moves shares only through
/// the share token, which asks the registry on every transfer. Only accounts that may hold shares place or take
/// orders; an order whose maker may no longer hold shares (KYC expired, revoked) is skipped, never filled, and
/// its maker can still cancel it (a bid's stablecoin comes back at once; an ask's shares come back once the
/// maker may hold shares again, as the share token decides).
///
/// Prices are settlement-token base units per whole share (1e18 share units). The stablecoin value of `n`
/// shares of an order with `r` remaining at price `p` is `ceil(r p / 1e18) - ceil((r - n) p / 1e18)`: a bid
/// escrows `ceil(size p / 1e18)`, and however an order is split, its fills sum to exactly that amount.
///
/// Revenue across trades: shares resting in an ask still earn their maker's revenue. The share token pays it
/// to the venue (the holder); the venue records the token's revenue-per-share accumulator when the ask is placed
/// and, whenever shares leave the ask (filled or cancelled), credits the maker with
/// `n x (accumulator now - accumulator at placement) / 1e36`, rounded down, next to the sale proceeds. The
/// venue's own entitlement in the token is never smaller than what it has credited (each credit is a floor of
/// the exact share of that entitlement), so nothing is lost or paid twice.
///
/// Money is pulled: proceeds and forwarded revenue accrue to `proceedsOf(maker)` and are withdrawn by the maker.
/// A maker frozen by the stablecoin fails alone in its own withdrawal; a taker or maker frozen fails only its
/// own transaction.
///
/// Price history: every fill emits `OrderFilled`; `observe` and `twapBetween` give a time-weighted average of
/// the last fill price. That average is NOT a collateral price: a thin book is cheap to move (see
/// docs/contracts.md, "The share venue's TWAP is not a collateral price").
interface IShareVenue {
    /// @notice Buy: a bid, escrowing stablecoin. Sell: an ask, escrowing shares.
    enum Side {
        Buy,
        Sell
    }

    /// @notice Why a fill passed over an order it was given.
    enum SkipReason {
        Gone, // filled, cancelled, never placed, or placed in another market
        WrongSide,
        Expired,
        OutsideLimit,
        SelfTrade,
        MakerNotVerified,
        BudgetExhausted
    }

    /// @notice A resting order, two storage slots (asks keep their revenue checkpoint in a third).
    /// @param maker Who placed it and receives what it buys or earns.
    /// @param expiresAt Unix time (s) from which it can no longer be filled (it can still be cancelled).
    /// @param side Buy (bid) or Sell (ask).
    /// @param pricePerShare Settlement-token base units per whole share.
    /// @param remaining Share units still to fill.
    struct Order {
        address maker;
        uint40 expiresAt;
        Side side;
        uint128 pricePerShare;
        uint128 remaining;
    }

    /// @notice One market's state and price history, one storage slot (written once per taker call).
    /// @param priceCumulative Sum of (last fill price x seconds it stood) up to `lastTradeAt`, modulo 2^112 (it
    /// wraps, as Uniswap v2's does: difference two observations with wrapping subtraction).
    /// @param lastPrice The last fill's price (base units per whole share); 0 before the first fill.
    /// @param lastTradeAt The block time of the last fill.
    /// @param open Whether the market is open for orders.
    struct MarketState {
        uint112 priceCumulative;
        uint96 lastPrice;
        uint40 lastTradeAt;
        bool open;
    }

    /// @notice A maker's account, one slot: its proceeds and forwarded revenue not yet withdrawn, and how many
    /// of its asks rest (an ask keeps the slot allocated, so that crediting its proceeds never pays for a new
    /// storage slot inside a taker's fill).
    struct MakerAccount {
        uint128 proceeds;
        uint128 openAsks;
    }

    /// @notice An EIP-2612 permit from the caller to the venue, so that a taker's call needs one signature.
    struct Permit {
        uint256 value;
        uint256 deadline;
        uint8 v;
        bytes32 r;
        bytes32 s;
    }

    /* EVENTS */

    event MarketOpened(uint256 indexed assetId, address indexed shares);
    event OrderPlaced(
        address indexed shares,
        uint256 indexed orderId,
        address indexed maker,
        Side side,
        uint128 pricePerShare,
        uint128 amount,
        uint40 expiresAt
    );
    /// @param amount Shares filled. @param value Stablecoin paid for them. @param remaining Shares left on the order.
    event OrderFilled(
        address indexed shares,
        uint256 indexed orderId,
        address indexed maker,
        address taker,
        Side side,
        uint128 pricePerShare,
        uint256 amount,
        uint256 value,
        uint256 remaining
    );
    event OrderCancelled(address indexed shares, uint256 indexed orderId, address indexed maker, uint256 remaining);
    event OrderSkipped(address indexed shares, uint256 indexed orderId, SkipReason reason);
    /// @notice Revenue the share token paid on an ask's escrowed shares, credited to its maker.
    event RevenueForwarded(address indexed shares, uint256 indexed orderId, address indexed maker, uint256 amount);
    event ProceedsWithdrawn(address indexed account, uint256 amount);

    /* ERRORS */

    error ZeroAmount();
    error UnknownAsset(uint256 assetId);
    error MarketAlreadyOpen(address shares);
    error MarketNotOpen(address shares);
    error VenueNotApprovedHolder(address venue);
    error InvalidPrice(uint128 pricePerShare);
    error InvalidExpiry(uint40 expiresAt, uint256 nowTimestamp);
    error NotVerified(address account);
    error UnknownOrder(address shares, uint256 orderId);
    error NotMaker(uint256 orderId, address caller, address maker);
    error NothingFilled();
    error NothingToWithdraw(address account);
    error InvalidWindow(uint256 fromTimestamp, uint256 toTimestamp);
    /// @notice The share token paid a claim other than what it reported claimable (never, for an AssetShares).
    error RevenueClaimMismatch(address shares, uint256 claimed, uint256 expected);

    /* MARKETS */

    /// @notice Opens the order book of asset `assetId`'s share token. Anyone may call, once per asset, after the
    /// venue has been approved as a holder in the InvestorRegistry.
    function openMarket(uint256 assetId) external returns (address shares);

    /* MAKERS */

    /// @notice Places a limit order of `amount` share units at `pricePerShare` (at most MAX_PRICE_PER_SHARE), good
    /// until `expiresAt`, pulling its
    /// escrow: `ceil(amount x pricePerShare / 1e18)` stablecoin for a bid (approve the venue first), `amount`
    /// shares for an ask (approve the venue on the share token first). The maker must be allowed to hold shares.
    function placeOrder(IAssetShares shares, Side side, uint128 pricePerShare, uint128 amount, uint40 expiresAt)
        external
        returns (uint256 orderId);

    /// @notice `placeOrder` after an EIP-2612 permit of the escrowed token (stablecoin for a bid, the share token
    /// for an ask), so that one wallet signature suffices. A permit already used (front-run) is tolerated when
    /// the allowance is already there.
    function placeOrderWithPermit(
        IAssetShares shares,
        Side side,
        uint128 pricePerShare,
        uint128 amount,
        uint40 expiresAt,
        uint256 permitValue,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external returns (uint256 orderId);

    /// @notice The maker cancels an order (expired or not) and gets its escrow back at once: a bid's remaining
    /// stablecoin, or an ask's remaining shares (with their forwarded revenue credited to `proceedsOf`).
    function cancelOrder(IAssetShares shares, uint256 orderId) external;

    /// @notice Pays the caller its proceeds and forwarded revenue. Reverts NothingToWithdraw when zero.
    function withdrawProceeds() external returns (uint256 amount);

    /* TAKERS */

    /// @notice Buys shares from the asks `orderIds`, in the given order, at prices at most `maxPricePerShare`,
    /// at most `maxShares` share units and at most `maxSpend` stablecoin in all. Orders that can no longer be
    /// filled (gone, expired, above the limit, the caller's own, a maker no longer allowed to hold shares) are
    /// skipped. Pulls the stablecoin spent and delivers the shares in the same transaction. Reverts
    /// NothingFilled if nothing could be bought.
    function buy(
        IAssetShares shares,
        uint256[] calldata orderIds,
        uint128 maxPricePerShare,
        uint256 maxShares,
        uint256 maxSpend
    ) external returns (uint256 bought, uint256 spent);

    /// @notice Sells up to `maxShares` share units into the bids `orderIds`, in the given order, at prices at
    /// least `minPricePerShare`; skips orders as `buy` does (a bidder no longer allowed to hold shares is never
    /// delivered to). Moves the shares from the caller to each bidder (approve the venue on the share token
    /// first) and pays the caller in the same transaction. Reverts NothingFilled if nothing could be sold.
    function sell(IAssetShares shares, uint256[] calldata orderIds, uint128 minPricePerShare, uint256 maxShares)
        external
        returns (uint256 sold, uint256 received);

    /// @notice `buy` after an EIP-2612 permit of the stablecoin to the venue (a used permit is tolerated as in
    /// `placeOrderWithPermit`).
    function buyWithPermit(
        IAssetShares shares,
        uint256[] calldata orderIds,
        uint128 maxPricePerShare,
        uint256 maxShares,
        uint256 maxSpend,
        Permit calldata permit
    ) external returns (uint256 bought, uint256 spent);

    /// @notice `sell` after an EIP-2612 permit of the share token to the venue.
    function sellWithPermit(
        IAssetShares shares,
        uint256[] calldata orderIds,
        uint128 minPricePerShare,
        uint256 maxShares,
        Permit calldata permit
    ) external returns (uint256 sold, uint256 received);

    /* VIEWS */

    /// @notice The highest price an order may name (2^96 - 1 base units per share: 79 billion tokens of 18
    /// decimals), so that the market's price history fits one slot.
    function MAX_PRICE_PER_SHARE() external view returns (uint256);

    function registry() external view returns (IAssetRegistry);

    function investors() external view returns (IInvestorRegistry);

    function settlementToken() external view returns (IERC20);

    /// @notice The id the next order will get (ids are unique across markets and start at 1).
    function nextOrderId() external view returns (uint256);

    function orderOf(IAssetShares shares, uint256 orderId) external view returns (Order memory);

    /// @notice What an order holds in escrow now: stablecoin for a bid, share units for an ask.
    function escrowOf(IAssetShares shares, uint256 orderId) external view returns (uint256);

    /// @notice Revenue an ask's resting shares have earned so far (credited to its maker when they leave it).
    function pendingRevenueOf(IAssetShares shares, uint256 orderId) external view returns (uint256);

    /// @notice Stablecoin `account` can withdraw now (sale proceeds and forwarded revenue).
    function proceedsOf(address account) external view returns (uint256);

    /// @notice `account`'s proceeds and its number of resting asks.
    function makerAccountOf(address account) external view returns (MakerAccount memory);

    /// @notice Revenue claimed from `shares` on the escrowed shares' behalf and not yet credited to a maker.
    function revenueReserveOf(IAssetShares shares) external view returns (uint256);

    function marketOf(IAssetShares shares) external view returns (MarketState memory);

    /// @notice The market's cumulative price (sum of last fill price x seconds it stood, modulo 2^112) as of now,
    /// and now. Record two observations and divide (`twapBetween`) for a time-weighted average; time before the
    /// first fill counts at price 0. Not a collateral price.
    function observe(IAssetShares shares) external view returns (uint256 priceCumulative, uint256 timestamp);

    /// @notice The time-weighted average of the last fill price between an earlier observation and now:
    /// `((observe() - priceCumulativeThen) mod 2^112) / (now - timestampThen)`. Not a collateral price.
    function twapBetween(IAssetShares shares, uint256 priceCumulativeThen, uint256 timestampThen)
        external
        view
        returns (uint256 pricePerShare);
}
