// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @dev A 6-decimal ERC-20 that, once armed, re-enters its target from inside transfer/transferFrom with the
///      armed calldata, and records whether the re-entrant call succeeded and what it returned.
contract MaliciousToken is ERC20 {
    address public target;
    bytes public attackCalldata;
    bool public attacked;
    bool public reentrySucceeded;
    bytes public reentryResult;

    constructor() ERC20("Malicious", "EVIL") {}

    function decimals() public pure override returns (uint8) {
        return 6;
    }

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function arm(address target_, bytes calldata data) external {
        target = target_;
        attackCalldata = data;
        attacked = false;
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        if (target != address(0) && !attacked && from != address(0)) {
            attacked = true;
            (reentrySucceeded, reentryResult) = target.call(attackCalldata);
        }
    }
}

/// @dev A 6-decimal token that calls `onTokenReceived` on contract recipients (ERC-777/1363-style hooks),
///      which hands control to the recipient in the middle of a withdrawal.
contract HookToken is ERC20 {
    constructor() ERC20("Hooked", "HOOK") {}

    function decimals() public pure override returns (uint8) {
        return 6;
    }

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        if (to.code.length != 0 && from != address(0)) {
            try ITokenReceiver(to).onTokenReceived(from, value) {} catch {}
        }
    }
}

interface ITokenReceiver {
    function onTokenReceived(address from, uint256 value) external;
}

/// @dev A payee/payer contract that tries to withdraw again (or pay) when it receives tokens.
contract MaliciousReceiver is ITokenReceiver {
    address public target;
    bytes public attackCalldata;
    bool public reentrySucceeded;
    bytes public reentryResult;
    uint256 public hits;

    function arm(address target_, bytes calldata data) external {
        target = target_;
        attackCalldata = data;
    }

    function call(address to, bytes calldata data) external returns (bytes memory) {
        (bool ok, bytes memory ret) = to.call(data);
        if (!ok) {
            assembly {
                revert(add(ret, 32), mload(ret))
            }
        }
        return ret;
    }

    function onTokenReceived(address, uint256) external {
        if (hits++ == 0 && target != address(0)) {
            (reentrySucceeded, reentryResult) = target.call(attackCalldata);
        }
    }
}

/// @dev An 18-decimal token (rejected by the allow-list).
contract Token18 is ERC20 {
    constructor() ERC20("Eighteen", "E18") {}
}

/// @dev ERC-1271 wallet: valid iff an ECDSA signature by `signer` over the hash.
contract Wallet1271 {
    address public immutable signer;

    constructor(address signer_) {
        signer = signer_;
    }

    function isValidSignature(bytes32 hash, bytes calldata sig) external view returns (bytes4) {
        (bytes32 r, bytes32 s) = abi.decode(sig[:64], (bytes32, bytes32));
        address rec = ecrecover(hash, uint8(sig[64]), r, s);
        return rec == signer ? bytes4(0x1626ba7e) : bytes4(0xffffffff);
    }
}
