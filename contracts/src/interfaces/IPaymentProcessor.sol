// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @title IPaymentProcessor (v2)
/// @notice Plans, time-bound subscriptions and their payment by gateway-signed EIP-712 quotes in allow-listed
///         6-decimal stablecoins, in one contract.
interface IPaymentProcessor {
    /// @notice The terms the gateway's quote signer signs (chainId and verifyingContract are in the domain).
    /// @param quoteId unique id chosen by the gateway; for `payWithTransferAuthorization` it must be
    ///        keccak256(abi.encode(token, payer, authorizationNonce))
    /// @param payer whose tokens pay; owner of a new subscription; owner or beneficiary of an existing one
    /// @param beneficiary who uses a new subscription (address(0) = payer); ignored for existing ones
    /// @param subscriptionId 0 = create; else renew (same plan) or change plan of that subscription
    /// @param token the stablecoin; an existing subscription is always paid in the token it was created in
    /// @param amount token base units paid; at least the on-chain price (`previewQuote`)
    /// @param planId plan bought or switched to
    /// @param periods plan periods bought (0 allowed only for a plan change of a running subscription)
    /// @param validUntil last timestamp (inclusive) at which the quote can be paid
    struct Quote {
        bytes32 quoteId;
        address payer;
        address beneficiary;
        bytes32 subscriptionId;
        address token;
        uint256 amount;
        uint16 planId;
        uint32 periods;
        uint64 validUntil;
    }

    /// @notice Quality-of-service limits of a plan (one slot; read by the gateway, never on the payment path).
    struct QoS {
        uint32 requestsPerSecond;
        uint64 requestsPerDay;
        uint64 requestsPerMonth;
        uint64 bandwidthBytesPerPeriod;
        uint32 maxConcurrentStreams;
    }

    /// @notice Live: renewable. Cancelled: runs to its end, no renewal. Revoked: ended early.
    enum Status {
        None,
        Live,
        Cancelled,
        Revoked
    }

    /// @notice Hot configuration, one slot read once per payment.
    struct Config {
        address quoteSigner;
        uint16 operatorFeeBps;
        bool paused;
    }

    /// @notice One slot per token: both fee buckets, compact id and allow-list flag (one SSTORE per payment).
    struct TokenAccount {
        uint112 operatorOwed;
        uint112 treasuryOwed;
        uint8 id;
        bool listed;
    }

    /// @notice One slot per (plan, token): what a payment reads to price a quote.
    struct Sale {
        uint128 price;
        uint32 periodSeconds;
        bool onSale;
    }

    /// @notice A plan: QoS limits and its (immutable) period length.
    struct Plan {
        QoS qos;
        uint32 periodSeconds;
    }

    /// @notice One slot per quote digest. status 1-3 (Live/Cancelled/Revoked): a subscription created by that
    ///         quote (its id is the digest). status 255: a renewal or plan change (owner = its payer,
    ///         start/end = the subscription's new bounds). owner == 0: the quote is unpaid.
    struct Record {
        address owner;
        uint16 planId;
        uint8 tokenId;
        uint8 status;
        uint32 start;
        uint32 end;
    }

    /// @notice Initialisation parameters; every role goes to an explicit address, none to msg.sender.
    struct InitParams {
        address admin;
        uint48 adminDelay;
        address upgrader;
        address operator;
        address guardian;
        address quoteSigner;
        address operatorPayee;
        address treasury;
        uint16 operatorFeeBps;
        address[] tokens;
    }

    /// @notice A subscription as returned by `getSubscription`.
    struct SubscriptionInfo {
        address owner;
        address beneficiary;
        uint16 planId;
        address token;
        uint32 start;
        uint32 end;
        Status status;
    }

    /// @notice One payment (or honoured authorization) per quote digest; `subscriptionId` = digest for a creation.
    /// @dev Emitted once per payment with everything a monitor needs to activate access from the log alone.
    event PaymentReceived(
        bytes32 indexed digest,
        bytes32 indexed subscriptionId,
        address indexed payer,
        address beneficiary,
        address token,
        uint256 amount,
        uint16 planId,
        uint32 start,
        uint32 end
    );
    /// @notice A refund credited to `payer` (pull with withdrawRefund): `amount` more, `totalRefunded` in all.
    event RefundIssued(
        bytes32 indexed digest, address indexed payer, address indexed token, uint256 amount, uint256 totalRefunded
    );
    event RefundWithdrawn(address indexed payer, address indexed token, uint256 amount);
    event FeesWithdrawn(address indexed payee, address indexed token, uint256 operatorAmount, uint256 treasuryAmount);
    /// @notice A transferWithAuthorization that reached this contract outside `payWithTransferAuthorization`
    ///         (front-run) was turned into a refund to its payer by the operator.
    event UnrecordedPaymentRefunded(
        bytes32 indexed quoteId, address indexed payer, address indexed token, bytes32 nonce, uint256 amount
    );
    event SubscriptionCancelled(bytes32 indexed subscriptionId, address indexed by);
    event SubscriptionRevoked(bytes32 indexed subscriptionId, address indexed by, uint32 end);
    event BeneficiaryChanged(bytes32 indexed subscriptionId, address indexed beneficiary);

    event PlanCreated(uint16 indexed planId, uint32 periodSeconds, QoS qos);
    event PlanQoSSet(uint16 indexed planId, QoS qos);
    /// @notice The (plan, token) price: `onSale` false stops new payments of the plan in the token.
    event SaleSet(uint16 indexed planId, address indexed token, uint128 price, uint32 periodSeconds, bool onSale);
    event TokenListed(address indexed token, uint8 indexed tokenId, bool listed);
    event QuoteSignerSet(address indexed previousSigner, address indexed newSigner);
    event FeeSplitSet(uint16 operatorFeeBps);
    event PayeesSet(address indexed operatorPayee, address indexed treasury);
    event Paused(address indexed by);
    event Unpaused(address indexed by);
    event UpgraderGrantScheduled(address indexed account, uint48 readyAt);
    event UpgraderGrantCancelled(address indexed account);

    error QuoteExpired(uint64 validUntil);
    error QuoteAlreadyPaid(bytes32 digest);
    error InvalidQuoteSignature();
    error PayerMismatch();
    error NotSubscriber(bytes32 subscriptionId);
    error NotSubscriptionOwner(bytes32 subscriptionId);
    error SubscriptionNotLive(bytes32 subscriptionId);
    error UnknownSubscription(bytes32 subscriptionId);
    error TokenMismatch(bytes32 subscriptionId);
    error TokenNotListed(address token);
    error TokenNot6Decimals(address token);
    error TooManyTokens();
    error NotOnSale(uint16 planId, address token);
    error UnknownPlan(uint16 planId);
    error TooManyPlans();
    error InvalidPeriod();
    error InvalidPrice();
    error ZeroPeriods();
    error EndOverflow();
    error AmountOutOfRange();
    error AmountBelowPrice(uint256 due, uint256 amount);
    /// @notice The token balance after a 3009 transfer is not `expectedBalance` (nothing or a wrong amount arrived).
    error PaymentNotReceived(uint256 expectedBalance, uint256 balance);
    error AuthorizationMismatch();
    error AuthorizationAlreadySettled(bytes32 quoteId);
    error AuthorizationNotUsed(bytes32 quoteId);
    error UnrecordedFundsTooLow(uint256 available, uint256 amount);
    error UnknownPayment(bytes32 digest);
    error RefundExceedsPayment(uint256 paid);
    error InsufficientFeeBalance();
    error NothingToWithdraw();
    error NotPayee();
    error NotQuoteSigner();
    error InvalidFeeSplit();
    error EnforcedPause();
    error ExpectedPause();
    error ZeroAddress();
    error NoUpgraderGrantScheduled();
    error UpgraderGrantNotReady(uint48 readyAt);
}
