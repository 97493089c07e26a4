// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Test} from "forge-std/Test.sol";
import {Deploy} from "../script/Deploy.s.sol";
import {ILitgate} from "./Base.t.sol";

/// @dev Runs script/Deploy.s.sol in-process (chain 31337) and checks roles, range checks and the file.
///      The environment is process-wide and forge runs tests in parallel: each variable below is set by one
///      test only, and LITGATE_UPGRADER is never set.
contract DeployScriptTest is Test {
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

        ILitgate pp = ILitgate(d.paymentProcessor);
        assertEq(pp.defaultAdmin(), admin);
        assertEq(pp.defaultAdminDelay(), 2 days);
        assertEq(pp.config().quoteSigner, signer);
        assertEq(pp.config().operatorFeeBps, 1500);
        assertTrue(pp.hasRole(UPGRADER_ROLE, deployer), "local chain: unset roles default to the deployer");
        assertTrue(pp.tokenAccount(d.usdc).listed);
        assertTrue(pp.tokenAccount(d.usdt).listed);
        assertEq(pp.ADMIN_EXTENSION(), d.paymentProcessorAdmin);

        string memory json = vm.readFile(string.concat(vm.projectRoot(), "/deployments/31337.json"));
        assertEq(vm.parseJsonAddress(json, ".paymentProcessor"), d.paymentProcessor);
        assertEq(vm.parseJsonAddress(json, ".tokens.usdc"), d.usdc);
        assertEq(vm.parseJsonAddress(json, ".roles.admin"), admin);
        assertEq(vm.parseJsonAddress(json, ".implementations.paymentProcessorAdmin"), d.paymentProcessorAdmin);
        assertEq(vm.parseJsonUint(json, ".chainId"), 31337);
    }

    function test_deployScript_requiresRolesOffLocalChain() public {
        vm.chainId(4441);
        vm.setEnv("DEPLOYER_PRIVATE_KEY", vm.toString(uint256(0xA11CE)));
        Deploy script = new Deploy();
        vm.expectPartialRevert(Deploy.MissingRole.selector);
        script.run();
    }

    /// run() reads LITGATE_OPERATOR_FEE_BPS and LITGATE_ADMIN_DELAY_SECONDS through `_bounded`; a variable of its
    /// own keeps this test independent of the others (the environment is shared by parallel tests).
    function test_deployScript_refusesOutOfRangeValuesInsteadOfTruncating() public {
        DeployHarness h = new DeployHarness();
        uint256 tooBig = uint256(type(uint48).max) + 1;
        vm.setEnv("LITGATE_DEPLOY_TEST_BOUND", vm.toString(tooBig));
        vm.expectRevert(
            abi.encodeWithSelector(Deploy.OutOfRange.selector, "LITGATE_DEPLOY_TEST_BOUND", tooBig, type(uint48).max)
        );
        h.bounded("LITGATE_DEPLOY_TEST_BOUND", 0, type(uint48).max);
        assertEq(h.bounded("LITGATE_DEPLOY_TEST_UNSET", 7, 10), 7, "default when unset");
    }
}

contract DeployHarness is Deploy {
    function bounded(string memory name, uint256 fallbackValue, uint256 max) external view returns (uint256) {
        return _bounded(name, fallbackValue, max);
    }
}
