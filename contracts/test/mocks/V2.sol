// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {PaymentProcessor} from "../../src/PaymentProcessor.sol";

/// @dev Next version: same code plus a marker view.
contract PaymentProcessorV2 is PaymentProcessor {
    constructor(address adminExtension) PaymentProcessor(adminExtension) {}

    function version() external pure returns (string memory) {
        return "v2-next";
    }
}

/// @dev Not UUPS: upgrading to it must fail.
contract NotUpgradeable {
    function version() external pure returns (string memory) {
        return "x";
    }
}
