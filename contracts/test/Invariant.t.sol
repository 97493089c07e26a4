// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Test, console2} from "forge-std/Test.sol";
import {PaymentProcessor} from "../src/PaymentProcessor.sol";
import {SubscriptionManager} from "../src/SubscriptionManager.sol";
import {IPaymentProcessor} from "../src/interfaces/IPaymentProcessor.sol";
import {ISubscriptionManager} from "../src/interfaces/ISubscriptionManager.sol";
import {TestUSDC} from "../src/tokens/TestUSDC.sol";
import {LitgateTestBase} from "./Base.t.sol";

/// @dev Drives random sequences of payments (allowance, permit-less, EIP-3009), renewals, plan changes,
///      replays, refunds, withdrawals, cancels, revokes and time jumps, and records ghost totals.
contract PaymentHandler is Test {
    PaymentProcessor internal pp;
    SubscriptionManager internal sm;
    address[2] internal tokens;
    uint16[3] internal plans;
    address internal admin;
    address internal operatorPayee;
    address internal treasury;
    uint256 internal signerPk;

    address[3] public actors;
    uint256[3] internal actorPks;

    IPaymentProcessor.Quote[] internal paidQuotes;
    bytes[] internal paidSigs;
    uint256[] public subs;
    mapping(uint256 => uint40) public lastEnd;
    mapping(uint256 => bool) public revoked;

    mapping(address => uint256) public ghostPaid;
    mapping(address => uint256) public ghostRefunded;
    mapping(address => uint256) public ghostRefundsWithdrawn;
    mapping(address => uint256) public ghostFeesWithdrawn;
    uint256 public replaySucceeded;
    uint256 public endDecreased;
    uint256 public successfulPayments;
    uint256 internal nonce;

    constructor(
        PaymentProcessor pp_,
        SubscriptionManager sm_,
        address[2] memory tokens_,
        uint16[3] memory plans_,
        address admin_,
        address operatorPayee_,
        address treasury_,
        uint256 signerPk_
    ) {
        pp = pp_;
        sm = sm_;
        tokens = tokens_;
        plans = plans_;
        admin = admin_;
        operatorPayee = operatorPayee_;
        treasury = treasury_;
        signerPk = signerPk_;
        for (uint256 i; i < 3; ++i) {
            (actors[i], actorPks[i]) = makeAddrAndKey(string(abi.encodePacked("actor", vm.toString(i))));
        }
    }

    function actorCount() external pure returns (uint256) {
        return 3;
    }

    function paidCount() external view returns (uint256) {
        return paidQuotes.length;
    }

    function paidQuoteId(uint256 i) external view returns (bytes32) {
        return paidQuotes[i].quoteId;
    }

    function paidAmount(uint256 i) external view returns (uint256) {
        return paidQuotes[i].amount;
    }

    function subCount() external view returns (uint256) {
        return subs.length;
    }

    function _sign(IPaymentProcessor.Quote memory q) internal view returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(signerPk, pp.hashQuote(q));
        return abi.encodePacked(r, s, v);
    }

    function _checkEnds() internal {
        for (uint256 i; i < subs.length; ++i) {
            uint256 id = subs[i];
            uint40 end = sm.getSubscription(id).end;
            if (end < lastEnd[id] && !revoked[id]) ++endDecreased;
            lastEnd[id] = end;
        }
    }

    function _record(IPaymentProcessor.Quote memory q, bytes memory sig, uint256 subId, bool isNew) internal {
        paidQuotes.push(q);
        paidSigs.push(sig);
        ghostPaid[q.token] += q.amount;
        ++successfulPayments;
        if (isNew) subs.push(subId);
    }

    /// @dev Pays a quote for a new subscription.
    function payNew(uint256 actorSeed, uint256 planSeed, uint32 periods, uint256 extra, bool via3009) external {
        pay(actorSeed, planSeed, periods, extra, 0, via3009);
    }

    /// @dev Pays a quote for a new subscription, a renewal or a plan change, with an allowance or via 3009.
    function pay(uint256 actorSeed, uint256 planSeed, uint32 periods, uint256 extra, uint256 subSeed, bool via3009)
        public
    {
        uint256 a = actorSeed % 3;
        address payer = actors[a];
        uint16 planId = plans[planSeed % 3];
        address token = via3009 ? tokens[0] : tokens[(actorSeed / 3) % 2];
        periods = uint32(bound(periods, 0, 24));
        uint256 subId;
        if (subs.length != 0 && subSeed % 3 != 0) subId = subs[subSeed % subs.length];
        if (subId != 0 && sm.getSubscription(subId).status != ISubscriptionManager.Status.Live) subId = 0;
        uint256 due;
        if (subId == 0 || sm.planOf(subId) == planId) {
            if (periods == 0) periods = 1;
            due = uint256(sm.priceOf(planId, token)) * periods;
            if (due == 0) return; // plan not sold in this token
        } else {
            try sm.previewChangePlan(subId, planId, periods, token, block.timestamp) returns (uint40, uint40, uint256 d) {
                due = d;
            } catch {
                return;
            }
        }
        uint256 amount = due + bound(extra, 0, 5e6);
        if (amount == 0) amount = 1;
        IPaymentProcessor.Quote memory q = IPaymentProcessor.Quote({
            quoteId: keccak256(abi.encode("inv", ++nonce)),
            payer: payer,
            beneficiary: address(0),
            planId: planId,
            periods: periods,
            token: token,
            amount: amount,
            subscriptionId: subId,
            validUntil: uint64(block.timestamp + 5 minutes)
        });
        bytes memory sig = _sign(q);
        uint256 got;
        if (via3009) {
            got = _pay3009(q, sig, actorPks[a]);
        } else {
            vm.prank(payer);
            got = pp.pay(q, sig);
        }
        _record(q, sig, got, subId == 0);
        _checkEnds();
    }

    function _pay3009(IPaymentProcessor.Quote memory q, bytes memory sig, uint256 pk) internal returns (uint256) {
        bytes32 structHash = keccak256(
            abi.encode(
                keccak256(
                    "ReceiveWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
                ),
                q.payer,
                address(pp),
                q.amount,
                0,
                block.timestamp + 1 hours,
                pp.hashQuote(q)
            )
        );
        bytes32 digest = keccak256(abi.encodePacked("\x19\x01", TestUSDC(tokens[0]).DOMAIN_SEPARATOR(), structHash));
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(pk, digest);
        return pp.payWithAuthorization(q, sig, 0, block.timestamp + 1 hours, v, r, s);
    }

    /// @dev Replays an already-paid quote; must always fail.
    function replay(uint256 seed) external {
        if (paidQuotes.length == 0) return;
        uint256 i = seed % paidQuotes.length;
        IPaymentProcessor.Quote memory q = paidQuotes[i];
        vm.prank(q.payer);
        try pp.pay(q, paidSigs[i]) {
            ++replaySucceeded;
        } catch {}
    }

    function refund(uint256 seed, uint256 amount) external {
        if (paidQuotes.length == 0) return;
        IPaymentProcessor.Quote memory q = paidQuotes[seed % paidQuotes.length];
        uint256 refundable = q.amount - pp.refundedOf(q.quoteId);
        if (refundable == 0) return;
        amount = bound(amount, 1, refundable);
        vm.prank(admin);
        try pp.refund(q.quoteId, amount) {
            ghostRefunded[q.token] += amount;
        } catch {} // fee buckets already withdrawn: allowed to fail
    }

    function withdrawRefund(uint256 actorSeed, uint256 tokenSeed) external {
        address who = actors[actorSeed % 3];
        address token = tokens[tokenSeed % 2];
        uint256 owed = pp.refundOwed(who, token);
        if (owed == 0) return;
        vm.prank(who);
        pp.withdrawRefund(token);
        ghostRefundsWithdrawn[token] += owed;
    }

    function withdrawFees(bool isTreasury, uint256 tokenSeed) external {
        address token = tokens[tokenSeed % 2];
        PaymentProcessor.TokenAccount memory acct = pp.tokenAccount(token);
        uint256 owed = isTreasury ? acct.treasuryOwed : acct.operatorOwed;
        if (owed == 0) return;
        vm.prank(isTreasury ? treasury : operatorPayee);
        pp.withdrawFees(token);
        ghostFeesWithdrawn[token] += owed;
    }

    function cancel(uint256 seed) external {
        if (subs.length == 0 || seed % 4 != 0) return; // rarer than payments
        uint256 id = subs[seed % subs.length];
        if (sm.getSubscription(id).status != ISubscriptionManager.Status.Live) return;
        vm.prank(sm.ownerOf(id));
        sm.cancel(id);
        _checkEnds();
    }

    function revoke(uint256 seed) external {
        if (subs.length == 0 || seed % 4 != 0) return; // rarer than payments
        uint256 id = subs[seed % subs.length];
        if (revoked[id]) return;
        revoked[id] = true;
        vm.prank(admin);
        sm.revoke(id);
        _checkEnds();
    }

    function warp(uint256 secondsForward) external {
        vm.warp(block.timestamp + bound(secondsForward, 1, 45 days));
        _checkEnds();
    }
}

contract PaymentInvariantTest is LitgateTestBase {
    PaymentHandler internal handler;

    function setUp() public override {
        super.setUp();
        handler = new PaymentHandler(
            pp, sm, [address(usdc), address(usdt)], [basic, pro, weekly], admin, operatorPayee, treasury, quoteSignerPk
        );
        for (uint256 i; i < 3; ++i) {
            address actor = handler.actors(i);
            vm.startPrank(deployer);
            usdc.mint(actor, 1_000_000e6);
            usdt.mint(actor, 1_000_000e6);
            vm.stopPrank();
            vm.startPrank(actor);
            usdc.approve(address(pp), type(uint256).max);
            usdt.approve(address(pp), type(uint256).max);
            vm.stopPrank();
        }
        targetContract(address(handler));
    }

    /// @notice A quote can never be paid twice: every replay failed and each payment has its own record.
    function invariant_quotePaidAtMostOnce() public view {
        assertEq(handler.replaySucceeded(), 0);
        uint256 n = handler.paidCount();
        for (uint256 i; i < n; ++i) {
            assertTrue(pp.isQuotePaid(handler.paidQuoteId(i)));
            assertLe(pp.refundedOf(handler.paidQuoteId(i)), handler.paidAmount(i), "refund bound");
        }
    }

    /// @notice Contract balance == fees accrued (payments net of refunds) - fees withdrawn + pending refunds,
    ///         and equals the internal buckets exactly.
    function invariant_balanceMatchesAccounting() public view {
        address[2] memory tokens = [address(usdc), address(usdt)];
        for (uint256 t; t < 2; ++t) {
            address token = tokens[t];
            uint256 balance = TestUSDC(token).balanceOf(address(pp));
            uint256 feesAccrued = handler.ghostPaid(token) - handler.ghostRefunded(token);
            uint256 pendingRefunds = handler.ghostRefunded(token) - handler.ghostRefundsWithdrawn(token);
            assertEq(balance, feesAccrued - handler.ghostFeesWithdrawn(token) + pendingRefunds);
            PaymentProcessor.TokenAccount memory acct = pp.tokenAccount(token);
            uint256 owedRefunds;
            for (uint256 i; i < 3; ++i) {
                owedRefunds += pp.refundOwed(handler.actors(i), token);
            }
            assertEq(owedRefunds, pendingRefunds);
            assertEq(balance, uint256(acct.operatorOwed) + acct.treasuryOwed + owedRefunds);
        }
    }

    /// @notice A subscription's end never decreases except by revoke.
    function invariant_endNeverDecreasesExceptRevoke() public view {
        assertEq(handler.endDecreased(), 0);
        uint256 n = handler.subCount();
        for (uint256 i; i < n; ++i) {
            uint256 id = handler.subs(i);
            if (!handler.revoked(id)) assertGe(sm.getSubscription(id).end, handler.lastEnd(id));
        }
    }

    /// @notice Campaign summary (shows up with -vv).
    function invariant_callSummary() public view {
        console2.log("payments", handler.successfulPayments(), "subscriptions", handler.subCount());
        console2.log("refunded usdc", handler.ghostRefunded(address(usdc)), "fees withdrawn usdc", handler.ghostFeesWithdrawn(address(usdc)));
    }
}
