/**
 * EIP-712 types of the litgate contracts, and their role ids. Mirrors the Solidity type strings in
 * PaymentProcessor (QUOTE_TYPEHASH) and AccessToken (ACCESS_PROOF_TYPEHASH); the deploy integration test
 * signs with these and the contracts verify, so a mismatch fails there.
 */
import { keccak256, stringToHex, type Address } from 'viem'

/** AccessControl role ids (keccak256 of the role name; the admin role is 0x00). */
export const roleIds = {
  admin: '0x0000000000000000000000000000000000000000000000000000000000000000',
  operator: keccak256(stringToHex('litgate.role.operator')),
  guardian: keccak256(stringToHex('litgate.role.guardian')),
  upgrader: keccak256(stringToHex('litgate.role.upgrader')),
  quoteSigner: keccak256(stringToHex('litgate.role.quote-signer')),
  issuer: keccak256(stringToHex('litgate.role.issuer')),
} as const

/** EIP-712 types of a payment quote (the gateway's quote signer signs, PaymentProcessor verifies). */
export const quoteTypes = {
  Quote: [
    { name: 'quoteId', type: 'bytes32' },
    { name: 'payer', type: 'address' },
    { name: 'beneficiary', type: 'address' },
    { name: 'planId', type: 'uint16' },
    { name: 'periods', type: 'uint32' },
    { name: 'token', type: 'address' },
    { name: 'amount', type: 'uint256' },
    { name: 'subscriptionId', type: 'uint256' },
    { name: 'validUntil', type: 'uint64' },
  ],
} as const

/** The quote domain: bound to one chain and one PaymentProcessor proxy. */
export function quoteDomain(chainId: number, paymentProcessor: Address) {
  return { name: 'litgate PaymentProcessor', version: '1', chainId, verifyingContract: paymentProcessor } as const
}

/** EIP-712 types of a wallet-signed access proof (verified by AccessToken.verifyAccessProof). */
export const accessProofTypes = {
  AccessProof: [
    { name: 'subscriptionId', type: 'uint256' },
    { name: 'signer', type: 'address' },
    { name: 'audience', type: 'bytes32' },
    { name: 'nonce', type: 'bytes32' },
    { name: 'issuedAt', type: 'uint64' },
    { name: 'expiresAt', type: 'uint64' },
  ],
} as const

export function accessProofDomain(chainId: number, accessToken: Address) {
  return { name: 'litgate AccessToken', version: '1', chainId, verifyingContract: accessToken } as const
}

/** EIP-3009 ReceiveWithAuthorization (TestUSDC, like USDC); PaymentProcessor requires nonce = quote digest. */
export const receiveWithAuthorizationTypes = {
  ReceiveWithAuthorization: [
    { name: 'from', type: 'address' },
    { name: 'to', type: 'address' },
    { name: 'value', type: 'uint256' },
    { name: 'validAfter', type: 'uint256' },
    { name: 'validBefore', type: 'uint256' },
    { name: 'nonce', type: 'bytes32' },
  ],
} as const

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
