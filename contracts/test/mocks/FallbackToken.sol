// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @dev A 6-decimal token without EIP-3009 whose fallback accepts any call, so `receiveWithAuthorization` and
///      `transferWithAuthorization` "succeed" while nothing moves (the v1 free-activation exploit).
contract FallbackToken is ERC20 {
    constructor() ERC20("Fallback", "FBK") {}

    function decimals() public pure override returns (uint8) {
        return 6;
    }

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    // solhint-disable-next-line no-empty-blocks
    fallback() external {}
}
