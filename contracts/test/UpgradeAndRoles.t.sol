// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IERC1967} from "@openzeppelin/contracts/interfaces/IERC1967.sol";
import {ERC1967Utils} from "@openzeppelin/contracts/proxy/ERC1967/ERC1967Utils.sol";
import {Initializable} from "@openzeppelin/contracts-upgradeable/proxy/utils/Initializable.sol";
import {UUPSUpgradeable} from "@openzeppelin/contracts-upgradeable/proxy/utils/UUPSUpgradeable.sol";
import {AccessToken} from "../src/AccessToken.sol";
import {PaymentProcessor} from "../src/PaymentProcessor.sol";
import {SubscriptionManager} from "../src/SubscriptionManager.sol";
import {IPaymentProcessor} from "../src/interfaces/IPaymentProcessor.sol";
import {ISubscriptionManager} from "../src/interfaces/ISubscriptionManager.sol";
import {LitgateTestBase} from "./Base.t.sol";
import {AccessTokenV2, NotUpgradeable, PaymentProcessorV2, SubscriptionManagerV2} from "./mocks/V2.sol";

contract UpgradeTest is LitgateTestBase {
    bytes32 internal constant IMPLEMENTATION_SLOT = 0x360894a13ba1a3210667c828492db98dca3e2076cc3735a920a3ca505d382bbc;

    function _erc7201(string memory ns) internal pure returns (bytes32) {
        return keccak256(abi.encode(uint256(keccak256(bytes(ns))) - 1)) & ~bytes32(uint256(0xff));
    }

    function _impl(address proxy) internal view returns (address) {
        return address(uint160(uint256(vm.load(proxy, IMPLEMENTATION_SLOT))));
    }

    function test_namespacedSlotsFollowErc7201() public pure {
        assertEq(_erc7201("litgate.storage.SubscriptionManager"), 0x00159bff590b407c1112ad4ca607e0755942a0bf5dbf02c8a46caf78d066fb00);
        assertEq(_erc7201("litgate.storage.PaymentProcessor"), 0x827e1fbbd91937e867f9076acbba2fc1b2a1331b9f1b8e47224216f7259c2c00);
        assertEq(_erc7201("litgate.storage.AccessToken"), 0x447fb00d5d495d67981482e569be0fcd62ec08ee8633e2e0eb06e481615fc000);
    }

    function test_proxiesPointAtImplementations() public view {
        assertEq(_impl(address(sm)), address(smImpl));
        assertEq(_impl(address(pp)), address(ppImpl));
        assertEq(_impl(address(at)), address(atImpl));
    }

    uint256 internal aliceSub;
    uint256 internal bobSub;
    IPaymentProcessor.Quote internal bobQuote;
    bytes internal bobQuoteSig;
    bytes internal smBefore;
    bytes internal ppBefore;
    bytes32 internal domainBefore;

    function _buildState() internal {
        aliceSub = _buy(alice, basic, 2);
        IPaymentProcessor.Quote memory q = _newQuote(bob, pro, 1);
        bytes memory sig = _signQuote(q);
        vm.prank(bob);
        bobSub = pp.pay(q, sig);
        bobQuote = q;
        bobQuoteSig = sig;
        vm.prank(admin);
        pp.refund(q.quoteId, 5e6);
        vm.prank(alice);
        sm.setBeneficiary(aliceSub, bob);
        vm.prank(operator);
        at.setRateLimits(aliceSub, _qos(77, 7700));
        vm.prank(alice);
        at.setDelegate(aliceSub, bob, uint40(block.timestamp + 1 days));
        smBefore = abi.encode(sm.getSubscription(aliceSub), sm.getSubscription(bobSub), sm.getPlan(pro));
        ppBefore = abi.encode(pp.tokenAccount(address(usdc)), pp.config(), pp.paymentOf(q.quoteId));
        domainBefore = pp.DOMAIN_SEPARATOR();
    }

    function test_upgradePreservesStorage() public {
        _buildState();
        SubscriptionManagerV2 smV2 = new SubscriptionManagerV2();
        PaymentProcessorV2 ppV2 = new PaymentProcessorV2();
        AccessTokenV2 atV2 = new AccessTokenV2();
        vm.expectEmit(address(sm));
        emit IERC1967.Upgraded(address(smV2));
        vm.startPrank(upgrader);
        sm.upgradeToAndCall(address(smV2), abi.encodeCall(SubscriptionManagerV2.initializeV2, (42)));
        pp.upgradeToAndCall(address(ppV2), "");
        at.upgradeToAndCall(address(atV2), "");
        vm.stopPrank();

        assertEq(_impl(address(sm)), address(smV2));
        assertEq(_impl(address(pp)), address(ppV2));
        assertEq(_impl(address(at)), address(atV2));
        assertEq(SubscriptionManagerV2(address(sm)).version(), "2");
        assertEq(SubscriptionManagerV2(address(sm)).marker(), 42);
        assertEq(PaymentProcessorV2(address(pp)).version(), "2");
        assertEq(AccessTokenV2(address(at)).version(), "2");

        assertEq(abi.encode(sm.getSubscription(aliceSub), sm.getSubscription(bobSub), sm.getPlan(pro)), smBefore);
        assertEq(
            abi.encode(pp.tokenAccount(address(usdc)), pp.config(), pp.paymentOf(bobQuote.quoteId)), ppBefore
        );
        assertEq(sm.planCount(), 3);
        assertEq(sm.subscriptionCount(), 2);
        assertEq(sm.issuerHint(), address(pp), "issuer hint (packed with the counters) survives");
        assertEq(sm.priceOf(pro, address(usdc)), PRO_PRICE);
        assertEq(pp.DOMAIN_SEPARATOR(), domainBefore, "signed quotes stay valid across upgrades");
        assertEq(pp.refundedOf(bobQuote.quoteId), 5e6);
        assertEq(pp.refundOwed(bob, address(usdc)), 5e6);
        (ISubscriptionManager.QoS memory limits, bool isOverride) = at.rateLimitsOf(aliceSub);
        assertTrue(isOverride);
        assertEq(limits.requestsPerSecond, 77);
        assertEq(at.delegateValidUntil(aliceSub, bob), block.timestamp + 1 days);
        assertTrue(pp.hasRole(QUOTE_SIGNER_ROLE, quoteSigner));
        assertTrue(sm.hasRole(ISSUER_ROLE, address(pp)));

        // and the upgraded system keeps working: replay still blocked, new payments go through
        IPaymentProcessor.Quote memory q = bobQuote;
        bytes memory sig = bobQuoteSig;
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(IPaymentProcessor.QuoteAlreadyPaid.selector, q.quoteId));
        pp.pay(q, sig);
        _buy(alice, weekly, 1);
        vm.expectRevert(Initializable.InvalidInitialization.selector);
        SubscriptionManagerV2(address(sm)).initializeV2(1);
    }

    function test_onlyUpgraderCanUpgrade() public {
        SubscriptionManagerV2 smV2 = new SubscriptionManagerV2();
        PaymentProcessorV2 ppV2 = new PaymentProcessorV2();
        AccessTokenV2 atV2 = new AccessTokenV2();
        address[5] memory intruders = [admin, operator, guardian, quoteSigner, alice];
        for (uint256 i; i < intruders.length; ++i) {
            vm.startPrank(intruders[i]);
            vm.expectRevert(
                abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, intruders[i], UPGRADER_ROLE)
            );
            sm.upgradeToAndCall(address(smV2), "");
            vm.expectRevert(
                abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, intruders[i], UPGRADER_ROLE)
            );
            pp.upgradeToAndCall(address(ppV2), "");
            vm.expectRevert(
                abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, intruders[i], UPGRADER_ROLE)
            );
            at.upgradeToAndCall(address(atV2), "");
            vm.stopPrank();
        }
        assertEq(_impl(address(sm)), address(smImpl));
    }

    function test_upgradeToNonUupsReverts() public {
        NotUpgradeable bad = new NotUpgradeable();
        vm.prank(upgrader);
        vm.expectRevert(abi.encodeWithSelector(ERC1967Utils.ERC1967InvalidImplementation.selector, address(bad)));
        pp.upgradeToAndCall(address(bad), "");
    }

    function test_implementationsCannotBeInitializedOrUpgradedDirectly() public {
        vm.expectRevert(Initializable.InvalidInitialization.selector);
        smImpl.initialize(alice, alice, alice, alice);
        vm.expectRevert(Initializable.InvalidInitialization.selector);
        atImpl.initialize(alice, alice, alice, alice);
        vm.prank(upgrader);
        vm.expectRevert(UUPSUpgradeable.UUPSUnauthorizedCallContext.selector);
        smImpl.upgradeToAndCall(address(1), "");
        assertFalse(smImpl.hasRole(ADMIN_ROLE, deployer));
    }
}

contract RolesTest is LitgateTestBase {
    function test_deployerHoldsNoRole() public view {
        bytes32[6] memory roles = [ADMIN_ROLE, OPERATOR_ROLE, GUARDIAN_ROLE, UPGRADER_ROLE, QUOTE_SIGNER_ROLE, ISSUER_ROLE];
        for (uint256 i; i < roles.length; ++i) {
            assertFalse(sm.hasRole(roles[i], deployer));
            assertFalse(pp.hasRole(roles[i], deployer));
            assertFalse(at.hasRole(roles[i], deployer));
        }
    }

    function test_roleAssignment() public view {
        assertTrue(sm.hasRole(ADMIN_ROLE, admin));
        assertTrue(sm.hasRole(UPGRADER_ROLE, upgrader));
        assertTrue(sm.hasRole(OPERATOR_ROLE, operator));
        assertTrue(sm.hasRole(ISSUER_ROLE, address(pp)));
        assertFalse(sm.hasRole(ISSUER_ROLE, operator));
        assertFalse(pp.hasRole(ADMIN_ROLE, upgrader));
        assertEq(sm.getRoleAdmin(ISSUER_ROLE), ADMIN_ROLE);
        assertEq(pp.getRoleAdmin(QUOTE_SIGNER_ROLE), ADMIN_ROLE);
    }

    function test_nonAdminsCannotGrantRoles() public {
        address[5] memory actors = [operator, guardian, upgrader, quoteSigner, alice];
        for (uint256 i; i < actors.length; ++i) {
            vm.startPrank(actors[i]);
            vm.expectRevert(
                abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, actors[i], ADMIN_ROLE)
            );
            pp.grantRole(QUOTE_SIGNER_ROLE, actors[i]);
            vm.expectRevert(
                abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, actors[i], ADMIN_ROLE)
            );
            sm.grantRole(ISSUER_ROLE, actors[i]);
            vm.expectRevert(
                abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, actors[i], ADMIN_ROLE)
            );
            at.grantRole(ADMIN_ROLE, actors[i]);
            vm.expectRevert(
                abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, actors[i], ADMIN_ROLE)
            );
            pp.revokeRole(ADMIN_ROLE, admin);
            vm.stopPrank();
        }
    }

    function test_renounceOnlyForSelf() public {
        vm.prank(alice);
        vm.expectRevert(IAccessControl.AccessControlBadConfirmation.selector);
        pp.renounceRole(GUARDIAN_ROLE, guardian);
        vm.expectEmit(address(pp));
        emit IAccessControl.RoleRevoked(GUARDIAN_ROLE, guardian, guardian);
        vm.prank(guardian);
        pp.renounceRole(GUARDIAN_ROLE, guardian);
        assertFalse(pp.hasRole(GUARDIAN_ROLE, guardian));
    }

    function test_adminGrantsAndRevokesWithEvents() public {
        vm.expectEmit(address(pp));
        emit IAccessControl.RoleGranted(QUOTE_SIGNER_ROLE, bob, admin);
        vm.prank(admin);
        pp.grantRole(QUOTE_SIGNER_ROLE, bob);
        vm.expectEmit(address(pp));
        emit IAccessControl.RoleRevoked(QUOTE_SIGNER_ROLE, bob, admin);
        vm.prank(admin);
        pp.revokeRole(QUOTE_SIGNER_ROLE, bob);
    }

    function test_quoteSignerCannotPayForOthersOrTouchConfig() public {
        vm.startPrank(quoteSigner);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, quoteSigner, ADMIN_ROLE)
        );
        pp.setFeeSplit(0);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, quoteSigner, ADMIN_ROLE)
        );
        pp.setPayees(quoteSigner, quoteSigner);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, quoteSigner, ISSUER_ROLE)
        );
        sm.createSubscription(quoteSigner, address(0), basic, 0, 1, address(0));
        vm.stopPrank();
    }

    function test_issuerCannotManagePlansOrRevoke() public {
        vm.startPrank(address(pp));
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, address(pp), OPERATOR_ROLE)
        );
        sm.setPlanPrice(basic, address(usdc), 1);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, address(pp), ADMIN_ROLE)
        );
        sm.revoke(1);
        vm.stopPrank();
    }

    function test_initializerRejectsZeroAdmin() public {
        SubscriptionManager impl = new SubscriptionManager();
        bytes memory init = abi.encodeCall(SubscriptionManager.initialize, (address(0), upgrader, address(0), address(0)));
        vm.expectRevert();
        new ERC1967ProxyHarness(address(impl), init);
    }
}

import {ERC1967Proxy} from "@openzeppelin/contracts/proxy/ERC1967/ERC1967Proxy.sol";

contract ERC1967ProxyHarness is ERC1967Proxy {
    constructor(address impl, bytes memory data) ERC1967Proxy(impl, data) {}
}
