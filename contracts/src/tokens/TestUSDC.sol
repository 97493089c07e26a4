// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC3009} from "@openzeppelin/contracts/token/ERC20/extensions/draft-ERC3009.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";

/// @title TestUSDC
/// @notice TEST ONLY. A 6-decimal stablecoin like USDC: EIP-2612 permit and EIP-3009
///         transferWithAuthorization/receiveWithAuthorization. LitVM has no canonical USDC; the owner mints.
contract TestUSDC is ERC20, ERC20Permit, ERC3009, Ownable {
    constructor(address minter) ERC20("Test USD Coin", "tUSDC") ERC20Permit("Test USD Coin") Ownable(minter) {}

    function decimals() public pure override returns (uint8) {
        return 6;
    }

    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }
}
