// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IPaymentProcessor} from "./interfaces/IPaymentProcessor.sol";

/// @title PaymentProcessorBase
/// @notice Storage and helpers shared by the PaymentProcessor (hot path, the proxy's implementation) and its
///         PaymentProcessorAdmin extension (reached by delegatecall from the implementation's fallback). Both run
///         in the proxy's storage: the ERC-7201 namespace below plus OpenZeppelin's own namespaces.
abstract contract PaymentProcessorBase is IPaymentProcessor {
    /// @custom:storage-location erc7201:litgate.storage.PaymentProcessor
    struct PaymentProcessorStorage {
        Config config;
        address operatorPayee;
        address treasury;
        uint16 planCount;
        uint8 tokenCount;
        address scheduledUpgrader;
        uint48 upgraderReadyAt;
        mapping(address token => TokenAccount) tokens;
        mapping(uint8 tokenId => address) tokenById;
        mapping(uint16 planId => Plan) plans;
        mapping(uint16 planId => mapping(address token => Sale)) sales;
        mapping(bytes32 digest => Record) records;
        mapping(bytes32 subscriptionId => address) beneficiaries;
        mapping(bytes32 digest => uint256) refunded;
        mapping(address payer => mapping(address token => uint256)) refundOwed;
        mapping(address token => uint256) refundsPending;
        mapping(bytes32 quoteId => bool) authorizationSettled;
    }

    // keccak256(abi.encode(uint256(keccak256("litgate.storage.PaymentProcessor")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 internal constant STORAGE_SLOT = 0x827e1fbbd91937e867f9076acbba2fc1b2a1331b9f1b8e47224216f7259c2c00;

    /// @notice EIP-712 type of a quote.
    bytes32 public constant QUOTE_TYPEHASH = keccak256(
        "Quote(bytes32 quoteId,address payer,address beneficiary,bytes32 subscriptionId,address token,"
        "uint256 amount,uint16 planId,uint32 periods,uint64 validUntil)"
    );

    uint8 internal constant LIVE = uint8(Status.Live);
    uint8 internal constant CANCELLED = uint8(Status.Cancelled);
    uint8 internal constant REVOKED = uint8(Status.Revoked);
    /// @dev Record of a renewal or plan change (not a subscription).
    uint8 internal constant PAYMENT = 255;
    uint256 internal constant BPS = 10_000;

    /// @dev OpenZeppelin AccessControlUpgradeable's ERC-7201 namespace (`openzeppelin.storage.AccessControl`).
    bytes32 private constant ACCESS_CONTROL_SLOT = 0x02dd7bc7dec4dceedda775e58dd541e08a116c6c53815c0bd028192f7b626800;

    function _s() internal pure returns (PaymentProcessorStorage storage $) {
        assembly {
            $.slot := STORAGE_SLOT
        }
    }

    /// @dev AccessControl's `hasRole` read straight from its namespace (`_roles[role].hasRole[account]`), so the
    ///      hot implementation does not carry AccessControl's code; the admin extension exposes the role API.
    function _hasRole(bytes32 role, address account) internal view returns (bool member) {
        assembly ("memory-safe") {
            mstore(0x00, role)
            mstore(0x20, ACCESS_CONTROL_SLOT)
            mstore(0x20, keccak256(0x00, 0x40))
            mstore(0x00, account)
            member := sload(keccak256(0x00, 0x40))
        }
    }

    function _requireRole(bytes32 role) internal view {
        if (!_hasRole(role, msg.sender)) revert IAccessControl.AccessControlUnauthorizedAccount(msg.sender, role);
    }

    function _revoke(bytes32 id) internal {
        Record storage sub = _s().records[id];
        uint8 status = sub.status;
        if (status != LIVE && status != CANCELLED) revert UnknownSubscription(id);
        sub.status = REVOKED;
        uint32 end = sub.end;
        if (end > block.timestamp) {
            end = uint32(block.timestamp);
            sub.end = end; // start <= every block.timestamp it was set at, so start <= end still
        }
        emit SubscriptionRevoked(id, msg.sender, end);
    }
}
