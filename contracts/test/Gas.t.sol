// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IPaymentProcessor} from "../src/interfaces/IPaymentProcessor.sol";
import {LitgateTestBase} from "./Base.t.sol";

/// @dev Gas of the user-facing transactions in steady state (the contracts have processed payments before;
///      the payer is new: never subscribed, fresh storage for its subscription and payment record).
///      Each test makes exactly one measured top-level call and records it with vm.snapshotGasLastCall
///      (contracts/snapshots/GasTest.json). Run with `forge test --isolate` (as `forge snapshot` in
///      .ci/run does) so each call executes as its own transaction: the numbers then include the 21,000
///      intrinsic gas and calldata cost, like a receipt's gasUsed. The TypeScript deploy test measures the
///      same transactions on anvil receipts.
contract GasTest is LitgateTestBase {
    address internal carol;
    uint256 internal carolPk;
    uint256 internal aliceSub;

    function setUp() public override {
        super.setUp();
        (carol, carolPk) = makeAddrAndKey("carol");
        vm.prank(deployer);
        usdc.mint(carol, 1_000e6);
        vm.prank(carol);
        usdc.approve(address(pp), type(uint256).max);
        aliceSub = _buy(alice, basic, 1); // warm-up: the processor already holds USDC, ids are non-zero
        vm.prank(admin);
        sm.grantRole(ISSUER_ROLE, operator); // operator grants (no payment) for the direct-creation number
    }

    function test_gas_createSubscription_direct() public {
        vm.prank(operator);
        sm.createSubscription(carol, address(0), basic, 0, 1, address(0));
        vm.snapshotGasLastCall("SubscriptionManager.createSubscription (issuer, new owner)");
    }

    function test_gas_pay_newSubscriber() public {
        IPaymentProcessor.Quote memory q = _newQuote(carol, basic, 1);
        bytes memory sig = _signQuote(q);
        vm.prank(carol);
        pp.pay(q, sig);
        vm.snapshotGasLastCall("PaymentProcessor.pay (new subscription, approved allowance)");
    }

    function test_gas_payWithPermit_newSubscriber() public {
        vm.prank(carol);
        usdc.approve(address(pp), 0);
        IPaymentProcessor.Quote memory q = _newQuote(carol, basic, 1);
        bytes memory sig = _signQuote(q);
        (uint8 v, bytes32 r, bytes32 s) = _permitSig(carolPk, carol, q.amount, block.timestamp + 1 hours);
        vm.prank(carol);
        pp.payWithPermit(q, sig, block.timestamp + 1 hours, v, r, s);
        vm.snapshotGasLastCall("PaymentProcessor.payWithPermit (new subscription)");
    }

    function test_gas_payWithAuthorization_newSubscriber() public {
        IPaymentProcessor.Quote memory q = _newQuote(carol, basic, 1);
        bytes memory sig = _signQuote(q);
        (uint8 v, bytes32 r, bytes32 s) =
            _authSig(carolPk, carol, q.amount, block.timestamp + 1 hours, pp.hashQuote(q));
        vm.prank(relayer);
        pp.payWithAuthorization(q, sig, 0, block.timestamp + 1 hours, v, r, s);
        vm.snapshotGasLastCall("PaymentProcessor.payWithAuthorization (new subscription, relayer)");
    }

    function test_gas_pay_renewal() public {
        IPaymentProcessor.Quote memory q = _quote(alice, basic, 1, address(usdc), BASIC_PRICE, aliceSub);
        bytes memory sig = _signQuote(q);
        vm.prank(alice);
        pp.pay(q, sig);
        vm.snapshotGasLastCall("PaymentProcessor.pay (renewal)");
    }

    function test_gas_pay_upgrade() public {
        vm.warp(block.timestamp + 10 days);
        (,, uint256 due) = sm.previewChangePlan(aliceSub, pro, 0, address(usdc), block.timestamp);
        IPaymentProcessor.Quote memory q = _quote(alice, pro, 0, address(usdc), due, aliceSub);
        bytes memory sig = _signQuote(q);
        vm.prank(alice);
        pp.pay(q, sig);
        vm.snapshotGasLastCall("PaymentProcessor.pay (plan upgrade)");
    }

    function test_gas_isActive() public {
        sm.isActive(aliceSub);
        vm.snapshotGasLastCall("SubscriptionManager.isActive");
    }
}
