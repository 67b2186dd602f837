// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {Multicall} from "@openzeppelin/contracts/utils/Multicall.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

import {IAssetRegistry} from "./interfaces/IAssetRegistry.sol";
import {IAssetShares} from "./interfaces/IAssetShares.sol";
import {IInvestorRegistry} from "./interfaces/IInvestorRegistry.sol";

/// @title AssetShares
/// @notice Shares of one GPU asset's net cash flows. Deployed by the AssetRegistry, one per asset.
contract AssetShares is IAssetShares, ERC20, ERC20Permit, ReentrancyGuard, Multicall {
    using SafeERC20 for IERC20;
    using SafeCast for uint256;

    /// @inheritdoc IAssetShares
    uint256 public constant MAGNITUDE = 1e36;

    /// @notice Revenue is held, not distributed, until at least one whole share exists. This bounds how far
    /// a deposit can raise the accumulator, which keeps `magnifiedRevenuePerShare * balance` far from
    /// overflow (see docs/contracts.md, "Distribution bounds").
    uint256 public constant MIN_DISTRIBUTION_SUPPLY = 1e18;

    /// @dev One whole share in share units; prices are quoted per whole share.
    uint256 internal constant SHARE_UNIT = 1e18;

    /// @inheritdoc IAssetShares
    uint256 public immutable assetId;
    /// @inheritdoc IAssetShares
    IAssetRegistry public immutable registry;
    /// @inheritdoc IAssetShares
    IERC20 public immutable settlementToken;
    IInvestorRegistry internal immutable _investors;

    /* DISTRIBUTION STATE */

    /// @inheritdoc IAssetShares
    uint256 public magnifiedRevenuePerShare;
    /// @dev Magnified revenue a deposit could not spread evenly (always < totalSupply at that deposit);
    /// it joins the next deposit so that nothing is lost to rounding across deposits.
    uint256 internal _magnifiedCarry;
    /// @inheritdoc IAssetShares
    uint256 public heldRevenue;
    /// @inheritdoc IAssetShares
    uint256 public totalDeposited;
    /// @inheritdoc IAssetShares
    uint256 public totalClaimed;
    /// @dev Moves with every mint and transfer so that a balance change keeps entitlement already earned.
    mapping(address holder => int256) internal _magnifiedCorrections;
    /// @inheritdoc IAssetShares
    mapping(address holder => uint256) public claimedBy;

    /* OFFERING STATE */

    uint256 internal _round;
    Offering internal _offering;
    /// @inheritdoc IAssetShares
    uint256 public proceedsOutstanding;

    /// @dev Deployed by the registry inside `registerAsset`; the registry is `msg.sender`.
    constructor(uint256 assetId_, string memory name_, string memory symbol_) ERC20(name_, symbol_) ERC20Permit(name_) {
        assetId = assetId_;
        registry = IAssetRegistry(msg.sender);
        settlementToken = IAssetRegistry(msg.sender).settlementToken();
        _investors = IAssetRegistry(msg.sender).investorRegistry();
    }

    modifier onlyOperator() {
        address operator = registry.operatorOf(assetId);
        if (msg.sender != operator) revert NotOperator(msg.sender, operator);
        _;
    }

    /* PRIMARY OFFERING */

    /// @inheritdoc IAssetShares
    function openOffering(uint128 pricePerShare, uint128 cap, uint64 closesAt) external onlyOperator {
        if (pricePerShare == 0) revert InvalidPrice(pricePerShare);
        if (cap == 0) revert ZeroAmount();
        if (closesAt <= block.timestamp) revert InvalidOfferingClose(closesAt, block.timestamp);
        if (registry.statusOf(assetId) != IAssetRegistry.AssetStatus.Active) revert AssetNotActive(assetId);
        if (_isSelling()) revert OfferingAlreadyOpen(_round);

        uint256 round = ++_round;
        _offering = Offering({pricePerShare: pricePerShare, cap: cap, sold: 0, closesAt: closesAt, open: true});

        emit OfferingOpened(round, pricePerShare, cap, closesAt);
    }

    /// @inheritdoc IAssetShares
    function closeOffering() external onlyOperator {
        if (!_offering.open) revert OfferingNotOpen(_round);

        _offering.open = false;

        emit OfferingClosed(_round, _offering.sold);
    }

    /// @inheritdoc IAssetShares
    function subscribe(uint256 shares, uint256 maxCost) public nonReentrant returns (uint256 cost) {
        if (shares == 0) revert ZeroAmount();
        Offering memory offering = _offering;
        uint256 round = _round;
        if (!offering.open) revert OfferingNotOpen(round);
        if (block.timestamp > offering.closesAt) revert OfferingEnded(round, offering.closesAt);
        if (registry.statusOf(assetId) != IAssetRegistry.AssetStatus.Active) revert AssetNotActive(assetId);
        uint256 remaining = offering.cap - offering.sold;
        if (shares > remaining) revert ExceedsOfferingCap(round, shares, remaining);
        cost = _costOf(shares, offering.pricePerShare);
        if (cost > maxCost) revert CostAboveMaximum(cost, maxCost);

        // `shares <= remaining <= type(uint128).max`, so the cast cannot truncate.
        _offering.sold = offering.sold + uint128(shares);
        proceedsOutstanding += cost;
        _mint(msg.sender, shares); // checks the investor registry

        emit Subscribed(msg.sender, round, shares, cost);

        settlementToken.safeTransferFrom(msg.sender, address(this), cost);
    }

    /// @inheritdoc IAssetShares
    function subscribeWithPermit(uint256 shares, uint256 maxCost, uint256 deadline, uint8 v, bytes32 r, bytes32 s)
        external
        returns (uint256 cost)
    {
        // A permit front-run by someone who copied it from the mempool has already set the allowance: ignore
        // its failure and let the transfer decide (OpenZeppelin's guidance on permit griefing). The permit
        // goes to the settlement token, which `subscribe` then pulls from; no state of ours changes before it.
        try IERC20Permit(address(settlementToken)).permit(msg.sender, address(this), maxCost, deadline, v, r, s) {}
            catch {}
        return subscribe(shares, maxCost);
    }

    /// @inheritdoc IAssetShares
    function previewSubscribe(uint256 shares) external view returns (uint256 cost) {
        return _costOf(shares, _offering.pricePerShare);
    }

    /// @inheritdoc IAssetShares
    function currentOffering() external view returns (uint256 round, Offering memory offering) {
        return (_round, _offering);
    }

    /// @inheritdoc IAssetShares
    function withdrawProceeds(address to) external onlyOperator nonReentrant returns (uint256 amount) {
        if (to == address(0)) revert ZeroAddress();
        amount = proceedsOutstanding;
        if (amount == 0) revert ZeroAmount();

        proceedsOutstanding = 0;

        emit ProceedsWithdrawn(msg.sender, to, amount);

        settlementToken.safeTransfer(to, amount);
    }

    /* REVENUE */

    /// @inheritdoc IAssetShares
    function depositRevenue(uint256 amount, bytes32 source) external nonReentrant {
        if (amount == 0) revert ZeroAmount();

        totalDeposited += amount;
        uint256 supply = totalSupply();
        if (supply < MIN_DISTRIBUTION_SUPPLY) {
            uint256 held = heldRevenue + amount;
            heldRevenue = held;
            emit RevenueHeld(msg.sender, source, amount, held);
        } else {
            uint256 distributed = amount + heldRevenue;
            if (heldRevenue != 0) heldRevenue = 0;
            uint256 magnified = distributed * MAGNITUDE + _magnifiedCarry;
            uint256 increase = magnified / supply;
            _magnifiedCarry = magnified - increase * supply;
            magnifiedRevenuePerShare += increase;
            emit RevenueDeposited(msg.sender, source, amount, distributed);
        }

        settlementToken.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @inheritdoc IAssetShares
    function claim() external nonReentrant returns (uint256 amount) {
        amount = claimable(msg.sender);
        if (amount == 0) revert NothingToClaim(msg.sender);

        claimedBy[msg.sender] += amount;
        totalClaimed += amount;

        emit RevenueClaimed(msg.sender, amount);

        // A holder frozen by the stablecoin fails here, alone: every other holder's claim is its own call.
        settlementToken.safeTransfer(msg.sender, amount);
    }

    /// @inheritdoc IAssetShares
    function claimable(address holder) public view returns (uint256) {
        return accumulatedRevenueOf(holder) - claimedBy[holder];
    }

    /// @inheritdoc IAssetShares
    function accumulatedRevenueOf(address holder) public view returns (uint256) {
        // The sum is never negative: corrections only ever remove what a balance, moved in or minted at
        // an accumulator value, would otherwise have been credited for the time before it arrived.
        int256 magnified = (magnifiedRevenuePerShare * balanceOf(holder)).toInt256() + _magnifiedCorrections[holder];
        return uint256(magnified) / MAGNITUDE;
    }

    /* ERC-20 OVERRIDES */

    /// @dev Every mint and transfer passes here: the investor registry decides, then both sides are
    /// checkpointed so that revenue earned before the move stays with the sender.
    function _update(address from, address to, uint256 value) internal override {
        if (!_investors.canTransfer(from, to)) revert TransferNotAllowed(from, to);
        super._update(from, to, value);

        uint256 perShare = magnifiedRevenuePerShare;
        if (perShare != 0 && value != 0) {
            int256 correction = (perShare * value).toInt256();
            if (from != address(0)) _magnifiedCorrections[from] += correction;
            _magnifiedCorrections[to] -= correction;
        }
    }

    /* INTERNAL */

    function _isSelling() internal view returns (bool) {
        return _offering.open && block.timestamp <= _offering.closesAt;
    }

    function _costOf(uint256 shares, uint256 pricePerShare) internal pure returns (uint256) {
        return Math.mulDiv(shares, pricePerShare, SHARE_UNIT, Math.Rounding.Ceil);
    }
}
