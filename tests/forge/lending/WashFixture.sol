// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

import {AssetRegistry} from "../../../contracts/AssetRegistry.sol";
import {AssetShares} from "../../../contracts/AssetShares.sol";
import {InvestorRegistry} from "../../../contracts/InvestorRegistry.sol";
import {LeaseMarket} from "../../../contracts/LeaseMarket.sol";
import {LendingFactory} from "../../../contracts/LendingFactory.sol";
import {LendingMarket} from "../../../contracts/LendingMarket.sol";
import {LinearKinkIrm} from "../../../contracts/LinearKinkIrm.sol";
import {MeteringOracle} from "../../../contracts/MeteringOracle.sol";
import {YieldValuation} from "../../../contracts/YieldValuation.sol";
import {DevStablecoin} from "../../../contracts/dev/DevStablecoin.sol";
import {IAssetRegistry} from "../../../contracts/interfaces/IAssetRegistry.sol";
import {ILendingFactory} from "../../../contracts/interfaces/ILendingFactory.sol";
import {IShareValuation} from "../../../contracts/interfaces/IShareValuation.sol";
import {Test} from "../utils/Test.sol";

/// @notice The wash-leasing world (issue 9), on the real contracts: the demo's valuation settings (6-epoch window,
/// 20% cap rate, 10% a epoch, LLTV 50% with the factory's 5% margin: borrowing up to 45%) and the demo's rise
/// guards (50% a year from a weekly snapshot, a $2 reference price per GPU-hour).
///
/// One 16-GPU asset; 6,000 shares. Honest lessees keep 8 GPUs leased at $2 a GPU-hour: $16 a epoch, $14.40 net
/// of the 10% operator fee (the epochs settle void, with no meter report: grace period 0, so no energy cost).
/// Their revenue is added by the operator for them (`LeaseMarket.addRevenue`): the valuation reads only the
/// settled net, so it cannot tell the two apart, and lease billing itself is covered by tests/forge/leases.
/// Fair price: $14.40 x 8,760 / 20% / 6,000 shares = $105.12, the offering price and the first anchor.
///
/// THE ATTACKER MODEL. The washer is the operator and holds a fraction of the shares. It pays `washGross` a
/// epoch for leases of its own idle GPUs (any price, any number of the 8 idle GPUs, any duration); of that,
/// the operator fee comes back to it as operator, and the net goes to all holders, of which its own fraction
/// comes back to it as holder. Its cost is therefore the other holders' part of the wash's net:
///   washCost = washNet x (1 - washerShares / totalShares)       (rounded down: in the washer's favour)
/// (energy is not charged in void epochs, and a metered wash's energy would go to the operator too). It anchors
/// the price as often as it likes, then posts its shares in the lending market, borrows the maximum and walks
/// away, leaving lenders shares worth their HONEST value (the valuation without the wash: $105.12):
///   profit = maxBorrow - washerShares x honestPrice - washCost
abstract contract WashFixture is Test {
    uint64 internal constant GENESIS = 1_700_000_000;
    uint64 internal constant EPOCH = 3600;
    uint64 internal constant E0 = 100;
    uint256 internal constant USD = 1e6;
    uint256 internal constant SHARE = 1e18;
    uint256 internal constant WAD = 1e18;
    uint256 internal constant BPS = 10_000;
    uint256 internal constant SUPPLY = 6_000;
    uint32 internal constant GPUS = 16;
    uint32 internal constant HONEST_GPUS = 8;
    uint256 internal constant HONEST_PRICE_PER_GPU_HOUR = 2 * USD;
    uint256 internal constant HONEST_GROSS = HONEST_GPUS * HONEST_PRICE_PER_GPU_HOUR; // $16 a epoch
    uint256 internal constant HONEST_NET = HONEST_GROSS * 9 / 10; // $14.40 after the 10% fee
    uint128 internal constant FAIR_PRICE = 105_120_000; // $105.12 a share
    uint256 internal constant LLTV = 0.5e18;
    uint256 internal constant MARGIN = 0.05e18;
    uint32 internal constant WINDOW = 6;

    address internal admin;
    address internal washer; // the operator
    address internal holder; // an honest investor holding the other shares
    address internal lender;

    DevStablecoin internal coin;
    InvestorRegistry internal investors;
    AssetRegistry internal registry;
    AssetShares internal token;
    LeaseMarket internal leases;
    YieldValuation internal valuation;
    LendingFactory internal factory;
    LendingMarket internal market;
    LinearKinkIrm internal irm;
    uint256 internal assetId;
    /// @dev The epoch the valuation was configured in: the wash may start here.
    uint64 internal startEpoch;

    /// @dev The demo's settings (scripts/demo.py), without GPU-age decay so that the honest price stays put.
    function _guardedParams() internal pure returns (IShareValuation.ValuationParams memory) {
        return IShareValuation.ValuationParams({
            windowEpochs: WINDOW,
            capRateBps: 2_000,
            decayBpsPerYear: 0,
            maxMoveBpsPerEpoch: 1_000,
            maxSilenceEpochs: type(uint32).max,
            silenceHaircutBps: 5_000,
            suspendedHaircutBps: 5_000,
            maxRiseBpsPerYear: 5_000,
            snapshotEpochs: 168,
            referencePricePerGpuHour: uint128(HONEST_PRICE_PER_GPU_HOUR)
        });
    }

    /// @dev The same settings with the guards at their loosest: the rule before issue 9 (10% a epoch, compounding,
    /// every settled unit capitalised).
    function _unguardedParams() internal pure returns (IShareValuation.ValuationParams memory params) {
        params = _guardedParams();
        params.maxRiseBpsPerYear = 87_600_000; // YieldValuation.MAX_RISE_BPS_PER_YEAR
        params.snapshotEpochs = 1;
        params.referencePricePerGpuHour = type(uint96).max; // LeaseMarket.MAX_PRICE_PER_GPU_HOUR
    }

    /// @param washerBps The washer's part of the 6,000 shares (the rest is the honest holder's).
    function _deployWashWorld(uint256 washerBps, IShareValuation.ValuationParams memory params) internal {
        _deployWashWorld(washerBps, params, FAIR_PRICE);
    }

    /// @param initialPrice The valuation's first anchor (the fair price unless a test starts away from it).
    function _deployWashWorld(uint256 washerBps, IShareValuation.ValuationParams memory params, uint128 initialPrice)
        internal
    {
        admin = makeAddr("admin");
        washer = makeAddr("washer");
        holder = makeAddr("holder");
        lender = makeAddr("lender");
        vm.warp(GENESIS + E0 * EPOCH + 60);

        coin = new DevStablecoin("Dev USD", "dUSD", 0, admin);
        investors = new InvestorRegistry(0, admin);
        registry = new AssetRegistry(IERC20(address(coin)), investors, 0, admin);
        vm.startPrank(admin);
        coin.grantRole(coin.MINTER_ROLE(), admin);
        investors.grantRole(investors.COMPLIANCE_ROLE(), admin);
        registry.grantRole(registry.REGISTRAR_ROLE(), admin);
        vm.stopPrank();
        address[] memory signers = new address[](1);
        signers[0] = makeAddr("signer");
        MeteringOracle oracle = new MeteringOracle(registry, GENESIS, EPOCH, 2_000, signers, 1, 0, admin);
        leases = new LeaseMarket(registry, oracle, 0);
        valuation = new YieldValuation(leases, 0, admin);
        assetId = _registerAsset();
        token = AssetShares(registry.sharesOf(assetId));

        irm = new LinearKinkIrm(0.02e18, 0.08e18, 1e18, 0.8e18);
        factory = new LendingFactory(registry, MARGIN, 0, admin);
        vm.startPrank(admin);
        investors.grantRole(investors.HOLDER_MANAGER_ROLE(), address(factory));
        factory.setIrmEnabled(address(irm), true);
        factory.setValuationEnabled(address(valuation), true);
        factory.setLltvEnabled(LLTV, true);
        vm.stopPrank();

        // The offering at the fair price: the washer and the honest holder buy every share.
        uint256 washerShares = SUPPLY * SHARE * washerBps / BPS;
        vm.prank(washer);
        token.openOffering(FAIR_PRICE, uint128(SUPPLY * SHARE), uint64(block.timestamp + 1 days));
        _buy(washer, washerShares);
        _buy(holder, SUPPLY * SHARE - washerShares);

        // A lender with more than anyone could borrow; the washer funds its own wash.
        vm.startPrank(admin);
        coin.mint(lender, 100_000_000 * USD);
        coin.mint(washer, type(uint128).max);
        vm.stopPrank();
        vm.prank(washer);
        coin.approve(address(leases), type(uint256).max);

        // A full window of honest history, then the valuation at the fair price (its target exactly).
        for (uint256 k; k < WINDOW; ++k) {
            _settleEpoch(0);
        }
        vm.prank(admin);
        valuation.configure(assetId, params, initialPrice);
        assertEq(valuation.breakdown(assetId).target, FAIR_PRICE, "honest target: the fair price");
        startEpoch = _epoch();

        // The market can open only over a configured valuation.
        market = LendingMarket(
            factory.createMarket(
                ILendingFactory.MarketParams(address(coin), address(token), address(valuation), address(irm), LLTV)
            )
        );
        vm.startPrank(lender);
        coin.approve(address(market), type(uint256).max);
        market.deposit(100_000_000 * USD, lender);
        vm.stopPrank();
        vm.prank(washer);
        token.approve(address(market), type(uint256).max);
    }

    function _buy(address investor, uint256 shares) internal {
        vm.prank(admin);
        investors.addInvestor(investor, uint64(block.timestamp + 36_500 days), 756);
        if (shares == 0) return;
        uint256 cost = Math.mulDiv(shares, FAIR_PRICE, SHARE, Math.Rounding.Ceil);
        vm.prank(admin);
        coin.mint(investor, cost);
        vm.startPrank(investor);
        coin.approve(address(token), cost);
        token.subscribe(shares, cost);
        vm.stopPrank();
    }

    function _registerAsset() internal returns (uint256 id) {
        IAssetRegistry.AssetParams memory params = IAssetRegistry.AssetParams({
            operator: washer,
            tier: IAssetRegistry.Tier.NeoCloud,
            gpuCount: GPUS,
            powerPerGpuW: 700,
            pueBps: 12_000,
            energyTariffPerKWh: 120_000,
            operatorFeeBps: 1_000,
            commissionedAt: uint64(block.timestamp - 30 days),
            gpuModel: "NVIDIA H100 80GB HBM3",
            region: "eu-north-1",
            metadataURI: "ipfs://datasheet",
            metadataHash: keccak256("datasheet"),
            sharesName: "Wellhead H100",
            sharesSymbol: "WH-H100",
            maxShareSupply: 1_000_000e18
        });
        vm.prank(admin);
        (id,) = registry.registerAsset(params);
    }

    /// @dev The epoch in progress earns the honest $16 plus `washGross`; then it ends and settles (void).
    function _settleEpoch(uint256 washGross) internal {
        uint64 epoch = _epoch();
        vm.prank(washer);
        leases.addRevenue(assetId, epoch, HONEST_GROSS + washGross, "LEASE");
        vm.warp(block.timestamp + EPOCH);
        leases.settleThrough(assetId, epoch);
    }

    function _epoch() internal view returns (uint64) {
        return uint64((block.timestamp - GENESIS) / EPOCH);
    }

    /// @notice One attack: wash `washGpus` idle GPUs at `washPricePerGpuHour` for `epochs` epochs, anchoring the
    /// price every `stride` epochs (and at the end), then borrow the most the market lends. Returns the profit.
    function _washAndWalkAway(uint256 washPricePerGpuHour, uint256 washGpus, uint256 epochs, uint256 stride)
        internal
        returns (int256 profit)
    {
        uint256 washGross = washPricePerGpuHour * washGpus;
        for (uint256 k = 1; k <= epochs; ++k) {
            _settleEpoch(washGross);
            if (k % stride == 0 || k == epochs) valuation.update(assetId);
        }
        uint256 netPaid = leases.netRevenueBetween(assetId, startEpoch, _epoch());
        uint256 washNet = netPaid - HONEST_NET * epochs;

        uint256 collateral = token.balanceOf(washer);
        (uint256 price,) = valuation.update(assetId);
        uint256 maxBorrow = Math.mulDiv(Math.mulDiv(collateral, price, SHARE), market.borrowLtv(), WAD);
        uint256 honestValue = Math.mulDiv(collateral, FAIR_PRICE, SHARE);
        uint256 washCost = Math.mulDiv(washNet, token.totalSupply() - collateral, token.totalSupply());

        // The loan is real: the market lends the whole maximum against the washer's shares.
        vm.startPrank(washer);
        market.supplyCollateral(collateral, washer);
        if (maxBorrow != 0) market.borrow(maxBorrow, washer);
        vm.stopPrank();
        assertEq(market.debtOf(washer), maxBorrow, "borrowed the maximum");

        profit = int256(maxBorrow) - int256(honestValue) - int256(washCost);
    }

    /// The rise ceiling after `epochs` epochs from the fair-price snapshot (50% a year, a weekly snapshot): the
    /// snapshot moves up once a week to a price at most the ceiling, so each week compounds at most once.
    function _ceilingAfter(uint256 epochs) internal pure returns (uint256 ceiling) {
        ceiling = FAIR_PRICE;
        uint256 weeks_ = epochs / 168;
        for (uint256 w; w < weeks_; ++w) {
            ceiling += ceiling * 5_000 * 168 * 3600 / (BPS * 365 days);
        }
        ceiling += ceiling * 5_000 * (epochs % 168) * 3600 / (BPS * 365 days);
    }
}
