/**
 * EIP-712 types of the litgate PaymentProcessor, its role ids and the x402 quote-id binding. Mirrors the
 * Solidity type string (PaymentProcessorBase.QUOTE_TYPEHASH); the deploy integration test signs with these
 * and the contract verifies, so a mismatch fails there.
 */
import { encodeAbiParameters, keccak256, stringToHex, type Address, type Hex } from 'viem'

/** AccessControl role ids (keccak256 of the role name; the admin role is 0x00). */
export const roleIds = {
  admin: '0x0000000000000000000000000000000000000000000000000000000000000000',
  operator: keccak256(stringToHex('litgate.role.operator')),
  guardian: keccak256(stringToHex('litgate.role.guardian')),
  upgrader: keccak256(stringToHex('litgate.role.upgrader')),
} as const

/** EIP-712 types of a payment quote (the gateway's quote signer signs, the PaymentProcessor verifies). */
export const quoteTypes = {
  Quote: [
    { name: 'quoteId', type: 'bytes32' },
    { name: 'payer', type: 'address' },
    { name: 'beneficiary', type: 'address' },
    { name: 'subscriptionId', type: 'bytes32' },
    { name: 'token', type: 'address' },
    { name: 'amount', type: 'uint256' },
    { name: 'planId', type: 'uint16' },
    { name: 'periods', type: 'uint32' },
    { name: 'validUntil', type: 'uint64' },
  ],
} as const

/** The quote domain: bound to one chain and one PaymentProcessor proxy (version "2" since contracts v2). */
export function quoteDomain(chainId: number, paymentProcessor: Address) {
  return {
    name: 'litgate PaymentProcessor',
    version: '2',
    chainId,
    verifyingContract: paymentProcessor,
  } as const
}

/**
 * The quote id `payWithTransferAuthorization` / `honourTransferAuthorization` require for a stock HTTP-402
 * client's EIP-3009 TransferWithAuthorization: keccak256(abi.encode(token, payer, nonce)), so one
 * authorization pays exactly one quote.
 */
export function transferAuthorizationQuoteId(token: Address, payer: Address, nonce: Hex): Hex {
  return keccak256(
    encodeAbiParameters(
      [{ type: 'address' }, { type: 'address' }, { type: 'bytes32' }],
      [token, payer, nonce],
    ),
  )
}

const authorizationFields = [
  { name: 'from', type: 'address' },
  { name: 'to', type: 'address' },
  { name: 'value', type: 'uint256' },
  { name: 'validAfter', type: 'uint256' },
  { name: 'validBefore', type: 'uint256' },
  { name: 'nonce', type: 'bytes32' },
] as const

/** EIP-3009 ReceiveWithAuthorization (`payWithAuthorization`: nonce = the quote digest). */
export const receiveWithAuthorizationTypes = { ReceiveWithAuthorization: authorizationFields } as const

/** EIP-3009 TransferWithAuthorization as x402/MPP clients sign it (`payWithTransferAuthorization`). */
export const transferWithAuthorizationTypes = { TransferWithAuthorization: authorizationFields } as const

/** EIP-2612 Permit. */
export const permitTypes = {
  Permit: [
    { name: 'owner', type: 'address' },
    { name: 'spender', type: 'address' },
    { name: 'value', type: 'uint256' },
    { name: 'nonce', type: 'uint256' },
    { name: 'deadline', type: 'uint256' },
  ],
} as const
