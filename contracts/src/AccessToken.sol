// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {ISubscriptionManager} from "./interfaces/ISubscriptionManager.sol";
import {LitgateUpgradeable} from "./utils/LitgateUpgradeable.sol";
import {Roles} from "./utils/Roles.sol";
import {TypedDataDomain} from "./utils/TypedDataDomain.sol";

/// @title AccessToken
/// @notice On-chain access validation for clients that authenticate with a wallet signature instead of a
///         gateway token: verifies EIP-712 access proofs signed by a subscription's owner or a key the
///         owner delegated (EOA or ERC-1271 contract wallet), stores per-subscription rate-limit overrides
///         and answers `hasAccess(subscriptionId, at)`.
/// @dev Verification is a view: replay protection for a proof's `nonce` within its short lifetime is the
///      gateway's job (it caches nonces until `expiresAt`). `audience` binds a proof to one gateway.
contract AccessToken is LitgateUpgradeable, TypedDataDomain {
    /// @notice A client's proof that it may use `subscriptionId`, valid in [issuedAt, expiresAt].
    struct AccessProof {
        uint256 subscriptionId;
        address signer;
        bytes32 audience;
        bytes32 nonce;
        uint64 issuedAt;
        uint64 expiresAt;
    }

    /// @custom:storage-location erc7201:litgate.storage.AccessToken
    struct AccessTokenStorage {
        ISubscriptionManager subscriptions;
        mapping(uint256 subscriptionId => mapping(address key => uint40 validUntil)) delegates;
        mapping(uint256 subscriptionId => ISubscriptionManager.QoS) rateLimits;
    }

    // keccak256(abi.encode(uint256(keccak256("litgate.storage.AccessToken")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 private constant STORAGE_SLOT = 0x447fb00d5d495d67981482e569be0fcd62ec08ee8633e2e0eb06e481615fc000;

    bytes32 public constant ACCESS_PROOF_TYPEHASH = keccak256(
        "AccessProof(uint256 subscriptionId,address signer,bytes32 audience,bytes32 nonce,"
        "uint64 issuedAt,uint64 expiresAt)"
    );

    /// @notice Longest accepted proof lifetime (expiresAt - issuedAt).
    uint64 public constant MAX_PROOF_LIFETIME = 1 days;

    event DelegateSet(uint256 indexed subscriptionId, address indexed key, uint40 validUntil);
    event RateLimitsSet(uint256 indexed subscriptionId, ISubscriptionManager.QoS limits);
    event RateLimitsCleared(uint256 indexed subscriptionId);

    error NotSubscriptionOwner(uint256 subscriptionId);
    error InvalidRateLimits();

    function _s() private pure returns (AccessTokenStorage storage $) {
        assembly {
            $.slot := STORAGE_SLOT
        }
    }

    /// @notice Initialises the proxy; operator (rate-limit overrides) is optional.
    function initialize(address admin, address upgrader, address operator, address manager) external initializer {
        __LitgateUpgradeable_init(admin, upgrader);
        _grantIfSet(Roles.OPERATOR_ROLE, operator);
        if (manager == address(0)) revert ZeroAddress();
        _s().subscriptions = ISubscriptionManager(manager);
    }

    /// @notice The subscription owner authorises `key` to sign access proofs until `validUntil` (0 revokes).
    function setDelegate(uint256 subscriptionId, address key, uint40 validUntil) external {
        if (key == address(0)) revert ZeroAddress();
        if (_s().subscriptions.ownerOf(subscriptionId) != msg.sender) revert NotSubscriptionOwner(subscriptionId);
        _s().delegates[subscriptionId][key] = validUntil;
        emit DelegateSet(subscriptionId, key, validUntil);
    }

    /// @notice Per-subscription rate limits overriding the plan's (requestsPerSecond must be non-zero).
    function setRateLimits(uint256 subscriptionId, ISubscriptionManager.QoS calldata limits)
        external
        onlyRole(Roles.OPERATOR_ROLE)
    {
        if (limits.requestsPerSecond == 0) revert InvalidRateLimits();
        _s().subscriptions.ownerOf(subscriptionId); // reverts for unknown subscriptions
        _s().rateLimits[subscriptionId] = limits;
        emit RateLimitsSet(subscriptionId, limits);
    }

    /// @notice Drops a subscription's override so the plan's limits apply again.
    function clearRateLimits(uint256 subscriptionId) external onlyRole(Roles.OPERATOR_ROLE) {
        delete _s().rateLimits[subscriptionId];
        emit RateLimitsCleared(subscriptionId);
    }

    /// @notice The limits the gateway enforces: the override if set, else the plan's QoS.
    function rateLimitsOf(uint256 subscriptionId)
        external
        view
        returns (ISubscriptionManager.QoS memory limits, bool isOverride)
    {
        limits = _s().rateLimits[subscriptionId];
        if (limits.requestsPerSecond != 0) return (limits, true);
        return (_s().subscriptions.qosOf(subscriptionId), false);
    }

    /// @notice Whether the subscription is active at time `at`.
    function hasAccess(uint256 subscriptionId, uint256 at) public view returns (bool) {
        return _s().subscriptions.isActiveAt(subscriptionId, at);
    }

    /// @notice Until when `key` may sign for `subscriptionId` (0 = never).
    function delegateValidUntil(uint256 subscriptionId, address key) external view returns (uint40) {
        return _s().delegates[subscriptionId][key];
    }

    function subscriptionManager() external view returns (address) {
        return address(_s().subscriptions);
    }

    /// @notice The EIP-712 digest a client signs for `proof`.
    function hashAccessProof(AccessProof calldata proof) public view returns (bytes32) {
        return _hashTypedData(keccak256(abi.encode(ACCESS_PROOF_TYPEHASH, proof)));
    }

    /// @notice True when, at block.timestamp, the proof is within its lifetime, the subscription is active,
    ///         `proof.signer` is the owner or a delegate valid now, and `signature` is that signer's.
    function verifyAccessProof(AccessProof calldata proof, bytes calldata signature) external view returns (bool) {
        uint256 nowTs = block.timestamp;
        if (nowTs < proof.issuedAt || nowTs > proof.expiresAt) return false;
        if (proof.expiresAt - proof.issuedAt > MAX_PROOF_LIFETIME) return false;
        if (!hasAccess(proof.subscriptionId, nowTs)) return false;
        if (
            proof.signer != _s().subscriptions.ownerOf(proof.subscriptionId)
                && _s().delegates[proof.subscriptionId][proof.signer] <= nowTs
        ) return false;
        return SignatureChecker.isValidSignatureNowCalldata(proof.signer, hashAccessProof(proof), signature);
    }

    function _domainName() internal pure override returns (string memory) {
        return "litgate AccessToken";
    }

    function _domainNameHash() internal pure override returns (bytes32) {
        return keccak256("litgate AccessToken");
    }
}
