// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import {AssetRegistry} from "../../../contracts/AssetRegistry.sol";
import {InvestorRegistry} from "../../../contracts/InvestorRegistry.sol";
import {LeaseMarket} from "../../../contracts/LeaseMarket.sol";
import {MeteringOracle} from "../../../contracts/MeteringOracle.sol";
import {DevStablecoin} from "../../../contracts/dev/DevStablecoin.sol";
import {IAssetRegistry} from "../../../contracts/interfaces/IAssetRegistry.sol";
import {ILeaseMarket} from "../../../contracts/interfaces/ILeaseMarket.sol";
import {IMeteringOracle} from "../../../contracts/interfaces/IMeteringOracle.sol";
import {Test} from "../utils/Test.sol";

/// @notice The real suite for the LeaseMarket forge tests: DevStablecoin, InvestorRegistry, AssetRegistry, a
/// MeteringOracle whose 2-of-3 signer keys the tests hold (reports signed with vm.sign), and the LeaseMarket
/// (forge links LeaseSettlement and LeasePositionsFactory itself). The clock starts INTO seconds into epoch
/// E0 = 10.
abstract contract LeaseFixture is Test {
    uint64 internal constant GENESIS = 1_700_000_000;
    uint64 internal constant E0 = 10;
    uint64 internal constant INTO = 120;
    uint64 internal constant GRACE = 6 hours;
    uint16 internal constant MARGIN_BPS = 2_000;
    uint256 internal constant WAD = 1e18;
    uint256 internal constant BPS = 10_000;
    uint256 internal constant USD = 1e6;

    address internal admin;
    address internal keeper;
    DevStablecoin internal coin;
    InvestorRegistry internal investors;
    AssetRegistry internal registry;
    MeteringOracle internal oracle;
    LeaseMarket internal market;
    uint64 internal epochLength;

    /// @dev Signer keys ascending by address; the first two sign every batch (threshold 2).
    uint256[] internal signerKeys;
    address[] internal signerSet;

    function _deploy(uint64 epochLength_) internal {
        epochLength = epochLength_;
        admin = makeAddr("admin");
        keeper = makeAddr("keeper");
        coin = new DevStablecoin("Wellhead Dev USD", "wUSD", 0, admin);
        investors = new InvestorRegistry(0, admin);
        registry = new AssetRegistry(IERC20(address(coin)), investors, 0, admin);
        vm.startPrank(admin);
        coin.grantRole(coin.MINTER_ROLE(), admin);
        coin.grantRole(coin.BLOCKLISTER_ROLE(), admin);
        registry.grantRole(registry.REGISTRAR_ROLE(), admin);
        vm.stopPrank();

        for (uint256 i; i < 3; ++i) {
            (address account, uint256 key) = makeKey(string.concat("lease-oracle-", vm.toString(i)));
            signerKeys.push(key);
            signerSet.push(account);
        }
        for (uint256 i = 1; i < 3; ++i) {
            for (uint256 j = i; j > 0 && signerSet[j] < signerSet[j - 1]; --j) {
                (signerSet[j], signerSet[j - 1]) = (signerSet[j - 1], signerSet[j]);
                (signerKeys[j], signerKeys[j - 1]) = (signerKeys[j - 1], signerKeys[j]);
            }
        }
        oracle = new MeteringOracle(registry, GENESIS, epochLength_, MARGIN_BPS, signerSet, 2, 0, admin);
        market = new LeaseMarket(registry, oracle, GRACE);
        vm.warp(GENESIS + E0 * epochLength_ + INTO);
    }

    function _registerAsset(
        address operator,
        uint32 gpuCount,
        uint32 powerPerGpuW,
        uint16 pueBps,
        uint128 tariffPerKWh,
        uint16 feeBps
    ) internal returns (uint256 assetId) {
        IAssetRegistry.AssetParams memory params = IAssetRegistry.AssetParams({
            operator: operator,
            tier: IAssetRegistry.Tier.NeoCloud,
            gpuCount: gpuCount,
            powerPerGpuW: powerPerGpuW,
            pueBps: pueBps,
            energyTariffPerKWh: tariffPerKWh,
            operatorFeeBps: feeBps,
            commissionedAt: uint64(block.timestamp - 1),
            gpuModel: "NVIDIA H100 80GB HBM3",
            region: "eu-north-1",
            metadataURI: "ipfs://datasheet",
            metadataHash: keccak256("datasheet"),
            sharesName: "Wellhead GPU",
            sharesSymbol: "WH-GPU",
            maxShareSupply: 1_000_000e18
        });
        vm.prank(admin);
        (assetId,) = registry.registerAsset(params);
        vm.prank(admin);
        oracle.startReporting(assetId, _currentEpoch());
    }

    function _terms(
        uint256 assetId,
        uint32 gpus,
        uint128 price,
        uint16 slaBps,
        uint16 creditBps,
        ILeaseMarket.LeaseClass leaseClass
    ) internal pure returns (ILeaseMarket.OfferTerms memory terms) {
        terms.assetId = assetId;
        terms.gpus = gpus;
        terms.pricePerGpuHour = price;
        terms.minTermEpochs = 1;
        terms.maxTermEpochs = 12;
        terms.slaUptimeBps = slaBps;
        terms.slaCreditBps = creditBps;
        terms.cancelPenaltyBps = 500;
        terms.leaseClass = leaseClass;
    }

    function _fund(address account, uint256 amount) internal {
        vm.prank(admin);
        coin.mint(account, amount);
        vm.prank(account);
        coin.approve(address(market), type(uint256).max);
    }

    function _currentEpoch() internal view returns (uint64) {
        return uint64((block.timestamp - GENESIS) / epochLength);
    }

    function _epochStart(uint64 epoch) internal view returns (uint256) {
        return GENESIS + uint256(epoch) * epochLength;
    }

    function _report(uint256 assetId, uint64 epoch, uint64 gpuSeconds, uint64 curtailed, uint16 util, uint64 wh)
        internal
        pure
        returns (IMeteringOracle.Report memory)
    {
        return IMeteringOracle.Report(assetId, epoch, gpuSeconds, curtailed, util, wh);
    }

    /// @dev Signs `reports` with the first two signer keys (ascending) and submits them.
    function _post(IMeteringOracle.Report[] memory reports) internal {
        uint64 version = oracle.configVersion();
        bytes32 digest = oracle.batchDigest(version, reports);
        IMeteringOracle.Signature[] memory sigs = new IMeteringOracle.Signature[](2);
        for (uint256 i; i < 2; ++i) {
            (uint8 v, bytes32 r, bytes32 s) = vm.sign(signerKeys[i], digest);
            sigs[i] = IMeteringOracle.Signature(r, compactVs(v, s));
        }
        oracle.submit(version, reports, signerSet, sigs);
    }

    /// @dev Commits `root` for `epoch`, signed by the first two signer keys, replacing a void root if any.
    function _commitRoot(uint64 epoch, bytes32 root, uint32 reportCount) internal {
        uint64 version = oracle.configVersion();
        IMeteringOracle.RootCommitment memory commitment = IMeteringOracle.RootCommitment(epoch, reportCount, root);
        bytes32 digest = oracle.rootDigest(version, commitment);
        IMeteringOracle.Signature[] memory sigs = new IMeteringOracle.Signature[](2);
        for (uint256 i; i < 2; ++i) {
            (uint8 v, bytes32 r, bytes32 s) = vm.sign(signerKeys[i], digest);
            sigs[i] = IMeteringOracle.Signature(r, compactVs(v, s));
        }
        oracle.commitRoot(version, commitment, signerSet, sigs);
    }

    function _postOne(IMeteringOracle.Report memory report) internal {
        IMeteringOracle.Report[] memory reports = new IMeteringOracle.Report[](1);
        reports[0] = report;
        _post(reports);
    }

    function _ceilDiv(uint256 a, uint256 b) internal pure returns (uint256) {
        return a == 0 ? 0 : (a - 1) / b + 1;
    }
}
