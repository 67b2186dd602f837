// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title IInvestorRegistry
/// @notice Who may hold Wellhead shares: verified investors with a KYC expiry and a jurisdiction, and
/// contracts approved as holders (the lending market holds collateral shares). ERC-3643's identity and
/// compliance idea, kept to what the share tokens need: one `canTransfer(from, to)` question.
interface IInvestorRegistry {
    /// @notice Lifecycle of an investor record. States move None -> Verified -> Revoked; a revoked
    /// investor may be verified again by the compliance role (a new KYC).
    enum InvestorStatus {
        None,
        Verified,
        Revoked
    }

    /// @notice One investor's record, packed in a single storage slot so that a share transfer reads
    /// two slots in all.
    /// @param kycExpiry Unix time (s) after which the investor is no longer verified.
    /// @param jurisdiction ISO 3166-1 numeric country code (1..999).
    /// @param status None, Verified or Revoked.
    /// @param approvedHolder True for a contract approved to hold shares (no KYC of its own).
    struct Investor {
        uint64 kycExpiry;
        uint16 jurisdiction;
        InvestorStatus status;
        bool approvedHolder;
    }

    /* EVENTS */

    event InvestorVerified(address indexed investor, uint64 kycExpiry, uint16 jurisdiction);
    event InvestorRenewed(address indexed investor, uint64 kycExpiry, uint16 jurisdiction);
    event InvestorRevoked(address indexed investor);
    event HolderApprovalSet(address indexed holder, bool approved);

    /* ERRORS */

    error ZeroAddress();
    error KycExpiryNotInFuture(address investor, uint64 kycExpiry, uint256 nowTimestamp);
    error InvalidJurisdiction(uint16 jurisdiction);
    error InvestorAlreadyVerified(address investor);
    error InvestorNotVerified(address investor);
    error HolderApprovalUnchanged(address holder, bool approved);
    /// @notice `account` has never been verified (and is not an approved holder contract).
    error NotVerified(address account);
    /// @notice `account`'s KYC expired at `kycExpiry` (Unix time, s): compliance must renew it.
    error KycExpired(address account, uint64 kycExpiry);
    /// @notice `account`'s verification was revoked by compliance.
    error VerificationRevoked(address account);

    /* ROLES */

    /// @notice Adds, renews and revokes investors.
    function COMPLIANCE_ROLE() external view returns (bytes32);

    /// @notice Approves contracts (lending markets) as share holders; granted to the lending factory.
    function HOLDER_MANAGER_ROLE() external view returns (bytes32);

    /* COMPLIANCE */

    /// @notice Verifies `investor` until `kycExpiry` in `jurisdiction`. Reverts if already verified.
    function addInvestor(address investor, uint64 kycExpiry, uint16 jurisdiction) external;

    /// @notice Renews a verified (possibly expired) investor's KYC, optionally moving jurisdiction.
    function renewInvestor(address investor, uint64 kycExpiry, uint16 jurisdiction) external;

    /// @notice Revokes a verified investor: they can neither receive nor send shares until verified again.
    /// Shares they hold keep earning, and they keep their claim on revenue already accrued.
    function revokeInvestor(address investor) external;

    /// @notice Approves (or stops approving) a contract as a share holder.
    function setApprovedHolder(address holder, bool approved) external;

    /* VIEWS */

    /// @notice The stored record of `account`.
    function investorOf(address account) external view returns (Investor memory);

    /// @notice True when `account` is a verified investor whose KYC has not expired.
    function isVerified(address account) external view returns (bool);

    /// @notice True when `account` may hold shares: verified and unexpired, or an approved holder contract.
    function canHold(address account) external view returns (bool);

    /// @notice True when shares may move from `from` to `to` (`from == address(0)` is a mint).
    function canTransfer(address from, address to) external view returns (bool);

    /// @notice Reverts, naming the account and why, unless shares may move from `from` to `to`: the sender is
    /// checked first (never for a mint), then the receiver; each with `NotVerified`, `KycExpired(account,
    /// expiry)` or `VerificationRevoked`. The share tokens call it on every mint and transfer.
    function requireCanTransfer(address from, address to) external view;
}
