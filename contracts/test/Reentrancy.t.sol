// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IPaymentProcessor} from "../src/interfaces/IPaymentProcessor.sol";
import {ILitgate, LitgateTestBase} from "./Base.t.sol";
import {HookToken, MaliciousReceiver, MaliciousToken} from "./mocks/MaliciousToken.sol";

/// @dev Attacks through a malicious ERC-20 (re-enters from inside transferFrom/transfer) and through a
///      malicious receiver (a contract payer/payee that re-enters when a hook token pays it).
contract ReentrancyTest is LitgateTestBase {
    bytes internal REENTRANT = abi.encodeWithSelector(ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector);

    MaliciousToken internal evil;
    HookToken internal hook;
    MaliciousReceiver internal receiver;

    function setUp() public override {
        super.setUp();
        evil = new MaliciousToken();
        hook = new HookToken();
        receiver = new MaliciousReceiver();
        vm.startPrank(admin);
        pp.setTokenListed(address(evil), true);
        pp.setTokenListed(address(hook), true);
        vm.stopPrank();
        vm.startPrank(operator);
        pp.setSale(basic, address(evil), BASIC_PRICE, true);
        pp.setSale(basic, address(hook), BASIC_PRICE, true);
        vm.stopPrank();
        evil.mint(alice, 1_000e6);
        hook.mint(address(receiver), 1_000e6);
        vm.prank(alice);
        evil.approve(address(pp), type(uint256).max);
        receiver.call(address(hook), abi.encodeCall(hook.approve, (address(pp), type(uint256).max)));
    }

    function _evilQuote() internal returns (IPaymentProcessor.Quote memory q, bytes memory sig) {
        q = _quote(alice, basic, 1, address(evil), BASIC_PRICE, bytes32(0));
        sig = _signQuote(q);
    }

    function test_maliciousToken_cannotReenterPayDuringTransferFrom() public {
        (IPaymentProcessor.Quote memory second, bytes memory secondSig) = _evilQuote();
        evil.arm(address(pp), abi.encodeCall(ILitgate.pay, (second, secondSig)));
        (IPaymentProcessor.Quote memory q, bytes memory sig) = _evilQuote();
        vm.prank(alice);
        pp.pay(q, sig);
        assertTrue(evil.attacked());
        assertFalse(evil.reentrySucceeded());
        assertEq(evil.reentryResult(), REENTRANT);
        assertFalse(pp.isPaid(_digest(second)));
        assertEq(evil.balanceOf(address(pp)), BASIC_PRICE);
    }

    function test_maliciousToken_cannotReenterWithdrawalsDuringPay() public {
        vm.prank(admin);
        pp.setPayees(address(evil), treasury); // the token itself is a payee: worst case
        (IPaymentProcessor.Quote memory q0, bytes memory s0) = _evilQuote();
        vm.prank(alice);
        pp.pay(q0, s0);
        evil.arm(address(pp), abi.encodeCall(ILitgate.withdrawFees, (address(evil))));
        (IPaymentProcessor.Quote memory q, bytes memory sig) = _evilQuote();
        vm.prank(alice);
        pp.pay(q, sig);
        assertFalse(evil.reentrySucceeded());
        assertEq(evil.reentryResult(), REENTRANT);
        assertEq(evil.balanceOf(address(pp)), 2 * BASIC_PRICE);
        assertEq(pp.tokenAccount(address(evil)).operatorOwed, 2 * BASIC_PRICE * FEE_BPS / 10_000);
    }

    function test_maliciousToken_cannotReenterRefundWithdrawal() public {
        (IPaymentProcessor.Quote memory q, bytes memory sig) = _evilQuote();
        vm.prank(alice);
        pp.pay(q, sig);
        vm.prank(operator);
        pp.refund(q, BASIC_PRICE, false);
        evil.arm(address(pp), abi.encodeCall(ILitgate.withdrawRefund, (address(evil))));
        vm.prank(alice);
        pp.withdrawRefund(address(evil));
        assertFalse(evil.reentrySucceeded());
        assertEq(evil.reentryResult(), REENTRANT);
        assertEq(evil.balanceOf(alice), 1_000e6, "refunded exactly once");
        assertEq(evil.balanceOf(address(pp)), 0);
    }

    function _receiverPays() internal returns (IPaymentProcessor.Quote memory q) {
        q = _quote(address(receiver), basic, 1, address(hook), BASIC_PRICE, bytes32(0));
        bytes memory sig = _signQuote(q);
        receiver.call(address(pp), abi.encodeCall(ILitgate.pay, (q, sig)));
    }

    function test_maliciousReceiver_cannotDoubleWithdrawRefund() public {
        IPaymentProcessor.Quote memory q = _receiverPays();
        vm.prank(operator);
        pp.refund(q, BASIC_PRICE, false);
        receiver.arm(address(pp), abi.encodeCall(ILitgate.withdrawRefund, (address(hook))));
        receiver.call(address(pp), abi.encodeCall(ILitgate.withdrawRefund, (address(hook))));
        assertEq(receiver.hits(), 1);
        assertFalse(receiver.reentrySucceeded());
        assertEq(receiver.reentryResult(), REENTRANT);
        assertEq(hook.balanceOf(address(receiver)), 1_000e6, "refunded exactly once");
        assertEq(hook.balanceOf(address(pp)), 0);
    }

    function test_maliciousReceiver_cannotDoubleWithdrawFees() public {
        _receiverPays();
        vm.prank(admin);
        pp.setPayees(operatorPayee, address(receiver));
        receiver.arm(address(pp), abi.encodeCall(ILitgate.withdrawFees, (address(hook))));
        receiver.call(address(pp), abi.encodeCall(ILitgate.withdrawFees, (address(hook))));
        assertFalse(receiver.reentrySucceeded());
        assertEq(receiver.reentryResult(), REENTRANT);
        uint256 treasuryShare = BASIC_PRICE - BASIC_PRICE * FEE_BPS / 10_000;
        assertEq(hook.balanceOf(address(receiver)), 1_000e6 - BASIC_PRICE + treasuryShare);
        assertEq(hook.balanceOf(address(pp)), BASIC_PRICE - treasuryShare);
    }

    function test_maliciousReceiver_cannotPayFromWithinWithdrawal() public {
        IPaymentProcessor.Quote memory paid = _receiverPays();
        vm.prank(operator);
        pp.refund(paid, BASIC_PRICE, false);
        IPaymentProcessor.Quote memory q = _quote(address(receiver), basic, 1, address(hook), BASIC_PRICE, bytes32(0));
        bytes memory sig = _signQuote(q);
        receiver.arm(address(pp), abi.encodeCall(ILitgate.pay, (q, sig)));
        receiver.call(address(pp), abi.encodeCall(ILitgate.withdrawRefund, (address(hook))));
        assertFalse(receiver.reentrySucceeded());
        assertEq(receiver.reentryResult(), REENTRANT);
        assertFalse(pp.isPaid(_digest(q)));
    }
}
