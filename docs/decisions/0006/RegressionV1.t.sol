// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {IPaymentProcessor} from "../src/interfaces/IPaymentProcessor.sol";
import {LitgateTestBase} from "./Base.t.sol";

/// @dev A 6-decimal token without EIP-3009 whose fallback accepts any call (receiveWithAuthorization "succeeds").
contract FallbackToken is ERC20 {
    constructor() ERC20("Fallback", "FBK") {}

    function decimals() public pure override returns (uint8) {
        return 6;
    }

    fallback() external {}
}

/// @dev v1 regressions: each asserts the safe behaviour, so each FAILS on v1 (the exploit works).
contract RegressionV1Test is LitgateTestBase {
    function test_regression_strangerCannotChangeVictimsPlan() public {
        uint256 victim = _buy(alice, pro, 1);
        vm.warp(block.timestamp + 1 days);
        IPaymentProcessor.Quote memory q = _quote(bob, basic, 0, address(usdc), 1, victim);
        bytes memory sig = _signQuote(q);
        vm.prank(bob);
        vm.expectRevert();
        pp.pay(q, sig);
        assertEq(sm.planOf(victim), pro, "victim still on pro");
    }

    function test_regression_crossTokenProrationCreatesNoTime() public {
        // basic: 10 in both; pro: 30 in usdc (ratio 3), 10.0001 in usdt (ratio ~1)
        vm.prank(operator);
        sm.setPlanPrice(pro, address(usdt), 10_000_100);
        uint256 id = _buy(alice, basic, 1);
        uint256 spent = BASIC_PRICE;
        for (uint256 i; i < 4; ++i) {
            (,, uint256 due) = sm.previewChangePlan(id, pro, 0, address(usdt), block.timestamp);
            IPaymentProcessor.Quote memory up = _quote(alice, pro, 0, address(usdt), due + 1, id);
            bytes memory s1 = _signQuote(up);
            vm.prank(alice);
            pp.pay(up, s1);
            spent += due + 1;
            IPaymentProcessor.Quote memory down = _quote(alice, basic, 0, address(usdc), 1, id);
            bytes memory s2 = _signQuote(down);
            vm.prank(alice);
            pp.pay(down, s2);
            spent += 1;
        }
        uint256 secondsBought = uint256(sm.getSubscription(id).end) - block.timestamp;
        // value of the time at the basic price must not exceed what was paid
        assertLe(secondsBought * BASIC_PRICE / MONTH, spent, "time created from nothing");
    }

    function test_regression_payWithAuthorizationChecksTokensArrived() public {
        FallbackToken fake = new FallbackToken();
        vm.prank(admin);
        pp.setTokenAccepted(address(fake), true);
        vm.prank(operator);
        sm.setPlanPrice(basic, address(fake), BASIC_PRICE);
        IPaymentProcessor.Quote memory q = _quote(alice, basic, 1, address(fake), BASIC_PRICE, 0);
        bytes memory sig = _signQuote(q);
        vm.prank(relayer);
        try pp.payWithAuthorization(q, sig, 0, block.timestamp + 1 hours, 27, bytes32(0), bytes32(0)) {} catch {}
        assertFalse(pp.isQuotePaid(q.quoteId), "activated without any tokens");
    }

    function test_regression_retriedRefundCreditsOnce() public {
        IPaymentProcessor.Quote memory q = _newQuote(alice, basic, 1);
        bytes memory sig = _signQuote(q);
        vm.prank(alice);
        pp.pay(q, sig);
        vm.startPrank(admin);
        pp.refund(q.quoteId, 4e6);
        try pp.refund(q.quoteId, 4e6) {} catch {} // the same refund retried after a dropped send
        vm.stopPrank();
        assertEq(pp.refundOwed(alice, address(usdc)), 4e6, "credited twice");
    }
}
