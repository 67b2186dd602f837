// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {IAssetRegistry} from "./interfaces/IAssetRegistry.sol";
import {IAssetShares} from "./interfaces/IAssetShares.sol";
import {IInvestorRegistry} from "./interfaces/IInvestorRegistry.sol";
import {IShareVenue} from "./interfaces/IShareVenue.sol";

/// @title ShareVenue
/// @notice Limit-order books for the registry's share tokens against its settlement stablecoin, with escrow,
/// atomic delivery versus payment, compliance on every fill and revenue forwarded on escrowed shares.
/// @dev No reentrancy guard: every external call goes to the registry's settlement token, a share token the
/// registry issued (checked when its market opens) or the InvestorRegistry, none of which calls back into
/// arbitrary code (no receiver hooks), and every mutating function finishes its effects before its first
/// state-changing call.
contract ShareVenue is IShareVenue {
    using SafeERC20 for IERC20;
    using SafeCast for uint256;

    /// @dev Prices are quoted per whole share.
    uint256 internal constant SHARE_UNIT = 1e18;
    /// @dev The share token's accumulator scale (IAssetShares.MAGNITUDE).
    uint256 internal constant MAGNITUDE = 1e36;
    /// @inheritdoc IShareVenue
    uint256 public constant MAX_PRICE_PER_SHARE = type(uint96).max;

    /// @inheritdoc IShareVenue
    IAssetRegistry public immutable registry;
    /// @inheritdoc IShareVenue
    IInvestorRegistry public immutable investors;
    /// @inheritdoc IShareVenue
    IERC20 public immutable settlementToken;

    /// @inheritdoc IShareVenue
    uint256 public nextOrderId = 1; // starts non-zero so that the first order pays no zero-to-non-zero write

    mapping(IAssetShares shares => mapping(uint256 orderId => Order)) internal _orders;
    /// @dev An ask's share-token `magnifiedRevenuePerShare` when its shares arrived in escrow.
    mapping(uint256 orderId => uint256) internal _revenueCheckpoint;
    mapping(IAssetShares shares => MarketState) internal _markets;
    mapping(IAssetShares shares => uint256) internal _revenueReserve;
    mapping(address maker => MakerAccount) internal _makers;

    /// @dev The running totals of one taker call, in memory so that the loop stays within the stack.
    struct Fill {
        uint256 sharesLeft;
        uint256 spendLeft; // buy: stablecoin the taker may still spend
        uint256 value; // sell: stablecoin the taker receives
        uint256 perShare; // buy: the share token's accumulator, read once
        uint256 revenueDue; // buy: revenue credited to makers in this call
        uint96 lastPrice;
        uint256 deliveries; // sell: entries used in `makers` / `amounts`
        address[] makers;
        uint256[] amounts;
    }

    /// @param registry_ The AssetRegistry: its share tokens are traded, its settlement token is the money.
    constructor(IAssetRegistry registry_) {
        registry = registry_;
        investors = registry_.investorRegistry();
        settlementToken = registry_.settlementToken();
    }

    /* MARKETS */

    /// @inheritdoc IShareVenue
    function openMarket(uint256 assetId) external returns (address shares) {
        shares = registry.sharesOf(assetId); // reverts UnknownAsset for an asset the registry never registered
        if (shares == address(0)) revert UnknownAsset(assetId);
        MarketState storage market = _markets[IAssetShares(shares)];
        if (market.open) revert MarketAlreadyOpen(shares);
        if (!investors.canHold(address(this))) revert VenueNotApprovedHolder(address(this));

        market.open = true;

        emit MarketOpened(assetId, shares);
    }

    /* MAKERS */

    /// @inheritdoc IShareVenue
    function placeOrder(IAssetShares shares, Side side, uint128 pricePerShare, uint128 amount, uint40 expiresAt)
        external
        returns (uint256 orderId)
    {
        return _place(shares, side, pricePerShare, amount, expiresAt);
    }

    /// @inheritdoc IShareVenue
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
    ) external returns (uint256 orderId) {
        _tryPermit(
            side == Side.Buy ? address(settlementToken) : address(shares),
            Permit({value: permitValue, deadline: deadline, v: v, r: r, s: s})
        );
        return _place(shares, side, pricePerShare, amount, expiresAt);
    }

    /// @inheritdoc IShareVenue
    function cancelOrder(IAssetShares shares, uint256 orderId) external {
        Order storage order = _orders[shares][orderId];
        address maker = order.maker;
        if (maker == address(0)) revert UnknownOrder(address(shares), orderId);
        if (maker != msg.sender) revert NotMaker(orderId, msg.sender, maker);
        Side side = order.side;
        uint256 price = order.pricePerShare;
        uint256 remaining = order.remaining;

        delete _orders[shares][orderId];
        uint256 revenue = 0;
        if (side == Side.Sell) {
            revenue = _revenueOf(remaining, shares.magnifiedRevenuePerShare(), _revenueCheckpoint[orderId]);
            delete _revenueCheckpoint[orderId];
            MakerAccount storage account = _makers[maker];
            account.proceeds += revenue.toUint128();
            // The ask was counted when placed and is counted out once, here or at its last fill.
            unchecked {
                account.openAsks -= 1;
            }
        }

        emit OrderCancelled(address(shares), orderId, maker, remaining);
        if (revenue != 0) {
            emit RevenueForwarded(address(shares), orderId, maker, revenue);
            _drawRevenue(shares, revenue);
        }

        if (side == Side.Buy) {
            // The maker's own call: a maker frozen by the stablecoin fails alone.
            settlementToken.safeTransfer(maker, _valueUp(remaining, price));
        } else {
            // The share token decides whether the maker may hold the shares again (KYC expired: not yet).
            IERC20(address(shares)).safeTransfer(maker, remaining);
        }
    }

    /// @inheritdoc IShareVenue
    function withdrawProceeds() external returns (uint256 amount) {
        MakerAccount storage account = _makers[msg.sender];
        amount = account.proceeds;
        if (amount == 0) revert NothingToWithdraw(msg.sender);

        account.proceeds = 0;

        emit ProceedsWithdrawn(msg.sender, amount);

        settlementToken.safeTransfer(msg.sender, amount);
    }

    /* TAKERS */

    /// @inheritdoc IShareVenue
    function buy(
        IAssetShares shares,
        uint256[] calldata orderIds,
        uint128 maxPricePerShare,
        uint256 maxShares,
        uint256 maxSpend
    ) external returns (uint256 bought, uint256 spent) {
        return _buy(shares, orderIds, maxPricePerShare, maxShares, maxSpend);
    }

    /// @inheritdoc IShareVenue
    function buyWithPermit(
        IAssetShares shares,
        uint256[] calldata orderIds,
        uint128 maxPricePerShare,
        uint256 maxShares,
        uint256 maxSpend,
        Permit calldata permit
    ) external returns (uint256 bought, uint256 spent) {
        _tryPermit(address(settlementToken), permit);
        return _buy(shares, orderIds, maxPricePerShare, maxShares, maxSpend);
    }

    /// @inheritdoc IShareVenue
    function sell(IAssetShares shares, uint256[] calldata orderIds, uint128 minPricePerShare, uint256 maxShares)
        external
        returns (uint256 sold, uint256 received)
    {
        return _sell(shares, orderIds, minPricePerShare, maxShares);
    }

    /// @inheritdoc IShareVenue
    function sellWithPermit(
        IAssetShares shares,
        uint256[] calldata orderIds,
        uint128 minPricePerShare,
        uint256 maxShares,
        Permit calldata permit
    ) external returns (uint256 sold, uint256 received) {
        _tryPermit(address(shares), permit);
        return _sell(shares, orderIds, minPricePerShare, maxShares);
    }

    /* VIEWS */

    /// @inheritdoc IShareVenue
    function orderOf(IAssetShares shares, uint256 orderId) external view returns (Order memory) {
        return _orders[shares][orderId];
    }

    /// @inheritdoc IShareVenue
    function escrowOf(IAssetShares shares, uint256 orderId) external view returns (uint256) {
        Order memory order = _orders[shares][orderId];
        return order.side == Side.Buy ? _valueUp(order.remaining, order.pricePerShare) : order.remaining;
    }

    /// @inheritdoc IShareVenue
    function pendingRevenueOf(IAssetShares shares, uint256 orderId) external view returns (uint256) {
        Order memory order = _orders[shares][orderId];
        if (order.maker == address(0) || order.side != Side.Sell) return 0;
        return _revenueOf(order.remaining, shares.magnifiedRevenuePerShare(), _revenueCheckpoint[orderId]);
    }

    /// @inheritdoc IShareVenue
    function proceedsOf(address account) external view returns (uint256) {
        return _makers[account].proceeds;
    }

    /// @inheritdoc IShareVenue
    function makerAccountOf(address account) external view returns (MakerAccount memory) {
        return _makers[account];
    }

    /// @inheritdoc IShareVenue
    function revenueReserveOf(IAssetShares shares) external view returns (uint256) {
        return _revenueReserve[shares];
    }

    /// @inheritdoc IShareVenue
    function marketOf(IAssetShares shares) external view returns (MarketState memory) {
        return _markets[shares];
    }

    /// @inheritdoc IShareVenue
    function observe(IAssetShares shares) public view returns (uint256 priceCumulative, uint256 timestamp) {
        MarketState memory market = _markets[shares];
        priceCumulative = _advance(market);
        timestamp = block.timestamp;
    }

    /// @inheritdoc IShareVenue
    function twapBetween(IAssetShares shares, uint256 priceCumulativeThen, uint256 timestampThen)
        external
        view
        returns (uint256 pricePerShare)
    {
        (uint256 cumulative, uint256 timestamp) = observe(shares);
        if (timestampThen >= timestamp) revert InvalidWindow(timestampThen, timestamp);
        // The cumulative wraps modulo 2^112: the wrapping difference is the true one for any window shorter than
        // 2^112 / price seconds (at MAX_PRICE_PER_SHARE, 2^16 s; at 1e20 base units a share, 10^14 years).
        uint112 elapsedSum;
        unchecked {
            elapsedSum = uint112(cumulative) - uint112(priceCumulativeThen);
        }
        return elapsedSum / (timestamp - timestampThen);
    }

    /* INTERNAL: TAKERS */

    function _buy(
        IAssetShares shares,
        uint256[] calldata orderIds,
        uint128 maxPricePerShare,
        uint256 maxShares,
        uint256 maxSpend
    ) internal returns (uint256 bought, uint256 spent) {
        if (!investors.canHold(msg.sender)) revert NotVerified(msg.sender);
        Fill memory fill = Fill({
            sharesLeft: maxShares,
            spendLeft: maxSpend,
            value: 0,
            perShare: shares.magnifiedRevenuePerShare(),
            revenueDue: 0,
            lastPrice: 0,
            deliveries: 0,
            makers: new address[](0),
            amounts: new uint256[](0)
        });
        for (uint256 i; i < orderIds.length && fill.sharesLeft != 0 && fill.spendLeft != 0; ++i) {
            _fillAsk(shares, orderIds[i], maxPricePerShare, fill);
        }
        // Both are at most what the taker allowed: every fill subtracted no more than was left.
        bought = maxShares - fill.sharesLeft;
        spent = maxSpend - fill.spendLeft;
        if (bought == 0) revert NothingFilled();
        _recordTrade(shares, fill.lastPrice);
        if (fill.revenueDue != 0) _drawRevenue(shares, fill.revenueDue);

        settlementToken.safeTransferFrom(msg.sender, address(this), spent);
        IERC20(address(shares)).safeTransfer(msg.sender, bought);
    }

    function _sell(IAssetShares shares, uint256[] calldata orderIds, uint128 minPricePerShare, uint256 maxShares)
        internal
        returns (uint256 sold, uint256 received)
    {
        if (!investors.canHold(msg.sender)) revert NotVerified(msg.sender);
        Fill memory fill = Fill({
            sharesLeft: maxShares,
            spendLeft: 0,
            value: 0,
            perShare: 0,
            revenueDue: 0,
            lastPrice: 0,
            deliveries: 0,
            makers: new address[](orderIds.length),
            amounts: new uint256[](orderIds.length)
        });
        for (uint256 i; i < orderIds.length && fill.sharesLeft != 0; ++i) {
            _fillBid(shares, orderIds[i], minPricePerShare, fill);
        }
        sold = maxShares - fill.sharesLeft;
        received = fill.value;
        if (sold == 0) revert NothingFilled();
        _recordTrade(shares, fill.lastPrice);

        // Shares go straight from the taker to each bidder (the share token checks both sides again).
        for (uint256 i; i < fill.deliveries; ++i) {
            IERC20(address(shares)).safeTransferFrom(msg.sender, fill.makers[i], fill.amounts[i]);
        }
        settlementToken.safeTransfer(msg.sender, received);
    }

    /* INTERNAL: ORDERS */

    function _place(IAssetShares shares, Side side, uint128 pricePerShare, uint128 amount, uint40 expiresAt)
        internal
        returns (uint256 orderId)
    {
        if (!_markets[shares].open) revert MarketNotOpen(address(shares));
        if (amount == 0) revert ZeroAmount();
        if (pricePerShare == 0 || pricePerShare > MAX_PRICE_PER_SHARE) revert InvalidPrice(pricePerShare);
        if (expiresAt <= block.timestamp) revert InvalidExpiry(expiresAt, block.timestamp);
        if (!investors.canHold(msg.sender)) revert NotVerified(msg.sender);

        orderId = nextOrderId;
        // One order per call: the counter cannot reach 2^256.
        unchecked {
            nextOrderId = orderId + 1;
        }
        _orders[shares][orderId] = Order({
            maker: msg.sender, expiresAt: expiresAt, side: side, pricePerShare: pricePerShare, remaining: amount
        });
        uint256 escrow = 0;
        if (side == Side.Sell) {
            // The shares arrive below at this accumulator value; the token credits the venue from here on.
            _revenueCheckpoint[orderId] = shares.magnifiedRevenuePerShare();
            // Fewer asks than orders ever placed can rest: the count cannot overflow 128 bits.
            unchecked {
                _makers[msg.sender].openAsks += 1;
            }
        } else {
            escrow = _valueUp(amount, pricePerShare);
        }

        emit OrderPlaced(address(shares), orderId, msg.sender, side, pricePerShare, amount, expiresAt);

        if (side == Side.Buy) {
            settlementToken.safeTransferFrom(msg.sender, address(this), escrow);
        } else {
            IERC20(address(shares)).safeTransferFrom(msg.sender, address(this), amount);
        }
    }

    /// @dev Fills one ask for a buying taker, or skips it; effects only (the caller moves the tokens).
    function _fillAsk(IAssetShares shares, uint256 orderId, uint128 maxPrice, Fill memory fill) internal {
        Order storage order = _orders[shares][orderId];
        address maker = order.maker;
        if (maker == address(0)) return _skip(shares, orderId, SkipReason.Gone);
        if (order.side != Side.Sell) return _skip(shares, orderId, SkipReason.WrongSide);
        if (order.expiresAt <= block.timestamp) return _skip(shares, orderId, SkipReason.Expired);
        uint256 price = order.pricePerShare;
        if (price > maxPrice) return _skip(shares, orderId, SkipReason.OutsideLimit);
        if (maker == msg.sender) return _skip(shares, orderId, SkipReason.SelfTrade);
        // A seller who may no longer hold shares may not send them either (the share token's rule).
        if (!investors.canHold(maker)) return _skip(shares, orderId, SkipReason.MakerNotVerified);

        uint256 remaining = order.remaining;
        (uint256 amount, uint256 value) = _askFill(remaining, price, fill);
        if (amount == 0) return _skip(shares, orderId, SkipReason.BudgetExhausted);
        uint256 left = remaining - amount;
        // Before any revenue (accumulator still 0) every checkpoint is 0: no need to read it.
        uint256 revenue = fill.perShare == 0 ? 0 : _revenueOf(amount, fill.perShare, _revenueCheckpoint[orderId]);

        MakerAccount storage account = _makers[maker];
        uint128 proceeds = account.proceeds + (value + revenue).toUint128();
        if (left == 0) {
            delete _orders[shares][orderId];
            if (fill.perShare != 0) delete _revenueCheckpoint[orderId];
            // One write for both fields; the ask was counted when placed.
            unchecked {
                _makers[maker] = MakerAccount({proceeds: proceeds, openAsks: account.openAsks - 1});
            }
        } else {
            // left < remaining <= type(uint128).max.
            order.remaining = uint128(left);
            account.proceeds = proceeds;
        }
        // amount <= sharesLeft and value <= spendLeft by construction above.
        unchecked {
            fill.sharesLeft -= amount;
            fill.spendLeft -= value;
        }
        fill.revenueDue += revenue;
        fill.lastPrice = uint96(price); // price <= MAX_PRICE_PER_SHARE, checked when placed

        emit OrderFilled(address(shares), orderId, maker, msg.sender, Side.Sell, uint128(price), amount, value, left);
        if (revenue != 0) emit RevenueForwarded(address(shares), orderId, maker, revenue);
    }

    /// @dev How much of an ask with `remaining` shares at `price` the taker gets within its share cap and budget,
    /// and what it pays for them.
    function _askFill(uint256 remaining, uint256 price, Fill memory fill)
        internal
        pure
        returns (uint256 amount, uint256 value)
    {
        amount = remaining < fill.sharesLeft ? remaining : fill.sharesLeft;
        uint256 valueBefore = _valueUp(remaining, price);
        value = valueBefore - _valueUp(remaining - amount, price);
        if (value > fill.spendLeft) {
            // spendLeft < value <= 2^256 / 1e18, so the product cannot overflow; the value of this many shares is
            // at most ceil(amount x price / 1e18) <= spendLeft.
            amount = fill.spendLeft * SHARE_UNIT / price;
            value = amount == 0 ? 0 : valueBefore - _valueUp(remaining - amount, price);
        }
    }

    /// @dev Fills one bid for a selling taker, or skips it; records the delivery for the caller to make.
    function _fillBid(IAssetShares shares, uint256 orderId, uint128 minPrice, Fill memory fill) internal {
        Order storage order = _orders[shares][orderId];
        address maker = order.maker;
        if (maker == address(0)) return _skip(shares, orderId, SkipReason.Gone);
        if (order.side != Side.Buy) return _skip(shares, orderId, SkipReason.WrongSide);
        if (order.expiresAt <= block.timestamp) return _skip(shares, orderId, SkipReason.Expired);
        uint128 price = order.pricePerShare;
        if (price < minPrice) return _skip(shares, orderId, SkipReason.OutsideLimit);
        if (maker == msg.sender) return _skip(shares, orderId, SkipReason.SelfTrade);
        // Never deliver to a bidder who may no longer hold shares; its escrow stays cancellable.
        if (!investors.canHold(maker)) return _skip(shares, orderId, SkipReason.MakerNotVerified);

        uint256 remaining = order.remaining;
        uint256 amount = remaining < fill.sharesLeft ? remaining : fill.sharesLeft;
        uint256 value = _valueUp(remaining, price) - _valueUp(remaining - amount, price);
        uint256 left = remaining - amount;

        if (left == 0) delete _orders[shares][orderId];
        else order.remaining = uint128(left); // left < remaining <= type(uint128).max
        // amount <= sharesLeft by construction; deliveries < orderIds.length, the arrays' length.
        unchecked {
            fill.sharesLeft -= amount;
        }
        fill.value += value;
        fill.lastPrice = uint96(price); // price <= MAX_PRICE_PER_SHARE, checked when placed
        fill.makers[fill.deliveries] = maker;
        fill.amounts[fill.deliveries] = amount;
        ++fill.deliveries;

        emit OrderFilled(address(shares), orderId, maker, msg.sender, Side.Buy, price, amount, value, left);
    }

    function _skip(IAssetShares shares, uint256 orderId, SkipReason reason) internal {
        emit OrderSkipped(address(shares), orderId, reason);
    }

    /// @dev Advances the market's cumulative price to now at the old price, then records the new one: one slot.
    function _recordTrade(IAssetShares shares, uint96 price) internal {
        MarketState memory market = _markets[shares];
        market.priceCumulative = _advance(market);
        market.lastPrice = price;
        market.lastTradeAt = uint40(block.timestamp);
        _markets[shares] = market;
    }

    /// @dev The cumulative price carried to now, modulo 2^112 (it wraps by design, as Uniswap v2's does).
    function _advance(MarketState memory market) internal view returns (uint112 cumulative) {
        cumulative = market.priceCumulative;
        if (market.lastTradeAt == 0) return cumulative;
        unchecked {
            cumulative += uint112(uint256(market.lastPrice) * (block.timestamp - market.lastTradeAt));
        }
    }

    /// @dev Submits an EIP-2612 permit from the caller to the venue. One someone else already submitted (a
    /// front-run) reverts here; the allowance it set remains, and the token pull that follows fails on its own if
    /// there is none.
    function _tryPermit(address token, Permit memory permit) internal {
        try IERC20Permit(token).permit(
            msg.sender, address(this), permit.value, permit.deadline, permit.v, permit.r, permit.s
        ) {} catch {}
    }

    /* INTERNAL: REVENUE */

    /// @dev Takes `due` (already credited to makers) from the market's reserve, first claiming from the share
    /// token what the venue's escrowed shares have earned when the reserve is short. The venue's claimable is
    /// at least what it has credited and not yet drawn (see IShareVenue), so the subtraction cannot underflow;
    /// if it ever did, the call would revert rather than pay out what the venue does not hold.
    function _drawRevenue(IAssetShares shares, uint256 due) internal {
        uint256 reserve = _revenueReserve[shares];
        if (due <= reserve) {
            _revenueReserve[shares] = reserve - due;
            return;
        }
        uint256 claimable = shares.claimable(address(this));
        _revenueReserve[shares] = reserve + claimable - due;
        uint256 claimed = shares.claim();
        if (claimed != claimable) revert RevenueClaimMismatch(address(shares), claimed, claimable);
    }

    /// @dev Revenue of `amount` escrowed shares between two accumulator values, rounded down (towards the venue).
    function _revenueOf(uint256 amount, uint256 perShareNow, uint256 perShareThen) internal pure returns (uint256) {
        return amount * (perShareNow - perShareThen) / MAGNITUDE;
    }

    /// @dev Stablecoin value of `amount` share units at `pricePerShare`, rounded up. Both fit 128 bits, so the
    /// product fits 256.
    function _valueUp(uint256 amount, uint256 pricePerShare) internal pure returns (uint256) {
        return Math.ceilDiv(amount * pricePerShare, SHARE_UNIT);
    }
}
