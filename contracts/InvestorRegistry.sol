// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {
    AccessControlDefaultAdminRules
} from "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";

import {IInvestorRegistry} from "./interfaces/IInvestorRegistry.sol";

/// @title InvestorRegistry
/// @notice Verified investors and approved holder contracts for every Wellhead share token.
contract InvestorRegistry is IInvestorRegistry, AccessControlDefaultAdminRules {
    /// @inheritdoc IInvestorRegistry
    bytes32 public constant COMPLIANCE_ROLE = keccak256("COMPLIANCE_ROLE");
    /// @inheritdoc IInvestorRegistry
    bytes32 public constant HOLDER_MANAGER_ROLE = keccak256("HOLDER_MANAGER_ROLE");

    uint16 internal constant MAX_JURISDICTION = 999;

    mapping(address account => Investor) internal _investors;

    /// @param adminDelay Delay (s) of a two-step default-admin transfer.
    /// @param admin The default admin; it grants the compliance and holder-manager roles.
    constructor(uint48 adminDelay, address admin) AccessControlDefaultAdminRules(adminDelay, admin) {}

    /* COMPLIANCE */

    /// @inheritdoc IInvestorRegistry
    function addInvestor(address investor, uint64 kycExpiry, uint16 jurisdiction) external onlyRole(COMPLIANCE_ROLE) {
        _checkRecord(investor, kycExpiry, jurisdiction);
        Investor storage record = _investors[investor];
        if (record.status == InvestorStatus.Verified) revert InvestorAlreadyVerified(investor);

        record.kycExpiry = kycExpiry;
        record.jurisdiction = jurisdiction;
        record.status = InvestorStatus.Verified;

        emit InvestorVerified(investor, kycExpiry, jurisdiction);
    }

    /// @inheritdoc IInvestorRegistry
    function renewInvestor(address investor, uint64 kycExpiry, uint16 jurisdiction) external onlyRole(COMPLIANCE_ROLE) {
        _checkRecord(investor, kycExpiry, jurisdiction);
        Investor storage record = _investors[investor];
        if (record.status != InvestorStatus.Verified) revert InvestorNotVerified(investor);

        record.kycExpiry = kycExpiry;
        record.jurisdiction = jurisdiction;

        emit InvestorRenewed(investor, kycExpiry, jurisdiction);
    }

    /// @inheritdoc IInvestorRegistry
    function revokeInvestor(address investor) external onlyRole(COMPLIANCE_ROLE) {
        Investor storage record = _investors[investor];
        if (record.status != InvestorStatus.Verified) revert InvestorNotVerified(investor);

        record.status = InvestorStatus.Revoked;

        emit InvestorRevoked(investor);
    }

    /// @inheritdoc IInvestorRegistry
    function setApprovedHolder(address holder, bool approved) external onlyRole(HOLDER_MANAGER_ROLE) {
        if (holder == address(0)) revert ZeroAddress();
        Investor storage record = _investors[holder];
        if (record.approvedHolder == approved) revert HolderApprovalUnchanged(holder, approved);

        record.approvedHolder = approved;

        emit HolderApprovalSet(holder, approved);
    }

    /* VIEWS */

    /// @inheritdoc IInvestorRegistry
    function investorOf(address account) external view returns (Investor memory) {
        return _investors[account];
    }

    /// @inheritdoc IInvestorRegistry
    function isVerified(address account) public view returns (bool) {
        Investor memory record = _investors[account];
        return record.status == InvestorStatus.Verified && record.kycExpiry > block.timestamp;
    }

    /// @inheritdoc IInvestorRegistry
    function canHold(address account) public view returns (bool) {
        Investor memory record = _investors[account];
        return record.approvedHolder || (record.status == InvestorStatus.Verified && record.kycExpiry > block.timestamp);
    }

    /// @inheritdoc IInvestorRegistry
    function canTransfer(address from, address to) external view returns (bool) {
        return (from == address(0) || canHold(from)) && canHold(to);
    }

    /// @inheritdoc IInvestorRegistry
    function requireCanTransfer(address from, address to) external view {
        if (from != address(0)) _requireCanHold(from);
        _requireCanHold(to);
    }

    /* INTERNAL */

    /// @dev canHold, with the reason when it is false. An approved holder contract needs no KYC of its own.
    function _requireCanHold(address account) internal view {
        Investor memory record = _investors[account];
        if (record.approvedHolder) return;
        if (record.status == InvestorStatus.None) revert NotVerified(account);
        if (record.status == InvestorStatus.Revoked) revert VerificationRevoked(account);
        if (record.kycExpiry <= block.timestamp) revert KycExpired(account, record.kycExpiry);
    }

    function _checkRecord(address investor, uint64 kycExpiry, uint16 jurisdiction) internal view {
        if (investor == address(0)) revert ZeroAddress();
        if (kycExpiry <= block.timestamp) revert KycExpiryNotInFuture(investor, kycExpiry, block.timestamp);
        if (jurisdiction == 0 || jurisdiction > MAX_JURISDICTION) revert InvalidJurisdiction(jurisdiction);
    }
}
