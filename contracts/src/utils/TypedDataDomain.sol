// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IERC5267} from "@openzeppelin/contracts/interfaces/IERC5267.sol";

/// @title TypedDataDomain
/// @notice EIP-712 domain for contracts behind a proxy: name and version are compile-time constants of the
///         implementation (no storage reads, unlike EIP712Upgradeable), chainId and verifyingContract are read
///         at run time, so a signature is bound to this chain and this proxy. Exposes ERC-5267.
abstract contract TypedDataDomain is IERC5267 {
    bytes32 private constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");

    function _domainName() internal pure virtual returns (string memory);

    function _domainNameHash() internal pure virtual returns (bytes32);

    function _domainVersion() internal pure virtual returns (string memory);

    function _domainVersionHash() internal pure virtual returns (bytes32);

    /// @notice The EIP-712 domain separator for the current chain and this contract (the proxy).
    // solhint-disable-next-line func-name-mixedcase
    function DOMAIN_SEPARATOR() public view returns (bytes32 separator) {
        bytes32 typehash = DOMAIN_TYPEHASH;
        bytes32 nameHash = _domainNameHash();
        bytes32 versionHash = _domainVersionHash();
        // keccak256(abi.encode(DOMAIN_TYPEHASH, nameHash, versionHash, block.chainid, address(this))).
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, typehash)
            mstore(add(m, 0x20), nameHash)
            mstore(add(m, 0x40), versionHash)
            mstore(add(m, 0x60), chainid())
            mstore(add(m, 0x80), address())
            separator := keccak256(m, 0xa0)
        }
    }

    /// @inheritdoc IERC5267
    function eip712Domain()
        external
        view
        returns (
            bytes1 fields,
            string memory name,
            string memory version,
            uint256 chainId,
            address verifyingContract,
            bytes32 salt,
            uint256[] memory extensions
        )
    {
        return (hex"0f", _domainName(), _domainVersion(), block.chainid, address(this), bytes32(0), new uint256[](0));
    }
}
