// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IERC3009} from "@openzeppelin/contracts/interfaces/draft-IERC3009.sol";
import {IPaymentProcessor} from "./interfaces/IPaymentProcessor.sol";
import {ISubscriptionManager} from "./interfaces/ISubscriptionManager.sol";
import {LitgateUpgradeable} from "./utils/LitgateUpgradeable.sol";
import {Roles} from "./utils/Roles.sol";
import {TypedDataDomain} from "./utils/TypedDataDomain.sol";

/// @title PaymentProcessor
/// @notice Takes payment for gateway-signed EIP-712 quotes in allow-listed 6-decimal stablecoins and creates,
///         renews or changes the subscription in the SubscriptionManager. Each quote pays once. Funds stay
///         here, split per payment between the operator and the treasury (basis points) and withdrawn by
///         them (pull). Admin refunds move paid funds to the payer's pull balance, bounded per payment.
/// @dev Invariant: token.balanceOf(this) == Σ operatorOwed + treasuryOwed + refundOwed (for supported
///      tokens: no fee-on-transfer or rebasing tokens on the allow-list). Every payment path and withdrawal
///      is nonReentrant (EIP-1153 transient guard) and stops while paused.
contract PaymentProcessor is LitgateUpgradeable, ReentrancyGuardTransient, TypedDataDomain, IPaymentProcessor {
    using SafeERC20 for IERC20;

    /// @dev One slot: read once per payment.
    struct Config {
        address subscriptionManager;
        uint16 operatorFeeBps;
        bool paused;
        uint16 tokenCount;
    }

    /// @dev One slot per token: allow-list flag, compact id and both fee buckets (updated in one SSTORE).
    struct TokenAccount {
        bool accepted;
        uint16 id;
        uint112 operatorOwed;
        uint112 treasuryOwed;
    }

    /// @notice Initialisation parameters; every role goes to an explicit address, none to msg.sender.
    struct InitParams {
        address admin;
        address upgrader;
        address guardian;
        address quoteSigner;
        address subscriptionManager;
        address operatorPayee;
        address treasury;
        uint16 operatorFeeBps;
        address[] acceptedTokens;
    }

    /// @custom:storage-location erc7201:litgate.storage.PaymentProcessor
    struct PaymentProcessorStorage {
        Config config;
        address operatorPayee;
        address treasury;
        mapping(address token => TokenAccount) tokens;
        mapping(uint16 tokenId => address) tokenById;
        mapping(bytes32 quoteId => Payment) payments;
        mapping(bytes32 quoteId => uint256) refunded;
        mapping(address payer => mapping(address token => uint256)) refundOwed;
    }

    // keccak256(abi.encode(uint256(keccak256("litgate.storage.PaymentProcessor")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 private constant STORAGE_SLOT = 0x827e1fbbd91937e867f9076acbba2fc1b2a1331b9f1b8e47224216f7259c2c00;

    /// @notice EIP-712 type of a quote (chainId and verifyingContract are in the domain).
    bytes32 public constant QUOTE_TYPEHASH = keccak256(
        "Quote(bytes32 quoteId,address payer,address beneficiary,uint16 planId,uint32 periods,address token,"
        "uint256 amount,uint256 subscriptionId,uint64 validUntil)"
    );

    uint256 private constant BPS = 10_000;

    function _s() private pure returns (PaymentProcessorStorage storage $) {
        assembly {
            $.slot := STORAGE_SLOT
        }
    }

    /// @notice Initialises the proxy (see InitParams). quoteSigner and guardian are optional.
    function initialize(InitParams calldata p) external initializer {
        __LitgateUpgradeable_init(p.admin, p.upgrader);
        _grantIfSet(Roles.GUARDIAN_ROLE, p.guardian);
        _grantIfSet(Roles.QUOTE_SIGNER_ROLE, p.quoteSigner);
        if (p.subscriptionManager == address(0)) revert ZeroAddress();
        _s().config.subscriptionManager = p.subscriptionManager;
        _setPayees(p.operatorPayee, p.treasury);
        _setFeeSplit(p.operatorFeeBps);
        for (uint256 i; i < p.acceptedTokens.length; ++i) {
            _setTokenAccepted(p.acceptedTokens[i], true);
        }
    }

    // ------------------------------------------------------------------ payment paths

    /// @notice Pays `quote` from the caller's allowance. The caller must be the quote's payer.
    /// @return subscriptionId the subscription created or extended
    function pay(Quote calldata quote, bytes calldata signature)
        external
        nonReentrant
        returns (uint256 subscriptionId)
    {
        if (msg.sender != quote.payer) revert PayerMismatch();
        (, subscriptionId) = _settle(quote, signature);
        IERC20(quote.token).safeTransferFrom(quote.payer, address(this), quote.amount);
    }

    /// @notice EIP-2612 permit + pay in one transaction. If the permit was already used (e.g. front-run),
    ///         the payment still succeeds when the allowance is in place.
    function payWithPermit(
        Quote calldata quote,
        bytes calldata signature,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external nonReentrant returns (uint256 subscriptionId) {
        if (msg.sender != quote.payer) revert PayerMismatch();
        (, subscriptionId) = _settle(quote, signature);
        // solhint-disable-next-line no-empty-blocks
        try IERC20Permit(quote.token).permit(quote.payer, address(this), quote.amount, deadline, v, r, s) {} catch {}
        IERC20(quote.token).safeTransferFrom(quote.payer, address(this), quote.amount);
    }

    /// @notice EIP-3009 receiveWithAuthorization + pay; anyone (a relayer) may submit. The payer's
    ///         authorization must use the quote's EIP-712 digest as its nonce, which binds it to this quote.
    function payWithAuthorization(
        Quote calldata quote,
        bytes calldata signature,
        uint256 validAfter,
        uint256 validBefore,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external nonReentrant returns (uint256 subscriptionId) {
        bytes32 digest;
        (digest, subscriptionId) = _settle(quote, signature);
        IERC3009(quote.token).receiveWithAuthorization(
            quote.payer, address(this), quote.amount, validAfter, validBefore, digest, v, r, s
        );
    }

    // ------------------------------------------------------------------ refunds and withdrawals

    /// @notice Credits `amount` of a payment back to its payer (pulled with withdrawRefund). Bounded by what
    ///         the payment has left unrefunded; taken from the treasury's share first, then the operator's.
    function refund(bytes32 quoteId, uint256 amount) external onlyRole(DEFAULT_ADMIN_ROLE) {
        PaymentProcessorStorage storage $ = _s();
        Payment memory p = $.payments[quoteId];
        if (p.payer == address(0)) revert UnknownPayment(quoteId);
        uint256 refundable = p.amount - $.refunded[quoteId];
        if (amount == 0 || amount > refundable) revert RefundExceedsPayment(refundable);
        address token = $.tokenById[p.tokenId];
        TokenAccount storage acct = $.tokens[token];
        uint256 fromTreasury = Math.min(amount, acct.treasuryOwed);
        uint256 fromOperator = amount - fromTreasury;
        if (fromOperator > acct.operatorOwed) revert InsufficientFeeBalance();
        // Both are bounded by the uint112 bucket they are taken from.
        // forge-lint: disable-next-line(unsafe-typecast)
        acct.treasuryOwed -= uint112(fromTreasury);
        // forge-lint: disable-next-line(unsafe-typecast)
        acct.operatorOwed -= uint112(fromOperator);
        $.refunded[quoteId] += amount;
        $.refundOwed[p.payer][token] += amount;
        emit RefundIssued(quoteId, p.payer, token, amount);
    }

    /// @notice Sends the caller the refunds credited to it in `token`.
    function withdrawRefund(address token) external nonReentrant {
        _requireNotPaused();
        mapping(address => uint256) storage owed = _s().refundOwed[msg.sender];
        uint256 amount = owed[token];
        if (amount == 0) revert NothingToWithdraw();
        owed[token] = 0;
        IERC20(token).safeTransfer(msg.sender, amount);
        emit RefundWithdrawn(msg.sender, token, amount);
    }

    /// @notice Sends the operator payee and/or the treasury (whichever the caller is) its share of `token`.
    function withdrawFees(address token) external nonReentrant {
        _requireNotPaused();
        PaymentProcessorStorage storage $ = _s();
        bool isOperator = msg.sender == $.operatorPayee;
        bool isTreasury = msg.sender == $.treasury;
        if (!isOperator && !isTreasury) revert NotPayee();
        TokenAccount storage acct = $.tokens[token];
        uint256 operatorAmount;
        uint256 treasuryAmount;
        if (isOperator) {
            operatorAmount = acct.operatorOwed;
            acct.operatorOwed = 0;
        }
        if (isTreasury) {
            treasuryAmount = acct.treasuryOwed;
            acct.treasuryOwed = 0;
        }
        if (operatorAmount + treasuryAmount == 0) revert NothingToWithdraw();
        IERC20(token).safeTransfer(msg.sender, operatorAmount + treasuryAmount);
        emit FeesWithdrawn(msg.sender, token, operatorAmount, treasuryAmount);
    }

    // ------------------------------------------------------------------ admin and guardian

    /// @notice Adds (6-decimal tokens only) or removes a token from the allow-list. Owed balances of a
    ///         removed token stay withdrawable.
    function setTokenAccepted(address token, bool accepted) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setTokenAccepted(token, accepted);
    }

    /// @notice Operator share of each payment in basis points; the treasury gets the rest.
    function setFeeSplit(uint16 operatorFeeBps) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setFeeSplit(operatorFeeBps);
    }

    /// @notice Who may withdraw the operator and treasury buckets (balances follow the bucket, not the address).
    function setPayees(address operatorPayee, address treasury) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setPayees(operatorPayee, treasury);
    }

    /// @notice Stops payments and withdrawals. Guardian only; only the admin can unpause.
    function pause() external onlyRole(Roles.GUARDIAN_ROLE) {
        _requireNotPaused();
        _s().config.paused = true;
        emit Paused(msg.sender);
    }

    function unpause() external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (!_s().config.paused) revert ExpectedPause();
        _s().config.paused = false;
        emit Unpaused(msg.sender);
    }

    // ------------------------------------------------------------------ views

    /// @notice The EIP-712 digest the quote signer signs for `quote` on this chain and proxy.
    function hashQuote(Quote calldata quote) public view returns (bytes32) {
        return _hashTypedData(keccak256(abi.encode(QUOTE_TYPEHASH, quote)));
    }

    function paymentOf(bytes32 quoteId) external view returns (Payment memory) {
        return _s().payments[quoteId];
    }

    function isQuotePaid(bytes32 quoteId) external view returns (bool) {
        return _s().payments[quoteId].payer != address(0);
    }

    function refundedOf(bytes32 quoteId) external view returns (uint256) {
        return _s().refunded[quoteId];
    }

    function refundOwed(address payer, address token) external view returns (uint256) {
        return _s().refundOwed[payer][token];
    }

    function tokenAccount(address token) external view returns (TokenAccount memory) {
        return _s().tokens[token];
    }

    function tokenById(uint16 tokenId) external view returns (address) {
        return _s().tokenById[tokenId];
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

    // ------------------------------------------------------------------ internals

    /// @dev Checks the quote, records the payment (which marks the quote paid), books the fee split and
    ///      creates/extends the subscription. The caller pulls the tokens afterwards; any failure reverts all.
    function _settle(Quote calldata quote, bytes calldata signature)
        private
        returns (bytes32 digest, uint256 subscriptionId)
    {
        Config memory cfg = _s().config;
        if (cfg.paused) revert EnforcedPause();
        if (block.timestamp > quote.validUntil) revert QuoteExpired(quote.validUntil);
        digest = hashQuote(quote);
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecoverCalldata(digest, signature);
        if (err != ECDSA.RecoverError.NoError || !hasRole(Roles.QUOTE_SIGNER_ROLE, signer)) {
            revert InvalidQuoteSignature();
        }
        _record(quote, cfg.operatorFeeBps);
        uint40 paidUntil;
        (subscriptionId, paidUntil) = _subscribe(quote, ISubscriptionManager(cfg.subscriptionManager));
        emit PaymentReceived(
            quote.quoteId,
            quote.payer,
            subscriptionId,
            quote.token,
            quote.amount,
            quote.planId,
            quote.periods,
            paidUntil
        );
    }

    /// @dev Effects: the payment record doubles as the "quote paid" flag; the split is booked in one SSTORE.
    function _record(Quote calldata quote, uint16 operatorFeeBps) private {
        PaymentProcessorStorage storage $ = _s();
        if ($.payments[quote.quoteId].payer != address(0)) revert QuoteAlreadyPaid(quote.quoteId);
        uint256 amount = quote.amount;
        if (amount == 0 || amount > type(uint80).max) revert AmountOutOfRange();
        TokenAccount memory a = $.tokens[quote.token];
        if (!a.accepted) revert TokenNotAccepted(quote.token);
        // amount <= type(uint80).max was checked above, so the casts below cannot truncate.
        // forge-lint: disable-next-line(unsafe-typecast)
        $.payments[quote.quoteId] = Payment({payer: quote.payer, amount: uint80(amount), tokenId: a.id});
        // forge-lint: disable-next-line(unsafe-typecast)
        uint112 operatorShare = uint112(amount * operatorFeeBps / BPS);
        a.operatorOwed += operatorShare;
        // forge-lint: disable-next-line(unsafe-typecast)
        a.treasuryOwed += uint112(amount) - operatorShare;
        $.tokens[quote.token] = a;
    }

    /// @dev Creates, renews or changes the subscription (trusted manager set at initialisation) and checks
    ///      the quoted amount covers the on-chain price.
    function _subscribe(Quote calldata quote, ISubscriptionManager manager)
        private
        returns (uint256 subscriptionId, uint40 paidUntil)
    {
        uint256 due;
        subscriptionId = quote.subscriptionId;
        if (subscriptionId == 0) {
            (subscriptionId, paidUntil, due) = manager.createSubscription(
                quote.payer, quote.beneficiary, quote.planId, 0, quote.periods, quote.token
            );
        } else if (manager.planOf(subscriptionId) == quote.planId) {
            (paidUntil, due) = manager.renew(subscriptionId, quote.periods, quote.token);
        } else {
            (paidUntil, due) = manager.changePlan(subscriptionId, quote.planId, quote.periods, quote.token);
        }
        if (quote.amount < due) revert AmountBelowPrice(due, quote.amount);
    }

    function _setTokenAccepted(address token, bool accepted) private {
        PaymentProcessorStorage storage $ = _s();
        TokenAccount storage acct = $.tokens[token];
        if (accepted) {
            (bool ok, uint8 decimals) = SafeERC20.tryGetDecimals(IERC20(token));
            if (!ok || decimals != 6) revert TokenNot6Decimals(token);
            if (acct.id == 0) {
                if ($.config.tokenCount == type(uint16).max) revert TooManyTokens();
                uint16 id = ++$.config.tokenCount;
                acct.id = id;
                $.tokenById[id] = token;
            }
        }
        acct.accepted = accepted;
        emit TokenAcceptanceSet(token, acct.id, accepted);
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

    function _requireNotPaused() private view {
        if (_s().config.paused) revert EnforcedPause();
    }

    function _domainName() internal pure override returns (string memory) {
        return "litgate PaymentProcessor";
    }

    function _domainNameHash() internal pure override returns (bytes32) {
        return keccak256("litgate PaymentProcessor");
    }
}
