// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {ISubscriptionManager} from "../src/interfaces/ISubscriptionManager.sol";
import {LitgateUpgradeable} from "../src/utils/LitgateUpgradeable.sol";
import {LitgateTestBase} from "./Base.t.sol";

contract SubscriptionManagerTest is LitgateTestBase {
    address internal usdcAddr;

    function setUp() public override {
        super.setUp();
        _becomeIssuer();
        usdcAddr = address(usdc);
    }

    function _create(address owner, uint16 planId, uint32 periods) internal returns (uint256 id, uint40 end) {
        (id, end,) = sm.createSubscription(owner, address(0), planId, 0, periods, usdcAddr);
    }

    // ------------------------------------------------------------------ plans

    function test_createPlan_storesPlanAndEmits() public {
        ISubscriptionManager.QoS memory qos = _qos(7, 70);
        vm.expectEmit(address(sm));
        emit ISubscriptionManager.PlanCreated(4, 1 days, qos);
        vm.prank(operator);
        uint16 id = sm.createPlan(qos, 1 days);
        assertEq(id, 4);
        assertEq(sm.planCount(), 4);
        ISubscriptionManager.Plan memory plan = sm.getPlan(id);
        assertEq(plan.periodSeconds, 1 days);
        assertTrue(plan.active);
        assertEq(plan.qos.requestsPerSecond, 7);
        assertEq(plan.qos.requestsPerDay, 70);
        assertEq(plan.qos.requestsPerMonth, 2100);
        assertEq(plan.qos.bandwidthBytesPerPeriod, 10 << 30);
        assertEq(plan.qos.maxConcurrentStreams, 2);
    }

    function test_createPlan_revertsOnZeroPeriod() public {
        vm.prank(operator);
        vm.expectRevert(ISubscriptionManager.InvalidPeriod.selector);
        sm.createPlan(_qos(1, 1), 0);
    }

    function test_createPlan_revertsForNonOperator() public {
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, alice, OPERATOR_ROLE)
        );
        vm.prank(alice);
        sm.createPlan(_qos(1, 1), 1 days);
    }

    function test_createPlan_revertsWhenPlanIdsExhausted() public {
        // planCount lives in the namespaced storage root, packed after the uint64 lastSubscriptionId.
        bytes32 root = 0x00159bff590b407c1112ad4ca607e0755942a0bf5dbf02c8a46caf78d066fb00;
        vm.store(address(sm), root, bytes32(uint256(type(uint16).max) << 64));
        assertEq(sm.planCount(), type(uint16).max);
        vm.prank(operator);
        vm.expectRevert(ISubscriptionManager.TooManyPlans.selector);
        sm.createPlan(_qos(1, 1), 1 days);
    }

    function test_setPlanQoS_updatesAndEmits() public {
        ISubscriptionManager.QoS memory qos = _qos(50, 5000);
        vm.expectEmit(address(sm));
        emit ISubscriptionManager.PlanQoSUpdated(basic, qos);
        vm.prank(operator);
        sm.setPlanQoS(basic, qos);
        assertEq(sm.getPlan(basic).qos.requestsPerSecond, 50);
    }

    function test_setPlanQoS_revertsForUnknownPlan() public {
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(ISubscriptionManager.UnknownPlan.selector, uint16(99)));
        sm.setPlanQoS(99, _qos(1, 1));
    }

    function test_setPlanActive_togglesAndEmits() public {
        vm.expectEmit(address(sm));
        emit ISubscriptionManager.PlanActiveSet(basic, false);
        vm.prank(operator);
        sm.setPlanActive(basic, false);
        assertFalse(sm.getPlan(basic).active);
        vm.expectRevert(abi.encodeWithSelector(ISubscriptionManager.PlanInactive.selector, basic));
        _create(alice, basic, 1);
    }

    function test_setPlanPrice_setsAndEmits() public {
        vm.expectEmit(address(sm));
        emit ISubscriptionManager.PlanPriceSet(weekly, address(usdt), 4e6);
        vm.prank(operator);
        sm.setPlanPrice(weekly, address(usdt), 4e6);
        assertEq(sm.priceOf(weekly, address(usdt)), 4e6);
    }

    function test_setPlanPrice_revertsOnZeroToken() public {
        vm.prank(operator);
        vm.expectRevert(LitgateUpgradeable.ZeroAddress.selector);
        sm.setPlanPrice(basic, address(0), 1);
    }

    function test_setPlanPrice_revertsForUnknownPlan() public {
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(ISubscriptionManager.UnknownPlan.selector, uint16(0)));
        sm.setPlanPrice(0, usdcAddr, 1);
    }

    function test_getPlan_revertsForUnknownPlan() public {
        vm.expectRevert(abi.encodeWithSelector(ISubscriptionManager.UnknownPlan.selector, uint16(4)));
        sm.getPlan(4);
    }

    // ------------------------------------------------------------------ create

    function test_createSubscription_startsNowAndEmits() public {
        uint40 start = uint40(block.timestamp);
        vm.expectEmit(address(sm));
        emit ISubscriptionManager.SubscriptionCreated(1, alice, alice, basic, start, start + 2 * MONTH);
        (uint256 id, uint40 end, uint256 due) = sm.createSubscription(alice, address(0), basic, 0, 2, usdcAddr);
        assertEq(id, 1);
        assertEq(end, start + 2 * MONTH);
        assertEq(due, 2 * BASIC_PRICE);
        assertEq(sm.subscriptionCount(), 1);
        ISubscriptionManager.SubscriptionInfo memory info = sm.getSubscription(id);
        assertEq(info.owner, alice);
        assertEq(info.beneficiary, alice);
        assertEq(info.planId, basic);
        assertEq(info.start, start);
        assertEq(info.end, end);
        assertEq(uint8(info.status), uint8(ISubscriptionManager.Status.Live));
        assertTrue(sm.isActive(id));
        assertEq(sm.ownerOf(id), alice);
        assertEq(sm.planOf(id), basic);
        assertEq(sm.qosOf(id).requestsPerSecond, 10);
    }

    function test_createSubscription_withBeneficiaryAndFutureStart() public {
        uint40 start = uint40(block.timestamp + 1 days);
        vm.expectEmit(address(sm));
        emit ISubscriptionManager.SubscriptionCreated(1, alice, bob, weekly, start, start + 7 days);
        (uint256 id,,) = sm.createSubscription(alice, bob, weekly, start, 1, usdcAddr);
        assertEq(sm.getSubscription(id).beneficiary, bob);
        assertFalse(sm.isActive(id), "not started yet");
        assertTrue(sm.isActiveAt(id, start));
        assertFalse(sm.isActiveAt(id, start + 7 days), "end is exclusive");
        vm.warp(start);
        assertTrue(sm.isActive(id));
    }

    function test_createSubscription_beneficiaryEqualToOwnerIsNotStored() public {
        (uint256 id,,) = sm.createSubscription(alice, alice, basic, 0, 1, usdcAddr);
        assertEq(sm.getSubscription(id).beneficiary, alice);
    }

    function test_createSubscription_operatorGrantWithoutTokenIsFree() public {
        (, , uint256 due) = sm.createSubscription(alice, address(0), basic, 0, 3, address(0));
        assertEq(due, 0);
    }

    function test_createSubscription_reverts() public {
        vm.expectRevert(LitgateUpgradeable.ZeroAddress.selector);
        sm.createSubscription(address(0), address(0), basic, 0, 1, usdcAddr);

        vm.expectRevert(abi.encodeWithSelector(ISubscriptionManager.UnknownPlan.selector, uint16(9)));
        sm.createSubscription(alice, address(0), 9, 0, 1, usdcAddr);

        vm.expectRevert(ISubscriptionManager.StartInPast.selector);
        sm.createSubscription(alice, address(0), basic, uint40(block.timestamp - 1), 1, usdcAddr);

        vm.expectRevert(ISubscriptionManager.ZeroPeriods.selector);
        sm.createSubscription(alice, address(0), basic, 0, 0, usdcAddr);

        vm.expectRevert(ISubscriptionManager.EndOverflow.selector);
        sm.createSubscription(alice, address(0), basic, type(uint40).max - 1, 1, usdcAddr);

        vm.expectRevert(abi.encodeWithSelector(ISubscriptionManager.TokenNotAccepted.selector, weekly, address(usdt)));
        sm.createSubscription(alice, address(0), weekly, 0, 1, address(usdt));
    }

    function test_createSubscription_revertsForNonIssuer() public {
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, operator, ISSUER_ROLE)
        );
        vm.prank(operator);
        sm.createSubscription(alice, address(0), basic, 0, 1, usdcAddr);
    }

    // ------------------------------------------------------------------ issuer hint (fast ISSUER_ROLE check)

    function test_issuerHint_isTheProcessorAndFollowsTheRole() public {
        assertEq(sm.issuerHint(), address(pp), "first issuer granted at initialisation");
        _becomeIssuer(); // a second issuer: the hint stays, the newcomer takes the hasRole path
        assertEq(sm.issuerHint(), address(pp));
        (uint256 id,) = _create(alice, basic, 1);
        assertEq(sm.ownerOf(id), alice, "non-hint issuer still issues through hasRole");

        vm.prank(admin);
        sm.revokeRole(ISSUER_ROLE, address(this)); // revoking a non-hint issuer keeps the hint
        assertEq(sm.issuerHint(), address(pp));

        vm.prank(admin);
        sm.revokeRole(ISSUER_ROLE, address(pp));
        assertEq(sm.issuerHint(), address(0), "hint cleared with its role");
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, address(pp), ISSUER_ROLE)
        );
        vm.prank(address(pp));
        sm.createSubscription(alice, address(0), basic, 0, 1, usdcAddr);

        vm.prank(admin);
        sm.grantRole(OPERATOR_ROLE, bob); // other roles never fill the hint
        assertEq(sm.issuerHint(), address(0));
        _becomeIssuer();
        assertEq(sm.issuerHint(), address(this), "next issuer granted fills the empty hint");
        sm.renounceRole(ISSUER_ROLE, address(this));
        assertEq(sm.issuerHint(), address(0), "renouncing clears it too");
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, address(this), ISSUER_ROLE)
        );
        sm.renew(id, 1, usdcAddr);
    }

    // ------------------------------------------------------------------ renew

    function test_renew_stacksOnCurrentEnd() public {
        (uint256 id, uint40 end) = _create(alice, basic, 1);
        vm.warp(block.timestamp + 10 days);
        uint40 start = sm.getSubscription(id).start;
        vm.expectEmit(address(sm));
        emit ISubscriptionManager.SubscriptionRenewed(id, 2, start, end + 2 * MONTH);
        (uint40 newEnd, uint256 due) = sm.renew(id, 2, usdcAddr);
        assertEq(newEnd, end + 2 * MONTH, "early renewal keeps the unused time");
        assertEq(due, 2 * BASIC_PRICE);
        assertEq(sm.getSubscription(id).start, start);
    }

    function test_renew_lapsedRestartsNow() public {
        (uint256 id, uint40 end) = _create(alice, basic, 1);
        vm.warp(end + 5 days);
        uint40 nowTs = uint40(block.timestamp);
        assertFalse(sm.isActive(id));
        vm.expectEmit(address(sm));
        emit ISubscriptionManager.SubscriptionRenewed(id, 1, nowTs, nowTs + MONTH);
        (uint40 newEnd,) = sm.renew(id, 1, usdcAddr);
        assertEq(newEnd, nowTs + MONTH);
        assertEq(sm.getSubscription(id).start, nowTs);
        assertTrue(sm.isActive(id));
    }

    function test_renew_reverts() public {
        (uint256 id,) = _create(alice, basic, 1);
        vm.expectRevert(ISubscriptionManager.ZeroPeriods.selector);
        sm.renew(id, 0, usdcAddr);
        vm.expectRevert(abi.encodeWithSelector(ISubscriptionManager.UnknownSubscription.selector, 42));
        sm.renew(42, 1, usdcAddr);
        vm.expectRevert(abi.encodeWithSelector(ISubscriptionManager.TokenNotAccepted.selector, basic, address(0xdead)));
        sm.renew(id, 1, address(0xdead));
        vm.prank(operator);
        sm.setPlanActive(basic, false);
        vm.expectRevert(abi.encodeWithSelector(ISubscriptionManager.PlanInactive.selector, basic));
        sm.renew(id, 1, usdcAddr);
    }

    function test_renew_revertsWhenCancelledOrRevoked() public {
        (uint256 id,) = _create(alice, basic, 1);
        vm.prank(alice);
        sm.cancel(id);
        vm.expectRevert(abi.encodeWithSelector(ISubscriptionManager.SubscriptionNotLive.selector, id));
        sm.renew(id, 1, usdcAddr);
        (uint256 id2,) = _create(alice, basic, 1);
        vm.prank(admin);
        sm.revoke(id2);
        vm.expectRevert(abi.encodeWithSelector(ISubscriptionManager.SubscriptionNotLive.selector, id2));
        sm.renew(id2, 1, usdcAddr);
    }

    // ------------------------------------------------------------------ change plan (proration)

    function test_changePlan_upgradeChargesDifferenceForUnusedTime() public {
        (uint256 id, uint40 end) = _create(alice, basic, 1);
        vm.warp(block.timestamp + 10 days); // 20 of 30 days unused
        // (30 - 10) USDC per 30 days for 20 days = 13.333334 (rounded up), end unchanged.
        (uint40 s0, uint40 e0, uint256 preview) = sm.previewChangePlan(id, pro, 0, usdcAddr, block.timestamp);
        vm.expectEmit(address(sm));
        emit ISubscriptionManager.SubscriptionPlanChanged(id, basic, pro, 0, s0, end);
        (uint40 newEnd, uint256 due) = sm.changePlan(id, pro, 0, usdcAddr);
        assertEq(newEnd, end);
        assertEq(e0, end);
        assertEq(due, 13_333_334);
        assertEq(due, preview);
        assertEq(sm.planOf(id), pro);
        assertEq(sm.qosOf(id).requestsPerSecond, 100);
    }

    function test_changePlan_upgradeWithExtraPeriods() public {
        (uint256 id, uint40 end) = _create(alice, basic, 1);
        vm.warp(block.timestamp + 15 days);
        (uint40 newEnd, uint256 due) = sm.changePlan(id, pro, 1, usdcAddr);
        assertEq(newEnd, end + MONTH);
        assertEq(due, 10e6 + PRO_PRICE, "15 days of the 20 USDC/month difference + one pro month");
    }

    function test_changePlan_downgradeConvertsUnusedValueToTime() public {
        (uint256 id,) = _create(alice, pro, 1);
        vm.warp(block.timestamp + 20 days); // 10 days of pro left = 10 USDC of value
        uint256 nowTs = block.timestamp;
        (uint40 newEnd, uint256 due) = sm.changePlan(id, basic, 0, usdcAddr);
        assertEq(due, 0);
        assertEq(newEnd, nowTs + 30 days, "10 pro days = 30 basic days");
    }

    function test_changePlan_acrossPeriodLengths() public {
        (uint256 id,) = _create(alice, basic, 1); // 10 USDC / 30 days
        vm.warp(block.timestamp + 16 days); // 14 days left
        // weekly: 3 USDC / 7 days is pricier per second (0.4286/day vs 0.3333/day): upgrade.
        (uint40 newEnd, uint256 due) = sm.changePlan(id, weekly, 0, usdcAddr);
        assertEq(newEnd, block.timestamp + 14 days);
        // 14 days * (3/7 - 10/30) per day = 14 * (90 - 70) / 210 = 1.333334 (ceil)
        assertEq(due, 1_333_334);
        // and back down: 14 days of weekly value = 6 USDC = 18 basic days
        (newEnd, due) = sm.changePlan(id, basic, 0, usdcAddr);
        assertEq(due, 0);
        assertEq(newEnd, block.timestamp + 18 days);
    }

    function test_changePlan_beforeStartAnchorsAtStart() public {
        uint40 start = uint40(block.timestamp + 10 days);
        (uint256 id,,) = sm.createSubscription(alice, address(0), pro, start, 1, usdcAddr);
        (uint40 newEnd, uint256 due) = sm.changePlan(id, basic, 0, usdcAddr);
        assertEq(due, 0);
        assertEq(newEnd, start + 90 days, "a whole unused pro month buys three basic months");
        assertEq(sm.getSubscription(id).start, start);
    }

    function test_changePlan_lapsedRestartsNow() public {
        (uint256 id, uint40 end) = _create(alice, basic, 1);
        vm.warp(end + 1);
        (uint40 newEnd, uint256 due) = sm.changePlan(id, pro, 1, usdcAddr);
        assertEq(newEnd, block.timestamp + MONTH);
        assertEq(due, PRO_PRICE);
        assertEq(sm.getSubscription(id).start, block.timestamp);
    }

    function test_changePlan_operatorGrantCarriesTimeOneToOne() public {
        (uint256 id, uint40 end) = _create(alice, basic, 1);
        vm.warp(block.timestamp + 3 days);
        (uint40 newEnd, uint256 due) = sm.changePlan(id, weekly, 1, address(0));
        assertEq(newEnd, end + 7 days);
        assertEq(due, 0);
    }

    function test_changePlan_reverts() public {
        (uint256 id, uint40 end) = _create(alice, basic, 1);
        vm.expectRevert(ISubscriptionManager.SamePlan.selector);
        sm.changePlan(id, basic, 1, usdcAddr);
        vm.expectRevert(abi.encodeWithSelector(ISubscriptionManager.UnknownPlan.selector, uint16(77)));
        sm.changePlan(id, 77, 1, usdcAddr);
        vm.expectRevert(abi.encodeWithSelector(ISubscriptionManager.TokenNotAccepted.selector, weekly, address(usdt)));
        sm.changePlan(id, weekly, 0, address(usdt)); // weekly has no USDT price
        (uint256 idUsdt,,) = sm.createSubscription(alice, address(0), weekly, 0, 1, address(0));
        vm.expectRevert(abi.encodeWithSelector(ISubscriptionManager.TokenNotAccepted.selector, weekly, address(usdt)));
        sm.changePlan(idUsdt, basic, 0, address(usdt)); // old plan has no USDT price
        vm.warp(end);
        vm.expectRevert(ISubscriptionManager.ZeroPeriods.selector);
        sm.changePlan(id, pro, 0, usdcAddr);
        vm.expectRevert(ISubscriptionManager.EndOverflow.selector);
        sm.previewChangePlan(id, pro, 1, usdcAddr, uint256(type(uint40).max) + 1);
    }

    function test_changePlan_downgradeOverflowReverts() public {
        vm.prank(operator);
        sm.setPlanPrice(weekly, usdcAddr, 1); // absurdly cheap: conversion overflows uint40
        (uint256 id,) = _create(alice, pro, 1000);
        vm.expectRevert(ISubscriptionManager.EndOverflow.selector);
        sm.changePlan(id, weekly, 0, usdcAddr);
    }

    // ------------------------------------------------------------------ cancel, revoke, beneficiary

    function test_cancel_byOwnerKeepsAccessUntilEnd() public {
        (uint256 id, uint40 end) = _create(alice, basic, 1);
        vm.expectEmit(address(sm));
        emit ISubscriptionManager.SubscriptionCancelled(id, alice);
        vm.prank(alice);
        sm.cancel(id);
        ISubscriptionManager.SubscriptionInfo memory info = sm.getSubscription(id);
        assertEq(uint8(info.status), uint8(ISubscriptionManager.Status.Cancelled));
        assertEq(info.end, end);
        assertTrue(sm.isActive(id));
        vm.warp(end);
        assertFalse(sm.isActive(id));
        vm.expectRevert(abi.encodeWithSelector(ISubscriptionManager.SubscriptionNotLive.selector, id));
        vm.prank(alice);
        sm.cancel(id);
    }

    function test_cancel_byOperator() public {
        (uint256 id,) = _create(alice, basic, 1);
        vm.expectEmit(address(sm));
        emit ISubscriptionManager.SubscriptionCancelled(id, operator);
        vm.prank(operator);
        sm.cancel(id);
    }

    function test_cancel_revertsForStranger() public {
        (uint256 id,) = _create(alice, basic, 1);
        vm.expectRevert(abi.encodeWithSelector(ISubscriptionManager.NotSubscriptionOwner.selector, id));
        vm.prank(bob);
        sm.cancel(id);
    }

    function test_revoke_endsNowAndEmits() public {
        (uint256 id,) = _create(alice, basic, 1);
        vm.warp(block.timestamp + 1 days);
        vm.expectEmit(address(sm));
        emit ISubscriptionManager.SubscriptionRevoked(id, admin, uint40(block.timestamp));
        vm.prank(admin);
        sm.revoke(id);
        assertFalse(sm.isActive(id));
        ISubscriptionManager.SubscriptionInfo memory info = sm.getSubscription(id);
        assertEq(info.end, block.timestamp);
        assertEq(uint8(info.status), uint8(ISubscriptionManager.Status.Revoked));
        vm.expectRevert(abi.encodeWithSelector(ISubscriptionManager.AlreadyRevoked.selector, id));
        vm.prank(admin);
        sm.revoke(id);
    }

    function test_revoke_futureSubscriptionCollapsesToEmpty() public {
        uint40 start = uint40(block.timestamp + 1 days);
        (uint256 id,,) = sm.createSubscription(alice, address(0), basic, start, 1, usdcAddr);
        vm.prank(admin);
        sm.revoke(id);
        ISubscriptionManager.SubscriptionInfo memory info = sm.getSubscription(id);
        assertEq(info.start, block.timestamp);
        assertEq(info.end, block.timestamp);
        assertFalse(sm.isActiveAt(id, start));
    }

    function test_revoke_expiredKeepsEnd() public {
        (uint256 id, uint40 end) = _create(alice, basic, 1);
        vm.warp(end + 10);
        vm.prank(admin);
        sm.revoke(id);
        assertEq(sm.getSubscription(id).end, end);
    }

    function test_revoke_reverts() public {
        (uint256 id,) = _create(alice, basic, 1);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, operator, ADMIN_ROLE)
        );
        vm.prank(operator);
        sm.revoke(id);
        vm.expectRevert(abi.encodeWithSelector(ISubscriptionManager.UnknownSubscription.selector, 9));
        vm.prank(admin);
        sm.revoke(9);
    }

    function test_setBeneficiary() public {
        (uint256 id,) = _create(alice, basic, 1);
        vm.expectEmit(address(sm));
        emit ISubscriptionManager.BeneficiaryChanged(id, bob);
        vm.prank(alice);
        sm.setBeneficiary(id, bob);
        assertEq(sm.getSubscription(id).beneficiary, bob);
        vm.expectEmit(address(sm));
        emit ISubscriptionManager.BeneficiaryChanged(id, alice);
        vm.prank(alice);
        sm.setBeneficiary(id, alice);
        assertEq(sm.getSubscription(id).beneficiary, alice);
        vm.prank(alice);
        sm.setBeneficiary(id, address(0));
        assertEq(sm.getSubscription(id).beneficiary, alice);
        vm.expectRevert(abi.encodeWithSelector(ISubscriptionManager.NotSubscriptionOwner.selector, id));
        vm.prank(bob);
        sm.setBeneficiary(id, bob);
    }

    function test_views_unknownSubscription() public {
        assertFalse(sm.isActive(5));
        assertFalse(sm.isActiveAt(5, block.timestamp));
        vm.expectRevert(abi.encodeWithSelector(ISubscriptionManager.UnknownSubscription.selector, 5));
        sm.getSubscription(5);
        vm.expectRevert(abi.encodeWithSelector(ISubscriptionManager.UnknownSubscription.selector, 5));
        sm.ownerOf(5);
        vm.expectRevert(abi.encodeWithSelector(ISubscriptionManager.UnknownSubscription.selector, 5));
        sm.planOf(5);
        vm.expectRevert(abi.encodeWithSelector(ISubscriptionManager.UnknownSubscription.selector, 5));
        sm.qosOf(5);
        vm.expectRevert(abi.encodeWithSelector(ISubscriptionManager.UnknownSubscription.selector, 5));
        sm.previewChangePlan(5, pro, 1, usdcAddr, block.timestamp);
    }

    // ------------------------------------------------------------------ fuzz

    /// @dev Creation: end = start + periods * period, active exactly on [start, end).
    function testFuzz_createSubscription_window(uint32 periods, uint32 delay, uint256 probe) public {
        periods = uint32(bound(periods, 1, 10_000));
        delay = uint32(bound(delay, 0, 365 days));
        uint40 start = uint40(block.timestamp + delay);
        (uint256 id, uint40 end, uint256 due) =
            sm.createSubscription(alice, address(0), basic, delay == 0 ? 0 : start, periods, usdcAddr);
        assertEq(end, uint256(start) + uint256(periods) * MONTH);
        assertEq(due, uint256(periods) * BASIC_PRICE);
        probe = bound(probe, 0, uint256(end) + 1 days);
        assertEq(sm.isActiveAt(id, probe), probe >= start && probe < end);
    }

    /// @dev Renewal never moves the end backwards and adds exactly periods * period past max(end, now).
    function testFuzz_renew_stacks(uint32 first, uint32 more, uint32 elapsed) public {
        first = uint32(bound(first, 1, 1_000));
        more = uint32(bound(more, 1, 1_000));
        elapsed = uint32(bound(elapsed, 0, 3 * 365 days));
        (uint256 id, uint40 end) = _create(alice, basic, first);
        vm.warp(block.timestamp + elapsed);
        (uint40 newEnd,) = sm.renew(id, more, usdcAddr);
        uint256 base = end > block.timestamp ? end : block.timestamp;
        assertEq(newEnd, base + uint256(more) * MONTH);
        assertGe(newEnd, end);
        assertTrue(sm.isActive(id));
    }

    /// @dev Plan changes never shorten a subscription, and an upgrade never costs more than the
    ///      price difference for the whole remaining time.
    function testFuzz_changePlan_neverShortens(uint32 elapsed, uint128 newPrice, uint32 newPeriod, uint32 periods)
        public
    {
        newPeriod = uint32(bound(newPeriod, 1 hours, 365 days));
        newPrice = uint128(bound(newPrice, 1e4, 1e15)); // cheaper plans overflow uint40 ends (tested separately)
        periods = uint32(bound(periods, 0, 12));
        vm.startPrank(operator);
        uint16 other = sm.createPlan(_qos(1, 1), newPeriod);
        sm.setPlanPrice(other, usdcAddr, newPrice);
        vm.stopPrank();
        (uint256 id, uint40 end) = _create(alice, basic, 3);
        elapsed = uint32(bound(elapsed, 0, 3 * MONTH - 1));
        vm.warp(block.timestamp + elapsed);
        uint256 unused = end - block.timestamp;
        (uint40 newEnd, uint256 due) = sm.changePlan(id, other, periods, usdcAddr);
        assertGe(newEnd, uint256(end) + uint256(periods) * newPeriod);
        uint256 upgradeCost = due - uint256(periods) * newPrice;
        // cost of the remaining time at the new per-second price, rounded up
        assertLe(upgradeCost, unused * newPrice / newPeriod + 1);
    }
}
