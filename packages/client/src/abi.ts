// The PaymentProcessor fragments the SDK calls, copied from the contract's ABI (contracts/src): the three pay
// functions, the PaymentReceived event (to read the subscription id from the receipt) and the custom errors a
// payment can revert with (so a revert is decoded by name). Plus the ERC-20 reads and approve.

const quoteTuple = {
  name: 'quote',
  type: 'tuple',
  components: [
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

const signed = [
  { name: 'v', type: 'uint8' },
  { name: 'r', type: 'bytes32' },
  { name: 's', type: 'bytes32' },
] as const

/** PaymentProcessor: pay, payWithPermit, payWithAuthorization, PaymentReceived and the payment errors. */
export const paymentProcessorAbi = [
  {
    type: 'function',
    name: 'pay',
    inputs: [quoteTuple, { name: 'signature', type: 'bytes' }],
    outputs: [{ name: 'subscriptionId', type: 'bytes32' }],
    stateMutability: 'nonpayable',
  },
  {
    type: 'function',
    name: 'payWithPermit',
    inputs: [
      quoteTuple,
      { name: 'signature', type: 'bytes' },
      { name: 'deadline', type: 'uint256' },
      ...signed,
    ],
    outputs: [{ name: 'subscriptionId', type: 'bytes32' }],
    stateMutability: 'nonpayable',
  },
  {
    type: 'function',
    name: 'payWithAuthorization',
    inputs: [
      quoteTuple,
      { name: 'signature', type: 'bytes' },
      { name: 'validAfter', type: 'uint256' },
      { name: 'validBefore', type: 'uint256' },
      ...signed,
    ],
    outputs: [{ name: 'subscriptionId', type: 'bytes32' }],
    stateMutability: 'nonpayable',
  },
  {
    type: 'event',
    name: 'PaymentReceived',
    anonymous: false,
    inputs: [
      { name: 'digest', type: 'bytes32', indexed: true },
      { name: 'subscriptionId', type: 'bytes32', indexed: true },
      { name: 'payer', type: 'address', indexed: true },
      { name: 'beneficiary', type: 'address', indexed: false },
      { name: 'token', type: 'address', indexed: false },
      { name: 'amount', type: 'uint256', indexed: false },
      { name: 'planId', type: 'uint16', indexed: false },
      { name: 'start', type: 'uint32', indexed: false },
      { name: 'end', type: 'uint32', indexed: false },
    ],
  },
  { type: 'error', name: 'QuoteExpired', inputs: [{ name: 'validUntil', type: 'uint64' }] },
  { type: 'error', name: 'QuoteAlreadyPaid', inputs: [{ name: 'digest', type: 'bytes32' }] },
  { type: 'error', name: 'InvalidQuoteSignature', inputs: [] },
  { type: 'error', name: 'PayerMismatch', inputs: [] },
  { type: 'error', name: 'AuthorizationMismatch', inputs: [] },
  { type: 'error', name: 'EnforcedPause', inputs: [] },
  {
    type: 'error',
    name: 'AmountBelowPrice',
    inputs: [
      { name: 'due', type: 'uint256' },
      { name: 'amount', type: 'uint256' },
    ],
  },
  {
    type: 'error',
    name: 'NotOnSale',
    inputs: [
      { name: 'planId', type: 'uint16' },
      { name: 'token', type: 'address' },
    ],
  },
] as const

/** ERC-20: balanceOf, allowance, approve. */
export const erc20Abi = [
  {
    type: 'function',
    name: 'balanceOf',
    inputs: [{ name: 'account', type: 'address' }],
    outputs: [{ name: '', type: 'uint256' }],
    stateMutability: 'view',
  },
  {
    type: 'function',
    name: 'allowance',
    inputs: [
      { name: 'owner', type: 'address' },
      { name: 'spender', type: 'address' },
    ],
    outputs: [{ name: '', type: 'uint256' }],
    stateMutability: 'view',
  },
  {
    type: 'function',
    name: 'approve',
    inputs: [
      { name: 'spender', type: 'address' },
      { name: 'value', type: 'uint256' },
    ],
    outputs: [{ name: '', type: 'bool' }],
    stateMutability: 'nonpayable',
  },
] as const
