// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IPaymentProcessor} from "../src/interfaces/IPaymentProcessor.sol";
import {LitgateTestBase} from "./Base.t.sol";

/// @dev Gas of the user-facing transactions in steady state (the contract has processed payments before; the
///      payer is a new subscriber). Each test makes one measured top-level call, records it with
///      vm.snapshotGasLastCall (snapshots/GasTest.json) and asserts its bound. Run under FOUNDRY_PROFILE=gas
///      (isolate = true, as `npm run contracts:snapshot` does): each call is then its own transaction and the
///      numbers are its gasUsed including the 21,000 intrinsic gas and calldata. Without isolation the
///      bounds still hold (the numbers are lower).
contract GasTest is LitgateTestBase {
    uint256 internal constant PAY_BOUND = 100_000;
    address internal carol;
    uint256 internal carolPk;
    bytes32 internal aliceSub;

    function setUp() public override {
        super.setUp();
        (carol, carolPk) = makeAddrAndKey("carol");
        vm.prank(deployer);
        usdc.mint(carol, 1_000e6);
        vm.prank(carol);
        usdc.approve(address(pp), type(uint256).max);
        aliceSub = _buy(alice, basic, 1); // warm-up: the processor already holds tUSDC, buckets are non-zero
    }

    function _used() internal view returns (uint256) {
        return vm.lastCallGas().gasTotalUsed;
    }

    function test_gas_pay_newSubscriber() public {
        IPaymentProcessor.Quote memory q = _newQuote(carol, basic, 1);
        bytes memory sig = _signQuote(q);
        vm.prank(carol);
        pp.pay(q, sig);
        uint256 used = vm.snapshotGasLastCall("pay (new subscriber, approved allowance)");
        assertLt(used, PAY_BOUND, "pay for a new subscriber");
    }

    function test_gas_pay_renewal() public {
        IPaymentProcessor.Quote memory q = _quote(alice, basic, 1, address(usdc), BASIC_PRICE, aliceSub);
        bytes memory sig = _signQuote(q);
        vm.prank(alice);
        pp.pay(q, sig);
        uint256 used = vm.snapshotGasLastCall("pay (renewal)");
        assertLt(used, PAY_BOUND, "renewal");
    }

    function test_gas_pay_upgrade() public {
        vm.warp(block.timestamp + 10 days);
        IPaymentProcessor.Quote memory q = _quote(alice, pro, 0, address(usdc), 0, aliceSub);
        (,, q.amount) = pp.previewQuote(q, block.timestamp);
        bytes memory sig = _signQuote(q);
        vm.prank(alice);
        pp.pay(q, sig);
        uint256 used = vm.snapshotGasLastCall("pay (plan upgrade, prorated)");
        assertLt(used, 110_000, "upgrade");
    }

    function test_gas_payWithPermit_newSubscriber() public {
        vm.prank(carol);
        usdc.approve(address(pp), 0);
        IPaymentProcessor.Quote memory q = _newQuote(carol, basic, 1);
        bytes memory sig = _signQuote(q);
        (uint8 v, bytes32 r, bytes32 s) = _permitSig(carolPk, carol, q.amount, block.timestamp + 1 hours);
        vm.prank(carol);
        pp.payWithPermit(q, sig, block.timestamp + 1 hours, v, r, s);
        uint256 used = vm.snapshotGasLastCall("payWithPermit (new subscriber)");
        assertLt(used, 130_000, "permit");
    }

    function test_gas_payWithAuthorization_newSubscriber() public {
        IPaymentProcessor.Quote memory q = _newQuote(carol, basic, 1);
        bytes memory sig = _signQuote(q);
        (uint8 v, bytes32 r, bytes32 s) =
            _authSig(RECEIVE_TYPEHASH, carolPk, carol, q.amount, block.timestamp + 1 hours, _digest(q));
        vm.prank(relayer);
        pp.payWithAuthorization(q, sig, 0, block.timestamp + 1 hours, v, r, s);
        uint256 used = vm.snapshotGasLastCall("payWithAuthorization (EIP-3009 receive, relayer)");
        assertLt(used, 140_000, "3009 receive");
    }

    function test_gas_payWithTransferAuthorization_newSubscriber() public {
        bytes32 nonce = keccak256("x402 nonce");
        IPaymentProcessor.Quote memory q = _x402Quote(carol, basic, nonce);
        bytes memory sig = _signQuote(q);
        (uint8 v, bytes32 r, bytes32 s) =
            _authSig(TRANSFER_TYPEHASH, carolPk, carol, q.amount, block.timestamp + 1 hours, nonce);
        vm.prank(relayer);
        pp.payWithTransferAuthorization(q, sig, 0, block.timestamp + 1 hours, nonce, v, r, s);
        uint256 used = vm.snapshotGasLastCall("payWithTransferAuthorization (x402/MPP, relayer)");
        assertLt(used, 165_000, "3009 transfer");
    }

    function test_gas_isActive() public {
        pp.isActive(aliceSub);
        uint256 used = vm.snapshotGasLastCall("isActive (through the admin extension)");
        assertLt(used, 40_000, "isActive");
    }
}
