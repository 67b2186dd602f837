// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import {AssetRegistry} from "../../../contracts/AssetRegistry.sol";
import {AssetShares} from "../../../contracts/AssetShares.sol";
import {InvestorRegistry} from "../../../contracts/InvestorRegistry.sol";
import {LendingFactory} from "../../../contracts/LendingFactory.sol";
import {LendingMarket} from "../../../contracts/LendingMarket.sol";
import {LinearKinkIrm} from "../../../contracts/LinearKinkIrm.sol";
import {DevStablecoin} from "../../../contracts/dev/DevStablecoin.sol";
import {IAssetRegistry} from "../../../contracts/interfaces/IAssetRegistry.sol";
import {ILendingFactory} from "../../../contracts/interfaces/ILendingFactory.sol";
import {IShareValuation} from "../../../contracts/interfaces/IShareValuation.sol";
import {Test} from "../utils/Test.sol";
import {MockShareValuation} from "./mocks/MockShareValuation.sol";

/// @notice The lending world for forge, built from the real contracts: a DevStablecoin (6 decimals) as loan and
/// settlement token, the InvestorRegistry and AssetRegistry, one GPU asset with 1,000 shares sold at $100, the
/// deploy script's kink IRM, the LendingFactory (approved holder manager) and one market over it at LLTV 62.5%.
/// The collateral is valued by MockShareValuation, a TEST DOUBLE the factory enables like any valuation, so that
/// tests can set the price directly (the real YieldValuation is exercised in ValuationBound.t.sol and the
/// brownie tests).
abstract contract LendingFixture is Test {
    uint256 internal constant WAD = 1e18;
    uint256 internal constant USD = 1e6;
    uint256 internal constant SHARE = 1e18;
    uint256 internal constant LLTV = 0.625e18;
    uint256 internal constant MARGIN = 0.05e18;
    uint128 internal constant PRICE = uint128(100 * USD);
    uint256 internal constant SHARE_SUPPLY = 1_000;

    address internal admin;
    address internal operator;
    address[] internal actors;

    DevStablecoin internal coin;
    InvestorRegistry internal investors;
    AssetRegistry internal registry;
    AssetShares internal token;
    uint256 internal assetId;
    LinearKinkIrm internal irm;
    MockShareValuation internal valuation;
    LendingFactory internal factory;
    LendingMarket internal market;

    function _deployLendingWorld(uint256 actorCount) internal {
        vm.warp(1_700_000_000);
        admin = makeAddr("admin");
        operator = makeAddr("operator");

        coin = new DevStablecoin("Dev USD", "dUSD", 0, admin);
        investors = new InvestorRegistry(0, admin);
        registry = new AssetRegistry(IERC20(address(coin)), investors, 0, admin);
        vm.startPrank(admin);
        coin.grantRole(coin.MINTER_ROLE(), admin);
        coin.grantRole(coin.BLOCKLISTER_ROLE(), admin);
        investors.grantRole(investors.COMPLIANCE_ROLE(), admin);
        registry.grantRole(registry.REGISTRAR_ROLE(), admin);
        vm.stopPrank();

        assetId = _registerAsset();
        token = AssetShares(registry.sharesOf(assetId));

        // The deploy script's model: 2% base, +8% up to the 80% kink, +100% above (annual).
        irm = new LinearKinkIrm(0.02e18, 0.08e18, 1e18, 0.8e18);
        valuation = new MockShareValuation(IERC20(address(coin)));
        valuation.configure(assetId, _params(), PRICE);
        factory = new LendingFactory(registry, MARGIN, 0, admin);
        vm.startPrank(admin);
        investors.grantRole(investors.HOLDER_MANAGER_ROLE(), address(factory));
        factory.setIrmEnabled(address(irm), true);
        factory.setValuationEnabled(address(valuation), true);
        factory.setLltvEnabled(LLTV, true);
        vm.stopPrank();
        market = LendingMarket(
            factory.createMarket(
                ILendingFactory.MarketParams(address(coin), address(token), address(valuation), address(irm), LLTV)
            )
        );

        // Actors: verified for ten years, holding an equal part of the 1,000 shares.
        vm.prank(operator);
        token.openOffering(PRICE, uint128(SHARE_SUPPLY * SHARE), uint64(block.timestamp + 1 days));
        uint256 each = SHARE_SUPPLY / actorCount;
        for (uint256 i; i < actorCount; ++i) {
            address actor = makeAddr(string.concat("actor-", vm.toString(i)));
            actors.push(actor);
            _verify(actor);
            uint256 cost = each * PRICE;
            vm.prank(admin);
            coin.mint(actor, cost);
            vm.startPrank(actor);
            coin.approve(address(token), cost);
            token.subscribe(each * SHARE, cost);
            coin.approve(address(market), type(uint256).max);
            token.approve(address(market), type(uint256).max);
            vm.stopPrank();
        }
    }

    function _verify(address account) internal {
        vm.prank(admin);
        investors.addInvestor(account, uint64(block.timestamp + 3650 days), 756);
    }

    function _registerAsset() internal returns (uint256 id) {
        IAssetRegistry.AssetParams memory params = IAssetRegistry.AssetParams({
            operator: operator,
            tier: IAssetRegistry.Tier.NeoCloud,
            gpuCount: 8,
            powerPerGpuW: 700,
            pueBps: 12_000,
            energyTariffPerKWh: 120_000,
            operatorFeeBps: 1_000,
            commissionedAt: uint64(block.timestamp - 180 days),
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

    function _params() internal pure returns (IShareValuation.ValuationParams memory) {
        return IShareValuation.ValuationParams(24, 1_500, 0, 1_000, 1_000_000, 5_000, 5_000, 5_000, 168, 10e6);
    }
}
