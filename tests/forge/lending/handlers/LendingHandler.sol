// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

import {AssetShares} from "../../../../contracts/AssetShares.sol";
import {LendingMarket} from "../../../../contracts/LendingMarket.sol";
import {DevStablecoin} from "../../../../contracts/dev/DevStablecoin.sol";
import {ILendingMarket} from "../../../../contracts/interfaces/ILendingMarket.sol";
import {Test} from "../../utils/Test.sol";
import {Vm} from "../../utils/Vm.sol";
import {MockShareValuation} from "../mocks/MockShareValuation.sol";

/// @notice Drives one LendingMarket through realistic sequences with several actors: lenders supply and
/// withdraw, borrowers post and withdraw collateral, borrow and repay (their own debt or another's), verified
/// actors liquidate each other, revenue is paid to the share token (self-repaying yield), yield is applied
/// and claimed, time passes (interest accrues) and the valuation moves (MockShareValuation, a test double:
/// price up or down by up to 50% a step, borrowing frozen or unfrozen).
///
/// Every action predicts what may go wrong from the state it reads: a call either succeeds or fails with one
/// of the errors the spec gives for that situation; anything else is counted in `ghost_unexpectedReverts`.
/// Ghosts record what the invariants check:
///  - the lenders' flows (deposited, withdrawn, interest accrued at each warp, bad debt written off);
///  - for every action that neither moves time nor the price, each actor that was healthy before must be
///    healthy after (`ghost_healthyBecameUnhealthy`);
///  - each liquidation of a position whose LTV was below 1/LIF before it, and whether it left that LTV worse.
contract LendingHandler is Test {
    uint256 internal constant WAD = 1e18;
    uint256 internal constant USD = 1e6;
    uint256 internal constant SHARE = 1e18;

    LendingMarket public immutable market;
    DevStablecoin public immutable coin;
    AssetShares public immutable token;
    MockShareValuation public immutable valuation;
    uint256 public immutable assetId;
    uint256 public immutable lltv;
    uint256 public immutable borrowLtv;
    uint256 public immutable lif;

    address[] internal _actors;

    /* GHOSTS */

    uint256 public ghost_deposited;
    uint256 public ghost_withdrawn;
    uint256 public ghost_interest;
    /// @dev Sum of BadDebtRealized.assets.
    uint256 public ghost_badDebt;
    /// @dev Rounding the market keeps for its lenders (a repayment rounded up past the recorded total, which
    /// is floored at zero): totalAssets rising beyond the flows an action explains.
    uint256 public ghost_roundingGain;
    /// @dev totalAssets falling below the flows an action explains: the lenders lost value. Must stay zero.
    uint256 public ghost_lenderLoss;
    string public ghost_lastLenderLoss;
    /// @dev What the running action explains of the change in totalAssets (+deposit, -withdrawal, -bad debt).
    int256 internal _explained;
    uint256 public ghost_healthyBecameUnhealthy;
    string public ghost_lastHealthViolation;
    uint256 public ghost_unexpectedReverts;
    bytes public ghost_lastUnexpectedRevert;
    string public ghost_lastUnexpectedAction;
    uint256 public ghost_liquidationsBelowInverseLif;
    uint256 public ghost_liquidationsAboveInverseLif;
    uint256 public ghost_liquidationsLeftWorse;
    uint256 public ghost_liquidationsStrictlyHealthier;
    uint256 public ghost_badDebtEvents;
    uint256 public ghost_unhealthyFound;

    uint256 public ghost_calls;
    mapping(bytes32 action => uint256) public calls;
    mapping(bytes32 action => uint256) public successes;

    constructor(
        LendingMarket market_,
        DevStablecoin coin_,
        AssetShares token_,
        MockShareValuation valuation_,
        address[] memory actors_
    ) {
        market = market_;
        coin = coin_;
        token = token_;
        valuation = valuation_;
        assetId = market_.assetId();
        lltv = market_.lltv();
        borrowLtv = market_.borrowLtv();
        lif = market_.liquidationIncentiveFactor();
        _actors = actors_;
        coin_.approve(address(token_), type(uint256).max);
    }

    function actors() external view returns (address[] memory) {
        return _actors;
    }

    /* HEALTH BOOKKEEPING */

    /// @dev Wraps every action that moves neither time nor the price.
    modifier keepsHealthy(string memory action) {
        ghost_calls++;
        calls[keccak256(bytes(action))]++;
        bool[] memory before = new bool[](_actors.length);
        for (uint256 i; i < _actors.length; ++i) {
            before[i] = _healthy(_actors[i]);
        }
        uint256 assetsBefore = market.totalAssets();
        _explained = 0;
        _;
        // No time passes here: the lenders' assets move only by the flows the action explains.
        int256 unexplained = int256(market.totalAssets()) - int256(assetsBefore) - _explained;
        if (unexplained > 0) {
            ghost_roundingGain += uint256(unexplained);
        } else if (unexplained < 0) {
            ghost_lenderLoss += uint256(-unexplained);
            ghost_lastLenderLoss = action;
        }
        for (uint256 i; i < _actors.length; ++i) {
            if (before[i] && !_healthy(_actors[i])) {
                ghost_healthyBecameUnhealthy++;
                ghost_lastHealthViolation = string.concat(action, ": actor-", vm.toString(i));
            }
        }
    }

    modifier counted(string memory action) {
        ghost_calls++;
        calls[keccak256(bytes(action))]++;
        _;
    }

    function price() public view returns (uint256 p) {
        (p,) = valuation.quote(assetId);
    }

    /// @notice Not liquidatable: debt <= collateral value x LLTV, both as the market rounds them.
    function _healthy(address actor) internal view returns (bool) {
        return market.debtOf(actor) <= _maxDebt(market.positionOf(actor).collateral, price(), lltv);
    }

    function _maxDebt(uint256 collateral, uint256 p, uint256 ltv) internal pure returns (uint256) {
        return Math.mulDiv(Math.mulDiv(collateral, p, SHARE), ltv, WAD);
    }

    function _actor(uint256 seed) internal view returns (address) {
        return _actors[seed % _actors.length];
    }

    function _fund(address who, uint256 amount) internal {
        coin.mint(who, amount);
    }

    /// @dev A revert that the action's situation allows (`allowed` selectors) is fine; anything else is recorded.
    function _expect(bytes memory reason, bytes4[3] memory allowed, string memory action) internal {
        bytes4 selector = reason.length >= 4 ? bytes4(reason) : bytes4(0);
        for (uint256 i; i < 3; ++i) {
            if (allowed[i] != bytes4(0) && selector == allowed[i]) return;
        }
        ghost_unexpectedReverts++;
        ghost_lastUnexpectedRevert = reason;
        ghost_lastUnexpectedAction = action;
    }

    function _success(string memory action) internal {
        successes[keccak256(bytes(action))]++;
    }

    /* LENDERS */

    function supply(uint256 actorSeed, uint256 assets) external keepsHealthy("supply") {
        address actor = _actor(actorSeed);
        assets = bound(assets, 1, 1_000_000 * USD);
        _fund(actor, assets);
        vm.prank(actor);
        try market.deposit(assets, actor) {
            ghost_deposited += assets;
            _explained = int256(assets);
            _success("supply");
        } catch (bytes memory reason) {
            _expect(reason, [bytes4(0), bytes4(0), bytes4(0)], "supply");
        }
    }

    function withdraw(uint256 actorSeed, uint256 assets) external keepsHealthy("withdraw") {
        address actor = _actor(actorSeed);
        uint256 most = market.maxWithdraw(actor);
        if (most == 0) return;
        assets = bound(assets, 1, most);
        vm.prank(actor);
        try market.withdraw(assets, actor, actor) {
            ghost_withdrawn += assets;
            _explained = -int256(assets);
            _success("withdraw");
        } catch (bytes memory reason) {
            _expect(reason, [bytes4(0), bytes4(0), bytes4(0)], "withdraw");
        }
    }

    /* BORROWERS */

    function supplyCollateral(uint256 actorSeed, uint256 amount) external keepsHealthy("supplyCollateral") {
        address actor = _actor(actorSeed);
        uint256 held = token.balanceOf(actor);
        if (held == 0) return;
        amount = bound(amount, 1, held);
        vm.prank(actor);
        try market.supplyCollateral(amount, actor) {
            _success("supplyCollateral");
        } catch (bytes memory reason) {
            _expect(reason, [bytes4(0), bytes4(0), bytes4(0)], "supplyCollateral");
        }
    }

    function withdrawCollateral(uint256 actorSeed, uint256 amount) external keepsHealthy("withdrawCollateral") {
        address actor = _actor(actorSeed);
        uint256 posted = market.positionOf(actor).collateral;
        if (posted == 0) return;
        amount = bound(amount, 1, posted);
        vm.prank(actor);
        try market.withdrawCollateral(amount, actor) {
            _success("withdrawCollateral");
            // What stays must carry the debt within the borrow LTV.
            ILendingMarket.Position memory p = market.positionOf(actor);
            if (p.borrowShares != 0 && market.debtOf(actor) > _maxDebt(p.collateral, price(), borrowLtv)) {
                ghost_unexpectedReverts++;
                ghost_lastUnexpectedAction = "withdrawCollateral left the position above the borrow LTV";
            }
        } catch (bytes memory reason) {
            _expect(
                reason, [ILendingMarket.InsufficientCollateral.selector, bytes4(0), bytes4(0)], "withdrawCollateral"
            );
        }
    }

    function borrow(uint256 actorSeed, uint256 assets) external keepsHealthy("borrow") {
        address actor = _actor(actorSeed);
        uint256 room = _maxDebt(market.positionOf(actor).collateral, price(), borrowLtv);
        uint256 debt = market.debtOf(actor);
        room = room > debt ? room - debt : 0;
        room = Math.min(room, market.liquidity());
        if (room == 0) return;
        // Half the time right up to the cap: positions at the edge are the ones a price move tips over.
        assets = assets % 2 == 0 ? room : bound(assets, 1, room);
        vm.prank(actor);
        try market.borrow(assets, actor) {
            _success("borrow");
        } catch (bytes memory reason) {
            // Frozen valuation; or the borrow shares' rounding up tipping a loan at the cap over it.
            _expect(
                reason,
                [ILendingMarket.BorrowingFrozen.selector, ILendingMarket.InsufficientCollateral.selector, bytes4(0)],
                "borrow"
            );
        }
    }

    function repay(uint256 actorSeed, uint256 payerSeed, uint256 amount, bool byShares) external keepsHealthy("repay") {
        address actor = _actor(actorSeed);
        address payer = _actor(payerSeed);
        uint256 owned = market.positionOf(actor).borrowShares;
        if (owned == 0) return;
        uint256 debt = market.debtOf(actor);
        _fund(payer, debt + 1);
        // By shares: up to twice the shares owned (a third of the time type(uint256).max): the yield applied
        // first may have repaid some of them, and asking for more than is left repays what is left, never reverts.
        uint256 asked = amount % 3 == 0 ? type(uint256).max : bound(amount, 1, 2 * owned);
        vm.prank(payer);
        if (byShares) {
            try market.repay(0, asked, actor) returns (uint256, uint256 repaidShares) {
                _success("repay");
                uint256 left = market.positionOf(actor).borrowShares;
                if (asked >= owned && left != 0) {
                    ghost_unexpectedReverts++;
                    ghost_lastUnexpectedAction = "repay of at least the shares shown left some";
                }
                if (repaidShares > owned || (left != 0 && repaidShares != asked)) {
                    ghost_unexpectedReverts++;
                    ghost_lastUnexpectedAction = "repay by shares repaid other than min(asked, left)";
                }
            } catch (bytes memory reason) {
                _expect(reason, [bytes4(0), bytes4(0), bytes4(0)], "repay/shares");
            }
        } else {
            try market.repay(bound(amount, 1, debt), 0, actor) {
                _success("repay");
            } catch (bytes memory reason) {
                // Assets near the whole debt round to more shares than the position holds.
                _expect(reason, [ILendingMarket.ExceedsDebt.selector, bytes4(0), bytes4(0)], "repay");
            }
        }
    }

    /* LIQUIDATORS */

    function liquidate(uint256 liquidatorSeed, uint256 borrowerSeed, uint256 amount, bool seizeMode)
        external
        keepsHealthy("liquidate")
    {
        // A liquidator looks for an unhealthy position: the first one from the seed on, else the seed's.
        address borrower = _actor(borrowerSeed);
        for (uint256 i; i < _actors.length; ++i) {
            address candidate = _actor(borrowerSeed % _actors.length + i);
            if (!_healthy(candidate)) {
                borrower = candidate;
                break;
            }
        }
        address liquidator = _actor(liquidatorSeed);
        // Yield first (as liquidate itself does), so that what is measured below is what liquidate sees.
        market.applyYield(borrower);
        ILendingMarket.Position memory before = market.positionOf(borrower);
        uint256 debt = market.debtOf(borrower);
        uint256 p = price();
        if (debt <= _maxDebt(before.collateral, p, lltv)) return; // healthy: nothing to liquidate
        ghost_unhealthyFound++;
        _fund(liquidator, debt + 1);
        // LTV < 1 / LIF  <=>  debt x LIF < collateral value (exact, at this price)
        bool belowInverseLif = p != 0 && debt * lif < before.collateral * p;
        // Half the time the liquidator goes for everything: all the collateral, or all the debt.
        bool everything = amount % 2 == 0;

        vm.recordLogs();
        vm.prank(liquidator);
        if (seizeMode) {
            uint256 seized = everything ? before.collateral : bound(amount, 1, before.collateral);
            try market.liquidate(borrower, seized, 0) {
                _success("liquidate");
            } catch (bytes memory reason) {
                _expect(reason, [ILendingMarket.ExceedsDebt.selector, bytes4(0), bytes4(0)], "liquidate/seize");
                vm.getRecordedLogs();
                return;
            }
        } else {
            uint256 shares = everything ? before.borrowShares : bound(amount, 1, before.borrowShares);
            try market.liquidate(borrower, 0, shares) {
                _success("liquidate");
            } catch (bytes memory reason) {
                _expect(reason, [ILendingMarket.ExceedsCollateral.selector, bytes4(0), bytes4(0)], "liquidate/repay");
                vm.getRecordedLogs();
                return;
            }
        }
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].emitter == address(market) && logs[i].topics[0] == ILendingMarket.BadDebtRealized.selector) {
                (uint256 written,) = abi.decode(logs[i].data, (uint256, uint256));
                ghost_badDebt += written;
                ghost_badDebtEvents++;
                _explained -= int256(written);
            }
        }

        ILendingMarket.Position memory afterwards = market.positionOf(borrower);
        uint256 debtAfter = market.debtOf(borrower);
        if (belowInverseLif) {
            ghost_liquidationsBelowInverseLif++;
            // Healthier = lower LTV at the same price: debtAfter / collateralAfter < debt / collateral.
            if (debtAfter * before.collateral > debt * afterwards.collateral) {
                ghost_liquidationsLeftWorse++;
            } else if (debtAfter * before.collateral < debt * afterwards.collateral || debtAfter == 0) {
                ghost_liquidationsStrictlyHealthier++;
            }
        } else {
            ghost_liquidationsAboveInverseLif++;
        }
    }

    /* YIELD */

    function payYield(uint256 amount) external keepsHealthy("payYield") {
        amount = bound(amount, 1, 10_000 * USD);
        _fund(address(this), amount);
        token.depositRevenue(amount, "TEST");
        _success("payYield");
    }

    function applyYield(uint256 actorSeed) external keepsHealthy("applyYield") {
        try market.applyYield(_actor(actorSeed)) {
            _success("applyYield");
        } catch (bytes memory reason) {
            _expect(reason, [bytes4(0), bytes4(0), bytes4(0)], "applyYield");
        }
    }

    function claimYield(uint256 actorSeed) external keepsHealthy("claimYield") {
        address actor = _actor(actorSeed);
        if (market.claimableYieldOf(actor) == 0 && market.pendingYieldOf(actor) == 0) return;
        vm.prank(actor);
        try market.claimYield(actor) {
            _success("claimYield");
        } catch (bytes memory reason) {
            // Pending yield that all went to debt leaves nothing to claim.
            _expect(reason, [ILendingMarket.NothingToClaim.selector, bytes4(0), bytes4(0)], "claimYield");
        }
    }

    /* TIME AND PRICE (the only actions allowed to make a healthy position unhealthy) */

    /// @dev Interest is what the lenders' assets gained while time passed (totalAssets includes interest not
    /// yet accrued, so the gains telescope whether or not anyone accrues). Half the time a keeper accrues.
    function warp(uint256 seconds_) external counted("warp") {
        uint256 before = market.totalAssets();
        vm.warp(block.timestamp + bound(seconds_, 1, 3 days));
        ghost_interest += market.totalAssets() - before;
        if (seconds_ % 2 == 0) market.accrueInterest();
        _success("warp");
    }

    function movePrice(uint256 percent, uint256 freezeSeed) external counted("movePrice") {
        uint256 next = price() * bound(percent, 50, 150) / 100;
        valuation.setPrice(assetId, uint128(Math.max(next, 1)));
        if (freezeSeed % 5 == 0) valuation.setFrozen(assetId, !valuation.frozenOf(assetId));
        _success("movePrice");
    }
}
