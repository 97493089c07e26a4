// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @title ISubscriptionManager
/// @notice Plans (tiers with QoS parameters and per-token prices) and time-bound subscriptions.
interface ISubscriptionManager {
    /// @notice Quality-of-service limits of a plan; exactly one storage slot (32+64+64+64+32 bits).
    struct QoS {
        uint32 requestsPerSecond;
        uint64 requestsPerDay;
        uint64 requestsPerMonth;
        uint64 bandwidthBytesPerPeriod;
        uint32 maxConcurrentStreams;
    }

    /// @notice A plan: QoS (slot 0), billing period length and whether it can be bought (slot 1).
    struct Plan {
        QoS qos;
        uint32 periodSeconds;
        bool active;
    }

    /// @notice Live: can be renewed and changed. Cancelled: runs to its end, no renewal. Revoked: ended by the admin.
    enum Status {
        Live,
        Cancelled,
        Revoked
    }

    /// @notice A subscription as returned by views (storage packs owner/start/end/plan into one slot).
    struct SubscriptionInfo {
        address owner;
        address beneficiary;
        uint16 planId;
        uint40 start;
        uint40 end;
        Status status;
    }

    event PlanCreated(uint16 indexed planId, uint32 periodSeconds, QoS qos);
    event PlanQoSUpdated(uint16 indexed planId, QoS qos);
    event PlanActiveSet(uint16 indexed planId, bool active);
    event PlanPriceSet(uint16 indexed planId, address indexed token, uint128 pricePerPeriod);
    event SubscriptionCreated(
        uint256 indexed subscriptionId,
        address indexed owner,
        address indexed beneficiary,
        uint16 planId,
        uint40 start,
        uint40 end
    );
    event SubscriptionRenewed(uint256 indexed subscriptionId, uint32 periods, uint40 start, uint40 end);
    event SubscriptionPlanChanged(
        uint256 indexed subscriptionId,
        uint16 indexed fromPlanId,
        uint16 indexed toPlanId,
        uint32 periods,
        uint40 start,
        uint40 end
    );
    event SubscriptionCancelled(uint256 indexed subscriptionId, address indexed by);
    event SubscriptionRevoked(uint256 indexed subscriptionId, address indexed by, uint40 end);
    event BeneficiaryChanged(uint256 indexed subscriptionId, address indexed beneficiary);

    error UnknownPlan(uint16 planId);
    error PlanInactive(uint16 planId);
    error InvalidPeriod();
    error TooManyPlans();
    error ZeroPeriods();
    error StartInPast();
    error EndOverflow();
    error UnknownSubscription(uint256 subscriptionId);
    error SubscriptionNotLive(uint256 subscriptionId);
    error AlreadyRevoked(uint256 subscriptionId);
    error NotSubscriptionOwner(uint256 subscriptionId);
    error TokenNotAccepted(uint16 planId, address token);
    error SamePlan();

    function createSubscription(
        address owner,
        address beneficiary,
        uint16 planId,
        uint40 start,
        uint32 periods,
        address token
    ) external returns (uint256 subscriptionId, uint40 end, uint256 amountDue);

    function renew(uint256 subscriptionId, uint32 periods, address token)
        external
        returns (uint40 end, uint256 amountDue);

    function changePlan(uint256 subscriptionId, uint16 newPlanId, uint32 periods, address token)
        external
        returns (uint40 end, uint256 amountDue);

    function planOf(uint256 subscriptionId) external view returns (uint16);
    function ownerOf(uint256 subscriptionId) external view returns (address);
    function isActiveAt(uint256 subscriptionId, uint256 at) external view returns (bool);
    function qosOf(uint256 subscriptionId) external view returns (QoS memory);
}
