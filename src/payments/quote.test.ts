// Properties of the pure quote builder: the terms are exactly plan price × periods, chain time + TTL, the
// beneficiary/subscription encoding the contract expects; the digest is the EIP-712 hash of exactly those
// terms in the version-2 domain; the signature recovers to the signer.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { getAddress, hashTypedData, recoverTypedDataAddress, toHex, type Address, type Hex } from 'viem'
import fc from '../../test/helpers/fast-check.ts'
import { quoteDomain, quoteTypes } from '../contracts/index.ts'
import { compilePlans } from './plans.ts'
import { buildQuote, createQuoteSigner, ZERO_ADDRESS, ZERO_ID } from './quote.ts'

const address = fc.uint8Array({ minLength: 20, maxLength: 20 }).map((b) => getAddress(toHex(b)) as Address)
const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => toHex(b) as Hex)
const KEY = '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d'
const signer = createQuoteSigner(KEY)

test('terms: amount = price × periods, validUntil = now + TTL, zero beneficiary for the payer, digest = EIP-712 hash', () => {
  fc.assert(
    fc.property(
      fc.record({
        price: fc.bigInt({ min: 1n, max: 2n ** 127n }),
        periods: fc.integer({ min: 1, max: 120 }),
        planId: fc.integer({ min: 1, max: 65_535 }),
        payer: address,
        token: address,
        beneficiaryKind: fc.constantFrom('none', 'payer', 'payer-lower-case', 'other'),
        other: address,
        subscriptionId: fc.option(bytes32, { nil: undefined }),
        now: fc.bigInt({ min: 0n, max: 2n ** 40n }),
        ttl: fc.integer({ min: 30, max: 3600 }),
        chainId: fc.integer({ min: 1, max: 2 ** 31 }),
        contract: address,
        quoteId: bytes32,
      }),
      (r) => {
        const beneficiary: Address | undefined =
          r.beneficiaryKind === 'none'
            ? undefined
            : r.beneficiaryKind === 'payer'
              ? r.payer
              : r.beneficiaryKind === 'payer-lower-case'
                ? (r.payer.toLowerCase() as Address)
                : r.other
        const catalog = compilePlans({
          plans: [
            {
              name: 'p',
              planId: r.planId,
              displayName: 'P',
              prices: { [r.token]: r.price.toString() },
              qos: { requestsPerSecond: 1, burst: 1 },
            },
          ],
        })
        const terms = buildQuote({
          plan: catalog.plans.get('p')!,
          periods: r.periods,
          payer: r.payer,
          token: r.token,
          ...(beneficiary === undefined ? {} : { beneficiary }),
          ...(r.subscriptionId === undefined ? {} : { subscriptionId: r.subscriptionId }),
          now: r.now,
          ttlSeconds: r.ttl,
          priceVersion: catalog.priceVersion,
          chainId: r.chainId,
          contract: r.contract,
          quoteId: r.quoteId,
        })
        const q = terms.quote
        assert.equal(q.amount, r.price * BigInt(r.periods))
        assert.equal(q.validUntil, r.now + BigInt(r.ttl))
        assert.equal(q.planId, r.planId)
        assert.equal(q.quoteId, r.quoteId)
        assert.equal(q.token, r.token)
        const expectedBeneficiary =
          r.beneficiaryKind === 'other' && r.other.toLowerCase() !== r.payer.toLowerCase()
            ? r.other
            : ZERO_ADDRESS
        assert.equal(q.beneficiary, expectedBeneficiary)
        assert.equal(q.subscriptionId, r.subscriptionId ?? ZERO_ID)
        assert.deepEqual(terms.domain, quoteDomain(r.chainId, r.contract))
        assert.equal(terms.domain.version, '2')
        assert.equal(
          terms.digest,
          hashTypedData({ domain: terms.domain, types: quoteTypes, primaryType: 'Quote', message: q }),
        )
      },
    ),
    { numRuns: 200 },
  )
})

test('the signature over the terms recovers to the quote signer', async () => {
  const catalog = compilePlans({
    plans: [
      {
        name: 'p',
        planId: 7,
        displayName: 'P',
        prices: { '0x5FbDB2315678afecb367f032d93F642f64180aa3': '5' },
        qos: { requestsPerSecond: 1, burst: 1 },
      },
    ],
  })
  const terms = buildQuote({
    plan: catalog.plans.get('p')!,
    periods: 3,
    payer: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
    token: '0x5FbDB2315678afecb367f032d93F642f64180aa3',
    now: 1000n,
    ttlSeconds: 300,
    priceVersion: catalog.priceVersion,
    chainId: 31337,
    contract: '0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0',
    quoteId: `0x${'01'.repeat(32)}`,
    amountAtLeast: 16n,
  })
  assert.equal(terms.quote.amount, 16n, 'never below the contract due amount')
  const signature = await signer.sign(terms)
  const recovered = await recoverTypedDataAddress({
    domain: terms.domain,
    types: quoteTypes,
    primaryType: 'Quote',
    message: terms.quote,
    signature,
  })
  assert.equal(recovered, signer.address)
})
