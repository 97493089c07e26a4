// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Test, console2} from "forge-std/Test.sol";
import {IERC3009} from "@openzeppelin/contracts/interfaces/draft-IERC3009.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IPaymentProcessor} from "../src/interfaces/IPaymentProcessor.sol";
import {TestUSDC} from "../src/tokens/TestUSDC.sol";
import {ILitgate, LitgateTestBase} from "./Base.t.sol";

/// @dev Drives random sequences of payments (allowance, permit, EIP-3009 receive, x402 transfer, front-run
///      transfers honoured or refunded), by owners, beneficiaries and strangers, renewals and plan changes in
///      both tokens, target-total refunds (with retries and endAccess), withdrawals, cancels, revokes, pauses,
///      token delisting, sales switched off and time jumps, and keeps ghost totals to check against.
contract PaymentHandler is Test {
    bytes32 internal constant RECEIVE_TYPEHASH = keccak256(
        "ReceiveWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
    );
    bytes32 internal constant TRANSFER_TYPEHASH = keccak256(
        "TransferWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
    );
    bytes32 internal constant PERMIT_TYPEHASH =
        keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)");

    ILitgate internal pp;
    address[2] internal tokens;
    uint16[3] internal plans;
    address internal admin;
    address internal operator;
    address internal guardian;
    address internal signer;
    uint256 internal signerPk;
    address[2] internal payees;

    address[3] public actors;
    uint256[3] internal actorPks;

    IPaymentProcessor.Quote[] internal paid;
    bytes[] internal paidSigs;
    bytes32[] public subs;
    mapping(bytes32 => uint32) public lastEnd;
    mapping(bytes32 => bool) public revoked;
    mapping(bytes32 => address) public ownerAtCreation;
    mapping(bytes32 => address) public tokenAtCreation;

    struct FrontRun {
        address token;
        address payer;
        bytes32 nonce;
        uint256 amount;
        uint16 planId;
    }

    FrontRun[] internal frontRuns;

    mapping(address => uint256) public ghostPaid;
    mapping(address => uint256) public ghostRefunded;
    mapping(address => uint256) public ghostRefundedUnrecorded;
    mapping(address => uint256) public ghostRefundsWithdrawn;
    mapping(address => uint256) public ghostFeesWithdrawn;
    mapping(address => uint256) public ghostUnrecorded;
    uint256 public replaySucceeded;
    uint256 public strangerSucceeded;
    uint256 public payableRefused;
    uint256 public endDecreased;
    uint256 public calls;
    uint256[4] public paidBy;
    uint256 internal nonce;

    constructor(
        ILitgate pp_,
        address[2] memory tokens_,
        uint16[3] memory plans_,
        address[4] memory roles, // admin, operator, guardian, signer
        uint256 signerPk_,
        address[2] memory payees_
    ) {
        pp = pp_;
        tokens = tokens_;
        plans = plans_;
        (admin, operator, guardian, signer) = (roles[0], roles[1], roles[2], roles[3]);
        signerPk = signerPk_;
        payees = payees_;
        for (uint256 i; i < 3; ++i) {
            (actors[i], actorPks[i]) = makeAddrAndKey(string(abi.encodePacked("actor", vm.toString(i))));
        }
    }

    function paidCount() external view returns (uint256) {
        return paid.length;
    }

    function paidQuote(uint256 i) external view returns (IPaymentProcessor.Quote memory) {
        return paid[i];
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
            bytes32 id = subs[i];
            uint32 end = pp.getSubscription(id).end;
            if (end < lastEnd[id] && !revoked[id]) ++endDecreased;
            lastEnd[id] = end;
        }
    }

    function _usdcSig(bytes32 typehash, uint256 pk, address from, uint256 value, bytes32 n)
        internal
        view
        returns (uint8, bytes32, bytes32)
    {
        bytes32 structHash =
            keccak256(abi.encode(typehash, from, address(pp), value, 0, block.timestamp + 1 hours, n));
        return vm.sign(pk, keccak256(abi.encodePacked("\x19\x01", TestUSDC(tokens[0]).DOMAIN_SEPARATOR(), structHash)));
    }

    /// @dev Builds a quote for `payer` (new subscription, or renewal/plan change of a random one) priced from
    ///      the contract's own preview; returns ok = false when the terms are not payable.
    function _build(uint256 actorSeed, uint256 planSeed, uint32 periods, uint256 extra, uint256 subSeed, bool usdcOnly)
        internal
        returns (IPaymentProcessor.Quote memory q, uint256 a, bool ok)
    {
        a = actorSeed % 3;
        bytes32 subId;
        address token = usdcOnly ? tokens[0] : tokens[(actorSeed / 3) % 2];
        if (subs.length != 0 && subSeed % 3 != 0) {
            subId = subs[subSeed % subs.length];
            token = tokenAtCreation[subId];
            if (usdcOnly && token != tokens[0]) subId = bytes32(0);
            if (subId != bytes32(0)) a = _indexOf(pp.getSubscription(subId).owner, a, subSeed);
        }
        if (subId == bytes32(0)) token = usdcOnly ? tokens[0] : tokens[(actorSeed / 3) % 2];
        q = IPaymentProcessor.Quote({
            quoteId: keccak256(abi.encode("inv", ++nonce)),
            payer: actors[a],
            beneficiary: subSeed % 5 == 0 ? actors[(a + 1) % 3] : address(0),
            subscriptionId: subId,
            token: token,
            amount: 0,
            planId: plans[planSeed % 3],
            periods: uint32(bound(periods, 0, 12)),
            validUntil: uint64(block.timestamp + 5 minutes)
        });
        try pp.previewQuote(q, block.timestamp) returns (uint32, uint32, uint256 due) {
            q.amount = due + bound(extra, 0, 2e6);
            ok = true;
        } catch {}
    }

    /// @dev Usually the owner; sometimes another actor (a stranger, or the beneficiary).
    function _indexOf(address owner, uint256 fallbackIndex, uint256 seed) internal view returns (uint256) {
        if (seed % 7 == 0) return fallbackIndex;
        for (uint256 i; i < 3; ++i) {
            if (actors[i] == owner) return i;
        }
        return fallbackIndex;
    }

    function _isSubscriber(IPaymentProcessor.Quote memory q) internal view returns (bool) {
        if (q.subscriptionId == bytes32(0)) return true;
        IPaymentProcessor.SubscriptionInfo memory info = pp.getSubscription(q.subscriptionId);
        return q.payer == info.owner || q.payer == info.beneficiary;
    }

    function _paid(IPaymentProcessor.Quote memory q, bytes memory sig, bytes32 id) internal {
        if (!_isSubscriber(q)) ++strangerSucceeded;
        paid.push(q);
        paidSigs.push(sig);
        ghostPaid[q.token] += q.amount;
        if (q.subscriptionId == bytes32(0)) {
            subs.push(id);
            ownerAtCreation[id] = q.payer;
            tokenAtCreation[id] = q.token;
        }
        _checkEnds();
    }

    /// @dev method: 0 allowance, 1 permit, 2 EIP-3009 receive, 3 x402 transfer (the last three in tUSDC).
    function pay(uint256 actorSeed, uint256 planSeed, uint32 periods, uint256 extra, uint256 subSeed, uint8 method)
        public
    {
        ++calls;
        method = method % 4;
        (IPaymentProcessor.Quote memory q, uint256 a, bool ok) =
            _build(actorSeed, planSeed, periods, extra, subSeed, method != 0);
        if (!ok) return;
        bytes32 n = keccak256(abi.encode("auth", nonce));
        if (method == 3) q.quoteId = keccak256(abi.encode(q.token, q.payer, n));
        bytes memory sig = _sign(q);
        bool subscriber = _isSubscriber(q);
        (bytes32 id, bool success) = _payVia(method, q, sig, a, n);
        if (success) {
            ++paidBy[method];
            _paid(q, sig, id);
        }
        else if (subscriber && !pp.paused() && pp.tokenAccount(q.token).listed && pp.sale(q.planId, q.token).onSale) {
            // payable terms (previewQuote accepted them) for a new subscription must be accepted
            if (q.subscriptionId == bytes32(0)) ++payableRefused;
        }
    }

    function _payVia(uint8 method, IPaymentProcessor.Quote memory q, bytes memory sig, uint256 a, bytes32 n)
        internal
        returns (bytes32 id, bool success)
    {
        if (method == 0) {
            vm.prank(q.payer);
            try pp.pay(q, sig) returns (bytes32 r) {
                return (r, true);
            } catch {}
        } else if (method == 1) {
            return _payPermit(q, sig, a);
        } else if (method == 2) {
            (uint8 v, bytes32 r, bytes32 s) = _usdcSig(RECEIVE_TYPEHASH, actorPks[a], q.payer, q.amount, pp.hashQuote(q));
            try pp.payWithAuthorization(q, sig, 0, block.timestamp + 1 hours, v, r, s) returns (bytes32 x) {
                return (x, true);
            } catch {}
        } else {
            (uint8 v, bytes32 r, bytes32 s) = _usdcSig(TRANSFER_TYPEHASH, actorPks[a], q.payer, q.amount, n);
            try pp.payWithTransferAuthorization(q, sig, 0, block.timestamp + 1 hours, n, v, r, s) returns (bytes32 x) {
                return (x, true);
            } catch {}
        }
    }

    function _payPermit(IPaymentProcessor.Quote memory q, bytes memory sig, uint256 a)
        internal
        returns (bytes32 id, bool success)
    {
        vm.prank(q.payer);
        IERC20(q.token).approve(address(pp), 0);
        uint256 deadline = block.timestamp + 1 hours;
        bytes32 structHash = keccak256(
            abi.encode(PERMIT_TYPEHASH, q.payer, address(pp), q.amount, TestUSDC(q.token).nonces(q.payer), deadline)
        );
        (uint8 v, bytes32 r, bytes32 s) =
            vm.sign(actorPks[a], keccak256(abi.encodePacked("\x19\x01", TestUSDC(q.token).DOMAIN_SEPARATOR(), structHash)));
        vm.prank(q.payer);
        try pp.payWithPermit(q, sig, deadline, v, r, s) returns (bytes32 x) {
            (id, success) = (x, true);
        } catch {}
        vm.prank(q.payer);
        IERC20(q.token).approve(address(pp), type(uint256).max);
    }

    /// @dev Payments are the point: two more entry points make them as frequent as everything else together.
    function payAllowance(uint256 actorSeed, uint256 planSeed, uint32 periods, uint256 extra, uint256 subSeed) external {
        pay(actorSeed, planSeed, periods, extra, subSeed, 0);
    }

    function payAny(uint256 actorSeed, uint256 planSeed, uint32 periods, uint256 extra, uint256 subSeed, uint8 method)
        external
    {
        pay(actorSeed, planSeed, periods, extra, subSeed, method);
    }

    /// @dev A client's x402 authorization is submitted to the token directly (front-run): funds unrecorded.
    function frontRun(uint256 actorSeed, uint256 planSeed) external {
        ++calls;
        uint256 a = actorSeed % 3;
        uint16 planId = plans[planSeed % 3];
        IPaymentProcessor.Sale memory s = pp.sale(planId, tokens[0]);
        if (!s.onSale) return;
        bytes32 n = keccak256(abi.encode("front", ++nonce));
        (uint8 v, bytes32 r, bytes32 sg) = _usdcSig(TRANSFER_TYPEHASH, actorPks[a], actors[a], s.price, n);
        IERC3009(tokens[0]).transferWithAuthorization(actors[a], address(pp), s.price, 0, block.timestamp + 1 hours, n, v, r, sg);
        frontRuns.push(FrontRun(tokens[0], actors[a], n, s.price, planId));
        ghostUnrecorded[tokens[0]] += s.price;
    }

    /// @dev The gateway matched a front-run transfer: honour it (signer) or refund it (operator).
    function settleFrontRun(uint256 seed, bool honour) external {
        ++calls;
        if (frontRuns.length == 0) return;
        uint256 i = seed % frontRuns.length;
        FrontRun memory f = frontRuns[i];
        frontRuns[i] = frontRuns[frontRuns.length - 1];
        frontRuns.pop();
        if (honour) {
            IPaymentProcessor.Quote memory q = IPaymentProcessor.Quote({
                quoteId: keccak256(abi.encode(f.token, f.payer, f.nonce)),
                payer: f.payer,
                beneficiary: address(0),
                subscriptionId: bytes32(0),
                token: f.token,
                amount: f.amount,
                planId: f.planId,
                periods: 1,
                validUntil: 0
            });
            vm.prank(signer);
            try pp.honourTransferAuthorization(q, f.nonce) returns (bytes32 id) {
                ghostUnrecorded[f.token] -= f.amount;
                _paid(q, "", id);
                return;
            } catch {}
        }
        vm.prank(operator);
        pp.refundUnrecorded(f.token, f.payer, f.nonce, f.amount);
        ghostUnrecorded[f.token] -= f.amount;
        ghostRefundedUnrecorded[f.token] += f.amount;
    }

    function replay(uint256 seed) external {
        ++calls;
        if (paid.length == 0) return;
        uint256 i = seed % paid.length;
        IPaymentProcessor.Quote memory q = paid[i];
        if (paidSigs[i].length == 0) return;
        vm.prank(q.payer);
        try pp.pay(q, paidSigs[i]) {
            ++replaySucceeded;
        } catch {}
    }

    /// @dev Target-total refund, sometimes retried, sometimes ending access.
    function refund(uint256 seed, uint256 target, bool endAccess, bool retry) external {
        ++calls;
        if (paid.length == 0) return;
        IPaymentProcessor.Quote memory q = paid[seed % paid.length];
        bytes32 digest = pp.hashQuote(q);
        uint256 before = pp.refundedOf(digest);
        target = bound(target, 0, q.amount);
        vm.startPrank(operator);
        try pp.refund(q, target, endAccess) {
            if (target > before) ghostRefunded[q.token] += target - before;
            if (retry) pp.refund(q, target, endAccess);
            if (endAccess) {
                bytes32 id = q.subscriptionId == bytes32(0) ? digest : q.subscriptionId;
                revoked[id] = true;
            }
        } catch {} // fee buckets already withdrawn: allowed to fail
        vm.stopPrank();
        _checkEnds();
    }

    function withdrawRefund(uint256 actorSeed, uint256 tokenSeed) external {
        ++calls;
        address who = actors[actorSeed % 3];
        address token = tokens[tokenSeed % 2];
        uint256 owed = pp.refundOwed(who, token);
        if (owed == 0 || pp.paused()) return;
        vm.prank(who);
        pp.withdrawRefund(token);
        ghostRefundsWithdrawn[token] += owed;
    }

    function withdrawFees(bool isTreasury, uint256 tokenSeed) external {
        ++calls;
        address token = tokens[tokenSeed % 2];
        IPaymentProcessor.TokenAccount memory acct = pp.tokenAccount(token);
        uint256 owed = isTreasury ? acct.treasuryOwed : acct.operatorOwed;
        if (owed == 0 || pp.paused()) return;
        vm.prank(isTreasury ? payees[1] : payees[0]);
        pp.withdrawFees(token);
        ghostFeesWithdrawn[token] += owed;
    }

    function cancel(uint256 seed) external {
        ++calls;
        if (subs.length == 0 || seed % 4 != 0) return;
        bytes32 id = subs[seed % subs.length];
        if (pp.getSubscription(id).status != IPaymentProcessor.Status.Live) return;
        vm.prank(ownerAtCreation[id]);
        pp.cancel(id);
        _checkEnds();
    }

    function revoke(uint256 seed) external {
        ++calls;
        if (subs.length == 0 || seed % 4 != 0) return;
        bytes32 id = subs[seed % subs.length];
        if (revoked[id]) return;
        revoked[id] = true;
        vm.prank(operator);
        pp.revoke(id);
        _checkEnds();
    }

    /// @dev Pauses, delistings and sales switched off happen one time in four; otherwise they are undone.
    function togglePause(uint256 seed) external {
        ++calls;
        bool on = seed % 4 == 0;
        if (on && !pp.paused()) {
            vm.prank(guardian);
            pp.pause();
        } else if (!on && pp.paused()) {
            vm.prank(admin);
            pp.unpause();
        }
    }

    function toggleListing(uint256 tokenSeed) external {
        ++calls;
        bool listed = tokenSeed % 8 >= 2;
        vm.prank(admin);
        pp.setTokenListed(tokens[tokenSeed % 2], listed);
    }

    function toggleSale(uint256 planSeed, uint256 tokenSeed) external {
        ++calls;
        bool onSale = tokenSeed % 8 >= 2;
        uint16 planId = plans[planSeed % 3];
        address token = tokens[tokenSeed % 2];
        IPaymentProcessor.Sale memory s = pp.sale(planId, token);
        if (s.price == 0) return;
        vm.prank(operator);
        pp.setSale(planId, token, s.price, onSale);
    }

    function warp(uint256 secondsForward) external {
        ++calls;
        vm.warp(block.timestamp + bound(secondsForward, 1, 20 days));
        _checkEnds();
    }
}

contract PaymentInvariantTest is LitgateTestBase {
    PaymentHandler internal handler;

    function setUp() public override {
        super.setUp();
        vm.prank(operator);
        pp.setSale(weekly, address(usdt), 2e6, true); // a different price ratio in the second token
        handler = new PaymentHandler(
            pp,
            [address(usdc), address(usdt)],
            [basic, pro, weekly],
            [admin, operator, guardian, quoteSigner],
            quoteSignerPk,
            [operatorPayee, treasury]
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

    /// @notice The handler's payment paths really pay (the invariants are not vacuous): one of each, then a
    ///         front-run honoured and one refunded.
    function test_handlerPaysEveryWay() public {
        for (uint8 m; m < 4; ++m) {
            handler.pay(m, 0, 1, 0, 0, m);
            assertEq(handler.paidBy(m), 1, "method paid");
        }
        handler.frontRun(1, 0);
        handler.frontRun(2, 0);
        assertEq(pp.unrecorded(address(usdc)), 2 * BASIC_PRICE);
        handler.settleFrontRun(0, true);
        handler.settleFrontRun(0, false);
        assertEq(pp.unrecorded(address(usdc)), 0);
        assertEq(handler.paidCount(), 5);
        invariant_balanceCoversEverythingOwed();
    }

    /// @notice No quote is paid twice and no refund exceeds its payment.
    function invariant_quotePaidAtMostOnceAndRefundsBounded() public view {
        assertEq(handler.replaySucceeded(), 0, "replay");
        assertEq(handler.payableRefused(), 0, "a payable creation was refused");
        uint256 n = handler.paidCount();
        for (uint256 i; i < n; ++i) {
            IPaymentProcessor.Quote memory q = handler.paidQuote(i);
            bytes32 digest = pp.hashQuote(q);
            assertEq(pp.paymentOf(digest).owner, q.payer, "record holds the payer");
            assertLe(pp.refundedOf(digest), q.amount, "refund bound");
        }
    }

    /// @notice Per token: balance = fee buckets + pending refunds + front-run funds not yet settled, and each
    ///         term matches the ghost totals of what the handler moved (so balance >= everything owed).
    function invariant_balanceCoversEverythingOwed() public view {
        address[2] memory tokens = [address(usdc), address(usdt)];
        for (uint256 t; t < 2; ++t) {
            address token = tokens[t];
            uint256 balance = IERC20(token).balanceOf(address(pp));
            IPaymentProcessor.TokenAccount memory acct = pp.tokenAccount(token);
            uint256 buckets = uint256(acct.operatorOwed) + acct.treasuryOwed;
            uint256 pending = pp.refundsPending(token);
            uint256 owedToActors;
            for (uint256 i; i < 3; ++i) {
                owedToActors += pp.refundOwed(handler.actors(i), token);
            }
            assertEq(pending, owedToActors, "refundsPending = sum of refund balances");
            assertEq(
                pending,
                handler.ghostRefunded(token) + handler.ghostRefundedUnrecorded(token) - handler.ghostRefundsWithdrawn(token),
                "pending refunds"
            );
            assertEq(
                buckets + handler.ghostFeesWithdrawn(token) + handler.ghostRefunded(token),
                handler.ghostPaid(token),
                "buckets = paid - refunded from buckets - withdrawn"
            );
            assertEq(balance, buckets + pending + handler.ghostUnrecorded(token), "balance");
            assertEq(pp.unrecorded(token), handler.ghostUnrecorded(token), "unrecorded");
        }
    }

    /// @notice Ends never decrease except by revoke; owners and tokens never change; strangers never pay into
    ///         someone else's subscription.
    function invariant_subscriptionsOnlyGrowAndKeepOwnerAndToken() public view {
        assertEq(handler.endDecreased(), 0, "end decreased");
        assertEq(handler.strangerSucceeded(), 0, "a stranger changed or renewed a subscription");
        uint256 n = handler.subCount();
        for (uint256 i; i < n; ++i) {
            bytes32 id = handler.subs(i);
            IPaymentProcessor.SubscriptionInfo memory info = pp.getSubscription(id);
            assertEq(info.owner, handler.ownerAtCreation(id), "owner");
            assertEq(info.token, handler.tokenAtCreation(id), "token");
            if (!handler.revoked(id)) assertGe(info.end, handler.lastEnd(id));
        }
    }

    function invariant_callSummary() public view {
        console2.log("calls", handler.calls(), "payments", handler.paidCount());
        console2.log("subscriptions", handler.subCount());
        console2.log("paid by allowance, permit", handler.paidBy(0), handler.paidBy(1));
        console2.log("paid by 3009 receive, x402 transfer", handler.paidBy(2), handler.paidBy(3));
    }
}
