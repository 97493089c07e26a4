// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @title Roles
/// @notice Role identifiers of the litgate PaymentProcessor (AccessControl). DEFAULT_ADMIN_ROLE (0x00) is the
///         admin, held by exactly one account and transferred in two steps with a delay
///         (AccessControlDefaultAdminRules). See contracts/SECURITY.md for the role matrix.
library Roles {
    /// @notice Day-to-day operations: plans, QoS, prices, refunds, cancel/revoke, unrecorded-funds refunds.
    bytes32 internal constant OPERATOR_ROLE = keccak256("litgate.role.operator");
    /// @notice Emergency brake: may pause payments and withdrawals (only the admin unpauses).
    bytes32 internal constant GUARDIAN_ROLE = keccak256("litgate.role.guardian");
    /// @notice May upgrade the implementation. Its own admin role: the default admin can add an upgrader only
    ///         through the delayed `scheduleUpgraderGrant` / `executeUpgraderGrant` pair.
    bytes32 internal constant UPGRADER_ROLE = keccak256("litgate.role.upgrader");
}
