// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IERC3009} from "@openzeppelin/contracts/interfaces/draft-IERC3009.sol";
import {IERC5267} from "@openzeppelin/contracts/interfaces/IERC5267.sol";
import {IPaymentProcessor} from "../src/interfaces/IPaymentProcessor.sol";
import {LitgateTestBase} from "./Base.t.sol";
import {Token18} from "./mocks/MaliciousToken.sol";

contract PaymentProcessorTest is LitgateTestBase {
    bytes32 internal constant NONCE = keccak256("client nonce");

    // ------------------------------------------------------------------ pay

    function test_pay_createsSubscriptionKeyedByDigestAndEmitsEverything() public {
        IPaymentProcessor.Quote memory q = _newQuote(alice, basic, 2);
        q.beneficiary = bob;
        bytes32 digest = _digest(q);
        assertEq(pp.hashQuote(q), digest, "hashQuote matches an independent EIP-712 encoding");
        vm.expectEmit(address(pp));
        emit IPaymentProcessor.PaymentReceived(
            digest, digest, alice, bob, address(usdc), 2 * BASIC_PRICE, basic, uint32(block.timestamp), uint32(block.timestamp + 2 * MONTH)
        );
        bytes32 id = _payAs(alice, q);
        assertEq(id, digest);
        IPaymentProcessor.SubscriptionInfo memory info = pp.getSubscription(id);
        assertEq(info.owner, alice);
        assertEq(info.beneficiary, bob);
        assertEq(info.token, address(usdc));
        assertEq(info.end - info.start, 2 * MONTH);
        assertTrue(pp.isActive(id));
        assertFalse(pp.isActiveAt(id, info.end));
        assertEq(usdc.balanceOf(address(pp)), 2 * BASIC_PRICE);
        IPaymentProcessor.TokenAccount memory acct = pp.tokenAccount(address(usdc));
        assertEq(acct.operatorOwed, 2 * BASIC_PRICE * FEE_BPS / 10_000);
        assertEq(acct.treasuryOwed, 2 * BASIC_PRICE - acct.operatorOwed);
        assertEq(pp.qosOf(id).requestsPerSecond, 10);
        assertTrue(pp.isPaid(digest));
        IPaymentProcessor.Record memory rec = pp.paymentOf(digest);
        assertEq(rec.owner, alice);
        assertEq(rec.status, uint8(IPaymentProcessor.Status.Live));
        assertEq(rec.tokenId, 1);
    }

    function test_domainIsBoundToChainAndProxy() public view {
        (bytes1 fields, string memory name, string memory version, uint256 chainId, address verifying,,) =
            IERC5267(address(pp)).eip712Domain();
        assertEq(fields, hex"0f");
        assertEq(name, "litgate PaymentProcessor");
        assertEq(version, "2");
        assertEq(chainId, block.chainid);
        assertEq(verifying, address(pp));
        assertEq(
            pp.DOMAIN_SEPARATOR(),
            keccak256(
                abi.encode(
                    keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                    keccak256("litgate PaymentProcessor"),
                    keccak256("2"),
                    block.chainid,
                    address(pp)
                )
            )
        );
    }

    function test_zeroPayerIsRefusedOnRelayedPaths() public {
        IPaymentProcessor.Quote memory q = _newQuote(address(0), basic, 1);
        bytes memory sig = _signQuote(q);
        vm.prank(relayer);
        vm.expectRevert(IPaymentProcessor.ZeroAddress.selector);
        pp.payWithAuthorization(q, sig, 0, block.timestamp + 1 hours, 27, bytes32(0), bytes32(0));
    }

    function test_pay_rejectsReplayWrongPayerExpiryForgeryAndPause() public {
        IPaymentProcessor.Quote memory q = _newQuote(alice, basic, 1);
        bytes memory sig = _signQuote(q);
        vm.prank(bob);
        vm.expectRevert(IPaymentProcessor.PayerMismatch.selector);
        pp.pay(q, sig);
        vm.prank(alice);
        pp.pay(q, sig);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IPaymentProcessor.QuoteAlreadyPaid.selector, _digest(q)));
        pp.pay(q, sig);

        IPaymentProcessor.Quote memory e = _newQuote(alice, basic, 1);
        sig = _signQuote(e);
        vm.warp(e.validUntil + 1);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IPaymentProcessor.QuoteExpired.selector, e.validUntil));
        pp.pay(e, sig);

        IPaymentProcessor.Quote memory f = _newQuote(alice, basic, 1);
        bytes memory bad = _sign(alicePk, _digest(f));
        vm.prank(alice);
        vm.expectRevert(IPaymentProcessor.InvalidQuoteSignature.selector);
        pp.pay(f, bad);
        vm.prank(alice);
        vm.expectRevert(IPaymentProcessor.InvalidQuoteSignature.selector);
        pp.pay(f, hex"00");
        // signed for another chain / another proxy
        vm.prank(alice);
        vm.expectRevert(IPaymentProcessor.InvalidQuoteSignature.selector);
        pp.pay(f, _sign(quoteSignerPk, _digestOn(f, 1, address(pp))));
        vm.prank(alice);
        vm.expectRevert(IPaymentProcessor.InvalidQuoteSignature.selector);
        pp.pay(f, _sign(quoteSignerPk, _digestOn(f, block.chainid, address(0xBEEF))));

        vm.prank(guardian);
        pp.pause();
        sig = _signQuote(f);
        vm.prank(alice);
        vm.expectRevert(IPaymentProcessor.EnforcedPause.selector);
        pp.pay(f, sig);
    }

    function test_pay_enforcesPriceFloorSaleListingAndPeriods() public {
        IPaymentProcessor.Quote memory q = _quote(alice, basic, 1, address(usdc), BASIC_PRICE - 1, bytes32(0));
        bytes memory sig = _signQuote(q);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IPaymentProcessor.AmountBelowPrice.selector, BASIC_PRICE, BASIC_PRICE - 1));
        pp.pay(q, sig);

        q = _quote(alice, weekly, 1, address(usdt), 1e6, bytes32(0));
        sig = _signQuote(q);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IPaymentProcessor.NotOnSale.selector, weekly, address(usdt)));
        pp.pay(q, sig);

        q = _quote(alice, basic, 0, address(usdc), 1e6, bytes32(0));
        sig = _signQuote(q);
        vm.prank(alice);
        vm.expectRevert(IPaymentProcessor.ZeroPeriods.selector);
        pp.pay(q, sig);

        q = _quote(alice, basic, 1, address(usdc), uint256(type(uint112).max) + 1, bytes32(0));
        sig = _signQuote(q);
        vm.prank(alice);
        vm.expectRevert(IPaymentProcessor.AmountOutOfRange.selector);
        pp.pay(q, sig);

        q = _quote(alice, basic, type(uint32).max, address(usdc), type(uint112).max, bytes32(0));
        sig = _signQuote(q);
        vm.prank(alice);
        vm.expectRevert(IPaymentProcessor.EndOverflow.selector);
        pp.pay(q, sig);

        vm.prank(admin);
        pp.setTokenListed(address(usdt), false);
        q = _quote(alice, basic, 1, address(usdt), BASIC_PRICE, bytes32(0));
        sig = _signQuote(q);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IPaymentProcessor.TokenNotListed.selector, address(usdt)));
        pp.pay(q, sig);
    }

    function test_pay_inNonReturningUsdt() public {
        IPaymentProcessor.Quote memory q = _quote(alice, basic, 1, address(usdt), BASIC_PRICE, bytes32(0));
        _payAs(alice, q);
        assertEq(usdt.balanceOf(address(pp)), BASIC_PRICE);
    }

    function test_renewal_stacksAndRestartsWhenLapsed() public {
        bytes32 id = _buy(alice, basic, 1);
        uint32 end0 = pp.getSubscription(id).end;
        _payAs(alice, _quote(alice, basic, 1, address(usdc), BASIC_PRICE, id));
        assertEq(pp.getSubscription(id).end, end0 + MONTH, "stacks");
        vm.warp(end0 + 2 * MONTH);
        _payAs(alice, _quote(alice, basic, 1, address(usdc), BASIC_PRICE, id));
        IPaymentProcessor.SubscriptionInfo memory info = pp.getSubscription(id);
        assertEq(info.start, block.timestamp, "restarts now");
        assertEq(info.end, block.timestamp + MONTH);

        IPaymentProcessor.Quote memory z = _quote(alice, basic, 0, address(usdc), BASIC_PRICE, id);
        bytes memory sig = _signQuote(z);
        vm.prank(alice);
        vm.expectRevert(IPaymentProcessor.ZeroPeriods.selector);
        pp.pay(z, sig);
        // a lapsed plan change needs periods too
        vm.warp(info.end + 1);
        z = _quote(alice, pro, 0, address(usdc), PRO_PRICE, id);
        sig = _signQuote(z);
        vm.prank(alice);
        vm.expectRevert(IPaymentProcessor.ZeroPeriods.selector);
        pp.pay(z, sig);
        z.periods = 1;
        _payAs(alice, z);
        assertEq(pp.getSubscription(id).planId, pro);
    }

    function test_planChange_upgradeChargesDifferenceDowngradeAddsTime() public {
        bytes32 id = _buy(alice, basic, 1);
        vm.warp(block.timestamp + 10 days);
        IPaymentProcessor.Quote memory up = _quote(alice, pro, 0, address(usdc), 0, id);
        (uint32 start, uint32 end, uint256 due) = pp.previewQuote(up, block.timestamp);
        // 20 days left at (30 - 10)/30 days per second, rounded up
        assertEq(due, (uint256(20 days) * (PRO_PRICE - BASIC_PRICE) + MONTH - 1) / MONTH);
        assertEq(end, pp.getSubscription(id).end);
        up.amount = due;
        _payAs(alice, up);
        assertEq(pp.getSubscription(id).start, start);

        IPaymentProcessor.Quote memory down = _quote(alice, weekly, 0, address(usdc), 0, id);
        (, uint32 end2, uint256 due2) = pp.previewQuote(down, block.timestamp);
        assertEq(due2, 0);
        // 20 days of pro (1e6/day) buy 20 * 1e6 / (3e6 / 7 days) = 46.67 days of weekly, rounded down
        assertEq(end2, block.timestamp + uint256(20 days) * PRO_PRICE * 7 days / (uint256(WEEKLY_PRICE) * MONTH));
        _payAs(alice, down);
        assertEq(pp.getSubscription(id).end, end2);
    }

    function test_renewal_requiresLiveSubscription() public {
        bytes32 id = _buy(alice, basic, 1);
        IPaymentProcessor.Quote memory r = _quote(alice, basic, 1, address(usdc), BASIC_PRICE, id);
        bytes32 renewalDigest = _digest(r);
        _payAs(alice, r);
        // a payment record is not a subscription
        IPaymentProcessor.Quote memory x = _quote(alice, basic, 1, address(usdc), BASIC_PRICE, renewalDigest);
        bytes memory sig = _signQuote(x);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IPaymentProcessor.SubscriptionNotLive.selector, renewalDigest));
        pp.pay(x, sig);
        vm.prank(alice);
        pp.cancel(id);
        x = _quote(alice, basic, 1, address(usdc), BASIC_PRICE, id);
        sig = _signQuote(x);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IPaymentProcessor.SubscriptionNotLive.selector, id));
        pp.pay(x, sig);
        assertTrue(pp.isActive(id), "cancel runs to the end");
        assertFalse(pp.isActive(renewalDigest));
    }

    // ------------------------------------------------------------------ permit and EIP-3009 receive

    function test_payWithPermit_andFrontRunPermitStillPays() public {
        vm.prank(bob);
        usdc.approve(address(pp), 0);
        IPaymentProcessor.Quote memory q = _newQuote(bob, basic, 1);
        bytes memory sig = _signQuote(q);
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _permitSig(bobPk, bob, q.amount, deadline);
        usdc.permit(bob, address(pp), q.amount, deadline, v, r, s); // front-run by someone
        vm.prank(bob);
        pp.payWithPermit(q, sig, deadline, v, r, s);
        assertTrue(pp.isPaid(_digest(q)));
        vm.prank(alice);
        vm.expectRevert(IPaymentProcessor.PayerMismatch.selector);
        pp.payWithPermit(q, sig, deadline, v, r, s);
    }

    function test_payWithAuthorization_relayedAndBoundToTheQuote() public {
        IPaymentProcessor.Quote memory q = _newQuote(bob, basic, 1);
        bytes memory sig = _signQuote(q);
        uint256 vb = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _authSig(RECEIVE_TYPEHASH, bobPk, bob, q.amount, vb, _digest(q));
        // the same authorization cannot pay a different quote (its nonce is this quote's digest)
        IPaymentProcessor.Quote memory other = _newQuote(bob, basic, 1);
        bytes memory otherSig = _signQuote(other);
        vm.prank(relayer);
        vm.expectRevert(abi.encodeWithSignature("ERC3009InvalidSignature()"));
        pp.payWithAuthorization(other, otherSig, 0, vb, v, r, s);
        vm.prank(relayer);
        bytes32 id = pp.payWithAuthorization(q, sig, 0, vb, v, r, s);
        assertEq(pp.getSubscription(id).owner, bob);
        assertEq(usdc.balanceOf(address(pp)), q.amount);
    }

    // ------------------------------------------------------------------ x402 / MPP transferWithAuthorization

    function test_payWithTransferAuthorization_paysOnceAndBindsQuoteId() public {
        IPaymentProcessor.Quote memory q = _x402Quote(bob, basic, NONCE);
        bytes memory sig = _signQuote(q);
        uint256 vb = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _authSig(TRANSFER_TYPEHASH, bobPk, bob, q.amount, vb, NONCE);
        // a quote id not bound to (token, payer, nonce) is refused
        IPaymentProcessor.Quote memory unbound = _newQuote(bob, basic, 1);
        bytes memory unboundSig = _signQuote(unbound);
        vm.prank(relayer);
        vm.expectRevert(IPaymentProcessor.AuthorizationMismatch.selector);
        pp.payWithTransferAuthorization(unbound, unboundSig, 0, vb, NONCE, v, r, s);

        vm.prank(relayer);
        bytes32 id = pp.payWithTransferAuthorization(q, sig, 0, vb, NONCE, v, r, s);
        assertEq(pp.getSubscription(id).owner, bob);
        assertTrue(pp.isAuthorizationSettled(q.quoteId));
        // a second quote with the same binding (another amount/plan) cannot use the authorization again
        IPaymentProcessor.Quote memory again = _x402Quote(bob, pro, NONCE);
        bytes memory againSig = _signQuote(again);
        vm.prank(relayer);
        vm.expectRevert(abi.encodeWithSelector(IPaymentProcessor.AuthorizationAlreadySettled.selector, q.quoteId));
        pp.payWithTransferAuthorization(again, againSig, 0, vb, NONCE, v, r, s);
        vm.prank(quoteSigner);
        vm.expectRevert(abi.encodeWithSelector(IPaymentProcessor.AuthorizationAlreadySettled.selector, q.quoteId));
        pp.honourTransferAuthorization(again, NONCE);
    }

    /// Someone submits the client's authorization to the token first: funds arrive unrecorded; the gateway's
    /// signer honours it once, and only with the funds there and the nonce used.
    function test_frontRunTransferAuthorization_isHonouredOnceBySigner() public {
        IPaymentProcessor.Quote memory q = _x402Quote(bob, basic, NONCE);
        uint256 vb = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _authSig(TRANSFER_TYPEHASH, bobPk, bob, q.amount, vb, NONCE);

        vm.prank(quoteSigner);
        vm.expectRevert(abi.encodeWithSelector(IPaymentProcessor.AuthorizationNotUsed.selector, q.quoteId));
        pp.honourTransferAuthorization(q, NONCE);

        IERC3009(address(usdc)).transferWithAuthorization(bob, address(pp), q.amount, 0, vb, NONCE, v, r, s);
        assertEq(pp.unrecorded(address(usdc)), q.amount);

        bytes memory sig = _signQuote(q);
        vm.prank(relayer);
        vm.expectRevert(abi.encodeWithSignature("ERC3009UsedAuthorization(address,bytes32)", bob, NONCE));
        pp.payWithTransferAuthorization(q, sig, 0, vb, NONCE, v, r, s);

        vm.prank(relayer);
        vm.expectRevert(IPaymentProcessor.NotQuoteSigner.selector);
        pp.honourTransferAuthorization(q, NONCE);

        IPaymentProcessor.Quote memory tooMuch = _x402Quote(bob, basic, NONCE);
        tooMuch.amount = q.amount + 1;
        vm.prank(quoteSigner);
        vm.expectRevert(abi.encodeWithSelector(IPaymentProcessor.UnrecordedFundsTooLow.selector, q.amount, q.amount + 1));
        pp.honourTransferAuthorization(tooMuch, NONCE);

        vm.prank(quoteSigner);
        bytes32 id = pp.honourTransferAuthorization(q, NONCE);
        assertTrue(pp.isActive(id));
        assertEq(pp.unrecorded(address(usdc)), 0, "now recorded");
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(IPaymentProcessor.AuthorizationAlreadySettled.selector, q.quoteId));
        pp.refundUnrecorded(address(usdc), bob, NONCE, q.amount);

        vm.prank(guardian);
        pp.pause();
        vm.prank(quoteSigner);
        vm.expectRevert(IPaymentProcessor.EnforcedPause.selector);
        pp.honourTransferAuthorization(q, NONCE);
    }

    function test_frontRunTransferAuthorization_canBeRefundedByOperatorInstead() public {
        uint256 value = 7e6;
        uint256 vb = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _authSig(TRANSFER_TYPEHASH, bobPk, bob, value, vb, NONCE);
        bytes32 quoteId = keccak256(abi.encode(address(usdc), bob, NONCE));
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(IPaymentProcessor.AuthorizationNotUsed.selector, quoteId));
        pp.refundUnrecorded(address(usdc), bob, NONCE, value);
        IERC3009(address(usdc)).transferWithAuthorization(bob, address(pp), value, 0, vb, NONCE, v, r, s);

        vm.prank(relayer);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, relayer, OPERATOR_ROLE));
        pp.refundUnrecorded(address(usdc), bob, NONCE, value);
        vm.startPrank(operator);
        vm.expectRevert(IPaymentProcessor.AmountOutOfRange.selector);
        pp.refundUnrecorded(address(usdc), bob, NONCE, 0);
        vm.expectRevert(abi.encodeWithSelector(IPaymentProcessor.UnrecordedFundsTooLow.selector, value, value + 1));
        pp.refundUnrecorded(address(usdc), bob, NONCE, value + 1);
        vm.expectEmit(address(pp));
        emit IPaymentProcessor.UnrecordedPaymentRefunded(quoteId, bob, address(usdc), NONCE, value);
        pp.refundUnrecorded(address(usdc), bob, NONCE, value);
        vm.stopPrank();
        assertEq(pp.unrecorded(address(usdc)), 0);
        uint256 before = usdc.balanceOf(bob);
        vm.prank(bob);
        pp.withdrawRefund(address(usdc));
        assertEq(usdc.balanceOf(bob), before + value);
    }

    // ------------------------------------------------------------------ refunds and withdrawals

    function test_refund_boundsWaterfallAndRoles() public {
        IPaymentProcessor.Quote memory q = _newQuote(alice, basic, 1);
        _payAs(alice, q);
        vm.startPrank(operator);
        vm.expectRevert(abi.encodeWithSelector(IPaymentProcessor.RefundExceedsPayment.selector, BASIC_PRICE));
        pp.refund(q, BASIC_PRICE + 1, false);
        IPaymentProcessor.Quote memory unpaid = _newQuote(alice, basic, 1);
        vm.expectRevert(abi.encodeWithSelector(IPaymentProcessor.UnknownPayment.selector, _digest(unpaid)));
        pp.refund(unpaid, 1, false);
        // a tampered quote (another amount) is another digest: unknown
        IPaymentProcessor.Quote memory tampered = _newQuote(alice, basic, 1);
        tampered.quoteId = q.quoteId;
        tampered.validUntil = q.validUntil;
        tampered.amount = 2 * BASIC_PRICE;
        vm.expectRevert(abi.encodeWithSelector(IPaymentProcessor.UnknownPayment.selector, _digest(tampered)));
        pp.refund(tampered, 2 * BASIC_PRICE, false);
        vm.stopPrank();

        vm.prank(treasury);
        pp.withdrawFees(address(usdc)); // treasury's 80 % gone: a full refund now needs the operator's share too
        vm.prank(operator);
        vm.expectRevert(IPaymentProcessor.InsufficientFeeBalance.selector);
        pp.refund(q, BASIC_PRICE, false);
        vm.prank(operator);
        pp.refund(q, BASIC_PRICE * FEE_BPS / 10_000, false);
        assertEq(pp.tokenAccount(address(usdc)).operatorOwed, 0);
        assertEq(pp.refundsPending(address(usdc)), BASIC_PRICE * FEE_BPS / 10_000);

        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, alice, OPERATOR_ROLE));
        pp.refund(q, 1, false);
    }

    function test_withdrawals() public {
        IPaymentProcessor.Quote memory q = _newQuote(alice, basic, 1);
        _payAs(alice, q);
        vm.prank(operator);
        pp.refund(q, 1e6, false);
        vm.prank(bob);
        vm.expectRevert(IPaymentProcessor.NothingToWithdraw.selector);
        pp.withdrawRefund(address(usdc));
        vm.prank(bob);
        vm.expectRevert(IPaymentProcessor.NotPayee.selector);
        pp.withdrawFees(address(usdc));

        vm.prank(guardian);
        pp.pause();
        vm.prank(alice);
        vm.expectRevert(IPaymentProcessor.EnforcedPause.selector);
        pp.withdrawRefund(address(usdc));
        vm.prank(treasury);
        vm.expectRevert(IPaymentProcessor.EnforcedPause.selector);
        pp.withdrawFees(address(usdc));
        vm.prank(admin);
        pp.unpause();

        vm.expectEmit(address(pp));
        emit IPaymentProcessor.RefundWithdrawn(alice, address(usdc), 1e6);
        vm.prank(alice);
        pp.withdrawRefund(address(usdc));
        uint256 opShare = BASIC_PRICE * FEE_BPS / 10_000;
        vm.expectEmit(address(pp));
        emit IPaymentProcessor.FeesWithdrawn(operatorPayee, address(usdc), opShare, 0);
        vm.prank(operatorPayee);
        pp.withdrawFees(address(usdc));
        vm.prank(operatorPayee);
        vm.expectRevert(IPaymentProcessor.NothingToWithdraw.selector);
        pp.withdrawFees(address(usdc));
        // one address as both payees takes both buckets
        vm.prank(admin);
        pp.setPayees(treasury, treasury);
        vm.expectEmit(address(pp));
        emit IPaymentProcessor.FeesWithdrawn(treasury, address(usdc), 0, BASIC_PRICE - opShare - 1e6);
        vm.prank(treasury);
        pp.withdrawFees(address(usdc));
        assertEq(usdc.balanceOf(address(pp)), 0);
    }

    // ------------------------------------------------------------------ subscription management

    function test_cancelRevokeBeneficiary() public {
        bytes32 id = _buy(alice, basic, 1);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(IPaymentProcessor.NotSubscriptionOwner.selector, id));
        pp.cancel(id);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(IPaymentProcessor.NotSubscriptionOwner.selector, id));
        pp.setBeneficiary(id, bob);
        vm.expectEmit(address(pp));
        emit IPaymentProcessor.BeneficiaryChanged(id, bob);
        vm.prank(alice);
        pp.setBeneficiary(id, bob);
        assertEq(pp.getSubscription(id).beneficiary, bob);
        vm.prank(alice);
        pp.setBeneficiary(id, alice);
        assertEq(pp.getSubscription(id).beneficiary, alice);

        vm.prank(operator);
        pp.cancel(id);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IPaymentProcessor.SubscriptionNotLive.selector, id));
        pp.cancel(id);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IPaymentProcessor.SubscriptionNotLive.selector, id));
        pp.setBeneficiary(id, bob);

        vm.warp(block.timestamp + 1 days);
        vm.expectEmit(address(pp));
        emit IPaymentProcessor.SubscriptionRevoked(id, operator, uint32(block.timestamp));
        vm.prank(operator);
        pp.revoke(id);
        assertFalse(pp.isActive(id));
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(IPaymentProcessor.SubscriptionNotLive.selector, id));
        pp.revoke(id);
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(IPaymentProcessor.UnknownSubscription.selector, bytes32(uint256(1))));
        pp.revoke(bytes32(uint256(1)));
        vm.expectRevert(abi.encodeWithSelector(IPaymentProcessor.UnknownSubscription.selector, bytes32(uint256(1))));
        pp.getSubscription(bytes32(uint256(1)));
    }

    function test_revokeOfLapsedKeepsItsEnd() public {
        bytes32 id = _buy(alice, basic, 1);
        uint32 end = pp.getSubscription(id).end;
        vm.warp(end + 5);
        vm.prank(operator);
        pp.revoke(id);
        assertEq(pp.getSubscription(id).end, end);
    }

    // ------------------------------------------------------------------ plans, sales, configuration

    function test_plansAndSales() public {
        vm.startPrank(operator);
        vm.expectRevert(IPaymentProcessor.InvalidPeriod.selector);
        pp.createPlan(_qos(1, 1), 0);
        vm.expectRevert(abi.encodeWithSelector(IPaymentProcessor.UnknownPlan.selector, 99));
        pp.setPlanQoS(99, _qos(1, 1));
        vm.expectRevert(abi.encodeWithSelector(IPaymentProcessor.TokenNotListed.selector, address(0xBEEF)));
        pp.setSale(basic, address(0xBEEF), 1, true);
        vm.expectRevert(IPaymentProcessor.InvalidPrice.selector);
        pp.setSale(basic, address(usdc), 0, true);
        vm.expectEmit(address(pp));
        emit IPaymentProcessor.PlanQoSSet(basic, _qos(20, 2));
        pp.setPlanQoS(basic, _qos(20, 2));
        vm.expectEmit(address(pp));
        emit IPaymentProcessor.SaleSet(basic, address(usdc), 5e6, MONTH, false);
        pp.setSale(basic, address(usdc), 5e6, false);
        vm.stopPrank();
        assertEq(pp.getPlan(basic).qos.requestsPerSecond, 20);
        assertEq(pp.sale(basic, address(usdc)).price, 5e6);
        assertEq(pp.planCount(), 3);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, alice, OPERATOR_ROLE));
        pp.createPlan(_qos(1, 1), 1);
    }

    function test_tooManyPlans() public {
        // slot 2 of the namespace packs treasury (160) | planCount (16) | tokenCount (8)
        bytes32 slot = bytes32(uint256(0x827e1fbbd91937e867f9076acbba2fc1b2a1331b9f1b8e47224216f7259c2c00) + 2);
        vm.store(address(pp), slot, vm.load(address(pp), slot) | bytes32(uint256(type(uint16).max) << 160));
        assertEq(pp.planCount(), type(uint16).max);
        vm.prank(operator);
        vm.expectRevert(IPaymentProcessor.TooManyPlans.selector);
        pp.createPlan(_qos(1, 1), 1);
    }

    function test_adminConfigurationEmitsEvents() public {
        vm.startPrank(admin);
        vm.expectEmit(address(pp));
        emit IPaymentProcessor.QuoteSignerSet(quoteSigner, bob);
        pp.setQuoteSigner(bob);
        vm.expectEmit(address(pp));
        emit IPaymentProcessor.FeeSplitSet(10_000);
        pp.setFeeSplit(10_000);
        vm.expectRevert(IPaymentProcessor.InvalidFeeSplit.selector);
        pp.setFeeSplit(10_001);
        vm.expectRevert(IPaymentProcessor.ZeroAddress.selector);
        pp.setPayees(address(0), treasury);
        vm.expectRevert(IPaymentProcessor.ZeroAddress.selector);
        pp.setPayees(treasury, address(0));
        Token18 t18 = new Token18();
        vm.expectRevert(abi.encodeWithSelector(IPaymentProcessor.TokenNot6Decimals.selector, address(t18)));
        pp.setTokenListed(address(t18), true);
        vm.expectRevert(abi.encodeWithSelector(IPaymentProcessor.TokenNot6Decimals.selector, address(0xBEEF)));
        pp.setTokenListed(address(0xBEEF), true);
        vm.expectEmit(address(pp));
        emit IPaymentProcessor.TokenListed(address(usdt), 2, false);
        pp.setTokenListed(address(usdt), false);
        pp.setTokenListed(address(usdt), true); // keeps its id
        assertEq(pp.tokenAccount(address(usdt)).id, 2);
        assertEq(pp.tokenById(2), address(usdt));
        vm.expectRevert(IPaymentProcessor.ExpectedPause.selector);
        pp.unpause();
        vm.stopPrank();
        assertEq(pp.config().quoteSigner, bob);
        (address op, address tr) = pp.payees();
        assertEq(op, operatorPayee);
        assertEq(tr, treasury);

        vm.prank(guardian);
        pp.pause();
        assertTrue(pp.paused());
        vm.prank(guardian);
        vm.expectRevert(IPaymentProcessor.EnforcedPause.selector);
        pp.pause();
        vm.prank(guardian);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, guardian, ADMIN_ROLE));
        pp.unpause();
    }

    function test_tooManyTokens() public {
        bytes32 slot = bytes32(uint256(0x827e1fbbd91937e867f9076acbba2fc1b2a1331b9f1b8e47224216f7259c2c00) + 2);
        vm.store(address(pp), slot, vm.load(address(pp), slot) | bytes32(uint256(type(uint8).max) << 176));
        Token18 t = new Token18();
        vm.mockCall(address(t), abi.encodeWithSignature("decimals()"), abi.encode(uint8(6)));
        vm.prank(admin);
        vm.expectRevert(IPaymentProcessor.TooManyTokens.selector);
        pp.setTokenListed(address(t), true);
    }

    /// Any amount at or above the price and any split: the buckets add up to the amount, the operator gets
    /// floor(amount * bps / 10000), and a quote is payable exactly until its validUntil (inclusive).
    function testFuzz_pay_feeSplitAndExpiry(uint96 extra, uint16 bps, uint32 delay) public {
        bps = uint16(bound(bps, 0, 10_000));
        vm.prank(admin);
        pp.setFeeSplit(bps);
        IPaymentProcessor.Quote memory q = _quote(alice, basic, 1, address(usdc), uint256(BASIC_PRICE) + extra % 1e12, bytes32(0));
        bytes memory sig = _signQuote(q);
        uint256 at = block.timestamp + bound(delay, 0, 10 minutes);
        vm.warp(at);
        vm.prank(alice);
        if (at > q.validUntil) {
            vm.expectRevert(abi.encodeWithSelector(IPaymentProcessor.QuoteExpired.selector, q.validUntil));
            pp.pay(q, sig);
            return;
        }
        pp.pay(q, sig);
        IPaymentProcessor.TokenAccount memory acct = pp.tokenAccount(address(usdc));
        assertEq(acct.operatorOwed, q.amount * bps / 10_000);
        assertEq(uint256(acct.operatorOwed) + acct.treasuryOwed, q.amount);
        assertEq(usdc.balanceOf(address(pp)), q.amount);
    }

    function test_zeroSignerStopsQuotePayments() public {
        vm.prank(admin);
        pp.setQuoteSigner(address(0));
        IPaymentProcessor.Quote memory q = _newQuote(alice, basic, 1);
        bytes memory sig = _signQuote(q);
        vm.prank(alice);
        vm.expectRevert(IPaymentProcessor.InvalidQuoteSignature.selector);
        pp.pay(q, sig);
    }
}
