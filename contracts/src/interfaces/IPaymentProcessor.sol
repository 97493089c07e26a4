// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @title IPaymentProcessor
/// @notice Pays gateway-signed EIP-712 quotes in allow-listed 6-decimal stablecoins.
interface IPaymentProcessor {
    /// @notice The terms the gateway signs. chainId and verifyingContract are bound by the EIP-712 domain.
    /// @param quoteId unique id chosen by the gateway; each can be paid once
    /// @param payer the only account whose tokens pay the quote; owner of a new subscription
    /// @param beneficiary who uses a new subscription (address(0) = payer); ignored for existing ones
    /// @param planId plan bought (for an existing subscription a different plan means a plan change)
    /// @param periods number of plan periods bought
    /// @param token the stablecoin
    /// @param amount token base units (6 decimals) the payer pays; at least the on-chain price
    /// @param subscriptionId 0 = create a new subscription, else renew or change that one
    /// @param validUntil last timestamp (inclusive) at which the quote can be paid
    struct Quote {
        bytes32 quoteId;
        address payer;
        address beneficiary;
        uint16 planId;
        uint32 periods;
        address token;
        uint256 amount;
        uint256 subscriptionId;
        uint64 validUntil;
    }

    /// @notice A recorded payment (one slot): the refund bound and where a refund goes.
    struct Payment {
        address payer;
        uint80 amount;
        uint16 tokenId;
    }

    /// @notice Everything the gateway's payment monitor needs to activate access.
    event PaymentReceived(
        bytes32 indexed quoteId,
        address indexed payer,
        uint256 indexed subscriptionId,
        address token,
        uint256 amount,
        uint16 planId,
        uint32 periods,
        uint40 paidUntil
    );
    event RefundIssued(bytes32 indexed quoteId, address indexed payer, address indexed token, uint256 amount);
    event RefundWithdrawn(address indexed payer, address indexed token, uint256 amount);
    event FeesWithdrawn(address indexed payee, address indexed token, uint256 operatorAmount, uint256 treasuryAmount);
    event TokenAcceptanceSet(address indexed token, uint16 indexed tokenId, bool accepted);
    event FeeSplitSet(uint16 operatorFeeBps);
    event PayeesSet(address indexed operatorPayee, address indexed treasury);
    event Paused(address indexed by);
    event Unpaused(address indexed by);

    error QuoteExpired(uint64 validUntil);
    error QuoteAlreadyPaid(bytes32 quoteId);
    error InvalidQuoteSignature();
    error PayerMismatch();
    error TokenNotAccepted(address token);
    error TokenNot6Decimals(address token);
    error TooManyTokens();
    error AmountOutOfRange();
    error AmountBelowPrice(uint256 due, uint256 amount);
    error UnknownPayment(bytes32 quoteId);
    error RefundExceedsPayment(uint256 refundable);
    error InsufficientFeeBalance();
    error NothingToWithdraw();
    error NotPayee();
    error InvalidFeeSplit();
    error EnforcedPause();
    error ExpectedPause();
}
