// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {ERC1967Proxy} from "@openzeppelin/contracts/proxy/ERC1967/ERC1967Proxy.sol";
import {ERC3009} from "@openzeppelin/contracts/token/ERC20/extensions/draft-ERC3009.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Initializable} from "@openzeppelin/contracts-upgradeable/proxy/utils/Initializable.sol";
import {PaymentProcessor} from "../src/PaymentProcessor.sol";
import {IPaymentProcessor} from "../src/interfaces/IPaymentProcessor.sol";
import {ISubscriptionManager} from "../src/interfaces/ISubscriptionManager.sol";
import {TestUSDT} from "../src/tokens/TestUSDT.sol";
import {LitgateUpgradeable} from "../src/utils/LitgateUpgradeable.sol";
import {LitgateTestBase} from "./Base.t.sol";
import {Token18} from "./mocks/MaliciousToken.sol";

contract PaymentProcessorTest is LitgateTestBase {
    bytes32 internal constant PP_ROOT = 0x827e1fbbd91937e867f9076acbba2fc1b2a1331b9f1b8e47224216f7259c2c00;

    // ------------------------------------------------------------------ initialisation

    function test_initialize_setsConfigAndRoles() public view {
        PaymentProcessor.Config memory cfg = pp.config();
        assertEq(cfg.subscriptionManager, address(sm));
        assertEq(cfg.operatorFeeBps, FEE_BPS);
        assertFalse(cfg.paused);
        assertEq(cfg.tokenCount, 2);
        (address op, address tr) = pp.payees();
        assertEq(op, operatorPayee);
        assertEq(tr, treasury);
        assertTrue(pp.hasRole(ADMIN_ROLE, admin));
        assertTrue(pp.hasRole(UPGRADER_ROLE, upgrader));
        assertTrue(pp.hasRole(GUARDIAN_ROLE, guardian));
        assertTrue(pp.hasRole(QUOTE_SIGNER_ROLE, quoteSigner));
        assertEq(pp.tokenById(1), address(usdc));
        assertEq(pp.tokenById(2), address(usdt));
        PaymentProcessor.TokenAccount memory acct = pp.tokenAccount(address(usdt));
        assertTrue(acct.accepted);
        assertEq(acct.id, 2);
        assertTrue(_roleConstantsMatch());
    }

    function _params() internal view returns (PaymentProcessor.InitParams memory p) {
        p = PaymentProcessor.InitParams({
            admin: admin,
            upgrader: upgrader,
            guardian: address(0),
            quoteSigner: address(0),
            subscriptionManager: address(sm),
            operatorPayee: operatorPayee,
            treasury: treasury,
            operatorFeeBps: 0,
            acceptedTokens: new address[](0)
        });
    }

    function _deploy(PaymentProcessor.InitParams memory p) internal returns (PaymentProcessor) {
        return PaymentProcessor(address(new ERC1967Proxy(address(ppImpl), abi.encodeCall(PaymentProcessor.initialize, (p)))));
    }

    function test_initialize_optionalRolesMayBeUnset() public {
        PaymentProcessor fresh = _deploy(_params());
        assertFalse(fresh.hasRole(GUARDIAN_ROLE, address(0)));
        assertFalse(fresh.hasRole(QUOTE_SIGNER_ROLE, address(0)));
        assertEq(fresh.config().tokenCount, 0);
    }

    function test_initialize_rejectsBadParams() public {
        PaymentProcessor.InitParams memory p = _params();
        p.admin = address(0);
        vm.expectRevert(LitgateUpgradeable.ZeroAddress.selector);
        _deploy(p);
        p = _params();
        p.upgrader = address(0);
        vm.expectRevert(LitgateUpgradeable.ZeroAddress.selector);
        _deploy(p);
        p = _params();
        p.subscriptionManager = address(0);
        vm.expectRevert(LitgateUpgradeable.ZeroAddress.selector);
        _deploy(p);
        p = _params();
        p.treasury = address(0);
        vm.expectRevert(LitgateUpgradeable.ZeroAddress.selector);
        _deploy(p);
        p = _params();
        p.operatorPayee = address(0);
        vm.expectRevert(LitgateUpgradeable.ZeroAddress.selector);
        _deploy(p);
        p = _params();
        p.operatorFeeBps = 10_001;
        vm.expectRevert(IPaymentProcessor.InvalidFeeSplit.selector);
        _deploy(p);
    }

    function test_initialize_onlyOnce() public {
        vm.expectRevert(Initializable.InvalidInitialization.selector);
        pp.initialize(_params());
        vm.expectRevert(Initializable.InvalidInitialization.selector);
        ppImpl.initialize(_params());
    }

    // ------------------------------------------------------------------ pay: new subscription

    function test_pay_createsSubscriptionSplitsFeesAndEmits() public {
        IPaymentProcessor.Quote memory q = _newQuote(alice, basic, 2);
        bytes memory sig = _signQuote(q);
        uint40 end = uint40(block.timestamp) + 2 * MONTH;
        vm.expectEmit(address(sm));
        emit ISubscriptionManager.SubscriptionCreated(1, alice, alice, basic, uint40(block.timestamp), end);
        vm.expectEmit(address(pp));
        emit IPaymentProcessor.PaymentReceived(q.quoteId, alice, 1, address(usdc), 20e6, basic, 2, end);
        vm.prank(alice);
        uint256 id = pp.pay(q, sig);

        assertEq(id, 1);
        assertTrue(sm.isActive(id));
        assertEq(sm.ownerOf(id), alice);
        assertEq(usdc.balanceOf(address(pp)), 20e6);
        assertEq(usdc.balanceOf(alice), 1_000_000e6 - 20e6);
        PaymentProcessor.TokenAccount memory acct = pp.tokenAccount(address(usdc));
        assertEq(acct.operatorOwed, 4e6);
        assertEq(acct.treasuryOwed, 16e6);
        assertTrue(pp.isQuotePaid(q.quoteId));
        IPaymentProcessor.Payment memory p = pp.paymentOf(q.quoteId);
        assertEq(p.payer, alice);
        assertEq(p.amount, 20e6);
        assertEq(p.tokenId, 1);
    }

    function test_pay_withBeneficiaryAndOverpayment() public {
        IPaymentProcessor.Quote memory q = _quote(alice, basic, 1, address(usdc), BASIC_PRICE + 5, 0);
        q.beneficiary = bob;
        bytes memory sig = _signQuote(q);
        vm.prank(alice);
        uint256 id = pp.pay(q, sig);
        ISubscriptionManager.SubscriptionInfo memory info = sm.getSubscription(id);
        assertEq(info.owner, alice);
        assertEq(info.beneficiary, bob);
        assertEq(usdc.balanceOf(address(pp)), BASIC_PRICE + 5);
    }

    function test_pay_inNonReturningUsdt() public {
        IPaymentProcessor.Quote memory q = _quote(alice, pro, 1, address(usdt), PRO_PRICE, 0);
        bytes memory sig = _signQuote(q);
        vm.prank(alice);
        pp.pay(q, sig);
        assertEq(usdt.balanceOf(address(pp)), PRO_PRICE);
        assertEq(pp.paymentOf(q.quoteId).tokenId, 2);
    }

    function test_pay_failingUsdtTransferReverts() public {
        IPaymentProcessor.Quote memory q = _quote(bob, pro, 1, address(usdt), PRO_PRICE, 0); // bob never approved USDT
        bytes memory sig = _signQuote(q);
        vm.prank(bob);
        vm.expectRevert(TestUSDT.InsufficientAllowance.selector);
        pp.pay(q, sig);
        assertFalse(pp.isQuotePaid(q.quoteId), "the whole payment reverted");
    }

    // ------------------------------------------------------------------ pay: renew and change plan

    function test_pay_renewsExistingSubscription() public {
        uint256 id = _buy(alice, basic, 1);
        uint40 end = sm.getSubscription(id).end;
        vm.warp(block.timestamp + 20 days);
        IPaymentProcessor.Quote memory q = _quote(alice, basic, 3, address(usdc), 3 * BASIC_PRICE, id);
        bytes memory sig = _signQuote(q);
        vm.expectEmit(address(pp));
        emit IPaymentProcessor.PaymentReceived(q.quoteId, alice, id, address(usdc), 30e6, basic, 3, end + 3 * MONTH);
        vm.prank(alice);
        assertEq(pp.pay(q, sig), id);
        assertEq(sm.getSubscription(id).end, end + 3 * MONTH);
    }

    function test_pay_someoneElseCanRenewAsGift() public {
        uint256 id = _buy(alice, basic, 1);
        IPaymentProcessor.Quote memory q = _quote(bob, basic, 1, address(usdc), BASIC_PRICE, id);
        bytes memory sig = _signQuote(q);
        vm.prank(bob);
        pp.pay(q, sig);
        assertEq(sm.ownerOf(id), alice, "ownership unchanged");
    }

    function test_pay_upgradeChargesProratedDifference() public {
        uint256 id = _buy(alice, basic, 1);
        uint40 end = sm.getSubscription(id).end;
        vm.warp(block.timestamp + 15 days);
        (,, uint256 due) = sm.previewChangePlan(id, pro, 0, address(usdc), block.timestamp);
        assertEq(due, 10e6);
        IPaymentProcessor.Quote memory low = _quote(alice, pro, 0, address(usdc), due - 1, id);
        bytes memory lowSig = _signQuote(low);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IPaymentProcessor.AmountBelowPrice.selector, due, due - 1));
        pp.pay(low, lowSig);

        IPaymentProcessor.Quote memory q = _quote(alice, pro, 0, address(usdc), due, id);
        bytes memory sig = _signQuote(q);
        vm.expectEmit(address(pp));
        emit IPaymentProcessor.PaymentReceived(q.quoteId, alice, id, address(usdc), due, pro, 0, end);
        vm.prank(alice);
        pp.pay(q, sig);
        assertEq(sm.planOf(id), pro);
    }

    // ------------------------------------------------------------------ pay: reverts

    function test_pay_revertsForNonPayer() public {
        IPaymentProcessor.Quote memory q = _newQuote(alice, basic, 1);
        bytes memory sig = _signQuote(q);
        vm.prank(bob);
        vm.expectRevert(IPaymentProcessor.PayerMismatch.selector);
        pp.pay(q, sig);
    }

    function test_pay_expiredQuote() public {
        IPaymentProcessor.Quote memory q = _newQuote(alice, basic, 1);
        bytes memory sig = _signQuote(q);
        vm.warp(q.validUntil); // still valid at validUntil (inclusive)
        vm.prank(alice);
        pp.pay(q, sig);

        q = _newQuote(alice, basic, 1);
        sig = _signQuote(q);
        vm.warp(q.validUntil + 1);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IPaymentProcessor.QuoteExpired.selector, q.validUntil));
        pp.pay(q, sig);
    }

    function test_pay_replayedQuote() public {
        IPaymentProcessor.Quote memory q = _newQuote(alice, basic, 1);
        bytes memory sig = _signQuote(q);
        vm.prank(alice);
        pp.pay(q, sig);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IPaymentProcessor.QuoteAlreadyPaid.selector, q.quoteId));
        pp.pay(q, sig);
    }

    function test_pay_forgedSignatures() public {
        IPaymentProcessor.Quote memory q = _newQuote(alice, basic, 1);
        // signed by a key without QUOTE_SIGNER_ROLE (the payer itself)
        bytes memory sig = _sign(alicePk, _quoteDigest(q, block.chainid, address(pp)));
        vm.prank(alice);
        vm.expectRevert(IPaymentProcessor.InvalidQuoteSignature.selector);
        pp.pay(q, sig);

        // valid signature, tampered price
        sig = _signQuote(q);
        q.amount = 1;
        vm.prank(alice);
        vm.expectRevert(IPaymentProcessor.InvalidQuoteSignature.selector);
        pp.pay(q, sig);

        // tampered periods and plan
        q.amount = BASIC_PRICE;
        q.periods = 12;
        vm.prank(alice);
        vm.expectRevert(IPaymentProcessor.InvalidQuoteSignature.selector);
        pp.pay(q, sig);

        // malformed: wrong length, and a high-s (malleable) variant of a valid signature
        q.periods = 1;
        vm.prank(alice);
        vm.expectRevert(IPaymentProcessor.InvalidQuoteSignature.selector);
        pp.pay(q, hex"1234");
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(quoteSignerPk, _quoteDigest(q, block.chainid, address(pp)));
        bytes32 highS = bytes32(0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141 - uint256(s));
        vm.prank(alice);
        vm.expectRevert(IPaymentProcessor.InvalidQuoteSignature.selector);
        pp.pay(q, abi.encodePacked(r, highS, v == 27 ? uint8(28) : uint8(27)));
    }

    function test_pay_crossChainAndCrossContractSignaturesRejected() public {
        IPaymentProcessor.Quote memory q = _newQuote(alice, basic, 1);
        bytes memory otherChain = _sign(quoteSignerPk, _quoteDigest(q, 4441, address(pp)));
        assertTrue(block.chainid != 4441);
        vm.prank(alice);
        vm.expectRevert(IPaymentProcessor.InvalidQuoteSignature.selector);
        pp.pay(q, otherChain);

        bytes memory otherContract = _sign(quoteSignerPk, _quoteDigest(q, block.chainid, address(0xbeef)));
        vm.prank(alice);
        vm.expectRevert(IPaymentProcessor.InvalidQuoteSignature.selector);
        pp.pay(q, otherContract);

        // The same signature replayed on a fork with another chain id fails too.
        bytes memory sig = _signQuote(q);
        vm.chainId(4441);
        vm.prank(alice);
        vm.expectRevert(IPaymentProcessor.InvalidQuoteSignature.selector);
        pp.pay(q, sig);
    }

    function test_pay_revokedSignerRejected() public {
        IPaymentProcessor.Quote memory q = _newQuote(alice, basic, 1);
        bytes memory sig = _signQuote(q);
        vm.prank(admin);
        pp.revokeRole(QUOTE_SIGNER_ROLE, quoteSigner);
        vm.prank(alice);
        vm.expectRevert(IPaymentProcessor.InvalidQuoteSignature.selector);
        pp.pay(q, sig);
    }

    function test_pay_amountOutOfRange() public {
        IPaymentProcessor.Quote memory q = _quote(alice, basic, 1, address(usdc), 0, 0);
        bytes memory sig = _signQuote(q);
        vm.prank(alice);
        vm.expectRevert(IPaymentProcessor.AmountOutOfRange.selector);
        pp.pay(q, sig);
        q = _quote(alice, basic, 1, address(usdc), uint256(type(uint80).max) + 1, 0);
        sig = _signQuote(q);
        vm.prank(alice);
        vm.expectRevert(IPaymentProcessor.AmountOutOfRange.selector);
        pp.pay(q, sig);
    }

    function test_pay_tokenNotAccepted() public {
        vm.prank(admin);
        pp.setTokenAccepted(address(usdt), false);
        IPaymentProcessor.Quote memory q = _quote(alice, basic, 1, address(usdt), BASIC_PRICE, 0);
        bytes memory sig = _signQuote(q);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IPaymentProcessor.TokenNotAccepted.selector, address(usdt)));
        pp.pay(q, sig);
    }

    function test_pay_underpaymentReverts() public {
        IPaymentProcessor.Quote memory q = _quote(alice, basic, 2, address(usdc), 2 * BASIC_PRICE - 1, 0);
        bytes memory sig = _signQuote(q);
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(IPaymentProcessor.AmountBelowPrice.selector, 2 * BASIC_PRICE, 2 * BASIC_PRICE - 1)
        );
        pp.pay(q, sig);
    }

    function test_pay_whilePausedReverts() public {
        IPaymentProcessor.Quote memory q = _newQuote(alice, basic, 1);
        bytes memory sig = _signQuote(q);
        vm.prank(guardian);
        pp.pause();
        vm.prank(alice);
        vm.expectRevert(IPaymentProcessor.EnforcedPause.selector);
        pp.pay(q, sig);
    }

    // ------------------------------------------------------------------ permit (EIP-2612)

    function test_payWithPermit_approvesAndPaysInOneCall() public {
        (address carol, uint256 carolPk) = makeAddrAndKey("carol");
        vm.prank(deployer);
        usdc.mint(carol, 100e6);
        IPaymentProcessor.Quote memory q = _newQuote(carol, basic, 1);
        bytes memory sig = _signQuote(q);
        (uint8 v, bytes32 r, bytes32 s) = _permitSig(carolPk, carol, q.amount, block.timestamp + 1 hours);
        vm.expectEmit(address(pp));
        emit IPaymentProcessor.PaymentReceived(
            q.quoteId, carol, 1, address(usdc), q.amount, basic, 1, uint40(block.timestamp) + MONTH
        );
        vm.prank(carol);
        pp.payWithPermit(q, sig, block.timestamp + 1 hours, v, r, s);
        assertEq(usdc.balanceOf(carol), 90e6);
        assertEq(usdc.allowance(carol, address(pp)), 0);
    }

    function test_payWithPermit_frontRunPermitStillPays() public {
        (address carol, uint256 carolPk) = makeAddrAndKey("carol");
        vm.prank(deployer);
        usdc.mint(carol, 100e6);
        IPaymentProcessor.Quote memory q = _newQuote(carol, basic, 1);
        bytes memory sig = _signQuote(q);
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _permitSig(carolPk, carol, q.amount, deadline);
        // an observer submits the permit first: the nonce is spent, but the allowance is in place
        usdc.permit(carol, address(pp), q.amount, deadline, v, r, s);
        vm.prank(carol);
        pp.payWithPermit(q, sig, deadline, v, r, s);
        assertTrue(pp.isQuotePaid(q.quoteId));
    }

    function test_payWithPermit_reverts() public {
        (address carol, uint256 carolPk) = makeAddrAndKey("carol");
        vm.prank(deployer);
        usdc.mint(carol, 100e6);
        IPaymentProcessor.Quote memory q = _newQuote(carol, basic, 1);
        bytes memory sig = _signQuote(q);
        (uint8 v, bytes32 r, bytes32 s) = _permitSig(carolPk, carol, q.amount, block.timestamp + 1 hours);
        vm.prank(relayer);
        vm.expectRevert(IPaymentProcessor.PayerMismatch.selector);
        pp.payWithPermit(q, sig, block.timestamp + 1 hours, v, r, s);
        // a bad permit (wrong signer) and no allowance: the transferFrom fails
        (v, r, s) = _permitSig(alicePk, carol, q.amount, block.timestamp + 1 hours);
        vm.prank(carol);
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(pp), 0, q.amount)
        );
        pp.payWithPermit(q, sig, block.timestamp + 1 hours, v, r, s);
    }

    // ------------------------------------------------------------------ EIP-3009

    function test_payWithAuthorization_relayerSubmitsGasless() public {
        (address carol, uint256 carolPk) = makeAddrAndKey("carol");
        vm.prank(deployer);
        usdc.mint(carol, 100e6);
        IPaymentProcessor.Quote memory q = _newQuote(carol, pro, 1);
        bytes memory sig = _signQuote(q);
        bytes32 digest = pp.hashQuote(q);
        (uint8 v, bytes32 r, bytes32 s) = _authSig(carolPk, carol, q.amount, block.timestamp + 1 hours, digest);
        vm.expectEmit(address(pp));
        emit IPaymentProcessor.PaymentReceived(
            q.quoteId, carol, 1, address(usdc), PRO_PRICE, pro, 1, uint40(block.timestamp) + MONTH
        );
        vm.prank(relayer);
        uint256 id = pp.payWithAuthorization(q, sig, 0, block.timestamp + 1 hours, v, r, s);
        assertEq(sm.ownerOf(id), carol);
        assertEq(usdc.balanceOf(carol), 70e6);
        assertEq(relayer.balance, 0);
        assertTrue(usdc.authorizationState(carol, digest));
    }

    function test_payWithAuthorization_authorizationBoundToQuote() public {
        (address carol, uint256 carolPk) = makeAddrAndKey("carol");
        vm.prank(deployer);
        usdc.mint(carol, 100e6);
        IPaymentProcessor.Quote memory q = _newQuote(carol, basic, 1);
        bytes memory sig = _signQuote(q);
        // authorization signed with another nonce cannot pay this quote
        (uint8 v, bytes32 r, bytes32 s) = _authSig(carolPk, carol, q.amount, block.timestamp + 1 hours, bytes32("x"));
        vm.prank(relayer);
        vm.expectRevert(ERC3009.ERC3009InvalidSignature.selector);
        pp.payWithAuthorization(q, sig, 0, block.timestamp + 1 hours, v, r, s);
        // replay of a paid quote with its authorization
        (v, r, s) = _authSig(carolPk, carol, q.amount, block.timestamp + 1 hours, pp.hashQuote(q));
        vm.prank(relayer);
        pp.payWithAuthorization(q, sig, 0, block.timestamp + 1 hours, v, r, s);
        vm.prank(relayer);
        vm.expectRevert(abi.encodeWithSelector(IPaymentProcessor.QuoteAlreadyPaid.selector, q.quoteId));
        pp.payWithAuthorization(q, sig, 0, block.timestamp + 1 hours, v, r, s);
    }

    function test_payWithAuthorization_tokenWithout3009Reverts() public {
        IPaymentProcessor.Quote memory q = _quote(alice, basic, 1, address(usdt), BASIC_PRICE, 0);
        bytes memory sig = _signQuote(q);
        vm.prank(relayer);
        vm.expectRevert();
        pp.payWithAuthorization(q, sig, 0, block.timestamp + 1 hours, 27, bytes32(0), bytes32(0));
    }

    // ------------------------------------------------------------------ refunds

    function _paid(uint256 amount) internal returns (bytes32 quoteId) {
        IPaymentProcessor.Quote memory q = _quote(alice, basic, 1, address(usdc), amount, 0);
        bytes memory sig = _signQuote(q);
        vm.prank(alice);
        pp.pay(q, sig);
        return q.quoteId;
    }

    function test_refund_partialThenRestThenBound() public {
        bytes32 id = _paid(10e6);
        vm.expectEmit(address(pp));
        emit IPaymentProcessor.RefundIssued(id, alice, address(usdc), 4e6);
        vm.prank(admin);
        pp.refund(id, 4e6);
        assertEq(pp.refundedOf(id), 4e6);
        assertEq(pp.refundOwed(alice, address(usdc)), 4e6);
        // taken from the treasury share (8e6) first
        PaymentProcessor.TokenAccount memory acct = pp.tokenAccount(address(usdc));
        assertEq(acct.treasuryOwed, 4e6);
        assertEq(acct.operatorOwed, 2e6);
        vm.prank(admin);
        pp.refund(id, 6e6);
        acct = pp.tokenAccount(address(usdc));
        assertEq(acct.treasuryOwed, 0);
        assertEq(acct.operatorOwed, 0);
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(IPaymentProcessor.RefundExceedsPayment.selector, 0));
        pp.refund(id, 1);
    }

    function test_refund_reverts() public {
        bytes32 id = _paid(10e6);
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(IPaymentProcessor.RefundExceedsPayment.selector, 10e6));
        pp.refund(id, 10e6 + 1);
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(IPaymentProcessor.RefundExceedsPayment.selector, 10e6));
        pp.refund(id, 0);
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(IPaymentProcessor.UnknownPayment.selector, bytes32("nope")));
        pp.refund(bytes32("nope"), 1);
        vm.prank(operator);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, operator, ADMIN_ROLE)
        );
        pp.refund(id, 1);
    }

    function test_refund_insufficientFeeBalanceAfterWithdrawals() public {
        bytes32 id = _paid(10e6);
        vm.prank(treasury);
        pp.withdrawFees(address(usdc));
        vm.prank(admin);
        pp.refund(id, 1e6); // from the operator's 2e6
        vm.prank(admin);
        vm.expectRevert(IPaymentProcessor.InsufficientFeeBalance.selector);
        pp.refund(id, 2e6);
    }

    function test_withdrawRefund() public {
        bytes32 id = _paid(10e6);
        vm.prank(admin);
        pp.refund(id, 3e6);
        uint256 before = usdc.balanceOf(alice);
        vm.expectEmit(address(pp));
        emit IPaymentProcessor.RefundWithdrawn(alice, address(usdc), 3e6);
        vm.prank(alice);
        pp.withdrawRefund(address(usdc));
        assertEq(usdc.balanceOf(alice), before + 3e6);
        assertEq(pp.refundOwed(alice, address(usdc)), 0);
        vm.prank(alice);
        vm.expectRevert(IPaymentProcessor.NothingToWithdraw.selector);
        pp.withdrawRefund(address(usdc));
    }

    function test_withdrawRefund_whilePaused() public {
        bytes32 id = _paid(10e6);
        vm.prank(admin);
        pp.refund(id, 3e6);
        vm.prank(guardian);
        pp.pause();
        vm.prank(alice);
        vm.expectRevert(IPaymentProcessor.EnforcedPause.selector);
        pp.withdrawRefund(address(usdc));
    }

    // ------------------------------------------------------------------ fee withdrawals

    function test_withdrawFees_operatorAndTreasury() public {
        _paid(10e6);
        vm.expectEmit(address(pp));
        emit IPaymentProcessor.FeesWithdrawn(operatorPayee, address(usdc), 2e6, 0);
        vm.prank(operatorPayee);
        pp.withdrawFees(address(usdc));
        assertEq(usdc.balanceOf(operatorPayee), 2e6);
        vm.expectEmit(address(pp));
        emit IPaymentProcessor.FeesWithdrawn(treasury, address(usdc), 0, 8e6);
        vm.prank(treasury);
        pp.withdrawFees(address(usdc));
        assertEq(usdc.balanceOf(treasury), 8e6);
        assertEq(usdc.balanceOf(address(pp)), 0);
        vm.prank(treasury);
        vm.expectRevert(IPaymentProcessor.NothingToWithdraw.selector);
        pp.withdrawFees(address(usdc));
    }

    function test_withdrawFees_samePayeeTakesBoth() public {
        vm.prank(admin);
        pp.setPayees(treasury, treasury);
        _paid(10e6);
        vm.expectEmit(address(pp));
        emit IPaymentProcessor.FeesWithdrawn(treasury, address(usdc), 2e6, 8e6);
        vm.prank(treasury);
        pp.withdrawFees(address(usdc));
        assertEq(usdc.balanceOf(treasury), 10e6);
    }

    function test_withdrawFees_reverts() public {
        _paid(10e6);
        vm.prank(alice);
        vm.expectRevert(IPaymentProcessor.NotPayee.selector);
        pp.withdrawFees(address(usdc));
        vm.prank(operatorPayee);
        vm.expectRevert(IPaymentProcessor.NothingToWithdraw.selector);
        pp.withdrawFees(address(usdt));
        vm.prank(guardian);
        pp.pause();
        vm.prank(operatorPayee);
        vm.expectRevert(IPaymentProcessor.EnforcedPause.selector);
        pp.withdrawFees(address(usdc));
    }

    function test_withdrawFees_delistedTokenStillWithdrawable() public {
        _paid(10e6);
        vm.prank(admin);
        pp.setTokenAccepted(address(usdc), false);
        vm.prank(treasury);
        pp.withdrawFees(address(usdc));
        assertEq(usdc.balanceOf(treasury), 8e6);
    }

    // ------------------------------------------------------------------ admin

    function test_setTokenAccepted() public {
        TestUSDT extra = new TestUSDT(deployer);
        vm.expectEmit(address(pp));
        emit IPaymentProcessor.TokenAcceptanceSet(address(extra), 3, true);
        vm.prank(admin);
        pp.setTokenAccepted(address(extra), true);
        assertEq(pp.tokenById(3), address(extra));
        vm.expectEmit(address(pp));
        emit IPaymentProcessor.TokenAcceptanceSet(address(extra), 3, false);
        vm.prank(admin);
        pp.setTokenAccepted(address(extra), false);
        assertFalse(pp.tokenAccount(address(extra)).accepted);
        vm.prank(admin);
        pp.setTokenAccepted(address(extra), true); // keeps its id
        assertEq(pp.tokenAccount(address(extra)).id, 3);
        assertEq(pp.config().tokenCount, 3);
    }

    function test_setTokenAccepted_reverts() public {
        Token18 t18 = new Token18();
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(IPaymentProcessor.TokenNot6Decimals.selector, address(t18)));
        pp.setTokenAccepted(address(t18), true);
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(IPaymentProcessor.TokenNot6Decimals.selector, address(0xabc)));
        pp.setTokenAccepted(address(0xabc), true); // no code: decimals() fails
        vm.prank(operator);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, operator, ADMIN_ROLE)
        );
        pp.setTokenAccepted(address(usdc), false);
    }

    function test_setTokenAccepted_idSpaceExhausted() public {
        // Config: subscriptionManager (160 bits) | operatorFeeBps (16) | paused (8) | tokenCount (16)
        uint256 word = uint256(vm.load(address(pp), PP_ROOT));
        word |= uint256(type(uint16).max) << 184;
        vm.store(address(pp), PP_ROOT, bytes32(word));
        assertEq(pp.config().tokenCount, type(uint16).max);
        TestUSDT extra = new TestUSDT(deployer);
        vm.prank(admin);
        vm.expectRevert(IPaymentProcessor.TooManyTokens.selector);
        pp.setTokenAccepted(address(extra), true);
    }

    function test_setFeeSplit() public {
        vm.expectEmit(address(pp));
        emit IPaymentProcessor.FeeSplitSet(10_000);
        vm.prank(admin);
        pp.setFeeSplit(10_000);
        assertEq(pp.config().operatorFeeBps, 10_000);
        _paid(10e6);
        assertEq(pp.tokenAccount(address(usdc)).operatorOwed, 10e6);
        vm.prank(admin);
        vm.expectRevert(IPaymentProcessor.InvalidFeeSplit.selector);
        pp.setFeeSplit(10_001);
    }

    function test_setPayees() public {
        vm.expectEmit(address(pp));
        emit IPaymentProcessor.PayeesSet(alice, bob);
        vm.prank(admin);
        pp.setPayees(alice, bob);
        (address op, address tr) = pp.payees();
        assertEq(op, alice);
        assertEq(tr, bob);
        vm.prank(admin);
        vm.expectRevert(LitgateUpgradeable.ZeroAddress.selector);
        pp.setPayees(address(0), bob);
    }

    function test_pauseUnpause() public {
        vm.expectEmit(address(pp));
        emit IPaymentProcessor.Paused(guardian);
        vm.prank(guardian);
        pp.pause();
        assertTrue(pp.paused());
        vm.prank(guardian);
        vm.expectRevert(IPaymentProcessor.EnforcedPause.selector);
        pp.pause();
        vm.prank(guardian);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, guardian, ADMIN_ROLE)
        );
        pp.unpause();
        vm.expectEmit(address(pp));
        emit IPaymentProcessor.Unpaused(admin);
        vm.prank(admin);
        pp.unpause();
        assertFalse(pp.paused());
        vm.prank(admin);
        vm.expectRevert(IPaymentProcessor.ExpectedPause.selector);
        pp.unpause();
        vm.prank(admin);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, admin, GUARDIAN_ROLE)
        );
        pp.pause();
    }

    // ------------------------------------------------------------------ EIP-712 surface

    function test_hashQuoteMatchesIndependentEncoding() public {
        IPaymentProcessor.Quote memory q = _newQuote(alice, pro, 7);
        q.beneficiary = bob;
        q.subscriptionId = 99;
        assertEq(pp.hashQuote(q), _quoteDigest(q, block.chainid, address(pp)));
        (bytes1 fields, string memory name, string memory version, uint256 chainId, address vc,,) = pp.eip712Domain();
        assertEq(fields, hex"0f");
        assertEq(name, "litgate PaymentProcessor");
        assertEq(version, "1");
        assertEq(chainId, block.chainid);
        assertEq(vc, address(pp));
    }

    // ------------------------------------------------------------------ fuzz

    /// @dev Any amount at or above the price pays; the split always sums to the amount.
    function testFuzz_pay_amountsAndSplit(uint256 amount, uint32 periods, uint16 bps) public {
        periods = uint32(bound(periods, 1, 120));
        bps = uint16(bound(bps, 0, 10_000));
        amount = bound(amount, uint256(periods) * BASIC_PRICE, 1_000_000e6);
        vm.prank(admin);
        pp.setFeeSplit(bps);
        IPaymentProcessor.Quote memory q = _quote(alice, basic, periods, address(usdc), amount, 0);
        bytes memory sig = _signQuote(q);
        vm.prank(alice);
        uint256 id = pp.pay(q, sig);
        PaymentProcessor.TokenAccount memory acct = pp.tokenAccount(address(usdc));
        assertEq(uint256(acct.operatorOwed) + acct.treasuryOwed, amount);
        assertEq(acct.operatorOwed, amount * bps / 10_000);
        assertEq(usdc.balanceOf(address(pp)), amount);
        assertEq(sm.getSubscription(id).end, block.timestamp + uint256(periods) * MONTH);
    }

    /// @dev Quotes are rejected strictly after validUntil and accepted up to it.
    function testFuzz_pay_expiry(uint64 validFor, uint64 waited) public {
        validFor = uint64(bound(validFor, 0, 1 days));
        waited = uint64(bound(waited, 0, 2 days));
        IPaymentProcessor.Quote memory q = _newQuote(alice, basic, 1);
        q.validUntil = uint64(block.timestamp) + validFor;
        bytes memory sig = _signQuote(q);
        vm.warp(block.timestamp + waited);
        if (waited > validFor) vm.expectRevert(abi.encodeWithSelector(IPaymentProcessor.QuoteExpired.selector, q.validUntil));
        vm.prank(alice);
        pp.pay(q, sig);
    }

    /// @dev Refunds never exceed what a payment paid, however they are split.
    function testFuzz_refund_bounded(uint80 amount, uint80 first, uint80 second) public {
        amount = uint80(bound(amount, BASIC_PRICE, 1_000_000e6));
        bytes32 id = _paid(amount);
        first = uint80(bound(first, 1, amount));
        vm.prank(admin);
        pp.refund(id, first);
        second = uint80(bound(second, 1, type(uint80).max));
        if (uint256(first) + second > amount) {
            vm.expectRevert(abi.encodeWithSelector(IPaymentProcessor.RefundExceedsPayment.selector, amount - first));
        }
        vm.prank(admin);
        pp.refund(id, second);
        assertLe(pp.refundedOf(id), amount);
        assertEq(usdc.balanceOf(address(pp)), amount);
    }
}
