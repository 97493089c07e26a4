// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IPaymentProcessor} from "../src/interfaces/IPaymentProcessor.sol";
import {LitgateTestBase} from "./Base.t.sol";
import {FallbackToken} from "./mocks/FallbackToken.sol";

/// @dev The holes found in v1 (issue 10), each as the exploit that succeeded there (see the ADR 0005 for the
///      v1 runs: all four failed on v1) and must now revert or leave nothing to gain.
contract RegressionTest is LitgateTestBase {
    /// v1: a stranger's quote with the victim's subscription id downgraded it for 1 base unit.
    function test_regression_strangerCannotChangeOrRenewVictimsSubscription() public {
        bytes32 victim = _buy(alice, pro, 1);
        vm.warp(block.timestamp + 1 days);
        IPaymentProcessor.Quote memory down = _quote(bob, basic, 0, address(usdc), 1, victim);
        bytes memory sig = _signQuote(down);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(IPaymentProcessor.NotSubscriber.selector, victim));
        pp.pay(down, sig);
        IPaymentProcessor.Quote memory renew = _quote(bob, pro, 1, address(usdc), PRO_PRICE, victim);
        sig = _signQuote(renew);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(IPaymentProcessor.NotSubscriber.selector, victim));
        pp.pay(renew, sig);
        assertEq(pp.getSubscription(victim).planId, pro, "victim still on pro");
    }

    /// The beneficiary may renew and change the plan (the owner directed access to it).
    function test_beneficiaryMayRenewAndChangePlan() public {
        IPaymentProcessor.Quote memory q = _newQuote(alice, basic, 1);
        q.beneficiary = bob;
        bytes32 id = _payAs(alice, q);
        IPaymentProcessor.Quote memory up = _quote(bob, pro, 1, address(usdc), 0, id);
        (,, up.amount) = pp.previewQuote(up, block.timestamp);
        vm.expectEmit(address(pp));
        emit IPaymentProcessor.PaymentReceived(
            _digest(up), id, bob, bob, address(usdc), up.amount, pro, uint32(block.timestamp), uint32(block.timestamp + 2 * MONTH)
        );
        _payAs(bob, up);
        assertEq(pp.getSubscription(id).planId, pro);
    }

    /// v1: alternating upgrades in one token and downgrades in another turned 30 days into 810.
    function test_regression_planChangeInAnotherTokenReverts() public {
        vm.prank(operator);
        pp.setSale(pro, address(usdt), 10_000_100, true);
        bytes32 id = _buy(alice, basic, 1); // bought in tUSDC
        IPaymentProcessor.Quote memory up = _quote(alice, pro, 0, address(usdt), 1e6, id);
        bytes memory sig = _signQuote(up);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IPaymentProcessor.TokenMismatch.selector, id));
        pp.pay(up, sig);
    }

    /// Any sequence of upgrades and downgrades in the subscription's token, at any prices, never yields more
    /// time-value (at the final plan's price) than was paid: the rounding always favours the house.
    function testFuzz_planChangeCyclesCreateNoValue(uint128 pBasic, uint128 pPro, uint8 cycles, uint32 gap) public {
        pBasic = uint128(bound(pBasic, 1, 1_000e6));
        pPro = uint128(bound(pPro, 1, 1_000e6));
        cycles = uint8(bound(cycles, 1, 6));
        vm.startPrank(operator);
        pp.setSale(basic, address(usdc), pBasic, true);
        pp.setSale(pro, address(usdc), pPro, true);
        vm.stopPrank();
        IPaymentProcessor.Quote memory q = _quote(alice, basic, 1, address(usdc), pBasic, bytes32(0));
        bytes32 id = _payAs(alice, q);
        uint256 spent = pBasic;
        uint16 plan = basic;
        for (uint256 i; i < uint256(cycles) * 2; ++i) {
            vm.warp(block.timestamp + bound(gap, 0, 1 days));
            if (pp.getSubscription(id).end <= block.timestamp) break;
            uint16 next = plan == basic ? pro : basic;
            IPaymentProcessor.Quote memory c = _quote(alice, next, 0, address(usdc), 0, id);
            try pp.previewQuote(c, block.timestamp) returns (uint32, uint32, uint256 due) {
                c.amount = due;
            } catch (bytes memory err) {
                // A downgrade at an extreme price ratio can exceed the uint32 time range: refused, not wrapped.
                assertEq(bytes4(err), IPaymentProcessor.EndOverflow.selector);
                break;
            }
            _payAs(alice, c);
            spent += c.amount;
            plan = next;
        }
        uint256 left = uint256(pp.getSubscription(id).end) - block.timestamp;
        uint256 value = left * (plan == basic ? pBasic : pPro) / MONTH;
        assertLe(value, spent, "time-value created by plan changes");
    }

    /// v1: a fake 6-decimal token with a non-reverting fallback activated a subscription for free.
    function test_regression_authorizationPathsRequireTheTokensToArrive() public {
        FallbackToken fake = new FallbackToken();
        vm.prank(admin);
        pp.setTokenListed(address(fake), true);
        vm.prank(operator);
        pp.setSale(basic, address(fake), BASIC_PRICE, true);
        fake.mint(address(pp), 7); // a balance, so the check is on the delta, not on the total
        IPaymentProcessor.Quote memory q = _quote(alice, basic, 1, address(fake), BASIC_PRICE, bytes32(0));
        bytes memory sig = _signQuote(q);
        vm.prank(relayer);
        vm.expectRevert(abi.encodeWithSelector(IPaymentProcessor.PaymentNotReceived.selector, 7 + BASIC_PRICE, 7));
        pp.payWithAuthorization(q, sig, 0, block.timestamp + 1 hours, 27, bytes32(0), bytes32(0));

        bytes32 nonce = keccak256("n");
        q.quoteId = keccak256(abi.encode(address(fake), alice, nonce));
        sig = _signQuote(q);
        vm.prank(relayer);
        vm.expectRevert(abi.encodeWithSelector(IPaymentProcessor.PaymentNotReceived.selector, 7 + BASIC_PRICE, 7));
        pp.payWithTransferAuthorization(q, sig, 0, block.timestamp + 1 hours, nonce, 27, bytes32(0), bytes32(0));
        assertFalse(pp.isPaid(_digest(q)));
        assertEq(pp.tokenAccount(address(fake)).treasuryOwed, 0, "no fee credited");
    }

    /// v1: a refund retried after a dropped send credited twice. Now a target total: retries credit nothing.
    function test_regression_retriedRefundCreditsOnce() public {
        IPaymentProcessor.Quote memory q = _newQuote(alice, basic, 1);
        bytes32 id = _payAs(alice, q);
        vm.startPrank(operator);
        pp.refund(q, 4e6, false);
        vm.recordLogs();
        pp.refund(q, 4e6, false); // the same refund retried
        assertEq(vm.getRecordedLogs().length, 0, "a retry emits nothing");
        pp.refund(q, 3e6, false); // a stale lower target
        assertEq(pp.refundOwed(alice, address(usdc)), 4e6, "credited once");
        pp.refund(q, 6e6, false); // a raised target credits only the difference
        vm.stopPrank();
        assertEq(pp.refundOwed(alice, address(usdc)), 6e6, "raised to the target");
        assertEq(pp.refundedOf(_digest(q)), 6e6);
        assertTrue(pp.isActive(id), "access kept without endAccess");
    }

    /// v1: a refund left access active. endAccess revokes in the same call (and is idempotent too).
    function test_refundCanEndAccessInTheSameCall() public {
        IPaymentProcessor.Quote memory q = _newQuote(alice, basic, 1);
        bytes32 id = _payAs(alice, q);
        vm.startPrank(operator);
        vm.expectEmit(address(pp));
        emit IPaymentProcessor.RefundIssued(_digest(q), alice, address(usdc), BASIC_PRICE, BASIC_PRICE);
        vm.expectEmit(address(pp));
        emit IPaymentProcessor.SubscriptionRevoked(id, operator, uint32(block.timestamp));
        pp.refund(q, BASIC_PRICE, true);
        pp.refund(q, BASIC_PRICE, true); // retried: no second credit, no second revoke
        vm.stopPrank();
        assertFalse(pp.isActive(id));
        assertEq(uint8(pp.getSubscription(id).status), uint8(IPaymentProcessor.Status.Revoked));
        assertEq(pp.refundOwed(alice, address(usdc)), BASIC_PRICE);
    }

    /// Refunding a renewal ends the subscription it renewed.
    function test_refundOfRenewalEndsItsSubscription() public {
        bytes32 id = _buy(alice, basic, 1);
        IPaymentProcessor.Quote memory r = _quote(alice, basic, 1, address(usdc), BASIC_PRICE, id);
        _payAs(alice, r);
        vm.prank(operator);
        pp.refund(r, 1, true);
        assertFalse(pp.isActive(id));
    }
}
