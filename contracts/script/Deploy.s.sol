// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Script, console2} from "forge-std/Script.sol";
import {ERC1967Proxy} from "@openzeppelin/contracts/proxy/ERC1967/ERC1967Proxy.sol";
import {PaymentProcessor} from "../src/PaymentProcessor.sol";
import {PaymentProcessorAdmin} from "../src/PaymentProcessorAdmin.sol";
import {IPaymentProcessor} from "../src/interfaces/IPaymentProcessor.sol";
import {TestUSDC} from "../src/tokens/TestUSDC.sol";
import {TestUSDT} from "../src/tokens/TestUSDT.sol";

/// @title Deploy
/// @notice Deploys the PaymentProcessorAdmin extension, the PaymentProcessor implementation and its ERC-1967
///         (UUPS) proxy, optionally the two test stablecoins, grants every role at initialisation to the
///         configured addresses (never implicitly to the deployer) and writes deployments/<chainId>.json (same
///         format as src/contracts/deploy.ts).
///
///   DEPLOYER_PRIVATE_KEY=0x… forge script script/Deploy.s.sol --rpc-url http://127.0.0.1:8545 --broadcast
///
/// Environment (addresses): LITGATE_ADMIN, LITGATE_UPGRADER, LITGATE_OPERATOR, LITGATE_GUARDIAN,
/// LITGATE_QUOTE_SIGNER, LITGATE_OPERATOR_PAYEE, LITGATE_TREASURY; LITGATE_OPERATOR_FEE_BPS (0..10000, default
/// 0); LITGATE_ADMIN_DELAY_SECONDS (default 2 days, at most 2^48-1); LITGATE_ACCEPTED_TOKENS (comma-separated);
/// LITGATE_TEST_TOKENS=true to deploy tUSDC/tUSDT (their minter is the deployer). On a local chain (31337)
/// unset role addresses default to the deployer; on any other chain each must be set. Out-of-range numbers are
/// refused (`OutOfRange`), never truncated.
contract Deploy is Script {
    struct Roles {
        address admin;
        address upgrader;
        address operator;
        address guardian;
        address quoteSigner;
        address operatorPayee;
        address treasury;
    }

    struct Deployment {
        address paymentProcessor;
        address paymentProcessorImpl;
        address paymentProcessorAdmin;
        address usdc;
        address usdt;
    }

    error MissingRole(string name);
    error OutOfRange(string name, uint256 value, uint256 max);

    function run() external returns (Deployment memory d) {
        uint256 pk = vm.envUint("DEPLOYER_PRIVATE_KEY");
        address deployer = vm.addr(pk);
        Roles memory roles = _roles(deployer);
        uint256 feeBps = _bounded("LITGATE_OPERATOR_FEE_BPS", 0, 10_000);
        uint256 delay = _bounded("LITGATE_ADMIN_DELAY_SECONDS", 2 days, type(uint48).max);
        bool testTokens = vm.envOr("LITGATE_TEST_TOKENS", false);
        address[] memory extra = vm.envOr("LITGATE_ACCEPTED_TOKENS", ",", new address[](0));
        uint256 count = extra.length + (testTokens ? 2 : 0);
        if (count > type(uint8).max) revert OutOfRange("LITGATE_ACCEPTED_TOKENS", count, type(uint8).max);

        vm.startBroadcast(pk);
        if (testTokens) {
            d.usdc = address(new TestUSDC(deployer));
            d.usdt = address(new TestUSDT(deployer));
        }
        address[] memory accepted = new address[](count);
        for (uint256 i; i < extra.length; ++i) {
            accepted[i] = extra[i];
        }
        if (testTokens) {
            accepted[extra.length] = d.usdc;
            accepted[extra.length + 1] = d.usdt;
        }
        d.paymentProcessorAdmin = address(new PaymentProcessorAdmin());
        d.paymentProcessorImpl = address(new PaymentProcessor(d.paymentProcessorAdmin));
        // Both bounds were checked above, so these casts cannot truncate.
        IPaymentProcessor.InitParams memory p = IPaymentProcessor.InitParams({
            admin: roles.admin,
            // forge-lint: disable-next-line(unsafe-typecast)
            adminDelay: uint48(delay),
            upgrader: roles.upgrader,
            operator: roles.operator,
            guardian: roles.guardian,
            quoteSigner: roles.quoteSigner,
            operatorPayee: roles.operatorPayee,
            treasury: roles.treasury,
            // forge-lint: disable-next-line(unsafe-typecast)
            operatorFeeBps: uint16(feeBps),
            tokens: accepted
        });
        d.paymentProcessor = address(
            new ERC1967Proxy(d.paymentProcessorImpl, abi.encodeCall(PaymentProcessorAdmin.initialize, (p)))
        );
        vm.stopBroadcast();

        _write(d, roles, deployer);
        console2.log("PaymentProcessor", d.paymentProcessor);
    }

    function _bounded(string memory name, uint256 fallbackValue, uint256 max) internal view returns (uint256 v) {
        v = vm.envOr(name, fallbackValue);
        if (v > max) revert OutOfRange(name, v, max);
    }

    function _role(string memory name, address deployer) internal view returns (address a) {
        a = vm.envOr(name, address(0));
        if (a != address(0)) return a;
        if (block.chainid != 31337) revert MissingRole(name);
        return deployer;
    }

    function _roles(address deployer) internal view returns (Roles memory r) {
        r.admin = _role("LITGATE_ADMIN", deployer);
        r.upgrader = _role("LITGATE_UPGRADER", deployer);
        r.operator = _role("LITGATE_OPERATOR", deployer);
        r.guardian = _role("LITGATE_GUARDIAN", deployer);
        r.quoteSigner = _role("LITGATE_QUOTE_SIGNER", deployer);
        r.operatorPayee = _role("LITGATE_OPERATOR_PAYEE", deployer);
        r.treasury = _role("LITGATE_TREASURY", deployer);
    }

    function _write(Deployment memory d, Roles memory r, address deployer) internal {
        string memory impl = "implementations";
        vm.serializeAddress(impl, "paymentProcessor", d.paymentProcessorImpl);
        impl = vm.serializeAddress(impl, "paymentProcessorAdmin", d.paymentProcessorAdmin);

        string memory tokens = "tokens";
        if (d.usdc != address(0)) {
            vm.serializeAddress(tokens, "usdc", d.usdc);
            tokens = vm.serializeAddress(tokens, "usdt", d.usdt);
        } else {
            tokens = "{}";
        }

        string memory roles = "roles";
        vm.serializeAddress(roles, "admin", r.admin);
        vm.serializeAddress(roles, "upgrader", r.upgrader);
        vm.serializeAddress(roles, "operator", r.operator);
        vm.serializeAddress(roles, "guardian", r.guardian);
        vm.serializeAddress(roles, "quoteSigner", r.quoteSigner);
        vm.serializeAddress(roles, "operatorPayee", r.operatorPayee);
        roles = vm.serializeAddress(roles, "treasury", r.treasury);

        string memory root = "deployment";
        vm.serializeUint(root, "chainId", block.chainid);
        vm.serializeAddress(root, "deployer", deployer);
        vm.serializeAddress(root, "paymentProcessor", d.paymentProcessor);
        vm.serializeString(root, "implementations", impl);
        vm.serializeString(root, "tokens", tokens);
        vm.serializeString(root, "roles", roles);
        string memory json = vm.serializeUint(root, "startBlock", block.number);
        string memory dir = string.concat(vm.projectRoot(), "/deployments");
        vm.createDir(dir, true);
        vm.writeJson(json, string.concat(dir, "/", vm.toString(block.chainid), ".json"));
    }
}
