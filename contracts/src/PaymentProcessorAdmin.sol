// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {AccessControlDefaultAdminRulesUpgradeable} from
    "@openzeppelin/contracts-upgradeable/access/extensions/AccessControlDefaultAdminRulesUpgradeable.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {PaymentProcessorBase} from "./PaymentProcessorBase.sol";
import {Roles} from "./utils/Roles.sol";

/// @title PaymentProcessorAdmin
/// @notice The PaymentProcessor's cold functions: initialisation, roles with OpenZeppelin's default-admin rules
///         (one admin, two-step transfer with a delay), configuration, plans and sales, subscription management
///         and views. Never used on its own: the PaymentProcessor implementation delegates to it, so it runs in
///         the proxy's storage. Its own storage is unused and its initializer disabled.
contract PaymentProcessorAdmin is PaymentProcessorBase, AccessControlDefaultAdminRulesUpgradeable {
    /// @custom:oz-upgrades-unsafe-allow constructor
    constructor() {
        _disableInitializers();
    }

    /// @notice Initialises the proxy (see InitParams). operator, guardian and quoteSigner are optional.
    function initialize(InitParams calldata p) external initializer {
        if (p.admin == address(0) || p.upgrader == address(0)) revert ZeroAddress();
        __AccessControlDefaultAdminRules_init(p.adminDelay, p.admin);
        _setRoleAdmin(Roles.UPGRADER_ROLE, Roles.UPGRADER_ROLE);
        _grantRole(Roles.UPGRADER_ROLE, p.upgrader);
        if (p.operator != address(0)) _grantRole(Roles.OPERATOR_ROLE, p.operator);
        if (p.guardian != address(0)) _grantRole(Roles.GUARDIAN_ROLE, p.guardian);
        _setQuoteSigner(p.quoteSigner);
        _setPayees(p.operatorPayee, p.treasury);
        _setFeeSplit(p.operatorFeeBps);
        for (uint256 i; i < p.tokens.length; ++i) {
            _setTokenListed(p.tokens[i], true);
        }
    }

    /// @notice Cancels at period end: access runs until `end`; no renewal or plan change is accepted.
    ///         Callable by the owner or an operator.
    function cancel(bytes32 subscriptionId) external {
        Record storage sub = _s().records[subscriptionId];
        if (sub.status != LIVE) revert SubscriptionNotLive(subscriptionId);
        if (msg.sender != sub.owner && !hasRole(Roles.OPERATOR_ROLE, msg.sender)) {
            revert NotSubscriptionOwner(subscriptionId);
        }
        sub.status = CANCELLED;
        emit SubscriptionCancelled(subscriptionId, msg.sender);
    }

    /// @notice Operator: ends a subscription now. The only operation that moves an end earlier.
    function revoke(bytes32 subscriptionId) external onlyRole(Roles.OPERATOR_ROLE) {
        if (_s().records[subscriptionId].status == REVOKED) revert SubscriptionNotLive(subscriptionId);
        _revoke(subscriptionId);
    }

    /// @notice The owner directs access to another address (address(0) = the owner itself).
    function setBeneficiary(bytes32 subscriptionId, address beneficiary) external {
        Record storage sub = _s().records[subscriptionId];
        if (sub.status != LIVE) revert SubscriptionNotLive(subscriptionId);
        if (msg.sender != sub.owner) revert NotSubscriptionOwner(subscriptionId);
        if (beneficiary == msg.sender) beneficiary = address(0);
        _s().beneficiaries[subscriptionId] = beneficiary;
        emit BeneficiaryChanged(subscriptionId, beneficiary == address(0) ? msg.sender : beneficiary);
    }

    /// @notice Creates a plan (ids start at 1); its period is fixed for its lifetime.
    function createPlan(QoS calldata qos, uint32 periodSeconds)
        external
        onlyRole(Roles.OPERATOR_ROLE)
        returns (uint16 planId)
    {
        if (periodSeconds == 0) revert InvalidPeriod();
        PaymentProcessorStorage storage $ = _s();
        if ($.planCount == type(uint16).max) revert TooManyPlans();
        planId = ++$.planCount;
        $.plans[planId] = Plan({qos: qos, periodSeconds: periodSeconds});
        emit PlanCreated(planId, periodSeconds, qos);
    }

    /// @notice Replaces a plan's QoS limits (applies to existing subscriptions on the plan).
    function setPlanQoS(uint16 planId, QoS calldata qos) external onlyRole(Roles.OPERATOR_ROLE) {
        _plan(planId).qos = qos;
        emit PlanQoSSet(planId, qos);
    }

    /// @notice Sets the price per period of `planId` in `token` (a listed or once-listed token) and whether the
    ///         plan is on sale in it. The price stays the reference for proration while off sale.
    function setSale(uint16 planId, address token, uint128 price, bool onSale)
        external
        onlyRole(Roles.OPERATOR_ROLE)
    {
        uint32 period = _plan(planId).periodSeconds;
        PaymentProcessorStorage storage $ = _s();
        if ($.tokens[token].id == 0) revert TokenNotListed(token);
        if (price == 0) revert InvalidPrice();
        $.sales[planId][token] = Sale({price: price, periodSeconds: period, onSale: onSale});
        emit SaleSet(planId, token, price, period, onSale);
    }

    /// @notice Adds (6-decimal tokens only, at most 255) or removes a token. Owed balances stay withdrawable.
    function setTokenListed(address token, bool listed) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setTokenListed(token, listed);
    }

    /// @notice The hot key whose quote signatures are accepted (address(0) stops all quote payments).
    function setQuoteSigner(address signer) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setQuoteSigner(signer);
    }

    /// @notice Operator share of each payment in basis points; the treasury gets the rest.
    function setFeeSplit(uint16 operatorFeeBps) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setFeeSplit(operatorFeeBps);
    }

    /// @notice Who may withdraw the operator and treasury buckets.
    function setPayees(address operatorPayee, address treasury) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setPayees(operatorPayee, treasury);
    }

    /// @notice Guardian: stops payments and withdrawals. Only the admin unpauses.
    function pause() external onlyRole(Roles.GUARDIAN_ROLE) {
        if (_s().config.paused) revert EnforcedPause();
        _s().config.paused = true;
        emit Paused(msg.sender);
    }

    function unpause() external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (!_s().config.paused) revert ExpectedPause();
        _s().config.paused = false;
        emit Unpaused(msg.sender);
    }

    /// @notice Admin: announces that `account` may be made an upgrader after the default-admin delay.
    ///         UPGRADER_ROLE is its own admin, so this delayed, evented path is the admin's only way to it.
    function scheduleUpgraderGrant(address account) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (account == address(0)) revert ZeroAddress();
        PaymentProcessorStorage storage $ = _s();
        uint48 readyAt = uint48(block.timestamp) + defaultAdminDelay();
        $.scheduledUpgrader = account;
        $.upgraderReadyAt = readyAt;
        emit UpgraderGrantScheduled(account, readyAt);
    }

    /// @notice Admin: grants UPGRADER_ROLE to the scheduled account once its delay has passed.
    function executeUpgraderGrant() external onlyRole(DEFAULT_ADMIN_ROLE) {
        PaymentProcessorStorage storage $ = _s();
        address account = $.scheduledUpgrader;
        if (account == address(0)) revert NoUpgraderGrantScheduled();
        if (block.timestamp < $.upgraderReadyAt) revert UpgraderGrantNotReady($.upgraderReadyAt);
        delete $.scheduledUpgrader;
        delete $.upgraderReadyAt;
        _grantRole(Roles.UPGRADER_ROLE, account);
    }

    /// @notice Admin or an upgrader: drops a scheduled upgrader grant.
    function cancelUpgraderGrant() external {
        if (!hasRole(DEFAULT_ADMIN_ROLE, msg.sender)) _checkRole(Roles.UPGRADER_ROLE);
        PaymentProcessorStorage storage $ = _s();
        address account = $.scheduledUpgrader;
        if (account == address(0)) revert NoUpgraderGrantScheduled();
        delete $.scheduledUpgrader;
        delete $.upgraderReadyAt;
        emit UpgraderGrantCancelled(account);
    }

    function config() external view returns (Config memory) {
        return _s().config;
    }

    function payees() external view returns (address operatorPayee, address treasury) {
        return (_s().operatorPayee, _s().treasury);
    }

    function paused() external view returns (bool) {
        return _s().config.paused;
    }

    function tokenAccount(address token) external view returns (TokenAccount memory) {
        return _s().tokens[token];
    }

    function tokenById(uint8 tokenId) external view returns (address) {
        return _s().tokenById[tokenId];
    }

    function getPlan(uint16 planId) external view returns (Plan memory) {
        return _plan(planId);
    }

    function planCount() external view returns (uint16) {
        return _s().planCount;
    }

    function sale(uint16 planId, address token) external view returns (Sale memory) {
        return _s().sales[planId][token];
    }

    /// @notice The record a quote digest left (owner == 0: unpaid). See `Record`.
    function paymentOf(bytes32 digest) external view returns (Record memory) {
        return _s().records[digest];
    }

    function isPaid(bytes32 digest) external view returns (bool) {
        return _s().records[digest].owner != address(0);
    }

    function refundedOf(bytes32 digest) external view returns (uint256) {
        return _s().refunded[digest];
    }

    function refundOwed(address payer, address token) external view returns (uint256) {
        return _s().refundOwed[payer][token];
    }

    function refundsPending(address token) external view returns (uint256) {
        return _s().refundsPending[token];
    }

    function isAuthorizationSettled(bytes32 quoteId) external view returns (bool) {
        return _s().authorizationSettled[quoteId];
    }

    /// @notice The upgrader grant waiting for its delay (zero address: none).
    function scheduledUpgraderGrant() external view returns (address account, uint48 readyAt) {
        return (_s().scheduledUpgrader, _s().upgraderReadyAt);
    }

    /// @notice The subscription `subscriptionId` (the digest of the quote that created it).
    function getSubscription(bytes32 subscriptionId) external view returns (SubscriptionInfo memory info) {
        PaymentProcessorStorage storage $ = _s();
        Record memory sub = _subscription(subscriptionId);
        address beneficiary = $.beneficiaries[subscriptionId];
        info = SubscriptionInfo({
            owner: sub.owner,
            beneficiary: beneficiary == address(0) ? sub.owner : beneficiary,
            planId: sub.planId,
            token: $.tokenById[sub.tokenId],
            start: sub.start,
            end: sub.end,
            status: Status(sub.status)
        });
    }

    /// @notice The QoS of the subscription's current plan.
    function qosOf(bytes32 subscriptionId) external view returns (QoS memory) {
        return _s().plans[_subscription(subscriptionId).planId].qos;
    }

    /// @notice True when `start <= block.timestamp < end` (unknown ids are never active).
    function isActive(bytes32 subscriptionId) external view returns (bool) {
        return isActiveAt(subscriptionId, block.timestamp);
    }

    /// @notice True when `start <= at < end` for a subscription (payment records are never active).
    function isActiveAt(bytes32 subscriptionId, uint256 at) public view returns (bool) {
        Record memory sub = _s().records[subscriptionId];
        return sub.status != PAYMENT && sub.start <= at && at < sub.end;
    }

    function _subscription(bytes32 id) private view returns (Record memory sub) {
        sub = _s().records[id];
        if (sub.status == uint8(Status.None) || sub.status == PAYMENT) revert UnknownSubscription(id);
    }

    function _plan(uint16 planId) private view returns (Plan storage plan) {
        plan = _s().plans[planId];
        if (plan.periodSeconds == 0) revert UnknownPlan(planId);
    }

    function _setTokenListed(address token, bool listed) private {
        PaymentProcessorStorage storage $ = _s();
        TokenAccount storage acct = $.tokens[token];
        if (listed) {
            (bool ok, uint8 decimals) = SafeERC20.tryGetDecimals(IERC20(token));
            if (!ok || decimals != 6) revert TokenNot6Decimals(token);
            if (acct.id == 0) {
                if ($.tokenCount == type(uint8).max) revert TooManyTokens();
                uint8 id = ++$.tokenCount;
                acct.id = id;
                $.tokenById[id] = token;
            }
        }
        acct.listed = listed;
        emit TokenListed(token, acct.id, listed);
    }

    function _setQuoteSigner(address signer) private {
        Config storage cfg = _s().config;
        emit QuoteSignerSet(cfg.quoteSigner, signer);
        cfg.quoteSigner = signer;
    }

    function _setFeeSplit(uint16 operatorFeeBps) private {
        if (operatorFeeBps > BPS) revert InvalidFeeSplit();
        _s().config.operatorFeeBps = operatorFeeBps;
        emit FeeSplitSet(operatorFeeBps);
    }

    function _setPayees(address operatorPayee, address treasury) private {
        if (operatorPayee == address(0) || treasury == address(0)) revert ZeroAddress();
        _s().operatorPayee = operatorPayee;
        _s().treasury = treasury;
        emit PayeesSet(operatorPayee, treasury);
    }
}
