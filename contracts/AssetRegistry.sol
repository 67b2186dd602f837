// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {
    AccessControlDefaultAdminRules
} from "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import {IAssetRegistry} from "./interfaces/IAssetRegistry.sol";
import {IAssetShares} from "./interfaces/IAssetShares.sol";
import {IInvestorRegistry} from "./interfaces/IInvestorRegistry.sol";
import {AssetSharesFactory} from "./libraries/AssetSharesFactory.sol";

/// @title AssetRegistry
/// @notice Registers GPU assets and deploys one AssetShares token per asset.
contract AssetRegistry is IAssetRegistry, AccessControlDefaultAdminRules {
    /// @inheritdoc IAssetRegistry
    bytes32 public constant REGISTRAR_ROLE = keccak256("REGISTRAR_ROLE");

    uint32 public constant MAX_GPU_COUNT = 1_000_000;
    uint32 public constant MAX_POWER_PER_GPU_W = 10_000;
    uint16 public constant MIN_PUE_BPS = 10_000;
    uint16 public constant MAX_PUE_BPS = 30_000;
    uint16 public constant MAX_OPERATOR_FEE_BPS = 5_000;

    /// @inheritdoc IAssetRegistry
    IERC20 public immutable settlementToken;
    /// @inheritdoc IAssetRegistry
    IInvestorRegistry public immutable investorRegistry;

    /// @inheritdoc IAssetRegistry
    uint256 public assetCount;
    mapping(uint256 assetId => Asset) internal _assets;
    mapping(uint256 assetId => mapping(uint256 round => uint128 pricePerShare)) internal _approvedOfferingPrices;

    constructor(IERC20 settlementToken_, IInvestorRegistry investorRegistry_, uint48 adminDelay, address admin)
        AccessControlDefaultAdminRules(adminDelay, admin)
    {
        if (address(settlementToken_) == address(0) || address(investorRegistry_) == address(0)) {
            revert ZeroAddress();
        }
        settlementToken = settlementToken_;
        investorRegistry = investorRegistry_;
    }

    /* ASSET MANAGEMENT */

    /// @inheritdoc IAssetRegistry
    function registerAsset(AssetParams calldata params)
        external
        onlyRole(REGISTRAR_ROLE)
        returns (uint256 assetId, address shares)
    {
        if (params.operator == address(0)) revert ZeroAddress();
        if (params.gpuCount == 0 || params.gpuCount > MAX_GPU_COUNT) revert InvalidGpuCount(params.gpuCount);
        if (params.powerPerGpuW == 0 || params.powerPerGpuW > MAX_POWER_PER_GPU_W) {
            revert InvalidPowerPerGpu(params.powerPerGpuW);
        }
        _checkEconomics(params.pueBps, params.operatorFeeBps);
        if (params.commissionedAt == 0 || params.commissionedAt > block.timestamp) {
            revert InvalidCommissionDate(params.commissionedAt);
        }
        if (params.maxShareSupply == 0) revert InvalidMaxShareSupply(params.maxShareSupply);

        assetId = ++assetCount;
        shares =
            AssetSharesFactory.deploy(assetId, params.sharesName, params.sharesSymbol, params.maxShareSupply);

        Asset storage asset = _assets[assetId];
        asset.operator = params.operator;
        asset.status = AssetStatus.Active;
        asset.tier = params.tier;
        asset.gpuCount = params.gpuCount;
        asset.powerPerGpuW = params.powerPerGpuW;
        asset.pueBps = params.pueBps;
        asset.shares = shares;
        asset.commissionedAt = params.commissionedAt;
        asset.operatorFeeBps = params.operatorFeeBps;
        asset.energyTariffPerKWh = params.energyTariffPerKWh;
        asset.registeredAt = uint64(block.timestamp);
        asset.metadataHash = params.metadataHash;
        asset.gpuModel = params.gpuModel;
        asset.region = params.region;
        asset.metadataURI = params.metadataURI;

        emit AssetRegistered(assetId, params.operator, shares, params.tier, params.gpuCount, params.gpuModel);
        emit ShareSupplyCapped(assetId, params.maxShareSupply);
    }

    /// @inheritdoc IAssetRegistry
    function approveOfferingPrice(uint256 assetId, uint256 round, uint128 pricePerShare)
        external
        onlyRole(REGISTRAR_ROLE)
    {
        Asset storage asset = _known(assetId);
        (uint256 current,) = IAssetShares(asset.shares).currentOffering();
        if (pricePerShare == 0 || round <= current) revert InvalidApprovedPrice(assetId, round, pricePerShare);

        _approvedOfferingPrices[assetId][round] = pricePerShare;

        emit OfferingPriceApproved(assetId, round, pricePerShare);
    }

    /// @inheritdoc IAssetRegistry
    function approvedOfferingPrice(uint256 assetId, uint256 round) external view returns (uint128) {
        return _approvedOfferingPrices[assetId][round];
    }

    /// @inheritdoc IAssetRegistry
    function setStatus(uint256 assetId, AssetStatus status) external onlyRole(REGISTRAR_ROLE) {
        Asset storage asset = _known(assetId);
        AssetStatus current = asset.status;
        bool allowed = (current == AssetStatus.Active && status == AssetStatus.Suspended)
            || (current == AssetStatus.Suspended && status == AssetStatus.Active)
            || (current != AssetStatus.Retired && status == AssetStatus.Retired);
        if (!allowed) revert InvalidStatusChange(assetId, current, status);

        asset.status = status;

        emit AssetStatusChanged(assetId, current, status);
    }

    /// @inheritdoc IAssetRegistry
    function setEconomics(uint256 assetId, uint16 pueBps, uint128 energyTariffPerKWh, uint16 operatorFeeBps)
        external
        onlyRole(REGISTRAR_ROLE)
    {
        Asset storage asset = _known(assetId);
        _checkEconomics(pueBps, operatorFeeBps);
        if (
            asset.pueBps == pueBps && asset.energyTariffPerKWh == energyTariffPerKWh
                && asset.operatorFeeBps == operatorFeeBps
        ) revert NothingChanged(assetId);

        asset.pueBps = pueBps;
        asset.energyTariffPerKWh = energyTariffPerKWh;
        asset.operatorFeeBps = operatorFeeBps;

        emit AssetEconomicsUpdated(assetId, pueBps, energyTariffPerKWh, operatorFeeBps);
    }

    /// @inheritdoc IAssetRegistry
    function setOperator(uint256 assetId, address operator) external onlyRole(REGISTRAR_ROLE) {
        Asset storage asset = _known(assetId);
        if (operator == address(0)) revert ZeroAddress();
        address previous = asset.operator;
        if (previous == operator) revert NothingChanged(assetId);

        asset.operator = operator;

        emit AssetOperatorChanged(assetId, previous, operator);
    }

    /// @inheritdoc IAssetRegistry
    function updateMetadata(uint256 assetId, string calldata metadataURI, bytes32 metadataHash) external {
        Asset storage asset = _known(assetId);
        if (msg.sender != asset.operator) revert NotOperator(assetId, msg.sender);
        if (asset.metadataHash == metadataHash && keccak256(bytes(asset.metadataURI)) == keccak256(bytes(metadataURI)))
        {
            revert NothingChanged(assetId);
        }

        asset.metadataURI = metadataURI;
        asset.metadataHash = metadataHash;

        emit AssetMetadataUpdated(assetId, metadataURI, metadataHash);
    }

    /* VIEWS */

    /// @inheritdoc IAssetRegistry
    function getAsset(uint256 assetId) external view returns (Asset memory) {
        return _known(assetId);
    }

    /// @inheritdoc IAssetRegistry
    function meteringProfile(uint256 assetId)
        external
        view
        returns (AssetStatus status, uint32 gpuCount, uint32 powerPerGpuW)
    {
        // No UnknownAsset revert: status None tells the caller, which names the error in its own terms.
        Asset storage asset = _assets[assetId];
        return (asset.status, asset.gpuCount, asset.powerPerGpuW);
    }

    /// @inheritdoc IAssetRegistry
    function economicsOf(uint256 assetId)
        external
        view
        returns (address operator, address shares, uint16 pueBps, uint128 energyTariffPerKWh, uint16 operatorFeeBps)
    {
        Asset storage asset = _known(assetId);
        return (asset.operator, asset.shares, asset.pueBps, asset.energyTariffPerKWh, asset.operatorFeeBps);
    }

    /// @inheritdoc IAssetRegistry
    function operatorOf(uint256 assetId) external view returns (address) {
        return _known(assetId).operator;
    }

    /// @inheritdoc IAssetRegistry
    function statusOf(uint256 assetId) external view returns (AssetStatus) {
        return _assets[assetId].status;
    }

    /// @inheritdoc IAssetRegistry
    function sharesOf(uint256 assetId) external view returns (address) {
        return _known(assetId).shares;
    }

    /// @inheritdoc IAssetRegistry
    function commissionedAtOf(uint256 assetId) external view returns (uint64) {
        return _known(assetId).commissionedAt;
    }

    /* INTERNAL */

    function _known(uint256 assetId) internal view returns (Asset storage asset) {
        asset = _assets[assetId];
        if (asset.status == AssetStatus.None) revert UnknownAsset(assetId);
    }

    function _checkEconomics(uint16 pueBps, uint16 operatorFeeBps) internal pure {
        if (pueBps < MIN_PUE_BPS || pueBps > MAX_PUE_BPS) revert InvalidPue(pueBps);
        if (operatorFeeBps > MAX_OPERATOR_FEE_BPS) revert InvalidOperatorFee(operatorFeeBps);
    }
}
