// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import {AssetRegistry} from "../../../contracts/AssetRegistry.sol";
import {AssetShares} from "../../../contracts/AssetShares.sol";
import {InvestorRegistry} from "../../../contracts/InvestorRegistry.sol";
import {DevStablecoin} from "../../../contracts/dev/DevStablecoin.sol";
import {IAssetRegistry} from "../../../contracts/interfaces/IAssetRegistry.sol";
import {IInvestorRegistry} from "../../../contracts/interfaces/IInvestorRegistry.sol";
import {Test} from "../utils/Test.sol";

/// @notice The real asset layer deployed for the share tests: a DevStablecoin (or any settlement token), the
/// InvestorRegistry, the AssetRegistry (forge links the AssetSharesFactory library into it) and one
/// registered asset whose share token is `shares`. Named actors; every investor is verified for ten years.
abstract contract SharesFixture is Test {
    uint256 internal constant USD = 1e6; // one dev-USD in base units
    uint256 internal constant SHARE = 1e18; // one whole share
    uint256 internal constant MAGNITUDE = 1e36;
    uint256 internal constant KYC_TERM = 3650 days;
    bytes32 internal constant LEASE = "LEASE";

    address internal admin = makeAddr("admin");
    address internal compliance = makeAddr("compliance");
    address internal operator = makeAddr("operator");
    address internal lessee = makeAddr("lessee");

    DevStablecoin internal coin;
    IERC20 internal money; // the settlement token (the DevStablecoin unless a test deploys another)
    InvestorRegistry internal investors;
    AssetRegistry internal registry;
    AssetShares internal shares;

    /// @dev Deploys the suite around `settlement` (address(0): a DevStablecoin) and registers one asset.
    function _deploySuite(address settlement) internal {
        vm.warp(1_700_000_000);
        vm.startPrank(admin);
        if (settlement == address(0)) {
            coin = new DevStablecoin("Wellhead Dev USD", "wUSD", 0, admin);
            coin.grantRole(coin.MINTER_ROLE(), admin);
            coin.grantRole(coin.BLOCKLISTER_ROLE(), admin);
            settlement = address(coin);
        }
        money = IERC20(settlement);
        investors = new InvestorRegistry(0, admin);
        investors.grantRole(investors.COMPLIANCE_ROLE(), compliance);
        registry = new AssetRegistry(money, IInvestorRegistry(address(investors)), 0, admin);
        registry.grantRole(registry.REGISTRAR_ROLE(), admin);
        (, address token) = registry.registerAsset(
            IAssetRegistry.AssetParams({
                operator: operator,
                tier: IAssetRegistry.Tier.NeoCloud,
                gpuCount: 8,
                powerPerGpuW: 700,
                pueBps: 12_000,
                energyTariffPerKWh: uint128(12 * USD / 100),
                operatorFeeBps: 1_000,
                commissionedAt: uint64(block.timestamp - 180 days),
                gpuModel: "NVIDIA H100 80GB HBM3",
                region: "eu-north-1",
                metadataURI: "ipfs://h100",
                metadataHash: keccak256("h100"),
                sharesName: "Wellhead H100 Node 01",
                sharesSymbol: "WH-H100-01",
                maxShareSupply: type(uint128).max // no cap here: Dilution.t.sol tests it
            })
        );
        vm.stopPrank();
        shares = AssetShares(token);
        vm.label(token, "shares");
    }

    function _verify(address investor) internal {
        vm.prank(compliance);
        investors.addInvestor(investor, uint64(block.timestamp + KYC_TERM), 756);
    }

    /// @dev Opens a round large enough for any fuzzed holding: 1 dev-USD per share, 1e12 shares.
    function _openOffering(uint128 pricePerShare) internal {
        vm.prank(operator);
        shares.openOffering(pricePerShare, uint128(1e12 * SHARE), uint64(block.timestamp + 365 days));
    }

    /// @dev Mints the settlement token to `to` (DevStablecoin: minter role; test tokens: open faucet).
    function _fund(address to, uint256 amount) internal virtual {
        vm.prank(admin);
        coin.mint(to, amount);
    }

    function _subscribe(address investor, uint256 amount) internal returns (uint256 cost) {
        cost = shares.previewSubscribe(amount);
        _fund(investor, cost);
        _approve(investor, address(shares), cost);
        vm.prank(investor);
        shares.subscribe(amount, cost);
    }

    function _deposit(uint256 amount) internal {
        _fund(lessee, amount);
        _approve(lessee, address(shares), amount);
        vm.prank(lessee);
        shares.depositRevenue(amount, LEASE);
    }

    /// @dev A low-level approve, so that tokens whose `approve` returns nothing work too.
    function _approve(address owner, address spender, uint256 amount) internal {
        vm.prank(owner);
        (bool ok,) = address(money).call(abi.encodeCall(IERC20.approve, (spender, amount)));
        assertTrue(ok, "approve failed");
    }

    function _claimableSum(address[] memory holders) internal view returns (uint256 sum) {
        for (uint256 i; i < holders.length; ++i) {
            sum += shares.claimable(holders[i]);
        }
    }

    /// @dev floor(a * b / c) without overflow for the ranges used here (a * b < 2^256 is asserted by bounds).
    function _mulDivDown(uint256 a, uint256 b, uint256 c) internal pure returns (uint256) {
        return a * b / c;
    }
}
