// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Test} from "forge-std/Test.sol";
import {Deploy} from "../script/Deploy.s.sol";
import {AccessToken} from "../src/AccessToken.sol";
import {PaymentProcessor} from "../src/PaymentProcessor.sol";
import {SubscriptionManager} from "../src/SubscriptionManager.sol";

/// @dev Runs script/Deploy.s.sol in-process (chain 31337) and checks roles and the deployments file.
contract DeployScriptTest is Test {
    bytes32 internal constant ISSUER_ROLE = keccak256("litgate.role.issuer");
    bytes32 internal constant QUOTE_SIGNER_ROLE = keccak256("litgate.role.quote-signer");
    bytes32 internal constant UPGRADER_ROLE = keccak256("litgate.role.upgrader");

    function test_deployScript_deploysWiresAndWritesFile() public {
        uint256 pk = 0xA11CE;
        address deployer = vm.addr(pk);
        address admin = makeAddr("admin");
        address signer = makeAddr("signer");
        vm.setEnv("DEPLOYER_PRIVATE_KEY", vm.toString(pk));
        vm.setEnv("LITGATE_ADMIN", vm.toString(admin));
        vm.setEnv("LITGATE_QUOTE_SIGNER", vm.toString(signer));
        vm.setEnv("LITGATE_TEST_TOKENS", "true");
        vm.setEnv("LITGATE_OPERATOR_FEE_BPS", "1500");
        Deploy.Deployment memory d = new Deploy().run();

        SubscriptionManager sm = SubscriptionManager(d.subscriptionManager);
        PaymentProcessor pp = PaymentProcessor(d.paymentProcessor);
        assertTrue(sm.hasRole(ISSUER_ROLE, d.paymentProcessor));
        assertTrue(pp.hasRole(0x00, admin));
        assertFalse(pp.hasRole(0x00, deployer), "admin went to LITGATE_ADMIN, not the deployer");
        assertTrue(pp.hasRole(QUOTE_SIGNER_ROLE, signer));
        assertTrue(pp.hasRole(UPGRADER_ROLE, deployer), "local chain: unset roles default to the deployer");
        assertEq(pp.config().operatorFeeBps, 1500);
        assertTrue(pp.tokenAccount(d.usdc).accepted);
        assertTrue(pp.tokenAccount(d.usdt).accepted);
        assertEq(AccessToken(d.accessToken).subscriptionManager(), d.subscriptionManager);

        string memory json = vm.readFile(string.concat(vm.projectRoot(), "/deployments/31337.json"));
        assertEq(vm.parseJsonAddress(json, ".paymentProcessor"), d.paymentProcessor);
        assertEq(vm.parseJsonAddress(json, ".tokens.usdc"), d.usdc);
        assertEq(vm.parseJsonAddress(json, ".roles.admin"), admin);
        assertEq(vm.parseJsonAddress(json, ".implementations.subscriptionManager"), d.subscriptionManagerImpl);
        assertEq(vm.parseJsonUint(json, ".chainId"), 31337);
    }

    function test_deployScript_requiresRolesOffLocalChain() public {
        vm.chainId(4441);
        vm.setEnv("DEPLOYER_PRIVATE_KEY", vm.toString(uint256(0xA11CE)));
        Deploy script = new Deploy();
        // LITGATE_UPGRADER is never set by these tests (env is process-wide; tests may run in parallel)
        vm.expectPartialRevert(Deploy.MissingRole.selector);
        script.run();
    }
}
