// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import {IInvestorRegistry} from "./IInvestorRegistry.sol";

/// @title IAssetRegistry
/// @notice The GPU clusters that Wellhead tokenises. Each asset has an operator, a physical description the
/// oracle bounds its reports by (GPU count, rated power per GPU), the economics the lease market splits its
/// revenue by (PUE, energy tariff, operator fee) and one `AssetShares` token of its net cash flows.
interface IAssetRegistry {
    enum Tier {
        Hyperscale,
        NeoCloud,
        Edge
    }

    /// @notice None is "no such asset". Active <-> Suspended; Retired is final.
    enum AssetStatus {
        None,
        Active,
        Suspended,
        Retired
    }

    /// @notice Registration input.
    /// @param operator Runs the cluster, receives offering proceeds, energy cost and the operator fee.
    /// @param tier Hyperscale, NeoCloud or Edge.
    /// @param gpuCount Number of GPUs the asset is made of (bounds the metered GPU-seconds).
    /// @param powerPerGpuW Rated board power of one GPU in W (bounds the metered energy).
    /// @param pueBps Power usage effectiveness in bps (10_000 = 1.00; facility energy / IT energy).
    /// @param energyTariffPerKWh Energy price in settlement-token base units per kWh of facility energy.
    /// @param operatorFeeBps Operator's fee on the revenue left after energy, in bps.
    /// @param commissionedAt Unix time the GPUs entered service (their age drives collateral decay).
    /// @param gpuModel e.g. "NVIDIA H100 80GB HBM3".
    /// @param region e.g. "eu-north-1" or a site code.
    /// @param metadataURI Off-chain description (datasheet, audit, photos).
    /// @param metadataHash keccak256 of the document at `metadataURI`.
    /// @param sharesName ERC-20 name of the asset's share token.
    /// @param sharesSymbol ERC-20 symbol of the asset's share token.
    /// @param maxShareSupply The most shares (share units) that may ever exist, fixed here by the registrar:
    /// no offering round can mint past it, so holders know the most they can be diluted.
    struct AssetParams {
        address operator;
        Tier tier;
        uint32 gpuCount;
        uint32 powerPerGpuW;
        uint16 pueBps;
        uint128 energyTariffPerKWh;
        uint16 operatorFeeBps;
        uint64 commissionedAt;
        string gpuModel;
        string region;
        string metadataURI;
        bytes32 metadataHash;
        string sharesName;
        string sharesSymbol;
        uint128 maxShareSupply;
    }

    /// @notice A registered asset. The first slot is what the oracle reads for every report.
    struct Asset {
        // slot 0
        address operator;
        AssetStatus status;
        Tier tier;
        uint32 gpuCount;
        uint32 powerPerGpuW;
        uint16 pueBps;
        // slot 1
        address shares;
        uint64 commissionedAt;
        uint16 operatorFeeBps;
        // slot 2
        uint128 energyTariffPerKWh;
        uint64 registeredAt;
        // dynamic
        bytes32 metadataHash;
        string gpuModel;
        string region;
        string metadataURI;
    }

    /* EVENTS */

    event AssetRegistered(
        uint256 indexed assetId, address indexed operator, address shares, Tier tier, uint32 gpuCount, string gpuModel
    );
    event AssetStatusChanged(uint256 indexed assetId, AssetStatus previous, AssetStatus current);
    event AssetMetadataUpdated(uint256 indexed assetId, string metadataURI, bytes32 metadataHash);
    event AssetEconomicsUpdated(
        uint256 indexed assetId, uint16 pueBps, uint128 energyTariffPerKWh, uint16 operatorFeeBps
    );
    /// @notice The asset's share token can never exceed `maxShareSupply` shares (share units).
    event ShareSupplyCapped(uint256 indexed assetId, uint256 maxShareSupply);
    /// @notice The registrar allowed offering round `round` of the asset to sell at `pricePerShare` or more,
    /// below the price floor (the highest price of an earlier round that sold shares).
    event OfferingPriceApproved(uint256 indexed assetId, uint256 indexed round, uint128 pricePerShare);
    event AssetOperatorChanged(uint256 indexed assetId, address indexed previous, address indexed current);

    /* ERRORS */

    error ZeroAddress();
    error UnknownAsset(uint256 assetId);
    error NotOperator(uint256 assetId, address caller);
    error InvalidGpuCount(uint32 gpuCount);
    error InvalidPowerPerGpu(uint32 powerPerGpuW);
    error InvalidPue(uint16 pueBps);
    error InvalidOperatorFee(uint16 operatorFeeBps);
    error InvalidCommissionDate(uint64 commissionedAt);
    error InvalidStatusChange(uint256 assetId, AssetStatus current, AssetStatus requested);
    error NothingChanged(uint256 assetId);
    error InvalidMaxShareSupply(uint128 maxShareSupply);
    error InvalidApprovedPrice(uint256 assetId, uint256 round, uint128 pricePerShare);

    /* ROLES */

    /// @notice Registers assets and changes their status, economics and operator (the asset manager).
    function REGISTRAR_ROLE() external view returns (bytes32);

    /* ASSET MANAGEMENT */

    /// @notice Registers an asset and deploys its share token. Returns the new id (ids start at 1).
    function registerAsset(AssetParams calldata params) external returns (uint256 assetId, address shares);

    /// @notice Moves an asset between Active and Suspended, or retires it (final).
    function setStatus(uint256 assetId, AssetStatus status) external;

    /// @notice Updates PUE, tariff and operator fee (registrar only: they decide investors' net).
    function setEconomics(uint256 assetId, uint16 pueBps, uint128 energyTariffPerKWh, uint16 operatorFeeBps) external;

    /// @notice Hands the asset to a new operator.
    function setOperator(uint256 assetId, address operator) external;

    /// @notice The operator publishes a new metadata document.
    function updateMetadata(uint256 assetId, string calldata metadataURI, bytes32 metadataHash) external;

    /// @notice The registrar lets offering round `round` of the asset (a round not opened yet) sell at
    /// `pricePerShare` or more even below the price floor, e.g. after the asset's valuation fell. Registrar only.
    function approveOfferingPrice(uint256 assetId, uint256 round, uint128 pricePerShare) external;

    /// @notice The lowest price the registrar approved for round `round` of the asset (0: none).
    function approvedOfferingPrice(uint256 assetId, uint256 round) external view returns (uint128);

    /* VIEWS */

    /// @notice The settlement stablecoin of the whole suite.
    function settlementToken() external view returns (IERC20);

    /// @notice The registry of verified investors that every share token checks.
    function investorRegistry() external view returns (IInvestorRegistry);

    /// @notice Number of registered assets (ids are 1..assetCount).
    function assetCount() external view returns (uint256);

    /// @notice The whole record of `assetId`; reverts UnknownAsset.
    function getAsset(uint256 assetId) external view returns (Asset memory);

    /// @notice What the oracle needs to bound a report, in one storage read.
    function meteringProfile(uint256 assetId)
        external
        view
        returns (AssetStatus status, uint32 gpuCount, uint32 powerPerGpuW);

    /// @notice What the lease market needs to split an epoch's revenue.
    function economicsOf(uint256 assetId)
        external
        view
        returns (address operator, address shares, uint16 pueBps, uint128 energyTariffPerKWh, uint16 operatorFeeBps);

    function operatorOf(uint256 assetId) external view returns (address);

    function statusOf(uint256 assetId) external view returns (AssetStatus);

    function sharesOf(uint256 assetId) external view returns (address);

    /// @notice When the asset's GPUs entered service (their age drives collateral decay).
    function commissionedAtOf(uint256 assetId) external view returns (uint64);
}
