// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @title Roles
/// @notice Role identifiers shared by the litgate contracts (AccessControl). DEFAULT_ADMIN_ROLE (0x00) is the
///         admin: it grants and revokes every other role. See contracts/SECURITY.md for the role matrix.
library Roles {
    /// @notice Day-to-day configuration: plans, prices, rate-limit overrides.
    bytes32 internal constant OPERATOR_ROLE = keccak256("litgate.role.operator");
    /// @notice Emergency brake: may pause payments (only the admin unpauses).
    bytes32 internal constant GUARDIAN_ROLE = keccak256("litgate.role.guardian");
    /// @notice May upgrade the implementation behind a UUPS proxy.
    bytes32 internal constant UPGRADER_ROLE = keccak256("litgate.role.upgrader");
    /// @notice Keys whose EIP-712 quote signatures the PaymentProcessor accepts.
    bytes32 internal constant QUOTE_SIGNER_ROLE = keccak256("litgate.role.quote-signer");
    /// @notice Contracts/keys that may create and extend subscriptions (the PaymentProcessor proxy).
    bytes32 internal constant ISSUER_ROLE = keccak256("litgate.role.issuer");
}
