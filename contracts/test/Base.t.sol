// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Test} from "forge-std/Test.sol";
import {ERC1967Proxy} from "@openzeppelin/contracts/proxy/ERC1967/ERC1967Proxy.sol";
import {PaymentProcessor} from "../src/PaymentProcessor.sol";
import {PaymentProcessorAdmin} from "../src/PaymentProcessorAdmin.sol";
import {IPaymentProcessor} from "../src/interfaces/IPaymentProcessor.sol";
import {TestUSDC} from "../src/tokens/TestUSDC.sol";
import {TestUSDT} from "../src/tokens/TestUSDT.sol";

/// @dev The PaymentProcessor and its admin extension seen as one contract (the proxy's full ABI).
interface ILitgate is IPaymentProcessor {
    function initialize(InitParams calldata p) external;
    function pay(Quote calldata quote, bytes calldata signature) external returns (bytes32);
    function payWithPermit(Quote calldata, bytes calldata, uint256, uint8, bytes32, bytes32) external returns (bytes32);
    function payWithAuthorization(Quote calldata, bytes calldata, uint256, uint256, uint8, bytes32, bytes32)
        external
        returns (bytes32);
    function payWithTransferAuthorization(
        Quote calldata,
        bytes calldata,
        uint256,
        uint256,
        bytes32,
        uint8,
        bytes32,
        bytes32
    ) external returns (bytes32);
    function honourTransferAuthorization(Quote calldata quote, bytes32 nonce) external returns (bytes32);
    function refund(Quote calldata quote, uint256 targetTotal, bool endAccess) external;
    function refundUnrecorded(address token, address payer, bytes32 nonce, uint256 amount) external;
    function withdrawRefund(address token) external;
    function withdrawFees(address token) external;
    function cancel(bytes32 id) external;
    function revoke(bytes32 id) external;
    function setBeneficiary(bytes32 id, address beneficiary) external;
    function createPlan(QoS calldata qos, uint32 periodSeconds) external returns (uint16);
    function setPlanQoS(uint16 planId, QoS calldata qos) external;
    function setSale(uint16 planId, address token, uint128 price, bool onSale) external;
    function setTokenListed(address token, bool listed) external;
    function setQuoteSigner(address signer) external;
    function setFeeSplit(uint16 bps) external;
    function setPayees(address operatorPayee, address treasury) external;
    function pause() external;
    function unpause() external;
    function scheduleUpgraderGrant(address account) external;
    function executeUpgraderGrant() external;
    function cancelUpgraderGrant() external;
    function hashQuote(Quote calldata quote) external view returns (bytes32);
    function previewQuote(Quote calldata quote, uint256 at) external view returns (uint32, uint32, uint256);
    function config() external view returns (Config memory);
    function payees() external view returns (address, address);
    function paused() external view returns (bool);
    function tokenAccount(address token) external view returns (TokenAccount memory);
    function tokenById(uint8 id) external view returns (address);
    function getPlan(uint16 planId) external view returns (Plan memory);
    function planCount() external view returns (uint16);
    function sale(uint16 planId, address token) external view returns (Sale memory);
    function paymentOf(bytes32 digest) external view returns (Record memory);
    function isPaid(bytes32 digest) external view returns (bool);
    function refundedOf(bytes32 digest) external view returns (uint256);
    function refundOwed(address payer, address token) external view returns (uint256);
    function refundsPending(address token) external view returns (uint256);
    function unrecorded(address token) external view returns (uint256);
    function isAuthorizationSettled(bytes32 quoteId) external view returns (bool);
    function scheduledUpgraderGrant() external view returns (address, uint48);
    function getSubscription(bytes32 id) external view returns (SubscriptionInfo memory);
    function qosOf(bytes32 id) external view returns (QoS memory);
    function isActive(bytes32 id) external view returns (bool);
    function isActiveAt(bytes32 id, uint256 at) external view returns (bool);
    function hasRole(bytes32 role, address account) external view returns (bool);
    function grantRole(bytes32 role, address account) external;
    function revokeRole(bytes32 role, address account) external;
    function renounceRole(bytes32 role, address account) external;
    function getRoleAdmin(bytes32 role) external view returns (bytes32);
    function defaultAdmin() external view returns (address);
    function defaultAdminDelay() external view returns (uint48);
    function pendingDefaultAdmin() external view returns (address, uint48);
    function beginDefaultAdminTransfer(address newAdmin) external;
    function acceptDefaultAdminTransfer() external;
    function supportsInterface(bytes4 id) external view returns (bool);
    function upgradeToAndCall(address impl, bytes calldata data) external payable;
    function ADMIN_EXTENSION() external view returns (address);
    function DOMAIN_SEPARATOR() external view returns (bytes32);
    function QUOTE_TYPEHASH() external view returns (bytes32);
}

/// @dev Shared fixture: the proxy with every role on a distinct address, two test stablecoins, three plans,
///      funded payers, and signing helpers for quotes, permits and EIP-3009 authorizations.
abstract contract LitgateTestBase is Test {
    bytes32 internal constant ADMIN_ROLE = 0x00;
    bytes32 internal constant OPERATOR_ROLE = keccak256("litgate.role.operator");
    bytes32 internal constant GUARDIAN_ROLE = keccak256("litgate.role.guardian");
    bytes32 internal constant UPGRADER_ROLE = keccak256("litgate.role.upgrader");

    bytes32 internal constant RECEIVE_TYPEHASH = keccak256(
        "ReceiveWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
    );
    bytes32 internal constant TRANSFER_TYPEHASH = keccak256(
        "TransferWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
    );
    bytes32 internal constant PERMIT_TYPEHASH =
        keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)");

    uint32 internal constant MONTH = 30 days;
    uint128 internal constant BASIC_PRICE = 10e6;
    uint128 internal constant PRO_PRICE = 30e6;
    uint128 internal constant WEEKLY_PRICE = 3e6;
    uint16 internal constant FEE_BPS = 2_000;
    uint48 internal constant ADMIN_DELAY = 2 days;

    address internal deployer = makeAddr("deployer");
    address internal admin = makeAddr("admin");
    address internal upgrader = makeAddr("upgrader");
    address internal operator = makeAddr("operator");
    address internal guardian = makeAddr("guardian");
    address internal operatorPayee = makeAddr("operatorPayee");
    address internal treasury = makeAddr("treasury");
    address internal relayer = makeAddr("relayer");
    address internal quoteSigner;
    uint256 internal quoteSignerPk;
    address internal alice;
    uint256 internal alicePk;
    address internal bob;
    uint256 internal bobPk;

    ILitgate internal pp;
    PaymentProcessor internal ppImpl;
    PaymentProcessorAdmin internal adminExt;
    TestUSDC internal usdc;
    TestUSDT internal usdt;

    uint16 internal basic;
    uint16 internal pro;
    uint16 internal weekly;
    uint256 internal quoteNonce;

    function setUp() public virtual {
        vm.warp(1_750_000_000);
        (quoteSigner, quoteSignerPk) = makeAddrAndKey("quoteSigner");
        (alice, alicePk) = makeAddrAndKey("alice");
        (bob, bobPk) = makeAddrAndKey("bob");

        vm.startPrank(deployer);
        usdc = new TestUSDC(deployer);
        usdt = new TestUSDT(deployer);
        adminExt = new PaymentProcessorAdmin();
        ppImpl = new PaymentProcessor(address(adminExt));
        address[] memory tokens = new address[](2);
        tokens[0] = address(usdc);
        tokens[1] = address(usdt);
        pp = ILitgate(address(new ERC1967Proxy(address(ppImpl), abi.encodeCall(ILitgate.initialize, (_params(tokens))))));
        usdc.mint(alice, 1_000_000e6);
        usdc.mint(bob, 1_000_000e6);
        usdt.mint(alice, 1_000_000e6);
        usdt.mint(bob, 1_000_000e6);
        vm.stopPrank();

        vm.startPrank(operator);
        basic = pp.createPlan(_qos(10, 1_000), MONTH);
        pro = pp.createPlan(_qos(100, 100_000), MONTH);
        weekly = pp.createPlan(_qos(5, 500), 7 days);
        pp.setSale(basic, address(usdc), BASIC_PRICE, true);
        pp.setSale(basic, address(usdt), BASIC_PRICE, true);
        pp.setSale(pro, address(usdc), PRO_PRICE, true);
        pp.setSale(pro, address(usdt), PRO_PRICE, true);
        pp.setSale(weekly, address(usdc), WEEKLY_PRICE, true);
        vm.stopPrank();

        vm.startPrank(alice);
        usdc.approve(address(pp), type(uint256).max);
        usdt.approve(address(pp), type(uint256).max);
        vm.stopPrank();
        vm.prank(bob);
        usdc.approve(address(pp), type(uint256).max);
    }

    function _params(address[] memory tokens) internal view returns (IPaymentProcessor.InitParams memory) {
        return IPaymentProcessor.InitParams({
            admin: admin,
            adminDelay: ADMIN_DELAY,
            upgrader: upgrader,
            operator: operator,
            guardian: guardian,
            quoteSigner: quoteSigner,
            operatorPayee: operatorPayee,
            treasury: treasury,
            operatorFeeBps: FEE_BPS,
            tokens: tokens
        });
    }

    function _qos(uint32 rps, uint64 perDay) internal pure returns (IPaymentProcessor.QoS memory) {
        return IPaymentProcessor.QoS({
            requestsPerSecond: rps,
            requestsPerDay: perDay,
            requestsPerMonth: perDay * 30,
            bandwidthBytesPerPeriod: 10 << 30,
            maxConcurrentStreams: rps / 5 + 1
        });
    }

    function _quote(address payer, uint16 planId, uint32 periods, address token, uint256 amount, bytes32 subId)
        internal
        returns (IPaymentProcessor.Quote memory q)
    {
        q = IPaymentProcessor.Quote({
            quoteId: keccak256(abi.encode("quote", ++quoteNonce)),
            payer: payer,
            beneficiary: address(0),
            subscriptionId: subId,
            token: token,
            amount: amount,
            planId: planId,
            periods: periods,
            validUntil: uint64(block.timestamp + 5 minutes)
        });
    }

    function _price(uint16 planId) internal view returns (uint128) {
        return planId == basic ? BASIC_PRICE : planId == pro ? PRO_PRICE : WEEKLY_PRICE;
    }

    function _newQuote(address payer, uint16 planId, uint32 periods) internal returns (IPaymentProcessor.Quote memory) {
        return _quote(payer, planId, periods, address(usdc), uint256(_price(planId)) * periods, bytes32(0));
    }

    /// @dev EIP-712 digest computed independently of the contract (checks hashQuote too).
    function _digest(IPaymentProcessor.Quote memory q) internal view returns (bytes32) {
        return _digestOn(q, block.chainid, address(pp));
    }

    function _digestOn(IPaymentProcessor.Quote memory q, uint256 chainId, address verifyingContract)
        internal
        pure
        returns (bytes32)
    {
        bytes32 domain = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("litgate PaymentProcessor"),
                keccak256("2"),
                chainId,
                verifyingContract
            )
        );
        bytes32 structHash = keccak256(
            abi.encode(
                keccak256(
                    "Quote(bytes32 quoteId,address payer,address beneficiary,bytes32 subscriptionId,address token,uint256 amount,uint16 planId,uint32 periods,uint64 validUntil)"
                ),
                q.quoteId,
                q.payer,
                q.beneficiary,
                q.subscriptionId,
                q.token,
                q.amount,
                q.planId,
                q.periods,
                q.validUntil
            )
        );
        return keccak256(abi.encodePacked("\x19\x01", domain, structHash));
    }

    function _sign(uint256 pk, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(pk, digest);
        return abi.encodePacked(r, s, v);
    }

    function _signQuote(IPaymentProcessor.Quote memory q) internal view returns (bytes memory) {
        return _sign(quoteSignerPk, _digest(q));
    }

    function _permitSig(uint256 ownerPk, address owner, uint256 value, uint256 deadline)
        internal
        view
        returns (uint8 v, bytes32 r, bytes32 s)
    {
        bytes32 structHash =
            keccak256(abi.encode(PERMIT_TYPEHASH, owner, address(pp), value, usdc.nonces(owner), deadline));
        (v, r, s) = vm.sign(ownerPk, keccak256(abi.encodePacked("\x19\x01", usdc.DOMAIN_SEPARATOR(), structHash)));
    }

    /// @dev EIP-3009 signature (typehash: receive or transfer) to the PaymentProcessor over tUSDC.
    function _authSig(bytes32 typehash, uint256 fromPk, address from, uint256 value, uint256 validBefore, bytes32 nonce)
        internal
        view
        returns (uint8 v, bytes32 r, bytes32 s)
    {
        bytes32 structHash = keccak256(abi.encode(typehash, from, address(pp), value, 0, validBefore, nonce));
        (v, r, s) = vm.sign(fromPk, keccak256(abi.encodePacked("\x19\x01", usdc.DOMAIN_SEPARATOR(), structHash)));
    }

    /// @dev A quote for the x402 path: id bound to (token, payer, nonce).
    function _x402Quote(address payer, uint16 planId, bytes32 nonce) internal returns (IPaymentProcessor.Quote memory q) {
        q = _newQuote(payer, planId, 1);
        q.quoteId = keccak256(abi.encode(q.token, payer, nonce));
    }

    /// @dev Pays a fresh quote for a new subscription and returns its id.
    function _buy(address payer, uint16 planId, uint32 periods) internal returns (bytes32 subId) {
        IPaymentProcessor.Quote memory q = _newQuote(payer, planId, periods);
        bytes memory sig = _signQuote(q);
        vm.prank(payer);
        subId = pp.pay(q, sig);
    }

    function _payAs(address payer, IPaymentProcessor.Quote memory q) internal returns (bytes32) {
        bytes memory sig = _signQuote(q);
        vm.prank(payer);
        return pp.pay(q, sig);
    }
}
