// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @title IShareValuation
/// @notice What one share of a GPU asset is worth as collateral, from what the asset really earned.
///
/// The formula, per asset (all parameters readable with `paramsOf`):
///   windowNet         = net revenue of the last `windowEpochs` settled epochs (LeaseMarket, void epochs
///                       counting zero)
///   referenceCap      = referencePricePerGpuHour x gpuCount x (windowEpochs x epochLength / 3600), rounded down:
///                       every GPU of the asset leased the whole window at the reference price
///   countedNet        = min(windowNet, referenceCap)        (revenue above the reference is not capitalised)
///   annualNetPerShare = countedNet x (seconds per year / (epochs x epochLength)) / total shares
///   capitalised       = annualNetPerShare / capRate
///   age decay         = max(0, 1 - decayPerYear x GPU age in years)     (a GPU generation loses value yearly)
///   haircuts          = x (1 - silenceHaircut) when the meter has been silent for `maxSilenceEpochs` or
///                       more; x (1 - suspendedHaircut) when the asset is suspended; 0 when retired
///   target            = capitalised x age decay x haircuts
/// The price is anchored once per epoch (`update`, which lending markets call before they rely on a price,
/// and anyone may call): each anchoring moves it from the previous anchor toward the target by at most
/// `maxMoveBpsPerEpoch` of that anchor (of the target when the anchor is zero, so that a price can recover),
/// however many epochs passed since, so a single epoch (a revenue spike, a one-off outage) cannot move the
/// value more than that bound.
///
/// Rise slow, fall fast (Aave's CAPO): a rise is also capped by a ceiling that grows LINEARLY from a slowly
/// moving snapshot, not by a step that compounds every epoch:
///   riseCeiling       = snapshot + snapshot x maxRiseBpsPerYear x (epochs since the snapshot x epochLength)
///                       / (10,000 x seconds per year), rounded down (of the target when the snapshot is zero)
///   price             = the step above, and when it rises, at most max(previous anchor, riseCeiling)
/// The snapshot is the price at configuration; it moves to the newly anchored price once `snapshotEpochs`
/// have passed since it was taken, and at once whenever the price falls below it. So the price can grow by at
/// most maxRiseBpsPerYear a year, compounded once per snapshot period, while a fall is bounded only by the
/// per-epoch step. Borrowing is frozen (`frozen` true, read fresh on every call) while the meter is silent or
/// the asset is not active. Why both caps, and what they cost honest assets: docs/security.md, "Wash leasing".
/// Prices are stored with at most 2**96 - 1 base units a share (a rise stops there).
interface IShareValuation {
    /// @param windowEpochs Trailing settled epochs the yield is measured over.
    /// @param capRateBps Capitalisation rate (yield an investor requires), e.g. 1,500 = 15%.
    /// @param decayBpsPerYear Value lost per year of GPU age, e.g. 2,000 = 20% a year.
    /// @param maxMoveBpsPerEpoch Largest move of the price per epoch, as a share of its anchor.
    /// @param maxSilenceEpochs Epochs without a report after which the meter counts as silent.
    /// @param silenceHaircutBps Value cut while the meter is silent.
    /// @param suspendedHaircutBps Value cut while the asset is suspended.
    /// @param maxRiseBpsPerYear Fastest rise of the price, a year, as a share of its snapshot (linear within a
    /// snapshot period), e.g. 5,000 = 50% a year; at most MAX_RISE_BPS_PER_YEAR.
    /// @param snapshotEpochs Epochs after which the snapshot the rise is measured from moves up to the price.
    /// @param referencePricePerGpuHour The most revenue per GPU-hour the valuation counts (settlement-token base
    /// units; what a GPU-hour of this model and tier fetches at market), at most LeaseMarket's
    /// MAX_PRICE_PER_GPU_HOUR: revenue above it, such as a lease the operator pays to itself at 20x, is not
    /// capitalised.
    struct ValuationParams {
        uint32 windowEpochs;
        uint16 capRateBps;
        uint16 decayBpsPerYear;
        uint16 maxMoveBpsPerEpoch;
        uint32 maxSilenceEpochs;
        uint16 silenceHaircutBps;
        uint16 suspendedHaircutBps;
        uint32 maxRiseBpsPerYear;
        uint32 snapshotEpochs;
        uint128 referencePricePerGpuHour;
    }

    /// @notice The price last written and the epoch it was written in.
    struct Anchor {
        uint128 price;
        uint64 epoch;
        bool configured;
    }

    /// @notice The price the rise ceiling grows from, and the epoch it was taken in.
    struct Snapshot {
        uint128 price;
        uint64 epoch;
    }

    /// @notice The parts of the target, for anyone who wants to recompute it. `windowNet` is what was settled;
    /// `countedNet = min(windowNet, referenceCap)` is what is capitalised.
    struct Breakdown {
        uint256 windowNet;
        uint256 windowEpochs;
        uint256 annualNetPerShare;
        uint256 capitalised;
        uint256 decayFactorBps;
        uint256 silentEpochs;
        bool silent;
        bool suspended;
        bool retired;
        uint256 target;
        uint256 referenceCap;
        uint256 countedNet;
    }

    event AssetConfigured(uint256 indexed assetId, ValuationParams params, uint128 anchorPrice);
    event PriceUpdated(uint256 indexed assetId, uint64 indexed epoch, uint128 price, uint256 target);
    /// @notice The rise ceiling now grows from `price`, taken in `epoch`.
    event SnapshotTaken(uint256 indexed assetId, uint64 indexed epoch, uint128 price);

    error InvalidValuationParams(uint256 assetId);
    error InvalidAnchorPrice(uint256 assetId, uint128 price);
    error AssetNotConfigured(uint256 assetId);

    /// @notice Sets an asset's parameters; the first call also sets its initial price (e.g. the offering
    /// price; at most 2**96 - 1), which is the first anchor and stands in for the capitalised yield until the
    /// asset has settled history.
    function configure(uint256 assetId, ValuationParams calldata params, uint128 initialPrice) external;

    /// @notice The price for this epoch, anchoring it first if this epoch has no anchor yet (one bounded step
    /// from the last anchor), and whether new borrowing must stop. Anyone may call.
    function update(uint256 assetId) external returns (uint256 price, bool frozen);

    /// @notice What `update` would return now, without writing: settlement-token base units per whole share
    /// (1e18 share units), and whether new borrowing against the asset must stop.
    function quote(uint256 assetId) external view returns (uint256 price, bool frozen);

    /// @notice The target price and its parts.
    function breakdown(uint256 assetId) external view returns (Breakdown memory);

    function paramsOf(uint256 assetId) external view returns (ValuationParams memory);

    function anchorOf(uint256 assetId) external view returns (Anchor memory);

    /// @notice The snapshot the rise ceiling grows from.
    function snapshotOf(uint256 assetId) external view returns (Snapshot memory);

    /// @notice The highest price the next anchoring could write now (the rise ceiling; rises are also bounded
    /// by `maxMoveBpsPerEpoch` and the target).
    function riseCeiling(uint256 assetId) external view returns (uint256);

    /// @notice The token prices are quoted in (the suite's settlement token).
    function quoteToken() external view returns (IERC20);
}
