// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {
    AccessControlDefaultAdminRules
} from "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";

/// @title DevStablecoin
/// @notice A stand-in for a regulated stablecoin such as USDC, for local chains only: 6 decimals,
/// EIP-2612 permit, a minter role, a blocklist (a frozen address can neither send, receive, nor spend
/// an allowance) and a pause. Production deployments point the suite at the real stablecoin.
contract DevStablecoin is ERC20, ERC20Permit, Pausable, AccessControlDefaultAdminRules {
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");
    bytes32 public constant BLOCKLISTER_ROLE = keccak256("BLOCKLISTER_ROLE");
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");

    mapping(address account => bool) public isBlocklisted;

    event Blocklisted(address indexed account);
    event UnBlocklisted(address indexed account);

    error AccountBlocklisted(address account);
    error BlocklistUnchanged(address account, bool blocklisted);

    constructor(string memory name_, string memory symbol_, uint48 adminDelay, address admin)
        ERC20(name_, symbol_)
        ERC20Permit(name_)
        AccessControlDefaultAdminRules(adminDelay, admin)
    {}

    /// @notice Like USDC: six decimals.
    function decimals() public pure override returns (uint8) {
        return 6;
    }

    function mint(address to, uint256 amount) external onlyRole(MINTER_ROLE) {
        _mint(to, amount);
    }

    function blocklist(address account) external onlyRole(BLOCKLISTER_ROLE) {
        if (isBlocklisted[account]) revert BlocklistUnchanged(account, true);
        isBlocklisted[account] = true;
        emit Blocklisted(account);
    }

    function unBlocklist(address account) external onlyRole(BLOCKLISTER_ROLE) {
        if (!isBlocklisted[account]) revert BlocklistUnchanged(account, false);
        isBlocklisted[account] = false;
        emit UnBlocklisted(account);
    }

    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    /// @dev A frozen spender cannot move anyone's tokens either (USDC checks msg.sender too).
    function transferFrom(address from, address to, uint256 value) public override returns (bool) {
        _requireNotBlocklisted(_msgSender());
        return super.transferFrom(from, to, value);
    }

    /// @dev Every balance change (transfer, mint, burn) passes here: paused or frozen parties stop it.
    function _update(address from, address to, uint256 value) internal override whenNotPaused {
        _requireNotBlocklisted(from);
        _requireNotBlocklisted(to);
        super._update(from, to, value);
    }

    /// @dev Covers approve and permit: a frozen owner or spender cannot grant or receive allowances.
    function _approve(address owner, address spender, uint256 value, bool emitEvent) internal override {
        _requireNotBlocklisted(owner);
        _requireNotBlocklisted(spender);
        super._approve(owner, spender, value, emitEvent);
    }

    function _requireNotBlocklisted(address account) internal view {
        if (isBlocklisted[account]) revert AccountBlocklisted(account);
    }
}
