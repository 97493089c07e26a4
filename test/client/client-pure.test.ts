// The SDK's pure decisions: which payment method a quote answer gets, Retry-After parsing, and which 402
// bodies are litgate's offer (a backend's own 402 must pass through untouched).
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { chooseMethod } from '../../packages/client/src/pay.ts'
import { asPaymentRequired, retryAfterMs, type QuoteAnswer } from '../../packages/client/src/wire.ts'

const payload = { typedData: { domain: {}, types: {}, primaryType: 'X', message: {} } }
const answer = (extra: Partial<QuoteAnswer>) => ({ token: `0x${'11'.repeat(20)}`, ...extra }) as QuoteAnswer

test('payment method: EIP-3009 when offered, else permit, else approve; payMethods restricts the choice', () => {
  const all = ['authorization', 'permit', 'approve'] as const
  const both = answer({ receiveWithAuthorization: payload, permit: payload })
  assert.equal(chooseMethod(both, all), 'authorization')
  assert.equal(chooseMethod(answer({ permit: payload }), all), 'permit')
  assert.equal(chooseMethod(answer({}), all), 'approve')
  assert.equal(chooseMethod(both, ['permit', 'approve']), 'permit')
  assert.equal(chooseMethod(both, ['approve']), 'approve')
  assert.throws(
    () => chooseMethod(answer({}), ['authorization', 'permit']),
    (err: unknown) => (err as { code: string }).code === 'PAYMENT_METHOD_UNAVAILABLE',
  )
})

test('Retry-After: delay-seconds or an HTTP-date (RFC 9110 §10.2.3); absent or garbage is undefined', () => {
  const at = (v: string | undefined) =>
    new Response(null, v === undefined ? {} : { headers: { 'retry-after': v } })
  const now = Date.parse('2026-12-02T10:00:00Z')
  assert.equal(retryAfterMs(at('5'), now), 5000)
  assert.equal(retryAfterMs(at(' 0 '), now), 0)
  assert.equal(retryAfterMs(at('Wed, 02 Dec 2026 10:00:30 GMT'), now), 30_000)
  assert.equal(retryAfterMs(at('Wed, 02 Dec 2026 09:00:00 GMT'), now), 0, 'a past date is now')
  assert.equal(retryAfterMs(at(undefined), now), undefined)
  assert.equal(retryAfterMs(at('soon'), now), undefined)
})

test("a 402 is litgate's offer only with code PAYMENT_REQUIRED, plans, a quote href, chainId and contract", () => {
  const offer = {
    code: 'PAYMENT_REQUIRED',
    plans: [],
    quote: { href: '/litgate/v1/quote', method: 'POST' },
    chainId: 1,
    contract: '0x',
  }
  assert.equal(asPaymentRequired(offer), offer)
  assert.equal(asPaymentRequired(undefined), undefined)
  assert.equal(asPaymentRequired({ ...offer, code: 'SOMETHING_ELSE' }), undefined)
  for (const missing of ['plans', 'quote', 'chainId', 'contract']) {
    const copy: Record<string, unknown> = { ...offer }
    delete copy[missing]
    assert.equal(asPaymentRequired(copy), undefined, missing)
  }
})
