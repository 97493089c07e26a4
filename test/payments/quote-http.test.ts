// The quote endpoints on a real loopback server with an in-memory chain port (the anvil suite pays the quotes
// on a real contract): input errors with specific codes, determinism of terms, caps, sweeping, rate limits and
// CHAIN_UNAVAILABLE; over the database quote store (every storage backend): two instances sharing quotes,
// caps and the monitor's lookup, and STORAGE_UNAVAILABLE.
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, describe, test } from 'node:test'
import type { Address } from 'viem'
import { GatewayError } from '../../src/errors/index.ts'
import {
  buildQuote,
  compilePlans,
  createMemoryQuoteStore,
  createQuoteEndpoints,
  createQuoteSigner,
  createTokenBuckets,
  type QuoteEndpointsDeps,
} from '../../src/payments/index.ts'
import { createDbQuoteLookup, createDbQuoteStore } from '../../src/payments/pipeline/index.ts'
import { createStorage } from '../../src/storage/index.ts'
import { storageBackends } from '../helpers/storage.ts'

const USDC = '0x5FbDB2315678afecb367f032d93F642f64180aa3' as Address
const CONTRACT = '0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0' as Address
const PAYER = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8' as Address
const KEY = '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d'
const catalog = compilePlans({
  plans: [
    {
      name: 'pro',
      planId: 3,
      displayName: 'Pro',
      prices: { [USDC]: '2500000' },
      qos: { requestsPerSecond: 1, burst: 1 },
    },
  ],
})
const QUOTES = {
  ttlSeconds: 300,
  maxPeriods: 12,
  maxOpenPerPayer: 3,
  maxOpen: 5,
  createPerIpPerMinute: 1000,
  createPerPayerPerMinute: 1000,
}

const servers: Server[] = []
after(async () => {
  for (const s of servers) await new Promise<void>((r) => s.close(() => r()))
})

interface Harness {
  url: string
  clock: { chain: bigint; ms: number; down: boolean }
}

async function harness(overrides: Partial<QuoteEndpointsDeps> = {}): Promise<Harness> {
  const clock = { chain: 1_800_000_000n, ms: 1_000_000, down: false }
  let counter = 0
  const endpoints = createQuoteEndpoints({
    basePath: '/litgate/v1',
    quotes: QUOTES,
    catalog,
    chainId: 31337,
    contract: CONTRACT,
    signer: createQuoteSigner(KEY),
    tokens: new Map(),
    store: createMemoryQuoteStore(),
    chain: {
      chainTime: () =>
        clock.down ? Promise.reject(new GatewayError('CHAIN_UNAVAILABLE')) : Promise.resolve(clock.chain),
      permitNonce: () => Promise.resolve(0n),
      subscription: () => Promise.resolve(undefined),
      previewDue: () => Promise.resolve(0n),
    },
    randomBytes: (n) => {
      counter++
      return new Uint8Array(n).fill(counter)
    },
    nowMs: () => clock.ms,
    requestIdHeader: 'x-request-id',
    nextRequestId: () => 'generated-id',
    ...overrides,
  })
  const server = createServer((req, res) => {
    if (!endpoints.handle(req, res, { clientAddress: () => req.headers['x-test-ip'] as string }))
      res.writeHead(418).end()
  })
  servers.push(server)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, clock }
}

async function post(h: Harness, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${h.url}/litgate/v1/quote`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-test-ip': '192.0.2.1', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> }
}

describe('quote endpoints', () => {
  test('a quote: 201, Location, terms priced per period, validUntil = chain time + TTL; GET returns it', async () => {
    const h = await harness()
    const r = await post(h, { plan: 'pro', periods: 4, payer: PAYER.toLowerCase(), token: USDC })
    assert.equal(r.status, 201, JSON.stringify(r.body))
    assert.equal(r.headers.get('cache-control'), 'no-store')
    assert.equal(r.headers.get('location'), `/litgate/v1/quote/${String(r.body.quoteId)}`)
    assert.equal(r.body.amount, '10000000')
    assert.equal(r.body.validUntil, String(1_800_000_300n))
    assert.equal(r.body.chainId, 31337)
    assert.equal(r.body.contract, CONTRACT)
    assert.equal((r.body.quote as Record<string, unknown>).payer, PAYER, 'addresses are checksummed')
    assert.equal(
      (r.body.quote as Record<string, unknown>).beneficiary,
      '0x0000000000000000000000000000000000000000',
    )
    assert.equal(r.body.permit, undefined, 'no permit payload for a token without permit')
    const got = await fetch(`${h.url}${r.headers.get('location')}`)
    assert.equal(got.status, 200)
    assert.deepEqual(await got.json(), r.body)
  })

  test('same inputs and price version give the same terms (only the id differs)', () => {
    const base = {
      plan: catalog.plans.get('pro')!,
      periods: 2,
      payer: PAYER,
      token: USDC,
      now: 100n,
      ttlSeconds: 300,
      priceVersion: catalog.priceVersion,
      chainId: 31337,
      contract: CONTRACT,
    }
    const a = buildQuote({ ...base, quoteId: `0x${'11'.repeat(32)}` })
    const b = buildQuote({ ...base, quoteId: `0x${'22'.repeat(32)}` })
    assert.deepEqual({ ...a.quote, quoteId: '' }, { ...b.quote, quoteId: '' })
    assert.notEqual(a.digest, b.digest)
    assert.deepEqual(buildQuote({ ...base, quoteId: `0x${'11'.repeat(32)}` }), a)
    const repriced = compilePlans({
      plans: [
        {
          name: 'pro',
          planId: 3,
          displayName: 'Pro',
          prices: { [USDC]: '2600000' },
          qos: { requestsPerSecond: 1, burst: 1 },
        },
      ],
    })
    assert.notEqual(repriced.priceVersion, catalog.priceVersion)
  })

  test('bad input: a specific code naming the field, with the request id', async () => {
    const h = await harness()
    const cases: Array<[unknown, number, string, RegExp]> = [
      ['{not json', 400, 'QUOTE_REQUEST_INVALID', /not valid JSON/],
      [[1], 400, 'QUOTE_REQUEST_INVALID', /JSON object/],
      [
        { plan: 'pro', payer: PAYER, token: USDC, extra: 1 },
        400,
        'QUOTE_REQUEST_INVALID',
        /unknown field "extra"/,
      ],
      [{ plan: 'gold', payer: PAYER, token: USDC }, 400, 'QUOTE_PLAN_UNKNOWN', /"gold"/],
      [{ plan: 'pro', payer: '0x12', token: USDC }, 400, 'QUOTE_REQUEST_INVALID', /payer .*"0x12"/],
      [{ plan: 'pro', payer: PAYER, token: CONTRACT }, 400, 'QUOTE_TOKEN_NOT_ACCEPTED', /0x9fE4/],
      [
        { plan: 'pro', payer: PAYER, token: USDC, periods: 13 },
        400,
        'QUOTE_PERIODS_INVALID',
        /1 to 12, got 13/,
      ],
      [{ plan: 'pro', payer: PAYER, token: USDC, periods: 1.5 }, 400, 'QUOTE_PERIODS_INVALID', /got 1\.5/],
      [
        { plan: 'pro', payer: PAYER, token: USDC, subscriptionId: '0x00' },
        400,
        'QUOTE_REQUEST_INVALID',
        /subscriptionId/,
      ],
      [
        { plan: 'pro', payer: PAYER, token: USDC, pad: 'x'.repeat(5000) },
        400,
        'QUOTE_REQUEST_INVALID',
        /larger than 4096/,
      ],
    ]
    for (const [body, status, code, detail] of cases) {
      const r = await post(h, body, { 'x-request-id': 'rid-1' })
      assert.equal(r.status, status, JSON.stringify(body).slice(0, 60))
      assert.equal(r.body.code, code)
      assert.equal(r.body.requestId, 'rid-1')
      assert.match(String(r.body.detail), detail)
    }
    const wrongType = await fetch(`${h.url}/litgate/v1/quote`, {
      method: 'POST',
      body: '{}',
      headers: { 'content-type': 'text/plain' },
    })
    assert.equal(wrongType.status, 400)
    await wrongType.arrayBuffer()
    const get = await fetch(`${h.url}/litgate/v1/quote`)
    assert.equal(get.status, 405)
    assert.equal(get.headers.get('allow'), 'POST')
    await get.arrayBuffer()
    const missing = await fetch(`${h.url}/litgate/v1/quote/0x${'ab'.repeat(32)}`)
    assert.equal(missing.status, 404)
    assert.equal(((await missing.json()) as { code: string }).code, 'QUOTE_NOT_FOUND')
    const outside = await fetch(`${h.url}/elsewhere`)
    assert.equal(outside.status, 418, 'paths outside basePath are not handled')
    await outside.arrayBuffer()
  })

  test('caps: per payer (429 QUOTE_LIMIT_REACHED) and global (503 QUOTE_CAPACITY_EXHAUSTED); expired quotes are swept', async () => {
    const h = await harness()
    const payers = [
      '0x1000000000000000000000000000000000000001',
      '0x1000000000000000000000000000000000000002',
    ]
    for (let i = 0; i < 3; i++)
      assert.equal((await post(h, { plan: 'pro', payer: payers[0], token: USDC })).status, 201)
    const over = await post(h, { plan: 'pro', payer: payers[0], token: USDC })
    assert.equal(over.status, 429)
    assert.equal(over.body.code, 'QUOTE_LIMIT_REACHED')
    assert.equal(over.headers.get('retry-after'), '300')
    const first = await post(h, { plan: 'pro', payer: payers[1], token: USDC })
    assert.equal(first.status, 201)
    assert.equal((await post(h, { plan: 'pro', payer: payers[1], token: USDC })).status, 201)
    const full = await post(h, { plan: 'pro', payer: payers[1], token: USDC })
    assert.equal(full.status, 503)
    assert.equal(full.body.code, 'QUOTE_CAPACITY_EXHAUSTED')
    assert.ok(full.headers.get('retry-after'))
    // Chain time passes the TTL: the quotes expire, GET no longer finds them, and the caps free up.
    h.clock.chain += 300n
    const gone = await fetch(`${h.url}/litgate/v1/quote/${String(first.body.quoteId)}`)
    assert.equal(gone.status, 404)
    await gone.arrayBuffer()
    assert.equal((await post(h, { plan: 'pro', payer: payers[0], token: USDC })).status, 201)
  })

  test('memory store: sweep removes exactly the expired rows and frees the payer cap', async () => {
    const store = createMemoryQuoteStore()
    const row = (id: number, validUntil: bigint) => ({
      quoteId: `0x${id.toString(16).padStart(64, '0')}` as const,
      digest: `0x${'00'.repeat(32)}` as const,
      payer: PAYER,
      beneficiary: '0x0000000000000000000000000000000000000000' as const,
      subscriptionId: `0x${'00'.repeat(32)}` as const,
      token: USDC,
      amount: 2_500_000n,
      planId: 3,
      periods: 1,
      validUntil,
      signature: `0x${'11'.repeat(65)}` as const,
      plan: 'pro',
      answer: {},
    })
    const limits = { maxOpenPerPayer: 2, maxOpen: 10 }
    assert.deepEqual(await store.insert(row(1, 10n), limits, 0n), { ok: true })
    assert.deepEqual(await store.insert(row(2, 20n), limits, 0n), { ok: true })
    assert.deepEqual(await store.insert(row(3, 30n), limits, 0n), {
      ok: false,
      reason: 'payer-limit',
      retryAfterSeconds: 10,
    })
    assert.equal(await store.sweep(10n), 1)
    assert.equal(store.size(), 1)
    assert.equal((await store.get(row(2, 0n).quoteId, 19n)) !== undefined, true)
    assert.equal(await store.get(row(2, 0n).quoteId, 20n), undefined)
    assert.deepEqual(await store.insert(row(3, 30n), limits, 10n), { ok: true })
  })

  test('rate limits: per client IP and per payer, with Retry-After', async () => {
    const h = await harness({
      quotes: {
        ...QUOTES,
        maxOpenPerPayer: 100,
        maxOpen: 100,
        createPerIpPerMinute: 2,
        createPerPayerPerMinute: 3,
      },
    })
    const ok = (ip: string, payer = PAYER) =>
      post(h, { plan: 'pro', payer, token: USDC }, { 'x-test-ip': ip })
    assert.equal((await ok('192.0.2.1')).status, 201)
    assert.equal((await ok('192.0.2.1')).status, 201)
    const limited = await ok('192.0.2.1')
    assert.equal(limited.status, 429)
    assert.equal(limited.body.code, 'QUOTE_RATE_LIMITED')
    assert.equal(limited.headers.get('retry-after'), '30')
    assert.equal((await ok('192.0.2.2')).status, 201, 'another address has its own bucket')
    const byPayer = await ok('192.0.2.3')
    assert.equal(byPayer.status, 429, 'the payer made 3 already')
    assert.match(String(byPayer.body.detail), /payer/)
    h.clock.ms += 30_000
    assert.equal((await ok('192.0.2.1')).status, 201, 'refilled after Retry-After')
    const buckets = createTokenBuckets(60, 2)
    assert.equal(buckets.take('a', 0), 0)
    assert.equal(buckets.take('b', 0), 0)
    assert.equal(buckets.take('c', 0), 0, 'bounded: a new key evicts an old bucket')
  })

  test('chain unavailable: 503 CHAIN_UNAVAILABLE with Retry-After', async () => {
    const h = await harness()
    h.clock.down = true
    const r = await post(h, { plan: 'pro', payer: PAYER, token: USDC })
    assert.equal(r.status, 503)
    assert.equal(r.body.code, 'CHAIN_UNAVAILABLE')
    assert.equal(r.headers.get('retry-after'), '5')
  })
})

for (const backend of storageBackends()) {
  describe(`quote endpoints over the database quote store (${backend.name})`, () => {
    after(() => backend.close())

    test(`${backend.name}: a quote issued by one instance is served by another, counts against its caps and is known to the monitor`, async () => {
      const storage = await backend.open()
      const a = await harness({ store: createDbQuoteStore(storage) })
      const b = await harness({
        store: createDbQuoteStore(storage),
        randomBytes: (n) => new Uint8Array(n).fill(0xee),
      })
      const r = await post(a, { plan: 'pro', periods: 2, payer: PAYER, token: USDC })
      assert.equal(r.status, 201, JSON.stringify(r.body))
      const got = await fetch(`${b.url}${r.headers.get('location')}`)
      assert.equal(got.status, 200)
      assert.deepEqual(await got.json(), r.body, 'the answer as the first instance served it')
      const row = await storage.quotes.get(r.body.quoteId as `0x${string}`)
      assert.deepEqual(
        {
          digest: row?.digest,
          payer: row?.payer,
          amount: row?.amount,
          planId: row?.planId,
          periods: row?.periods,
          validUntil: row?.validUntil,
          signature: row?.signature,
          plan: row?.plan,
        },
        {
          digest: r.body.digest,
          payer: PAYER.toLowerCase(),
          amount: 5_000_000n,
          planId: 3,
          periods: 2,
          validUntil: 1_800_000_300n,
          signature: r.body.signature,
          plan: 'pro',
        },
        'the row holds the signed struct the monitor matches payments against',
      )
      const expected = await createDbQuoteLookup(storage.quotes).byDigests([r.body.digest as `0x${string}`])
      assert.equal(expected.get(r.body.digest as `0x${string}`)?.amount, 5_000_000n)
      // maxOpenPerPayer 3: two more on the first instance, the fourth is refused by the second.
      assert.equal((await post(a, { plan: 'pro', payer: PAYER, token: USDC })).status, 201)
      assert.equal((await post(a, { plan: 'pro', payer: PAYER, token: USDC })).status, 201)
      const refused = await post(b, { plan: 'pro', payer: PAYER, token: USDC })
      assert.equal(refused.status, 429)
      assert.equal(refused.body.code, 'QUOTE_LIMIT_REACHED')
      assert.equal(refused.headers.get('retry-after'), '300')
    })

    test(`${backend.name}: the database down: 503 STORAGE_UNAVAILABLE with Retry-After, the database's message withheld`, async () => {
      const storage = backend.track(await createStorage(await backend.fresh()))
      await storage.migrate()
      const h = await harness({ store: createDbQuoteStore(storage) })
      await storage.close()
      const r = await post(h, { plan: 'pro', payer: PAYER, token: USDC })
      assert.equal(r.status, 503)
      assert.equal(r.body.code, 'STORAGE_UNAVAILABLE')
      assert.equal(r.body.detail, 'the quote store cannot be reached right now')
      assert.equal(r.headers.get('retry-after'), '5')
      const got = await fetch(`${h.url}/litgate/v1/quote/0x${'ab'.repeat(32)}`)
      assert.equal(got.status, 503)
      await got.arrayBuffer()
    })
  })
}
