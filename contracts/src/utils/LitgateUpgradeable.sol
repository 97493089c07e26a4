// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {AccessControlUpgradeable} from "@openzeppelin/contracts-upgradeable/access/AccessControlUpgradeable.sol";
import {Initializable} from "@openzeppelin/contracts-upgradeable/proxy/utils/Initializable.sol";
import {UUPSUpgradeable} from "@openzeppelin/contracts-upgradeable/proxy/utils/UUPSUpgradeable.sol";
import {Roles} from "./Roles.sol";

/// @title LitgateUpgradeable
/// @notice Common base: UUPS (ERC-1967) upgrades gated by UPGRADER_ROLE, AccessControl roles granted only to
///         addresses passed explicitly to the initializer (never implicitly to msg.sender), and an
///         implementation that can never be initialised itself.
abstract contract LitgateUpgradeable is Initializable, AccessControlUpgradeable, UUPSUpgradeable {
    /// @notice A required address argument was the zero address.
    error ZeroAddress();

    /// @custom:oz-upgrades-unsafe-allow constructor
    constructor() {
        _disableInitializers();
    }

    // solhint-disable-next-line func-name-mixedcase
    function __LitgateUpgradeable_init(address admin, address upgrader) internal onlyInitializing {
        if (admin == address(0) || upgrader == address(0)) revert ZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(Roles.UPGRADER_ROLE, upgrader);
    }

    /// @dev Grants `role` to `account` unless `account` is the zero address (optional roles at initialisation).
    function _grantIfSet(bytes32 role, address account) internal {
        if (account != address(0)) _grantRole(role, account);
    }

    /// @inheritdoc UUPSUpgradeable
    // solhint-disable-next-line no-empty-blocks
    function _authorizeUpgrade(address) internal view override onlyRole(Roles.UPGRADER_ROLE) {}
}
