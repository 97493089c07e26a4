// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Test} from "forge-std/Test.sol";
import {ERC1967Proxy} from "@openzeppelin/contracts/proxy/ERC1967/ERC1967Proxy.sol";
import {AccessToken} from "../src/AccessToken.sol";
import {PaymentProcessor} from "../src/PaymentProcessor.sol";
import {SubscriptionManager} from "../src/SubscriptionManager.sol";
import {IPaymentProcessor} from "../src/interfaces/IPaymentProcessor.sol";
import {ISubscriptionManager} from "../src/interfaces/ISubscriptionManager.sol";
import {TestUSDC} from "../src/tokens/TestUSDC.sol";
import {TestUSDT} from "../src/tokens/TestUSDT.sol";
import {Roles} from "../src/utils/Roles.sol";

/// @dev Shared fixture: the three proxies with every role on a distinct address, two test stablecoins,
///      three plans, funded payers, and signing helpers for quotes, permits and EIP-3009 authorizations.
abstract contract LitgateTestBase is Test {
    bytes32 internal constant ADMIN_ROLE = 0x00;
    bytes32 internal constant OPERATOR_ROLE = keccak256("litgate.role.operator");
    bytes32 internal constant GUARDIAN_ROLE = keccak256("litgate.role.guardian");
    bytes32 internal constant UPGRADER_ROLE = keccak256("litgate.role.upgrader");
    bytes32 internal constant QUOTE_SIGNER_ROLE = keccak256("litgate.role.quote-signer");
    bytes32 internal constant ISSUER_ROLE = keccak256("litgate.role.issuer");

    bytes32 internal constant RECEIVE_WITH_AUTHORIZATION_TYPEHASH = keccak256(
        "ReceiveWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
    );
    bytes32 internal constant PERMIT_TYPEHASH =
        keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)");

    uint32 internal constant MONTH = 30 days;
    uint128 internal constant BASIC_PRICE = 10e6; // 10.000000 tokens per 30 days
    uint128 internal constant PRO_PRICE = 30e6;
    uint128 internal constant WEEKLY_PRICE = 3e6;
    uint16 internal constant FEE_BPS = 2_000; // operator 20 %, treasury 80 %

    address internal deployer = makeAddr("deployer");
    address internal admin = makeAddr("admin");
    address internal upgrader = makeAddr("upgrader");
    address internal operator = makeAddr("operator");
    address internal guardian = makeAddr("guardian");
    address internal operatorPayee = makeAddr("operatorPayee");
    address internal treasury = makeAddr("treasury");
    address internal quoteSigner;
    uint256 internal quoteSignerPk;
    address internal alice;
    uint256 internal alicePk;
    address internal bob;
    uint256 internal bobPk;
    address internal relayer = makeAddr("relayer");

    SubscriptionManager internal sm;
    PaymentProcessor internal pp;
    AccessToken internal at;
    SubscriptionManager internal smImpl;
    PaymentProcessor internal ppImpl;
    AccessToken internal atImpl;
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
        smImpl = new SubscriptionManager();
        ppImpl = new PaymentProcessor();
        atImpl = new AccessToken();
        // The PaymentProcessor proxy is deployed right after the SubscriptionManager proxy: predict its
        // address so the manager can grant it ISSUER_ROLE at initialisation (no temporary deployer role).
        address predictedPp = vm.computeCreateAddress(deployer, vm.getNonce(deployer) + 1);
        sm = SubscriptionManager(
            address(
                new ERC1967Proxy(
                    address(smImpl),
                    abi.encodeCall(SubscriptionManager.initialize, (admin, upgrader, operator, predictedPp))
                )
            )
        );
        address[] memory tokens = new address[](2);
        tokens[0] = address(usdc);
        tokens[1] = address(usdt);
        pp = PaymentProcessor(
            address(
                new ERC1967Proxy(
                    address(ppImpl),
                    abi.encodeCall(
                        PaymentProcessor.initialize,
                        (
                            PaymentProcessor.InitParams({
                                admin: admin,
                                upgrader: upgrader,
                                guardian: guardian,
                                quoteSigner: quoteSigner,
                                subscriptionManager: address(sm),
                                operatorPayee: operatorPayee,
                                treasury: treasury,
                                operatorFeeBps: FEE_BPS,
                                acceptedTokens: tokens
                            })
                        )
                    )
                )
            )
        );
        assertEq(address(pp), predictedPp, "predicted PaymentProcessor address");
        at = AccessToken(
            address(
                new ERC1967Proxy(
                    address(atImpl), abi.encodeCall(AccessToken.initialize, (admin, upgrader, operator, address(sm)))
                )
            )
        );
        usdc.mint(alice, 1_000_000e6);
        usdc.mint(bob, 1_000_000e6);
        usdt.mint(alice, 1_000_000e6);
        usdt.mint(bob, 1_000_000e6);
        vm.stopPrank();

        vm.startPrank(operator);
        basic = sm.createPlan(_qos(10, 1_000), MONTH);
        pro = sm.createPlan(_qos(100, 100_000), MONTH);
        weekly = sm.createPlan(_qos(5, 500), 7 days);
        sm.setPlanPrice(basic, address(usdc), BASIC_PRICE);
        sm.setPlanPrice(basic, address(usdt), BASIC_PRICE);
        sm.setPlanPrice(pro, address(usdc), PRO_PRICE);
        sm.setPlanPrice(pro, address(usdt), PRO_PRICE);
        sm.setPlanPrice(weekly, address(usdc), WEEKLY_PRICE);
        vm.stopPrank();

        vm.prank(alice);
        usdc.approve(address(pp), type(uint256).max);
        vm.prank(alice);
        usdt.approve(address(pp), type(uint256).max);
        vm.prank(bob);
        usdc.approve(address(pp), type(uint256).max);
    }

    function _qos(uint32 rps, uint64 perDay) internal pure returns (ISubscriptionManager.QoS memory) {
        return ISubscriptionManager.QoS({
            requestsPerSecond: rps,
            requestsPerDay: perDay,
            requestsPerMonth: perDay * 30,
            bandwidthBytesPerPeriod: 10 << 30,
            maxConcurrentStreams: rps / 5 + 1
        });
    }

    function _quote(address payer, uint16 planId, uint32 periods, address token, uint256 amount, uint256 subId)
        internal
        returns (IPaymentProcessor.Quote memory q)
    {
        q = IPaymentProcessor.Quote({
            quoteId: keccak256(abi.encode("quote", ++quoteNonce)),
            payer: payer,
            beneficiary: address(0),
            planId: planId,
            periods: periods,
            token: token,
            amount: amount,
            subscriptionId: subId,
            validUntil: uint64(block.timestamp + 5 minutes)
        });
    }

    function _newQuote(address payer, uint16 planId, uint32 periods) internal returns (IPaymentProcessor.Quote memory) {
        uint256 price = planId == basic ? BASIC_PRICE : planId == pro ? PRO_PRICE : WEEKLY_PRICE;
        return _quote(payer, planId, periods, address(usdc), price * periods, 0);
    }

    /// @dev EIP-712 digest computed independently of the contract (checks PaymentProcessor.hashQuote too).
    function _quoteDigest(IPaymentProcessor.Quote memory q, uint256 chainId, address verifyingContract)
        internal
        pure
        returns (bytes32)
    {
        bytes32 domain = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("litgate PaymentProcessor"),
                keccak256("1"),
                chainId,
                verifyingContract
            )
        );
        bytes32 structHash = keccak256(
            abi.encode(
                keccak256(
                    "Quote(bytes32 quoteId,address payer,address beneficiary,uint16 planId,uint32 periods,address token,uint256 amount,uint256 subscriptionId,uint64 validUntil)"
                ),
                q.quoteId,
                q.payer,
                q.beneficiary,
                q.planId,
                q.periods,
                q.token,
                q.amount,
                q.subscriptionId,
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
        return _sign(quoteSignerPk, _quoteDigest(q, block.chainid, address(pp)));
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

    function _authSig(uint256 fromPk, address from, uint256 value, uint256 validBefore, bytes32 nonce)
        internal
        view
        returns (uint8 v, bytes32 r, bytes32 s)
    {
        bytes32 structHash = keccak256(
            abi.encode(RECEIVE_WITH_AUTHORIZATION_TYPEHASH, from, address(pp), value, 0, validBefore, nonce)
        );
        (v, r, s) = vm.sign(fromPk, keccak256(abi.encodePacked("\x19\x01", usdc.DOMAIN_SEPARATOR(), structHash)));
    }

    /// @dev Pays a fresh quote for a new subscription and returns its id.
    function _buy(address payer, uint16 planId, uint32 periods) internal returns (uint256 subId) {
        IPaymentProcessor.Quote memory q = _newQuote(payer, planId, periods);
        bytes memory sig = _signQuote(q);
        vm.prank(payer);
        subId = pp.pay(q, sig);
    }

    /// @dev Grants the test contract ISSUER_ROLE on the manager for direct issuer calls.
    function _becomeIssuer() internal {
        vm.prank(admin);
        sm.grantRole(ISSUER_ROLE, address(this));
    }

    function _roleConstantsMatch() internal pure returns (bool) {
        return OPERATOR_ROLE == Roles.OPERATOR_ROLE && GUARDIAN_ROLE == Roles.GUARDIAN_ROLE
            && UPGRADER_ROLE == Roles.UPGRADER_ROLE && QUOTE_SIGNER_ROLE == Roles.QUOTE_SIGNER_ROLE
            && ISSUER_ROLE == Roles.ISSUER_ROLE;
    }
}
