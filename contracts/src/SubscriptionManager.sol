// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {ISubscriptionManager} from "./interfaces/ISubscriptionManager.sol";
import {LitgateUpgradeable} from "./utils/LitgateUpgradeable.sol";
import {Roles} from "./utils/Roles.sol";

/// @title SubscriptionManager
/// @notice Plans (tiers) with QoS limits and per-token prices, and time-bound subscriptions
///         (owner, beneficiary, plan, [start, end)) validated against `block.timestamp`.
/// @dev Subscriptions are created and extended by ISSUER_ROLE (the PaymentProcessor, which has checked a
///      payment, or an operator granting access). Issuer calls take the payment token and return the amount
///      due from on-chain prices, so the caller can check what was paid (token == address(0): no charge).
///
///      Proration rule for plan changes at time t (see contracts/README.md): let a = max(t, start) and
///      r = end - a the unused seconds, priced per second at price/periodSeconds in the payment token.
///      - Upgrade (new per-second price >= old): the end is unchanged and the difference for the unused time
///        is due, rounded up: ceil(r * (pNew*periodOld - pOld*periodNew) / (periodOld*periodNew)).
///      - Downgrade (new per-second price < old): nothing is due and the unused value buys time on the new
///        plan, rounded down: end = a + floor(r * pOld*periodNew / (pNew*periodOld)).
///      - Either way `periods` new periods are then added at the new plan's price. A lapsed subscription has
///        nothing to prorate and restarts at t. With token == address(0) (operator grant) r carries over 1:1.
///      So an end never decreases except through `revoke`.
contract SubscriptionManager is LitgateUpgradeable, ISubscriptionManager {
    /// @dev Packed into one slot: owner (160) | start (40) | end (40) | planId (16).
    struct Subscription {
        address owner;
        uint40 start;
        uint40 end;
        uint16 planId;
    }

    /// @dev Only written when the beneficiary differs from the owner or the status leaves Live.
    struct SubscriptionExtra {
        address beneficiary;
        Status status;
    }

    /// @custom:storage-location erc7201:litgate.storage.SubscriptionManager
    /// @dev Layout v1 (frozen from here on: only append). Slot 0 packs the id counters with `issuerHint`, one
    ///      current ISSUER_ROLE member (the PaymentProcessor proxy in a deployment), so that a creation checks
    ///      the issuer and bumps the id with one cold SLOAD instead of two. Invariant: issuerHint is zero or
    ///      holds ISSUER_ROLE (set on the first grant while empty, cleared when its role is revoked).
    struct SubscriptionManagerStorage {
        uint64 lastSubscriptionId;
        uint16 planCount;
        address issuerHint;
        mapping(uint256 planId => Plan) plans;
        mapping(uint256 planId => mapping(address token => uint128)) prices;
        mapping(uint256 subscriptionId => Subscription) subscriptions;
        mapping(uint256 subscriptionId => SubscriptionExtra) extras;
    }

    // keccak256(abi.encode(uint256(keccak256("litgate.storage.SubscriptionManager")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 private constant STORAGE_SLOT = 0x00159bff590b407c1112ad4ca607e0755942a0bf5dbf02c8a46caf78d066fb00;

    /// @dev ISSUER_ROLE check with a fast path for the cached issuer (see `issuerHint`); same revert as onlyRole.
    modifier onlyIssuer() {
        if (msg.sender != _s().issuerHint) _checkRole(Roles.ISSUER_ROLE);
        _;
    }

    function _s() private pure returns (SubscriptionManagerStorage storage $) {
        assembly {
            $.slot := STORAGE_SLOT
        }
    }

    /// @notice Initialises the proxy. Roles go only to the given addresses; operator and issuer are optional.
    function initialize(address admin, address upgrader, address operator, address issuer) external initializer {
        __LitgateUpgradeable_init(admin, upgrader);
        _grantIfSet(Roles.OPERATOR_ROLE, operator);
        _grantIfSet(Roles.ISSUER_ROLE, issuer);
    }

    // ------------------------------------------------------------------ plans (operator)

    /// @notice Creates a plan (active, no prices yet) and returns its id (ids start at 1).
    function createPlan(QoS calldata qos, uint32 periodSeconds)
        external
        onlyRole(Roles.OPERATOR_ROLE)
        returns (uint16 planId)
    {
        if (periodSeconds == 0) revert InvalidPeriod();
        SubscriptionManagerStorage storage $ = _s();
        if ($.planCount == type(uint16).max) revert TooManyPlans();
        planId = ++$.planCount;
        $.plans[planId] = Plan({qos: qos, periodSeconds: periodSeconds, active: true});
        emit PlanCreated(planId, periodSeconds, qos);
    }

    /// @notice Replaces a plan's QoS limits (applies to existing subscriptions on the plan).
    function setPlanQoS(uint16 planId, QoS calldata qos) external onlyRole(Roles.OPERATOR_ROLE) {
        _plan(planId).qos = qos;
        emit PlanQoSUpdated(planId, qos);
    }

    /// @notice An inactive plan cannot be bought, renewed or switched to; existing subscriptions keep running.
    function setPlanActive(uint16 planId, bool active) external onlyRole(Roles.OPERATOR_ROLE) {
        _plan(planId).active = active;
        emit PlanActiveSet(planId, active);
    }

    /// @notice Sets the price per period in `token` base units; 0 stops accepting `token` for the plan.
    function setPlanPrice(uint16 planId, address token, uint128 pricePerPeriod)
        external
        onlyRole(Roles.OPERATOR_ROLE)
    {
        if (token == address(0)) revert ZeroAddress();
        _plan(planId);
        _s().prices[planId][token] = pricePerPeriod;
        emit PlanPriceSet(planId, token, pricePerPeriod);
    }

    // ------------------------------------------------------------------ subscriptions (issuer)

    /// @notice Creates a subscription of `periods` periods from `start` (0 = now; never in the past).
    /// @return subscriptionId the new id (ids start at 1)
    /// @return end the end of the subscription (exclusive)
    /// @return amountDue periods * price in `token`, or 0 when token == address(0)
    function createSubscription(
        address owner,
        address beneficiary,
        uint16 planId,
        uint40 start,
        uint32 periods,
        address token
    ) external onlyIssuer returns (uint256 subscriptionId, uint40 end, uint256 amountDue) {
        if (owner == address(0)) revert ZeroAddress();
        Plan storage plan = _activePlan(planId);
        if (start == 0) start = uint40(block.timestamp);
        else if (start < block.timestamp) revert StartInPast();
        end = _addPeriods(start, periods, plan.periodSeconds);
        amountDue = _charge(planId, token, periods);

        SubscriptionManagerStorage storage $ = _s();
        subscriptionId = ++$.lastSubscriptionId;
        $.subscriptions[subscriptionId] = Subscription({owner: owner, start: start, end: end, planId: planId});
        if (beneficiary == address(0)) beneficiary = owner;
        else if (beneficiary != owner) $.extras[subscriptionId].beneficiary = beneficiary;
        emit SubscriptionCreated(subscriptionId, owner, beneficiary, planId, start, end);
    }

    /// @notice Adds `periods` periods on the current plan. Time stacks on the current end; a lapsed
    ///         subscription restarts now.
    function renew(uint256 subscriptionId, uint32 periods, address token)
        external
        onlyIssuer
        returns (uint40 end, uint256 amountDue)
    {
        Subscription storage sub = _live(subscriptionId);
        uint16 planId = sub.planId;
        Plan storage plan = _activePlan(planId);
        uint40 start = sub.start;
        end = sub.end;
        if (end <= block.timestamp) {
            start = uint40(block.timestamp);
            end = start;
        }
        end = _addPeriods(end, periods, plan.periodSeconds);
        amountDue = _charge(planId, token, periods);
        sub.start = start;
        sub.end = end;
        emit SubscriptionRenewed(subscriptionId, periods, start, end);
    }

    /// @notice Moves a subscription to another plan under the proration rule above, adding `periods` new
    ///         periods (may be 0 unless the subscription has lapsed).
    function changePlan(uint256 subscriptionId, uint16 newPlanId, uint32 periods, address token)
        external
        onlyIssuer
        returns (uint40 end, uint256 amountDue)
    {
        Subscription storage sub = _live(subscriptionId);
        uint16 oldPlanId = sub.planId;
        uint40 start;
        (start, end, amountDue) = _previewChangePlan(sub, newPlanId, periods, token, block.timestamp);
        sub.planId = newPlanId;
        sub.start = start;
        sub.end = end;
        emit SubscriptionPlanChanged(subscriptionId, oldPlanId, newPlanId, periods, start, end);
    }

    // ------------------------------------------------------------------ owner, operator, admin

    /// @notice Cancels at period end: access runs until `end`, but no renewal or plan change is accepted.
    ///         Callable by the owner or an operator.
    function cancel(uint256 subscriptionId) external {
        Subscription storage sub = _live(subscriptionId);
        if (msg.sender != sub.owner && !hasRole(Roles.OPERATOR_ROLE, msg.sender)) {
            revert NotSubscriptionOwner(subscriptionId);
        }
        _s().extras[subscriptionId].status = Status.Cancelled;
        emit SubscriptionCancelled(subscriptionId, msg.sender);
    }

    /// @notice Ends a subscription now (admin only). The only operation that moves an end backwards.
    function revoke(uint256 subscriptionId) external onlyRole(DEFAULT_ADMIN_ROLE) {
        Subscription storage sub = _existing(subscriptionId);
        SubscriptionExtra storage extra = _s().extras[subscriptionId];
        if (extra.status == Status.Revoked) revert AlreadyRevoked(subscriptionId);
        extra.status = Status.Revoked;
        uint40 end = sub.end;
        if (end > block.timestamp) {
            end = uint40(block.timestamp);
            sub.end = end;
            if (sub.start > end) sub.start = end;
        }
        emit SubscriptionRevoked(subscriptionId, msg.sender, end);
    }

    /// @notice Lets the owner direct access to another address (address(0) = the owner itself).
    function setBeneficiary(uint256 subscriptionId, address beneficiary) external {
        Subscription storage sub = _live(subscriptionId);
        if (msg.sender != sub.owner) revert NotSubscriptionOwner(subscriptionId);
        if (beneficiary == sub.owner) beneficiary = address(0);
        _s().extras[subscriptionId].beneficiary = beneficiary;
        emit BeneficiaryChanged(subscriptionId, beneficiary == address(0) ? sub.owner : beneficiary);
    }

    // ------------------------------------------------------------------ views

    /// @notice True when `start <= block.timestamp < end`.
    function isActive(uint256 subscriptionId) external view returns (bool) {
        return isActiveAt(subscriptionId, block.timestamp);
    }

    /// @notice True when `start <= at < end` (unknown ids are never active).
    function isActiveAt(uint256 subscriptionId, uint256 at) public view returns (bool) {
        Subscription storage sub = _s().subscriptions[subscriptionId];
        return sub.start <= at && at < sub.end;
    }

    /// @notice The subscription with its beneficiary resolved (owner when unset) and status.
    function getSubscription(uint256 subscriptionId) external view returns (SubscriptionInfo memory info) {
        Subscription storage sub = _existing(subscriptionId);
        SubscriptionExtra storage extra = _s().extras[subscriptionId];
        info = SubscriptionInfo({
            owner: sub.owner,
            beneficiary: extra.beneficiary == address(0) ? sub.owner : extra.beneficiary,
            planId: sub.planId,
            start: sub.start,
            end: sub.end,
            status: extra.status
        });
    }

    function ownerOf(uint256 subscriptionId) external view returns (address) {
        return _existing(subscriptionId).owner;
    }

    function planOf(uint256 subscriptionId) external view returns (uint16) {
        return _existing(subscriptionId).planId;
    }

    /// @notice The QoS limits of the subscription's current plan.
    function qosOf(uint256 subscriptionId) external view returns (QoS memory) {
        return _s().plans[_existing(subscriptionId).planId].qos;
    }

    function getPlan(uint16 planId) external view returns (Plan memory) {
        return _plan(planId);
    }

    function priceOf(uint16 planId, address token) external view returns (uint128) {
        return _s().prices[planId][token];
    }

    function planCount() external view returns (uint16) {
        return _s().planCount;
    }

    /// @notice The highest subscription id issued so far.
    function subscriptionCount() external view returns (uint256) {
        return _s().lastSubscriptionId;
    }

    /// @notice What `changePlan` would do at time `at` (>= now): the new start, end and amount due. The
    ///         gateway uses it to price upgrade quotes.
    function previewChangePlan(uint256 subscriptionId, uint16 newPlanId, uint32 periods, address token, uint256 at)
        external
        view
        returns (uint40 start, uint40 end, uint256 amountDue)
    {
        return _previewChangePlan(_live(subscriptionId), newPlanId, periods, token, at);
    }

    /// @notice The ISSUER_ROLE member checked first (zero if none is cached); see `issuerHint`.
    function issuerHint() external view returns (address) {
        return _s().issuerHint;
    }

    // ------------------------------------------------------------------ internals

    /// @dev Keeps `issuerHint` a current ISSUER_ROLE member: the first issuer granted while it is empty.
    function _grantRole(bytes32 role, address account) internal override returns (bool granted) {
        granted = super._grantRole(role, account);
        if (role == Roles.ISSUER_ROLE && _s().issuerHint == address(0)) _s().issuerHint = account;
    }

    /// @dev Clears `issuerHint` when its holder loses ISSUER_ROLE (revoke or renounce).
    function _revokeRole(bytes32 role, address account) internal override returns (bool revoked) {
        revoked = super._revokeRole(role, account);
        if (role == Roles.ISSUER_ROLE && _s().issuerHint == account) _s().issuerHint = address(0);
    }

    function _previewChangePlan(
        Subscription storage sub,
        uint16 newPlanId,
        uint32 periods,
        address token,
        uint256 at
    ) private view returns (uint40 start, uint40 end, uint256 amountDue) {
        uint16 oldPlanId = sub.planId;
        if (newPlanId == oldPlanId) revert SamePlan();
        uint32 newPeriod = _activePlan(newPlanId).periodSeconds;
        start = sub.start;
        end = sub.end;
        if (end <= at) {
            // Lapsed: nothing left to prorate, restart at `at`.
            if (periods == 0) revert ZeroPeriods();
            start = _toUint40(at);
            end = start;
        } else if (token != address(0)) {
            uint256 anchor = Math.max(at, start);
            uint256 unused = end - anchor;
            uint32 oldPeriod = _s().plans[oldPlanId].periodSeconds;
            // Compare per-second prices pOld/periodOld and pNew/periodNew without division.
            uint256 oldRate = uint256(_price(oldPlanId, token)) * newPeriod;
            uint256 newRate = uint256(_price(newPlanId, token)) * oldPeriod;
            if (newRate >= oldRate) {
                amountDue = Math.mulDiv(unused, newRate - oldRate, uint256(oldPeriod) * newPeriod, Math.Rounding.Ceil);
            } else {
                end = _toUint40(anchor + Math.mulDiv(unused, oldRate, newRate));
            }
        }
        if (periods != 0) {
            end = _addPeriods(end, periods, newPeriod);
            amountDue += _charge(newPlanId, token, periods);
        }
    }

    function _addPeriods(uint40 from, uint32 periods, uint32 periodSeconds) private pure returns (uint40) {
        if (periods == 0) revert ZeroPeriods();
        return _toUint40(uint256(from) + uint256(periods) * periodSeconds);
    }

    function _toUint40(uint256 t) private pure returns (uint40) {
        if (t > type(uint40).max) revert EndOverflow();
        // forge-lint: disable-next-line(unsafe-typecast)
        return uint40(t);
    }

    /// @dev periods * price in `token`; reverts if the plan is not sold in `token`; 0 for token == address(0).
    function _charge(uint16 planId, address token, uint32 periods) private view returns (uint256) {
        if (token == address(0)) return 0;
        return uint256(_price(planId, token)) * periods;
    }

    function _price(uint16 planId, address token) private view returns (uint128 price) {
        price = _s().prices[planId][token];
        if (price == 0) revert TokenNotAccepted(planId, token);
    }

    function _plan(uint16 planId) private view returns (Plan storage plan) {
        plan = _s().plans[planId];
        if (plan.periodSeconds == 0) revert UnknownPlan(planId);
    }

    function _activePlan(uint16 planId) private view returns (Plan storage plan) {
        plan = _plan(planId);
        if (!plan.active) revert PlanInactive(planId);
    }

    function _existing(uint256 subscriptionId) private view returns (Subscription storage sub) {
        sub = _s().subscriptions[subscriptionId];
        if (sub.owner == address(0)) revert UnknownSubscription(subscriptionId);
    }

    function _live(uint256 subscriptionId) private view returns (Subscription storage sub) {
        sub = _existing(subscriptionId);
        if (_s().extras[subscriptionId].status != Status.Live) revert SubscriptionNotLive(subscriptionId);
    }
}
