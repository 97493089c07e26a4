// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {AccessToken} from "../../src/AccessToken.sol";
import {PaymentProcessor} from "../../src/PaymentProcessor.sol";
import {SubscriptionManager} from "../../src/SubscriptionManager.sol";

/// @dev Next versions: same code plus a new field in a new ERC-7201 namespace and a reinitializer.
contract SubscriptionManagerV2 is SubscriptionManager {
    /// @custom:storage-location erc7201:litgate.storage.SubscriptionManagerV2
    struct V2Storage {
        uint256 marker;
    }

    bytes32 private constant V2_SLOT = keccak256(abi.encode(uint256(keccak256("litgate.storage.SubscriptionManagerV2")) - 1))
        & ~bytes32(uint256(0xff));

    function _v2() private pure returns (V2Storage storage $) {
        bytes32 slot = V2_SLOT;
        assembly {
            $.slot := slot
        }
    }

    function initializeV2(uint256 marker_) external reinitializer(2) {
        _v2().marker = marker_;
    }

    function marker() external view returns (uint256) {
        return _v2().marker;
    }

    function version() external pure returns (string memory) {
        return "2";
    }
}

contract PaymentProcessorV2 is PaymentProcessor {
    function version() external pure returns (string memory) {
        return "2";
    }
}

contract AccessTokenV2 is AccessToken {
    function version() external pure returns (string memory) {
        return "2";
    }
}

/// @dev Not UUPS: upgrading to it must fail.
contract NotUpgradeable {
    function version() external pure returns (string memory) {
        return "x";
    }
}
