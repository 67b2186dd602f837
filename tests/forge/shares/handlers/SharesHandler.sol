// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AssetShares} from "../../../../contracts/AssetShares.sol";
import {DevStablecoin} from "../../../../contracts/dev/DevStablecoin.sol";
import {IAssetShares} from "../../../../contracts/interfaces/IAssetShares.sol";
import {Test} from "../../utils/Test.sol";

/// @notice Drives one asset's share token through realistic sequences among four verified holders: revenue
/// deposits (large ones and few-unit ones, some while less than a whole share exists), subscriptions in the
/// open offering, transfers between holders, claims, the operator pulling proceeds, and the stablecoin
/// freezing and unfreezing the fourth holder (`frozen`) at times.
///
/// Every call predicts its own outcome (success and the amount, or the exact custom error) and counts any
/// difference in `ghost_unexpected`; the invariant test reads the ghost totals.
contract SharesHandler is Test {
    uint256 internal constant USD = 1e6;
    uint256 internal constant SHARE = 1e18;
    bytes32 internal constant LEASE = "LEASE";

    AssetShares public immutable shares;
    DevStablecoin public immutable coin;
    address public immutable operator;
    address public immutable lessee;
    /// @dev The holder the stablecoin freezes at times (holders[3]).
    address public immutable frozen;

    address[] internal _holders;

    /* GHOSTS */

    uint256 public ghost_deposited;
    uint256 public ghost_deposits;
    uint256 public ghost_heldDeposits;
    uint256 public ghost_claimed;
    uint256 public ghost_subscribedShares;
    uint256 public ghost_proceedsWithdrawn;
    /// @dev Claims a frozen holder attempted with something owed (each must fail with AccountBlocklisted).
    uint256 public ghost_frozenClaims;
    /// @dev Successful claims by other holders while `frozen` was frozen and owed something.
    uint256 public ghost_claimsWhileOneFrozen;
    /// @dev Any outcome that differed from the prediction (must stay 0).
    uint256 public ghost_unexpected;
    mapping(bytes4 selector => uint256) public calls;

    constructor(AssetShares shares_, DevStablecoin coin_, address operator_, address lessee_, address[] memory holders_) {
        shares = shares_;
        coin = coin_;
        operator = operator_;
        lessee = lessee_;
        _holders = holders_;
        frozen = holders_[3];
    }

    function holders() external view returns (address[] memory) {
        return _holders;
    }

    /* ACTIONS */

    /// @notice Someone deposits revenue: most deposits are sizeable, one in four is a few base units.
    function deposit(uint256 amountSeed) external {
        calls[this.deposit.selector]++;
        uint256 amount = amountSeed % 4 == 0 ? bound(amountSeed >> 2, 1, 1_000) : bound(amountSeed, 1, 1e6 * USD);
        coin.mint(lessee, amount);
        vm.prank(lessee);
        coin.approve(address(shares), amount);
        bool held = shares.totalSupply() < shares.MIN_DISTRIBUTION_SUPPLY();

        vm.prank(lessee);
        try shares.depositRevenue(amount, LEASE) {
            ghost_deposited += amount;
            ghost_deposits++;
            if (held) ghost_heldDeposits++;
        } catch {
            ghost_unexpected++;
        }
    }

    /// @notice A holder buys shares in the open round (reverts with the stablecoin's error when frozen).
    function subscribe(uint256 holderSeed, uint256 amountSeed) external {
        calls[this.subscribe.selector]++;
        address holder = _holders[holderSeed % _holders.length];
        (, IAssetShares.Offering memory offering) = shares.currentOffering();
        uint256 remaining = offering.cap - offering.sold;
        if (remaining == 0) return;
        // Sometimes a fraction of a share, so that the supply can sit below one whole share for a while.
        uint256 amount = amountSeed % 3 == 0 ? bound(amountSeed, 1, SHARE / 2) : bound(amountSeed, 1, 1e6 * SHARE);
        if (amount > remaining) amount = remaining;
        uint256 cost = shares.previewSubscribe(amount);
        bool isFrozen = coin.isBlocklisted(holder);
        if (!isFrozen) coin.mint(holder, cost);
        uint256 before = coin.balanceOf(holder);

        vm.prank(holder);
        try shares.subscribe(amount, cost) returns (uint256 paid) {
            if (isFrozen || paid != cost || coin.balanceOf(holder) != before - cost) ghost_unexpected++;
            ghost_subscribedShares += amount;
        } catch (bytes memory reason) {
            if (!isFrozen || keccak256(reason) != keccak256(_blocklisted(holder))) ghost_unexpected++;
        }
    }

    /// @notice A holder sends part of its shares to another holder; both sides keep what they had earned.
    function transfer(uint256 fromSeed, uint256 toSeed, uint256 amountSeed) external {
        calls[this.transfer.selector]++;
        address from = _holders[fromSeed % _holders.length];
        address to = _holders[toSeed % _holders.length];
        uint256 amount = bound(amountSeed, 0, shares.balanceOf(from));
        uint256 fromEarned = shares.accumulatedRevenueOf(from);
        uint256 toEarned = shares.accumulatedRevenueOf(to);

        vm.prank(from);
        try shares.transfer(to, amount) returns (bool ok) {
            if (!ok) ghost_unexpected++;
            // Checkpointing: a transfer moves future revenue, never revenue already earned.
            if (shares.accumulatedRevenueOf(from) != fromEarned || shares.accumulatedRevenueOf(to) != toEarned) {
                ghost_unexpected++;
            }
        } catch {
            ghost_unexpected++;
        }
    }

    /// @notice A holder claims: it is paid exactly its claimable amount, or NothingToClaim when that is zero,
    /// or the stablecoin's AccountBlocklisted when it is frozen; nobody else is affected.
    function claim(uint256 holderSeed) external {
        calls[this.claim.selector]++;
        address holder = _holders[holderSeed % _holders.length];
        uint256 owed = shares.claimable(holder);
        bool isFrozen = coin.isBlocklisted(holder);
        bool otherFrozenAndOwed = holder != frozen && coin.isBlocklisted(frozen) && shares.claimable(frozen) != 0;
        uint256 before = coin.balanceOf(holder);

        vm.prank(holder);
        try shares.claim() returns (uint256 paid) {
            if (owed == 0 || isFrozen || paid != owed || coin.balanceOf(holder) != before + paid) ghost_unexpected++;
            if (shares.claimable(holder) != 0) ghost_unexpected++;
            ghost_claimed += paid;
            if (otherFrozenAndOwed) ghost_claimsWhileOneFrozen++;
        } catch (bytes memory reason) {
            bytes memory expected = owed == 0
                ? abi.encodeWithSelector(IAssetShares.NothingToClaim.selector, holder)
                : _blocklisted(holder);
            if (keccak256(reason) != keccak256(expected) || (owed != 0 && !isFrozen)) ghost_unexpected++;
            if (owed != 0 && isFrozen) ghost_frozenClaims++;
        }
    }

    /// @notice The operator pulls the offering proceeds (ZeroAmount when there are none).
    function withdrawProceeds() external {
        calls[this.withdrawProceeds.selector]++;
        uint256 outstanding = shares.proceedsOutstanding();
        vm.prank(operator);
        try shares.withdrawProceeds(operator) returns (uint256 amount) {
            if (amount != outstanding || outstanding == 0) ghost_unexpected++;
            ghost_proceedsWithdrawn += amount;
        } catch (bytes memory reason) {
            if (outstanding != 0 || keccak256(reason) != keccak256(abi.encodeWithSelector(IAssetShares.ZeroAmount.selector))) {
                ghost_unexpected++;
            }
        }
    }

    /// @notice The stablecoin issuer freezes the fourth holder, or unfreezes it.
    function toggleFreeze() external {
        calls[this.toggleFreeze.selector]++;
        if (coin.isBlocklisted(frozen)) coin.unBlocklist(frozen);
        else coin.blocklist(frozen);
    }

    /* VIEWS FOR THE INVARIANTS */

    function sumClaimable() public view returns (uint256 sum) {
        for (uint256 i; i < _holders.length; ++i) {
            sum += shares.claimable(_holders[i]);
        }
    }

    function sumBalances() public view returns (uint256 sum) {
        for (uint256 i; i < _holders.length; ++i) {
            sum += shares.balanceOf(_holders[i]);
        }
    }

    function holderCount() external view returns (uint256) {
        return _holders.length;
    }

    function _blocklisted(address account) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(DevStablecoin.AccountBlocklisted.selector, account);
    }
}
