// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IAccessControlDefaultAdminRules} from "@openzeppelin/contracts/access/extensions/IAccessControlDefaultAdminRules.sol";
import {Initializable} from "@openzeppelin/contracts-upgradeable/proxy/utils/Initializable.sol";
import {UUPSUpgradeable} from "@openzeppelin/contracts-upgradeable/proxy/utils/UUPSUpgradeable.sol";
import {ERC1967Proxy} from "@openzeppelin/contracts/proxy/ERC1967/ERC1967Proxy.sol";
import {ERC1967Utils} from "@openzeppelin/contracts/proxy/ERC1967/ERC1967Utils.sol";
import {PaymentProcessor} from "../src/PaymentProcessor.sol";
import {PaymentProcessorAdmin} from "../src/PaymentProcessorAdmin.sol";
import {IPaymentProcessor} from "../src/interfaces/IPaymentProcessor.sol";
import {ILitgate, LitgateTestBase} from "./Base.t.sol";
import {NotUpgradeable, PaymentProcessorV2} from "./mocks/V2.sol";

contract UpgradeAndRolesTest is LitgateTestBase {
    function test_initialRolesAndNoneOnTheDeployer() public view {
        assertEq(pp.defaultAdmin(), admin);
        assertEq(pp.defaultAdminDelay(), ADMIN_DELAY);
        assertTrue(pp.hasRole(UPGRADER_ROLE, upgrader));
        assertTrue(pp.hasRole(OPERATOR_ROLE, operator));
        assertTrue(pp.hasRole(GUARDIAN_ROLE, guardian));
        assertEq(pp.config().quoteSigner, quoteSigner);
        assertEq(pp.getRoleAdmin(UPGRADER_ROLE), UPGRADER_ROLE, "upgraders administer upgraders");
        for (uint256 i; i < 4; ++i) {
            bytes32 role = [ADMIN_ROLE, OPERATOR_ROLE, GUARDIAN_ROLE, UPGRADER_ROLE][i];
            assertFalse(pp.hasRole(role, deployer));
        }
        assertTrue(pp.supportsInterface(type(IAccessControlDefaultAdminRules).interfaceId));
        assertEq(pp.ADMIN_EXTENSION(), address(adminExt));
    }

    function test_initializeRejectsMissingAdminOrUpgrader() public {
        address[] memory none = new address[](0);
        IPaymentProcessor.InitParams memory p = _params(none);
        p.admin = address(0);
        vm.expectRevert(IPaymentProcessor.ZeroAddress.selector);
        new ERC1967Proxy(address(ppImpl), abi.encodeCall(ILitgate.initialize, (p)));
        p = _params(none);
        p.upgrader = address(0);
        vm.expectRevert(IPaymentProcessor.ZeroAddress.selector);
        new ERC1967Proxy(address(ppImpl), abi.encodeCall(ILitgate.initialize, (p)));
        // optional roles may be omitted
        p = _params(none);
        p.operator = address(0);
        p.guardian = address(0);
        ILitgate bare = ILitgate(address(new ERC1967Proxy(address(ppImpl), abi.encodeCall(ILitgate.initialize, (p)))));
        assertFalse(bare.hasRole(OPERATOR_ROLE, address(0)));
        vm.expectRevert(IPaymentProcessor.ZeroAddress.selector);
        new PaymentProcessor(address(0xBEEF)); // extension without code
    }

    function test_defaultAdminTransferIsTwoStepWithDelay() public {
        vm.prank(admin);
        vm.expectRevert(IAccessControlDefaultAdminRules.AccessControlEnforcedDefaultAdminRules.selector);
        pp.grantRole(ADMIN_ROLE, bob);
        vm.prank(admin);
        pp.beginDefaultAdminTransfer(bob);
        vm.prank(bob);
        vm.expectPartialRevert(IAccessControlDefaultAdminRules.AccessControlEnforcedDefaultAdminDelay.selector);
        pp.acceptDefaultAdminTransfer();
        vm.warp(block.timestamp + ADMIN_DELAY + 1);
        vm.prank(bob);
        pp.acceptDefaultAdminTransfer();
        assertEq(pp.defaultAdmin(), bob);
        assertFalse(pp.hasRole(ADMIN_ROLE, admin));
    }

    function test_adminCannotSelfGrantUpgraderSilently() public {
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, admin, UPGRADER_ROLE));
        pp.grantRole(UPGRADER_ROLE, admin);

        vm.prank(admin);
        vm.expectRevert(IPaymentProcessor.NoUpgraderGrantScheduled.selector);
        pp.executeUpgraderGrant();
        vm.prank(admin);
        vm.expectRevert(IPaymentProcessor.ZeroAddress.selector);
        pp.scheduleUpgraderGrant(address(0));
        uint48 readyAt = uint48(block.timestamp) + ADMIN_DELAY;
        vm.expectEmit(address(pp));
        emit IPaymentProcessor.UpgraderGrantScheduled(admin, readyAt);
        vm.prank(admin);
        pp.scheduleUpgraderGrant(admin);
        (address who, uint48 at) = pp.scheduledUpgraderGrant();
        assertEq(who, admin);
        assertEq(at, readyAt);
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(IPaymentProcessor.UpgraderGrantNotReady.selector, readyAt));
        pp.executeUpgraderGrant();

        // the current upgrader sees the announcement and cancels it
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, bob, UPGRADER_ROLE));
        pp.cancelUpgraderGrant();
        vm.expectEmit(address(pp));
        emit IPaymentProcessor.UpgraderGrantCancelled(admin);
        vm.prank(upgrader);
        pp.cancelUpgraderGrant();
        vm.prank(upgrader);
        vm.expectRevert(IPaymentProcessor.NoUpgraderGrantScheduled.selector);
        pp.cancelUpgraderGrant();

        // or, unopposed, it takes effect after the delay
        vm.prank(admin);
        pp.scheduleUpgraderGrant(bob);
        vm.warp(block.timestamp + ADMIN_DELAY);
        vm.expectEmit(address(pp));
        emit IAccessControl.RoleGranted(UPGRADER_ROLE, bob, admin);
        vm.prank(admin);
        pp.executeUpgraderGrant();
        assertTrue(pp.hasRole(UPGRADER_ROLE, bob));
        vm.prank(admin);
        pp.scheduleUpgraderGrant(alice);
        vm.prank(admin);
        pp.cancelUpgraderGrant(); // the admin may withdraw its own announcement
    }

    function test_upgradeOnlyByUpgraderAndKeepsState() public {
        bytes32 id = _buy(alice, basic, 1);
        PaymentProcessorV2 next = new PaymentProcessorV2(address(adminExt));
        address[3] memory others = [admin, operator, guardian];
        for (uint256 i; i < 3; ++i) {
            vm.prank(others[i]);
            vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, others[i], UPGRADER_ROLE));
            pp.upgradeToAndCall(address(next), "");
        }
        NotUpgradeable bad = new NotUpgradeable();
        vm.prank(upgrader);
        vm.expectRevert(abi.encodeWithSelector(ERC1967Utils.ERC1967InvalidImplementation.selector, address(bad)));
        pp.upgradeToAndCall(address(bad), "");
        vm.prank(upgrader);
        pp.upgradeToAndCall(address(next), "");
        assertEq(PaymentProcessorV2(address(pp)).version(), "v2-next");
        assertEq(pp.getSubscription(id).owner, alice);
        assertTrue(pp.isActive(id));
        assertEq(pp.defaultAdmin(), admin);
        assertEq(pp.config().quoteSigner, quoteSigner);
        assertEq(pp.tokenAccount(address(usdc)).treasuryOwed, BASIC_PRICE - BASIC_PRICE * FEE_BPS / 10_000);
    }

    function test_implementationsCannotBeInitializedOrUpgradedDirectly() public {
        address[] memory none = new address[](0);
        vm.expectRevert(Initializable.InvalidInitialization.selector);
        ILitgate(address(ppImpl)).initialize(_params(none));
        vm.expectRevert(Initializable.InvalidInitialization.selector);
        PaymentProcessorAdmin(address(adminExt)).initialize(_params(none));
        vm.prank(upgrader);
        vm.expectRevert(UUPSUpgradeable.UUPSUnauthorizedCallContext.selector);
        ppImpl.upgradeToAndCall(address(ppImpl), "");
        vm.expectRevert(Initializable.InvalidInitialization.selector);
        pp.initialize(_params(none));
    }

    function test_revokedOperatorLosesHotPathRole() public {
        IPaymentProcessor.Quote memory q = _newQuote(alice, basic, 1);
        _payAs(alice, q);
        vm.prank(admin);
        pp.revokeRole(OPERATOR_ROLE, operator);
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, operator, OPERATOR_ROLE));
        pp.refund(q, 1, false);
    }

    function test_fallbackRejectsValueAndUnknownSelectors() public {
        (bool ok,) = address(pp).call(abi.encodeWithSignature("nope()"));
        assertFalse(ok);
        vm.deal(alice, 1 ether);
        vm.prank(alice);
        (ok,) = address(pp).call{value: 1}(abi.encodeWithSignature("paused()"));
        assertFalse(ok, "non-payable");
    }
}
