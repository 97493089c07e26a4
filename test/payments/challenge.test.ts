// A real gateway on loopback with a paid route and a public one: the paid route answers 402 with the RFC 9457
// body, Cache-Control: no-store, the x402 v2 PAYMENT-REQUIRED header (decoded and checked field by field) and,
// only when enabled, WWW-Authenticate: Payment with an HMAC-bound id; the public route still proxies.
import assert from 'node:assert/strict'
import { createHmac, randomBytes } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import type { Address } from 'viem'
import { configSchema, type ConfigInput } from '../../src/config/index.ts'
import {
  canonicalJson,
  compileChallenge,
  compilePlans,
  createMemoryQuoteStore,
  createQuoteEndpoints,
  createQuoteSigner,
  type CredentialCheck,
  type TokenInfo,
} from '../../src/payments/index.ts'
import { startGateway, type TestGateway } from '../helpers/gateway.ts'
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts'

const USDC = '0x5FbDB2315678afecb367f032d93F642f64180aa3' as Address
const USDT = '0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512' as Address
const CONTRACT = '0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0' as Address
const CHAIN_ID = 31337
const SECRET = randomBytes(32)
const NOW = Date.parse('2026-12-02T08:00:00Z')

const tokens = new Map<string, TokenInfo>([
  [
    USDC.toLowerCase(),
    {
      address: USDC,
      domain: { name: 'Test USD Coin', version: '1', chainId: CHAIN_ID, verifyingContract: USDC },
      decimals: 6,
      supportsPermit: true,
      supportsAuthorization: true,
    },
  ],
  // No EIP-3009: never offered to x402 clients.
  [
    USDT.toLowerCase(),
    { address: USDT, domain: undefined, decimals: 6, supportsPermit: false, supportsAuthorization: false },
  ],
])

function input(upstreamUrl: string, paymentAuth: boolean): Omit<ConfigInput, 'version' | 'listeners'> {
  return {
    upstreams: [{ id: 'app', backends: [{ url: upstreamUrl }] }],
    routes: [
      { id: 'paid', match: { path: { prefix: '/api' } }, upstream: 'app', access: ['pro', 'basic'] },
      { id: 'open', match: {}, upstream: 'app' },
    ],
    paidAccess: {
      chain: { preset: 'anvil' },
      contract: { paymentProcessor: CONTRACT },
      quoteSigner: { fromEnv: 'LITGATE_TEST_QUOTE_KEY' },
      challenge: {
        maxTimeoutSeconds: 120,
        paymentAuth: paymentAuth
          ? { enabled: true, realm: 'api.example', secret: { fromEnv: 'LITGATE_TEST_MPP_SECRET' } }
          : { enabled: false },
      },
      plans: [
        {
          name: 'pro',
          planId: 2,
          displayName: 'Pro',
          prices: { [USDC]: '10000000', [USDT]: '11000000' },
          qos: { requestsPerSecond: 50, burst: 100 },
        },
        {
          name: 'basic',
          planId: 1,
          displayName: 'Basic',
          prices: { [USDC]: '1000000' },
          qos: { requestsPerSecond: 5, burst: 10 },
        },
      ],
    },
  }
}

async function start(
  upstream: TestUpstream,
  paymentAuth: boolean,
  credential?: CredentialCheck,
  withQuotes = false,
): Promise<TestGateway> {
  const cfgInput = input(upstream.url, paymentAuth)
  const config = configSchema.parse({ version: 1, listeners: [{ name: 'main', port: 0 }], ...cfgInput })
  const paid = config.paidAccess!
  const challenge = compileChallenge({
    paid,
    routes: config.routes,
    catalog: compilePlans(paid),
    chainId: CHAIN_ID,
    contract: CONTRACT,
    tokens,
    ...(paymentAuth ? { paymentAuthSecret: SECRET } : {}),
    ...(credential === undefined ? {} : { credential }),
    nowMs: () => NOW,
  })
  const quotes = createQuoteEndpoints({
    basePath: paid.basePath,
    quotes: paid.quotes,
    catalog: compilePlans(paid),
    chainId: CHAIN_ID,
    contract: CONTRACT,
    signer: createQuoteSigner(`0x${randomBytes(32).toString('hex')}`),
    tokens,
    store: createMemoryQuoteStore(),
    chain: {
      chainTime: () => Promise.resolve(BigInt(NOW / 1000)),
      permitNonce: () => Promise.resolve(0n),
      subscription: () => Promise.resolve(undefined),
      previewDue: () => Promise.resolve(0n),
    },
    randomBytes: (n) => randomBytes(n),
    nowMs: () => NOW,
    requestIdHeader: 'x-request-id',
    nextRequestId: () => 'unused',
  })
  return startGateway(cfgInput, {
    admission: [challenge.stage],
    ...(withQuotes ? { localEndpoints: quotes.handle } : {}),
  })
}

let upstream: TestUpstream
let hits = 0
const gateways: TestGateway[] = []

before(async () => {
  upstream = await startUpstream((req, res) => {
    hits++
    res.writeHead(200, { 'content-type': 'text/plain' }).end(`upstream ${req.url}`)
  })
})

after(async () => {
  for (const g of gateways) await g.stop()
  await upstream.close()
})

describe('402 challenge on a paid route', () => {
  test('402 with problem body, no-store and the x402 v2 PAYMENT-REQUIRED header; no Payment challenge unless enabled', async () => {
    const gw = await start(upstream, false)
    gateways.push(gw)
    const before = hits
    const res = await fetch(`${gw.url}/api/v1/items?limit=2`, { headers: { 'x-request-id': 'req-402' } })
    const body = (await res.json()) as Record<string, unknown>
    assert.equal(res.status, 402)
    assert.equal(hits, before, 'the backend never saw the unpaid request')
    assert.equal(res.headers.get('cache-control'), 'no-store')
    assert.equal(res.headers.get('content-type'), 'application/problem+json')
    assert.equal(res.headers.get('www-authenticate'), null)

    assert.equal(body.status, 402)
    assert.equal(body.code, 'PAYMENT_REQUIRED')
    assert.equal(body.requestId, 'req-402')
    assert.deepEqual(body.quote, { href: '/litgate/v1/quote', method: 'POST' })
    assert.deepEqual(body.plans, [
      {
        name: 'pro',
        displayName: 'Pro',
        planId: 2,
        prices: [
          { token: USDC, amount: '10000000' },
          { token: USDT, amount: '11000000' },
        ],
        qos: { requestsPerSecond: 50, burst: 100 },
      },
      {
        name: 'basic',
        displayName: 'Basic',
        planId: 1,
        prices: [{ token: USDC, amount: '1000000' }],
        qos: { requestsPerSecond: 5, burst: 10 },
      },
    ])

    const header = res.headers.get('payment-required') ?? ''
    // The stock client's check: standard base64 (base64url breaks it).
    assert.match(header, /^[A-Za-z0-9+/]*={0,2}$/)
    const offer = JSON.parse(Buffer.from(header, 'base64').toString('utf8')) as Record<string, unknown>
    const { host } = new URL(gw.url)
    assert.deepEqual(offer, {
      x402Version: 2,
      error: 'payment required',
      resource: {
        url: `http://${host}/api/v1/items?limit=2`,
        description: 'Paid access (Pro, Basic)',
        mimeType: '',
      },
      accepts: [
        {
          scheme: 'exact',
          network: 'eip155:31337',
          amount: '10000000',
          asset: USDC,
          payTo: CONTRACT,
          maxTimeoutSeconds: 120,
          extra: { name: 'Test USD Coin', version: '1' },
        },
        {
          scheme: 'exact',
          network: 'eip155:31337',
          amount: '1000000',
          asset: USDC,
          payTo: CONTRACT,
          maxTimeoutSeconds: 120,
          extra: { name: 'Test USD Coin', version: '1' },
        },
      ],
    })
  })

  test('a public route still proxies', async () => {
    const gw = await start(upstream, false)
    gateways.push(gw)
    const res = await fetch(`${gw.url}/public/page`)
    assert.equal(res.status, 200)
    assert.equal(await res.text(), 'upstream /public/page')
  })

  test('a valid credential (the port) admits the paid request to the backend', async () => {
    const seen: string[][] = []
    const gw = await start(upstream, false, (request, plans) => {
      seen.push([...plans])
      return Promise.resolve(request.headers.authorization === 'Bearer ok')
    })
    gateways.push(gw)
    const res = await fetch(`${gw.url}/api/x`, { headers: { authorization: 'Bearer ok' } })
    assert.equal(res.status, 200)
    assert.equal(await res.text(), 'upstream /api/x')
    assert.deepEqual(seen, [['pro', 'basic']])
    assert.equal((await fetch(`${gw.url}/api/x`)).status, 402)
  })

  test('a credential verdict may admit with head changes (grant) or refuse on its own (401)', async () => {
    const grant = {
      grant: true as const,
      removeHeaders: ['authorization'],
      setHeaders: ['x-litgate-subscription', '0xabc', 'x-litgate-plan', 'pro'],
    }
    const gw = await start(upstream, false, (request) =>
      request.headers.authorization === 'Bearer good'
        ? grant
        : request.headers.authorization === 'Bearer bad'
          ? { code: 'TOKEN_INVALID', headers: { 'www-authenticate': 'Bearer error="invalid_token"' } }
          : false,
    )
    gateways.push(gw)
    const before = upstream.received.length
    const ok = await fetch(`${gw.url}/api/granted`, {
      headers: { authorization: 'Bearer good', 'X-Litgate-Plan': 'forged', 'x-other': 'kept' },
    })
    assert.equal(ok.status, 200)
    await ok.arrayBuffer()
    const seen = upstream.received.slice(before).find((r) => r.url === '/api/granted')
    assert.ok(seen)
    assert.equal(seen.headers['authorization'], undefined, 'removed')
    assert.equal(seen.headers['x-litgate-plan'], 'pro', "the client's field is replaced, not joined")
    assert.equal(seen.headers['x-litgate-subscription'], '0xabc')
    assert.equal(seen.headers['x-other'], 'kept')
    const bad = await fetch(`${gw.url}/api/x`, { headers: { authorization: 'Bearer bad' } })
    assert.equal(bad.status, 401)
    assert.equal(bad.headers.get('www-authenticate'), 'Bearer error="invalid_token"')
    assert.equal(((await bad.json()) as { code: string }).code, 'TOKEN_INVALID')
    const none = await fetch(`${gw.url}/api/x`)
    assert.equal(none.status, 402)
    await none.arrayBuffer()
  })

  test('WWW-Authenticate: Payment when enabled: HMAC-bound id, realm, method evm, expires, base64url JCS request', async () => {
    const gw = await start(upstream, true)
    gateways.push(gw)
    const res = await fetch(`${gw.url}/api/v1/items`)
    await res.arrayBuffer()
    assert.equal(res.status, 402)
    assert.ok(res.headers.get('payment-required'))
    const value = res.headers.get('www-authenticate') ?? ''
    assert.match(value, /^Payment /)
    const params = Object.fromEntries(
      [...value.slice('Payment '.length).matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]),
    )
    assert.deepEqual(Object.keys(params).sort(), ['expires', 'id', 'intent', 'method', 'realm', 'request'])
    assert.equal(params.realm, 'api.example')
    assert.equal(params.method, 'evm')
    assert.equal(params.intent, 'charge')
    assert.equal(params.expires, '2026-12-02T08:02:00Z')
    assert.match(params.request as string, /^[A-Za-z0-9_-]+$/, 'unpadded base64url')
    const decoded = Buffer.from(params.request as string, 'base64url').toString('utf8')
    const request = {
      amount: '10000000',
      currency: USDC,
      recipient: CONTRACT,
      methodDetails: { chainId: 31337, credentialTypes: ['authorization'], decimals: 6 },
    }
    assert.equal(decoded, canonicalJson(request))
    assert.equal(
      decoded,
      '{"amount":"10000000","currency":"' +
        USDC +
        '","methodDetails":{"chainId":31337,"credentialTypes":["authorization"],"decimals":6},"recipient":"' +
        CONTRACT +
        '"}',
    )
    const expected = createHmac('sha256', SECRET)
      .update(['api.example', 'evm', 'charge', params.request, params.expires, '', ''].join('|'))
      .digest('base64url')
    assert.equal(params.id, expected, 'stateless: the id is the HMAC of the challenge parameters')
  })

  test('the quote endpoint named by the 402 is served by the same gateway (before routing, never proxied)', async () => {
    const gw = await start(upstream, false, undefined, true)
    gateways.push(gw)
    const challenge = await fetch(`${gw.url}/api/thing`)
    const problem = (await challenge.json()) as { quote: { href: string; method: string } }
    assert.equal(challenge.status, 402)
    const before = hits
    const res = await fetch(`${gw.url}${problem.quote.href}`, {
      method: problem.quote.method,
      headers: { 'content-type': 'application/json', 'x-request-id': 'via-gateway' },
      body: JSON.stringify({ plan: 'pro', payer: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8', token: USDC }),
    })
    const answer = (await res.json()) as Record<string, unknown>
    assert.equal(res.status, 201, JSON.stringify(answer))
    assert.equal(answer.amount, '10000000')
    assert.equal(answer.contract, CONTRACT)
    assert.equal(res.headers.get('x-request-id'), 'via-gateway')
    const bad = await fetch(`${gw.url}${problem.quote.href}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    })
    const badBody = (await bad.json()) as { code: string; requestId: string }
    assert.equal(bad.status, 400)
    assert.equal(badBody.code, 'QUOTE_REQUEST_INVALID')
    assert.equal(bad.headers.get('x-request-id'), badBody.requestId, 'the gateway-assigned request id')
    assert.equal(hits, before, 'the quote API never reaches a backend')
    const other = await fetch(`${gw.url}/open/page`)
    assert.equal(other.status, 200, 'other paths still route')
    await other.arrayBuffer()
  })

  test('with a routes getter, a paid route renamed by a reload is still challenged and an added public route proxies', async () => {
    const cfgInput = input(upstream.url, false)
    const config = configSchema.parse({ version: 1, listeners: [{ name: 'main', port: 0 }], ...cfgInput })
    const paid = config.paidAccess!
    const holder: { gw?: TestGateway } = {}
    const challenge = compileChallenge({
      paid,
      routes: () => holder.gw?.gateway.runtime.config.routes ?? config.routes,
      catalog: compilePlans(paid),
      chainId: CHAIN_ID,
      contract: CONTRACT,
      tokens,
      nowMs: () => NOW,
    })
    const gw = await startGateway(cfgInput, { admission: [challenge.stage] })
    holder.gw = gw
    gateways.push(gw)
    const renamed = configSchema.parse({
      version: 1,
      listeners: [{ name: 'main', host: '127.0.0.1', port: 0 }],
      ...cfgInput,
      routes: [
        { id: 'paid-v2', match: { path: { prefix: '/api' } }, upstream: 'app', access: ['pro', 'basic'] },
        { id: 'open', match: {}, upstream: 'app' },
      ],
    })
    const result = await gw.gateway.reload(renamed)
    assert.equal(result.isChanged, true, JSON.stringify(result))
    const res = await fetch(`${gw.url}/api/x`)
    await res.arrayBuffer()
    assert.equal(res.status, 402, 'the renamed paid route is not proxied for free')
    const open = await fetch(`${gw.url}/elsewhere`)
    assert.equal(open.status, 200)
    await open.arrayBuffer()
  })
})
