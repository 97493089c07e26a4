// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Initializable} from "@openzeppelin/contracts-upgradeable/proxy/utils/Initializable.sol";
import {UUPSUpgradeable} from "@openzeppelin/contracts-upgradeable/proxy/utils/UUPSUpgradeable.sol";
import {IERC3009} from "@openzeppelin/contracts/interfaces/draft-IERC3009.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {PaymentProcessorBase} from "./PaymentProcessorBase.sol";
import {Roles} from "./utils/Roles.sol";
import {TypedDataDomain} from "./utils/TypedDataDomain.sol";

/// @title PaymentProcessor (v2)
/// @notice Plans, subscriptions and their payment in one contract: a gateway-signed EIP-712 quote is paid in an
///         allow-listed 6-decimal stablecoin and creates, renews or changes a subscription in the same call.
///         Funds stay here, split per payment between the operator and the treasury (pull withdrawals);
///         refunds are bounded per payment, idempotent (target totals) and pulled by the payer.
/// @dev Hot-path storage (see docs/decisions/0005): the config slot (quote signer, fee split, pause), the
///      (plan, token) sale slot (price, period, on sale), the per-token account slot (listing, id, both fee
///      buckets) and one record per quote digest. For a creation the record IS the subscription (its id is the
///      digest); for a renewal or plan change it records the payment. A record doubles as the replay flag and,
///      with the quote re-submitted (its digest must match), as the refund bound.
///
///      Solvency invariant (listed tokens are plain ERC-20s: no fee-on-transfer, no rebasing):
///      token.balanceOf(this) >= Σ operatorOwed + treasuryOwed + refundsPending; the excess is `unrecorded`
///      (front-run EIP-3009 transfers, tokens sent directly).
///
///      Code size: this implementation holds the payment, refund and withdrawal paths; every other function
///      (initialisation, roles and the default-admin rules, configuration, plans, subscription management,
///      views) lives in PaymentProcessorAdmin, reached through `fallback` by delegatecall in the same storage.
///      Both are fixed at construction (`ADMIN_EXTENSION` is immutable), so an upgrade replaces both.
///
///      Proration (plan change at time t of a running subscription, always in the subscription's own token, so
///      time bought in one token is never valued in another): r = end - t unused seconds, per-second prices
///      price/period of the (plan, token) sales. Upgrade (new rate >= old): end unchanged, due
///      ceil(r * (pNew*periodOld - pOld*periodNew) / (periodOld*periodNew)). Downgrade: nothing due, end =
///      t + floor(r * pOld*periodNew / (pNew*periodOld)). Then `periods` periods of the new plan are added at
///      its price. Rounding favours the house, so no up/down cycle gains time or money.
contract PaymentProcessor is
    PaymentProcessorBase,
    Initializable,
    UUPSUpgradeable,
    ReentrancyGuardTransient,
    TypedDataDomain
{
    using SafeERC20 for IERC20;

    /// @notice The PaymentProcessorAdmin implementation every function not defined here is delegated to.
    address public immutable ADMIN_EXTENSION;

    /// @custom:oz-upgrades-unsafe-allow constructor state-variable-immutable
    constructor(address adminExtension) {
        if (adminExtension.code.length == 0) revert ZeroAddress();
        ADMIN_EXTENSION = adminExtension;
        _disableInitializers();
    }

    /// @notice Delegates every other call (admin, configuration, views) to ADMIN_EXTENSION.
    // solhint-disable-next-line no-complex-fallback
    fallback() external {
        address extension = ADMIN_EXTENSION;
        assembly {
            calldatacopy(0, 0, calldatasize())
            let ok := delegatecall(gas(), extension, 0, calldatasize(), 0, 0)
            returndatacopy(0, 0, returndatasize())
            if iszero(ok) { revert(0, returndatasize()) }
            return(0, returndatasize())
        }
    }

    /// @notice Pays `quote` from the caller's allowance. The caller must be the quote's payer.
    /// @return subscriptionId the subscription created (= the quote digest) or extended
    function pay(Quote calldata quote, bytes calldata signature)
        external
        nonReentrant
        returns (bytes32 subscriptionId)
    {
        if (msg.sender != quote.payer) revert PayerMismatch();
        (, subscriptionId) = _settle(quote, signature);
        IERC20(quote.token).safeTransferFrom(msg.sender, address(this), quote.amount);
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
    ) external nonReentrant returns (bytes32 subscriptionId) {
        if (msg.sender != quote.payer) revert PayerMismatch();
        (, subscriptionId) = _settle(quote, signature);
        // solhint-disable-next-line no-empty-blocks
        try IERC20Permit(quote.token).permit(msg.sender, address(this), quote.amount, deadline, v, r, s) {} catch {}
        IERC20(quote.token).safeTransferFrom(msg.sender, address(this), quote.amount);
    }

    /// @notice EIP-3009 receiveWithAuthorization + pay; anyone (a relayer) may submit. The payer's
    ///         authorization must use the quote's EIP-712 digest as its nonce (binds it to this quote and, since
    ///         only the payee can submit a receive authorization, cannot be front-run). The balance must grow by
    ///         exactly `amount`.
    function payWithAuthorization(
        Quote calldata quote,
        bytes calldata signature,
        uint256 validAfter,
        uint256 validBefore,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external nonReentrant returns (bytes32 subscriptionId) {
        uint256 before = IERC20(quote.token).balanceOf(address(this));
        bytes32 digest;
        (digest, subscriptionId) = _settle(quote, signature);
        IERC3009(quote.token).receiveWithAuthorization(
            quote.payer, address(this), quote.amount, validAfter, validBefore, digest, v, r, s
        );
        _checkReceived(quote.token, before, quote.amount);
    }

    /// @notice Pays with a stock HTTP-402 client's EIP-3009 TransferWithAuthorization (x402 `exact`, MPP
    ///         `charge`): `to` = this contract, `value` = quote.amount, the client's own random `nonce`. The quote
    ///         id must be keccak256(abi.encode(token, payer, nonce)), so one authorization pays exactly one quote.
    ///         Permissionless. If someone submits the authorization to the token first, this reverts and the
    ///         funds arrive unrecorded: see `honourTransferAuthorization` and `refundUnrecorded`.
    function payWithTransferAuthorization(
        Quote calldata quote,
        bytes calldata signature,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external nonReentrant returns (bytes32 subscriptionId) {
        _settleAuthorization(quote.token, quote.payer, nonce, quote.quoteId);
        uint256 before = IERC20(quote.token).balanceOf(address(this));
        (, subscriptionId) = _settle(quote, signature);
        IERC3009(quote.token).transferWithAuthorization(
            quote.payer, address(this), quote.amount, validAfter, validBefore, nonce, v, r, s
        );
        _checkReceived(quote.token, before, quote.amount);
    }

    /// @notice Quote signer only: records a payment whose TransferWithAuthorization was submitted to the token
    ///         directly (front-run), once the gateway has matched its Transfer log. The authorization nonce must
    ///         be used on the token, not yet settled here, and the unrecorded balance must cover the amount.
    ///         No signature and no expiry check: the caller is the signer, the payer paid in time.
    function honourTransferAuthorization(Quote calldata quote, bytes32 nonce)
        external
        nonReentrant
        returns (bytes32 subscriptionId)
    {
        PaymentProcessorStorage storage $ = _s();
        Config memory cfg = $.config;
        if (msg.sender != cfg.quoteSigner) revert NotQuoteSigner();
        if (cfg.paused) revert EnforcedPause();
        _settleAuthorization(quote.token, quote.payer, nonce, quote.quoteId);
        _requireUsedAuthorization(quote.token, quote.payer, nonce, quote.quoteId);
        _requireUnrecorded(quote.token, quote.amount);
        subscriptionId = _apply(quote, hashQuote(quote), cfg.operatorFeeBps);
    }

    /// @notice Operator: raises the refunded total of the payment made by `quote` to `targetTotal` (credited to
    ///         the payer's pull balance) and, with `endAccess`, revokes its subscription now. Idempotent: a
    ///         retried call with the same target credits nothing more (a lower target is a no-op too). The
    ///         total is bounded by the amount paid; taken from the treasury's share first, then the operator's.
    function refund(Quote calldata quote, uint256 targetTotal, bool endAccess)
        external
        
    {
        _requireRole(Roles.OPERATOR_ROLE);
        PaymentProcessorStorage storage $ = _s();
        bytes32 digest = hashQuote(quote);
        if ($.records[digest].owner == address(0)) revert UnknownPayment(digest);
        if (targetTotal > quote.amount) revert RefundExceedsPayment(quote.amount);
        uint256 already = $.refunded[digest];
        if (targetTotal > already) {
            uint256 amount = targetTotal - already;
            TokenAccount storage acct = $.tokens[quote.token];
            uint256 fromTreasury = Math.min(amount, acct.treasuryOwed);
            uint256 fromOperator = amount - fromTreasury;
            if (fromOperator > acct.operatorOwed) revert InsufficientFeeBalance();
            // Both are bounded by the uint112 bucket they are taken from.
            // forge-lint: disable-next-line(unsafe-typecast)
            acct.treasuryOwed -= uint112(fromTreasury);
            // forge-lint: disable-next-line(unsafe-typecast)
            acct.operatorOwed -= uint112(fromOperator);
            $.refunded[digest] = targetTotal;
            $.refundOwed[quote.payer][quote.token] += amount;
            $.refundsPending[quote.token] += amount;
            emit RefundIssued(digest, quote.payer, quote.token, amount, targetTotal);
        }
        if (endAccess) {
            bytes32 id = quote.subscriptionId == bytes32(0) ? digest : quote.subscriptionId;
            if ($.records[id].status != REVOKED) _revoke(id);
        }
    }

    /// @notice Operator: credits `amount` of funds that arrived through the payer's TransferWithAuthorization
    ///         `nonce` without a recorded payment (front-run) to the payer's refund balance, instead of honouring
    ///         it. Settles the authorization (it can then never be honoured).
    function refundUnrecorded(address token, address payer, bytes32 nonce, uint256 amount)
        external
        
    {
        _requireRole(Roles.OPERATOR_ROLE);
        bytes32 quoteId = keccak256(abi.encode(token, payer, nonce));
        _settleAuthorization(token, payer, nonce, quoteId);
        _requireUsedAuthorization(token, payer, nonce, quoteId);
        if (amount == 0) revert AmountOutOfRange();
        _requireUnrecorded(token, amount);
        PaymentProcessorStorage storage $ = _s();
        $.refundOwed[payer][token] += amount;
        $.refundsPending[token] += amount;
        emit UnrecordedPaymentRefunded(quoteId, payer, token, nonce, amount);
    }

    /// @notice Sends the caller the refunds credited to it in `token`.
    function withdrawRefund(address token) external nonReentrant {
        PaymentProcessorStorage storage $ = _s();
        if ($.config.paused) revert EnforcedPause();
        uint256 amount = $.refundOwed[msg.sender][token];
        if (amount == 0) revert NothingToWithdraw();
        $.refundOwed[msg.sender][token] = 0;
        $.refundsPending[token] -= amount;
        IERC20(token).safeTransfer(msg.sender, amount);
        emit RefundWithdrawn(msg.sender, token, amount);
    }

    /// @notice Sends the operator payee and/or the treasury (whichever the caller is) its share of `token`.
    function withdrawFees(address token) external nonReentrant {
        PaymentProcessorStorage storage $ = _s();
        if ($.config.paused) revert EnforcedPause();
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

    /// @notice The EIP-712 digest the quote signer signs for `quote` on this chain and proxy.
    function hashQuote(Quote calldata quote) public view returns (bytes32 digest) {
        bytes32 domain = DOMAIN_SEPARATOR();
        bytes32 typehash = QUOTE_TYPEHASH;
        // Same bytes as keccak256(abi.encode(QUOTE_TYPEHASH, quote)) for ABI-clean calldata (all fields are
        // static, 9 words), without the per-field copy. Dirty calldata hashes to a digest no signer signed.
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, typehash)
            calldatacopy(add(m, 0x20), quote, 0x120)
            let structHash := keccak256(m, 0x140)
            mstore(m, hex"1901")
            mstore(add(m, 0x02), domain)
            mstore(add(m, 0x22), structHash)
            digest := keccak256(m, 0x42)
        }
    }

    /// @notice What paying `quote` at time `at` (>= now) would do: the subscription's new start and end and the
    ///         minimum amount. Reverts as the payment would for an unknown plan, token or subscription.
    function previewQuote(Quote calldata quote, uint256 at)
        external
        view
        returns (uint32 start, uint32 end, uint256 due)
    {
        PaymentProcessorStorage storage $ = _s();
        TokenAccount memory acct = $.tokens[quote.token];
        if (!acct.listed) revert TokenNotListed(quote.token);
        (start, end, due) = _terms(quote, acct.id, at);
    }

    /// @notice Tokens held beyond everything owed (fee buckets and pending refunds).
    function unrecorded(address token) public view returns (uint256) {
        PaymentProcessorStorage storage $ = _s();
        TokenAccount memory acct = $.tokens[token];
        uint256 owed = uint256(acct.operatorOwed) + acct.treasuryOwed + $.refundsPending[token];
        uint256 balance = IERC20(token).balanceOf(address(this));
        return balance > owed ? balance - owed : 0;
    }

    /// @dev Checks pause, expiry and signature, then applies the quote. The caller moves the tokens after.
    function _settle(Quote calldata quote, bytes calldata signature)
        private
        returns (bytes32 digest, bytes32 subscriptionId)
    {
        Config memory cfg = _s().config;
        if (cfg.paused) revert EnforcedPause();
        if (block.timestamp > quote.validUntil) revert QuoteExpired(quote.validUntil);
        digest = hashQuote(quote);
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecoverCalldata(digest, signature);
        if (err != ECDSA.RecoverError.NoError || signer != cfg.quoteSigner) revert InvalidQuoteSignature();
        subscriptionId = _apply(quote, digest, cfg.operatorFeeBps);
    }

    /// @dev Effects of a payment: the record (replay flag), the subscription, the fee split, the event.
    function _apply(Quote calldata quote, bytes32 digest, uint16 operatorFeeBps)
        private
        returns (bytes32 subscriptionId)
    {
        PaymentProcessorStorage storage $ = _s();
        if ($.records[digest].owner != address(0)) revert QuoteAlreadyPaid(digest);
        if (quote.payer == address(0)) revert ZeroAddress();
        TokenAccount memory acct = $.tokens[quote.token];
        if (!acct.listed) revert TokenNotListed(quote.token);
        (uint32 start, uint32 end, uint256 due) = _terms(quote, acct.id, block.timestamp);
        if (quote.amount < due) revert AmountBelowPrice(due, quote.amount);
        if (quote.amount > type(uint112).max) revert AmountOutOfRange();
        address beneficiary;
        (subscriptionId, beneficiary) = _record(quote, digest, acct.id, start, end);
        // amount <= type(uint112).max (checked above), so the casts cannot truncate; the adds are checked.
        // forge-lint: disable-next-line(unsafe-typecast)
        uint112 amount = uint112(quote.amount);
        // forge-lint: disable-next-line(unsafe-typecast)
        uint112 operatorShare = uint112(uint256(amount) * operatorFeeBps / BPS);
        acct.operatorOwed += operatorShare;
        acct.treasuryOwed += amount - operatorShare;
        $.tokens[quote.token] = acct;
        _emitPaymentReceived(quote, digest, subscriptionId, beneficiary, start, end);
    }

    function _emitPaymentReceived(
        Quote calldata quote,
        bytes32 digest,
        bytes32 subscriptionId,
        address beneficiary,
        uint32 start,
        uint32 end
    ) private {
        emit PaymentReceived(
            digest, subscriptionId, quote.payer, beneficiary, quote.token, quote.amount, quote.planId, start, end
        );
    }

    /// @dev Writes the payment record and creates or updates the subscription. Returns its id and, for the event,
    ///      the beneficiary of a creation, address(0) for a renewal or plan change paid by the owner (unchanged),
    ///      or the paying beneficiary.
    function _record(Quote calldata quote, bytes32 digest, uint8 tokenId, uint32 start, uint32 end)
        private
        returns (bytes32 subscriptionId, address beneficiary)
    {
        PaymentProcessorStorage storage $ = _s();
        address payer = quote.payer;
        uint16 planId = quote.planId;
        subscriptionId = quote.subscriptionId;
        uint256 status = PAYMENT;
        if (subscriptionId == bytes32(0)) {
            subscriptionId = digest;
            status = LIVE;
            beneficiary = quote.beneficiary;
            if (beneficiary == address(0) || beneficiary == payer) beneficiary = payer;
            else $.beneficiaries[digest] = beneficiary;
        } else {
            // Only the owner or the beneficiary may renew or change a subscription (`_terms` checked it is live
            // and in this token). The beneficiary slot is read only when the owner is not the payer.
            Record storage sub = $.records[subscriptionId];
            address owner = sub.owner;
            if (payer != owner) {
                beneficiary = $.beneficiaries[subscriptionId];
                if (payer != beneficiary) revert NotSubscriber(subscriptionId);
            }
            _store(sub, owner, planId, tokenId, LIVE, start, end);
        }
        _store($.records[digest], payer, planId, tokenId, status, start, end);
    }

    /// @dev One SSTORE of a packed Record (field order and widths as declared in IPaymentProcessor.Record).
    function _store(
        Record storage r,
        address owner,
        uint16 planId,
        uint8 tokenId,
        uint256 status,
        uint32 start,
        uint32 end
    ) private {
        uint256 word = uint256(uint160(owner)) | (uint256(planId) << 160) | (uint256(tokenId) << 176)
            | (status << 184) | (uint256(start) << 192) | (uint256(end) << 224);
        assembly ("memory-safe") {
            sstore(r.slot, word)
        }
    }

    /// @dev The subscription's start and end after paying `quote` at `at`, and the minimum amount due.
    function _terms(Quote calldata quote, uint8 tokenId, uint256 at)
        private
        view
        returns (uint32 start, uint32 end, uint256 due)
    {
        PaymentProcessorStorage storage $ = _s();
        uint16 planId = quote.planId;
        Sale memory s = $.sales[planId][quote.token];
        if (!s.onSale) revert NotOnSale(planId, quote.token);
        uint256 periods = quote.periods;
        bytes32 id = quote.subscriptionId;
        // periods < 2^32, price < 2^128, period < 2^32, at < 2^64 (a timestamp): no product or sum overflows.
        unchecked {
            if (id == bytes32(0)) {
                if (periods == 0) revert ZeroPeriods();
                return (_u32(at), _u32(at + periods * s.periodSeconds), periods * s.price);
            }
            Record memory sub = $.records[id];
            if (sub.status != LIVE) revert SubscriptionNotLive(id);
            if (sub.tokenId != tokenId) revert TokenMismatch(id);
            uint256 from = sub.end;
            start = sub.start;
            if (from <= at) {
                // Lapsed: nothing to carry over, restart at `at`.
                if (periods == 0) revert ZeroPeriods();
                start = _u32(at);
                from = at;
            } else if (sub.planId != planId) {
                Sale memory old = $.sales[sub.planId][quote.token];
                uint256 unused = from - at;
                uint256 oldRate = uint256(old.price) * s.periodSeconds;
                uint256 newRate = uint256(s.price) * old.periodSeconds;
                if (newRate >= oldRate) {
                    due = Math.mulDiv(
                        unused, newRate - oldRate, uint256(old.periodSeconds) * s.periodSeconds, Math.Rounding.Ceil
                    );
                } else {
                    from = at + Math.mulDiv(unused, oldRate, newRate);
                }
            } else if (periods == 0) {
                revert ZeroPeriods();
            }
            end = _u32(from + periods * s.periodSeconds);
            due += periods * s.price;
        }
    }

    /// @dev One transfer authorization (quote id = keccak256(token, payer, nonce)) is settled at most once.
    function _settleAuthorization(address token, address payer, bytes32 nonce, bytes32 quoteId) private {
        if (quoteId != keccak256(abi.encode(token, payer, nonce))) revert AuthorizationMismatch();
        PaymentProcessorStorage storage $ = _s();
        if ($.authorizationSettled[quoteId]) revert AuthorizationAlreadySettled(quoteId);
        $.authorizationSettled[quoteId] = true;
    }

    function _requireUsedAuthorization(address token, address payer, bytes32 nonce, bytes32 quoteId) private view {
        if (!IERC3009(token).authorizationState(payer, nonce)) revert AuthorizationNotUsed(quoteId);
    }

    function _requireUnrecorded(address token, uint256 amount) private view {
        uint256 available = unrecorded(token);
        if (available < amount) revert UnrecordedFundsTooLow(available, amount);
    }

    function _checkReceived(address token, uint256 before, uint256 amount) private view {
        uint256 balance = IERC20(token).balanceOf(address(this));
        if (balance != before + amount) revert PaymentNotReceived(before + amount, balance);
    }

    function _u32(uint256 t) private pure returns (uint32) {
        if (t > type(uint32).max) revert EndOverflow();
        // forge-lint: disable-next-line(unsafe-typecast)
        return uint32(t);
    }

    /// @inheritdoc UUPSUpgradeable
    // solhint-disable-next-line no-empty-blocks
    function _authorizeUpgrade(address) internal view override {
        _requireRole(Roles.UPGRADER_ROLE);
    }

    function _domainName() internal pure override returns (string memory) {
        return "litgate PaymentProcessor";
    }

    function _domainNameHash() internal pure override returns (bytes32) {
        return keccak256("litgate PaymentProcessor");
    }

    function _domainVersion() internal pure override returns (string memory) {
        return "2";
    }

    function _domainVersionHash() internal pure override returns (bytes32) {
        return keccak256("2");
    }
}
