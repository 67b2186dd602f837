// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AssetShares} from "../../../../contracts/AssetShares.sol";
import {InvestorRegistry} from "../../../../contracts/InvestorRegistry.sol";
import {ShareVenue} from "../../../../contracts/ShareVenue.sol";
import {DevStablecoin} from "../../../../contracts/dev/DevStablecoin.sol";
import {IAssetShares} from "../../../../contracts/interfaces/IAssetShares.sol";
import {IShareVenue} from "../../../../contracts/interfaces/IShareVenue.sol";
import {Test} from "../../utils/Test.sol";

/// @notice Drives the venue's H100 market through realistic sequences among four traders: asks and bids at a
/// handful of nearby prices, cancels, taker buys and sells over random subsets of the resting orders under random
/// limits, revenue deposits while shares rest in escrow, proceeds withdrawals, time passing (orders expire), and
/// compliance revoking and re-verifying a trader (`traders[3]`) at times.
///
/// Around every fill it checks what the invariants cannot see afterwards (ghost flags): no order filled beyond its
/// size, none outside the taker's limit, no share delivered to an address that may not hold shares. It keeps the
/// magnified revenue each trader would have earned holding its shares itself (wallet plus its resting asks), to
/// compare with what the token and the venue actually give it.
contract VenueHandler is Test {
    uint256 internal constant USD = 1e6;
    uint256 internal constant SHARE = 1e18;
    bytes32 internal constant LEASE = "LEASE";

    ShareVenue public immutable venue;
    AssetShares public immutable shares;
    DevStablecoin public immutable coin;
    InvestorRegistry public immutable investors;
    address public immutable compliance;
    address public immutable depositor;

    address[] internal _traders;
    uint256[] internal _orderIds;

    error NotATrader(address account);

    /* GHOSTS */

    mapping(uint256 orderId => uint256) public ghost_size;
    mapping(uint256 orderId => uint256) public ghost_filled;
    /// @dev Revenue the venue credited to each trader (proceeds increases that were not sale values).
    mapping(address trader => uint256) public ghost_forwarded;
    /// @dev Sum over deposits of (wallet + resting asks) x accumulator increase: what holding would have earned.
    mapping(address trader => uint256) public ghost_entitledMagnified;
    /// @dev Fill and cancel events of a trader's asks: each may round a forwarded amount down by one unit.
    mapping(address trader => uint256) public ghost_revenueLegs;
    uint256 public ghost_deposits;
    uint256 public ghost_fills;
    uint256 public ghost_overfilled;
    uint256 public ghost_outsideLimit;
    uint256 public ghost_deliveredToUnverified;

    constructor(
        ShareVenue venue_,
        AssetShares shares_,
        DevStablecoin coin_,
        InvestorRegistry investors_,
        address compliance_,
        address depositor_,
        address[] memory traders_
    ) {
        venue = venue_;
        shares = shares_;
        coin = coin_;
        investors = investors_;
        compliance = compliance_;
        depositor = depositor_;
        _traders = traders_;
    }

    /* ACTIONS */

    function placeAsk(uint256 traderSeed, uint256 priceSeed, uint256 amount, uint256 ttl) external {
        address maker = _trader(traderSeed);
        amount = bound(amount, 1, shares.balanceOf(maker) == 0 ? 1 : shares.balanceOf(maker));
        _placeOrder(maker, IShareVenue.Side.Sell, priceSeed, amount, ttl);
    }

    function placeBid(uint256 traderSeed, uint256 priceSeed, uint256 amount, uint256 ttl) external {
        _placeOrder(_trader(traderSeed), IShareVenue.Side.Buy, priceSeed, bound(amount, 1, 200 * SHARE), ttl);
    }

    function cancel(uint256 orderSeed) external {
        if (_orderIds.length == 0) return;
        uint256 id = _orderIds[orderSeed % _orderIds.length];
        IShareVenue.Order memory order = venue.orderOf(_book(), id);
        if (order.maker == address(0)) return;
        uint256 proceedsBefore = venue.proceedsOf(order.maker);
        vm.prank(order.maker);
        try venue.cancelOrder(_book(), id) {
            if (order.side == IShareVenue.Side.Sell) {
                ghost_forwarded[order.maker] += venue.proceedsOf(order.maker) - proceedsBefore;
                ++ghost_revenueLegs[order.maker];
            }
        } catch {}
    }

    function buy(uint256 traderSeed, uint256 pick, uint256 limitSeed, uint256 maxShares, uint256 maxSpend) external {
        address taker = _trader(traderSeed);
        uint256[] memory ids = _pick(pick);
        uint128 limit = uint128(_price(limitSeed));
        maxShares = bound(maxShares, 1, 300 * SHARE);
        maxSpend = bound(maxSpend, 1, 50_000 * USD);
        (IShareVenue.Order[] memory before, uint256[] memory proceedsBefore) = _snapshot(ids);
        bool takerMayHold = investors.canHold(taker);
        vm.prank(taker);
        try venue.buy(_book(), ids, limit, maxShares, maxSpend) {
            if (!takerMayHold) ++ghost_deliveredToUnverified;
            uint256[] memory values = _checkFills(ids, before, limit, true);
            for (uint256 i; i < _traders.length; ++i) {
                address t = _traders[i];
                ghost_forwarded[t] += venue.proceedsOf(t) - proceedsBefore[i] - values[i];
            }
        } catch {}
    }

    function sell(uint256 traderSeed, uint256 pick, uint256 limitSeed, uint256 maxShares) external {
        address taker = _trader(traderSeed);
        uint256[] memory ids = _pick(pick);
        uint128 limit = uint128(_price(limitSeed));
        maxShares = bound(maxShares, 1, shares.balanceOf(taker) == 0 ? 1 : shares.balanceOf(taker));
        (IShareVenue.Order[] memory before,) = _snapshot(ids);
        bool[] memory mayHold = new bool[](_traders.length);
        for (uint256 i; i < _traders.length; ++i) {
            mayHold[i] = investors.canHold(_traders[i]);
        }
        uint256[] memory balances = _balances();
        vm.prank(taker);
        try venue.sell(_book(), ids, limit, maxShares) {
            _checkFills(ids, before, limit, false);
            uint256[] memory after_ = _balances();
            for (uint256 i; i < _traders.length; ++i) {
                if (after_[i] > balances[i] && !mayHold[i]) ++ghost_deliveredToUnverified;
            }
        } catch {}
    }

    function deposit(uint256 amount) external {
        amount = bound(amount, 1, 10_000 * USD);
        uint256 perShareBefore = shares.magnifiedRevenuePerShare();
        uint256[] memory holdings = _holdings();
        vm.prank(depositor);
        coin.mint(depositor, amount);
        vm.startPrank(depositor);
        coin.approve(address(shares), amount);
        shares.depositRevenue(amount, LEASE);
        vm.stopPrank();
        uint256 increase = shares.magnifiedRevenuePerShare() - perShareBefore;
        for (uint256 i; i < _traders.length; ++i) {
            ghost_entitledMagnified[_traders[i]] += holdings[i] * increase;
        }
        ++ghost_deposits;
    }

    function withdraw(uint256 traderSeed) external {
        address trader = _trader(traderSeed);
        if (venue.proceedsOf(trader) == 0) return;
        vm.prank(trader);
        venue.withdrawProceeds();
    }

    function toggleVerification() external {
        address trader = _traders[3];
        vm.startPrank(compliance);
        if (investors.isVerified(trader)) investors.revokeInvestor(trader);
        else investors.addInvestor(trader, uint64(block.timestamp + 3650 days), 756);
        vm.stopPrank();
    }

    function warp(uint256 seconds_) external {
        vm.warp(block.timestamp + bound(seconds_, 1, 2 days));
    }

    /* VIEWS FOR THE INVARIANTS */

    function traders() external view returns (address[] memory) {
        return _traders;
    }

    function orderIds() external view returns (uint256[] memory) {
        return _orderIds;
    }

    /// @dev Stablecoin escrowed by resting bids and share units escrowed by resting asks.
    function escrowed() public view returns (uint256 coinEscrow, uint256 shareEscrow) {
        for (uint256 i; i < _orderIds.length; ++i) {
            IShareVenue.Order memory order = venue.orderOf(_book(), _orderIds[i]);
            if (order.maker == address(0)) continue;
            if (order.side == IShareVenue.Side.Buy) coinEscrow += _valueUp(order.remaining, order.pricePerShare);
            else shareEscrow += order.remaining;
        }
    }

    function sumProceeds() public view returns (uint256 sum) {
        for (uint256 i; i < _traders.length; ++i) {
            sum += venue.proceedsOf(_traders[i]);
        }
    }

    /// @dev Revenue the resting asks of `trader` (all traders when zero) have earned and not yet been credited.
    function pendingRevenue(address trader) public view returns (uint256 sum) {
        for (uint256 i; i < _orderIds.length; ++i) {
            IShareVenue.Order memory order = venue.orderOf(_book(), _orderIds[i]);
            if (order.maker == address(0) || (trader != address(0) && order.maker != trader)) continue;
            sum += venue.pendingRevenueOf(_book(), _orderIds[i]);
        }
    }

    function openAsksOf(address trader) public view returns (uint256 count) {
        for (uint256 i; i < _orderIds.length; ++i) {
            IShareVenue.Order memory order = venue.orderOf(_book(), _orderIds[i]);
            if (order.maker == trader && order.side == IShareVenue.Side.Sell) ++count;
        }
    }

    /* INTERNAL */

    function _placeOrder(address maker, IShareVenue.Side side, uint256 priceSeed, uint256 amount, uint256 ttl)
        internal
    {
        uint40 expiresAt = uint40(block.timestamp + bound(ttl, 1 hours, 3 days));
        vm.prank(maker);
        try venue.placeOrder(_book(), side, uint128(_price(priceSeed)), uint128(amount), expiresAt) returns (
            uint256 id
        ) {
            _orderIds.push(id);
            ghost_size[id] = amount;
        } catch {}
    }

    /// @dev Checks every order the call was given: filled within its size and the taker's limit. Returns the sale
    /// value each trader (as a maker) was credited.
    function _checkFills(uint256[] memory ids, IShareVenue.Order[] memory before, uint128 limit, bool buying)
        internal
        returns (uint256[] memory values)
    {
        values = new uint256[](_traders.length);
        for (uint256 i; i < ids.length; ++i) {
            IShareVenue.Order memory was = before[i];
            IShareVenue.Order memory now_ = venue.orderOf(_book(), ids[i]);
            if (was.maker == address(0) || now_.remaining >= was.remaining) continue;
            uint256 filled = was.remaining - now_.remaining;
            // The same id may appear twice in one call; `before` holds its first state, so count it once.
            for (uint256 j = i + 1; j < ids.length; ++j) {
                if (ids[j] == ids[i]) before[j].remaining = now_.remaining;
            }
            ghost_filled[ids[i]] += filled;
            ++ghost_fills;
            if (ghost_filled[ids[i]] > ghost_size[ids[i]]) ++ghost_overfilled;
            if (buying ? was.pricePerShare > limit : was.pricePerShare < limit) ++ghost_outsideLimit;
            uint256 value = _valueUp(was.remaining, was.pricePerShare) - _valueUp(now_.remaining, was.pricePerShare);
            values[_indexOf(was.maker)] += value;
            if (was.side == IShareVenue.Side.Sell) ++ghost_revenueLegs[was.maker];
        }
    }

    function _snapshot(uint256[] memory ids)
        internal
        view
        returns (IShareVenue.Order[] memory orders, uint256[] memory proceeds)
    {
        orders = new IShareVenue.Order[](ids.length);
        for (uint256 i; i < ids.length; ++i) {
            orders[i] = venue.orderOf(_book(), ids[i]);
        }
        proceeds = new uint256[](_traders.length);
        for (uint256 i; i < _traders.length; ++i) {
            proceeds[i] = venue.proceedsOf(_traders[i]);
        }
    }

    /// @dev Up to four ids among the placed orders (and now and then one never placed).
    function _pick(uint256 seed) internal view returns (uint256[] memory ids) {
        uint256 n = _orderIds.length == 0 ? 1 : 1 + seed % 4;
        ids = new uint256[](n);
        for (uint256 i; i < n; ++i) {
            uint256 r = uint256(keccak256(abi.encode(seed, i)));
            ids[i] = _orderIds.length == 0 || r % 13 == 0 ? 1_000_000 + r % 7 : _orderIds[r % _orderIds.length];
        }
    }

    function _holdings() internal view returns (uint256[] memory holdings) {
        holdings = new uint256[](_traders.length);
        for (uint256 i; i < _traders.length; ++i) {
            holdings[i] = shares.balanceOf(_traders[i]);
        }
        for (uint256 i; i < _orderIds.length; ++i) {
            IShareVenue.Order memory order = venue.orderOf(_book(), _orderIds[i]);
            if (order.maker != address(0) && order.side == IShareVenue.Side.Sell) {
                holdings[_indexOf(order.maker)] += order.remaining;
            }
        }
    }

    function _balances() internal view returns (uint256[] memory balances) {
        balances = new uint256[](_traders.length);
        for (uint256 i; i < _traders.length; ++i) {
            balances[i] = shares.balanceOf(_traders[i]);
        }
    }

    function _indexOf(address trader) internal view returns (uint256) {
        for (uint256 i; i < _traders.length; ++i) {
            if (_traders[i] == trader) return i;
        }
        revert NotATrader(trader);
    }

    function _trader(uint256 seed) internal view returns (address) {
        return _traders[seed % _traders.length];
    }

    /// @dev One of five prices around 100 dev-USD, one of them not a whole number of base units per share unit.
    function _price(uint256 seed) internal pure returns (uint256) {
        return 97 * USD + (seed % 5) * 1_500_001;
    }

    function _valueUp(uint256 amount, uint256 price) internal pure returns (uint256) {
        return (amount * price + SHARE - 1) / SHARE;
    }

    function _book() internal view returns (IAssetShares) {
        return IAssetShares(address(shares));
    }
}
