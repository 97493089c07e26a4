// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {ERC1967Proxy} from "@openzeppelin/contracts/proxy/ERC1967/ERC1967Proxy.sol";
import {AccessToken} from "../src/AccessToken.sol";
import {ISubscriptionManager} from "../src/interfaces/ISubscriptionManager.sol";
import {LitgateUpgradeable} from "../src/utils/LitgateUpgradeable.sol";
import {LitgateTestBase} from "./Base.t.sol";
import {Wallet1271} from "./mocks/MaliciousToken.sol";

contract AccessTokenTest is LitgateTestBase {
    uint256 internal subId;
    address internal delegateKey;
    uint256 internal delegatePk;
    bytes32 internal constant AUDIENCE = keccak256("api.litgate.example");

    function setUp() public override {
        super.setUp();
        subId = _buy(alice, basic, 1);
        (delegateKey, delegatePk) = makeAddrAndKey("delegate");
    }

    function _proof(address signer) internal view returns (AccessToken.AccessProof memory) {
        return AccessToken.AccessProof({
            subscriptionId: subId,
            signer: signer,
            audience: AUDIENCE,
            nonce: keccak256("n1"),
            issuedAt: uint64(block.timestamp),
            expiresAt: uint64(block.timestamp + 5 minutes)
        });
    }

    function _digest(AccessToken.AccessProof memory p) internal view returns (bytes32) {
        bytes32 domain = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("litgate AccessToken"),
                keccak256("1"),
                block.chainid,
                address(at)
            )
        );
        bytes32 structHash = keccak256(
            abi.encode(
                keccak256(
                    "AccessProof(uint256 subscriptionId,address signer,bytes32 audience,bytes32 nonce,uint64 issuedAt,uint64 expiresAt)"
                ),
                p.subscriptionId,
                p.signer,
                p.audience,
                p.nonce,
                p.issuedAt,
                p.expiresAt
            )
        );
        return keccak256(abi.encodePacked("\x19\x01", domain, structHash));
    }

    function test_initialize() public {
        assertEq(at.subscriptionManager(), address(sm));
        assertTrue(at.hasRole(ADMIN_ROLE, admin));
        assertTrue(at.hasRole(OPERATOR_ROLE, operator));
        assertTrue(at.hasRole(UPGRADER_ROLE, upgrader));
        vm.expectRevert(LitgateUpgradeable.ZeroAddress.selector);
        new ERC1967Proxy(address(atImpl), abi.encodeCall(AccessToken.initialize, (admin, upgrader, operator, address(0))));
        AccessToken noOperator = AccessToken(
            address(
                new ERC1967Proxy(
                    address(atImpl), abi.encodeCall(AccessToken.initialize, (admin, upgrader, address(0), address(sm)))
                )
            )
        );
        assertFalse(noOperator.hasRole(OPERATOR_ROLE, address(0)));
    }

    function test_hasAccess() public {
        assertTrue(at.hasAccess(subId, block.timestamp));
        assertFalse(at.hasAccess(subId, block.timestamp + MONTH));
        assertFalse(at.hasAccess(999, block.timestamp));
        vm.prank(admin);
        sm.revoke(subId);
        assertFalse(at.hasAccess(subId, block.timestamp));
    }

    function test_hashAccessProofMatchesIndependentEncoding() public view {
        AccessToken.AccessProof memory p = _proof(alice);
        assertEq(at.hashAccessProof(p), _digest(p));
        (, string memory name,,, address vc,,) = at.eip712Domain();
        assertEq(name, "litgate AccessToken");
        assertEq(vc, address(at));
    }

    function test_verifyAccessProof_ownerSignature() public view {
        AccessToken.AccessProof memory p = _proof(alice);
        assertTrue(at.verifyAccessProof(p, _sign(alicePk, _digest(p))));
    }

    function test_verifyAccessProof_rejects() public {
        AccessToken.AccessProof memory p = _proof(alice);
        bytes memory sig = _sign(alicePk, _digest(p));
        // wrong signer key for the claimed signer
        assertFalse(at.verifyAccessProof(p, _sign(bobPk, _digest(p))));
        // tampered audience
        AccessToken.AccessProof memory other = _proof(alice);
        other.audience = keccak256("evil.example");
        assertFalse(at.verifyAccessProof(other, sig));
        // a stranger claiming to sign for the subscription
        AccessToken.AccessProof memory stranger = _proof(bob);
        assertFalse(at.verifyAccessProof(stranger, _sign(bobPk, _digest(stranger))));
        // lifetime too long
        AccessToken.AccessProof memory longLived = _proof(alice);
        longLived.expiresAt = uint64(block.timestamp + 1 days + 1);
        assertFalse(at.verifyAccessProof(longLived, _sign(alicePk, _digest(longLived))));
        // not yet valid
        AccessToken.AccessProof memory future = _proof(alice);
        future.issuedAt = uint64(block.timestamp + 1);
        assertFalse(at.verifyAccessProof(future, _sign(alicePk, _digest(future))));
        // expired proof
        vm.warp(p.expiresAt + 1);
        assertFalse(at.verifyAccessProof(p, sig));
    }

    function test_verifyAccessProof_inactiveSubscription() public {
        vm.prank(admin);
        sm.revoke(subId);
        AccessToken.AccessProof memory p = _proof(alice);
        assertFalse(at.verifyAccessProof(p, _sign(alicePk, _digest(p))));
    }

    function test_delegate_lifecycle() public {
        uint40 until = uint40(block.timestamp + 1 days);
        vm.expectEmit(address(at));
        emit AccessToken.DelegateSet(subId, delegateKey, until);
        vm.prank(alice);
        at.setDelegate(subId, delegateKey, until);
        assertEq(at.delegateValidUntil(subId, delegateKey), until);
        AccessToken.AccessProof memory p = _proof(delegateKey);
        bytes memory sig = _sign(delegatePk, _digest(p));
        assertTrue(at.verifyAccessProof(p, sig));
        // delegation expires
        vm.warp(until);
        p = _proof(delegateKey);
        sig = _sign(delegatePk, _digest(p));
        assertFalse(at.verifyAccessProof(p, sig));
        // and can be revoked
        vm.warp(until - 1 hours);
        vm.prank(alice);
        at.setDelegate(subId, delegateKey, 0);
        p = _proof(delegateKey);
        assertFalse(at.verifyAccessProof(p, _sign(delegatePk, _digest(p))));
    }

    function test_setDelegate_reverts() public {
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(AccessToken.NotSubscriptionOwner.selector, subId));
        at.setDelegate(subId, delegateKey, 1);
        vm.prank(alice);
        vm.expectRevert(LitgateUpgradeable.ZeroAddress.selector);
        at.setDelegate(subId, address(0), 1);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(ISubscriptionManager.UnknownSubscription.selector, 77));
        at.setDelegate(77, delegateKey, 1);
    }

    function test_verifyAccessProof_erc1271Delegate() public {
        Wallet1271 wallet = new Wallet1271(delegateKey);
        vm.prank(alice);
        at.setDelegate(subId, address(wallet), uint40(block.timestamp + 1 days));
        AccessToken.AccessProof memory p = _proof(address(wallet));
        assertTrue(at.verifyAccessProof(p, _sign(delegatePk, _digest(p))));
        assertFalse(at.verifyAccessProof(p, _sign(bobPk, _digest(p))));
    }

    function test_rateLimits_overrideAndClear() public {
        (ISubscriptionManager.QoS memory limits, bool isOverride) = at.rateLimitsOf(subId);
        assertFalse(isOverride);
        assertEq(limits.requestsPerSecond, 10);
        ISubscriptionManager.QoS memory custom = _qos(42, 4200);
        vm.expectEmit(address(at));
        emit AccessToken.RateLimitsSet(subId, custom);
        vm.prank(operator);
        at.setRateLimits(subId, custom);
        (limits, isOverride) = at.rateLimitsOf(subId);
        assertTrue(isOverride);
        assertEq(limits.requestsPerSecond, 42);
        assertEq(limits.requestsPerDay, 4200);
        vm.expectEmit(address(at));
        emit AccessToken.RateLimitsCleared(subId);
        vm.prank(operator);
        at.clearRateLimits(subId);
        (limits, isOverride) = at.rateLimitsOf(subId);
        assertFalse(isOverride);
        assertEq(limits.requestsPerSecond, 10);
    }

    function test_rateLimits_reverts() public {
        ISubscriptionManager.QoS memory zero;
        vm.prank(operator);
        vm.expectRevert(AccessToken.InvalidRateLimits.selector);
        at.setRateLimits(subId, zero);
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(ISubscriptionManager.UnknownSubscription.selector, 55));
        at.setRateLimits(55, _qos(1, 1));
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, alice, OPERATOR_ROLE)
        );
        at.setRateLimits(subId, _qos(1, 1));
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, alice, OPERATOR_ROLE)
        );
        at.clearRateLimits(subId);
    }

    function testFuzz_verifyAccessProof_window(uint64 issuedOffset, uint64 lifetime, uint64 probe) public {
        issuedOffset = uint64(bound(issuedOffset, 0, 10 days));
        lifetime = uint64(bound(lifetime, 0, 2 days));
        AccessToken.AccessProof memory p = _proof(alice);
        p.issuedAt = uint64(block.timestamp) + issuedOffset;
        p.expiresAt = p.issuedAt + lifetime;
        bytes memory sig = _sign(alicePk, _digest(p));
        probe = uint64(bound(probe, block.timestamp, block.timestamp + 12 days));
        vm.warp(probe);
        bool expected = probe >= p.issuedAt && probe <= p.expiresAt && lifetime <= 1 days
            && sm.isActiveAt(subId, probe);
        assertEq(at.verifyAccessProof(p, sig), expected);
    }
}
