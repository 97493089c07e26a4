// @litgate/client against an in-test fake of the TOKEN endpoints (test/client/fake-token-endpoints.ts) and
// a fake paid route: sign-in with EIP-4361, Bearer retry, activation polling and its deadline, refresh before
// expiry (single-flight, rotation), refusal handling, origin scoping and pass-through. No chain: the wallet
// holds a subscription already (`subscriptionId`), so nothing is bought; paying is covered by
// litgate-fetch-anvil.test.ts against a real gateway and anvil.
import assert from 'node:assert/strict'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, beforeEach, test } from 'node:test'
import { createWalletClient, http, type Hex } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { anvil } from 'viem/chains'
import { parseSiweMessage } from 'viem/siwe'
import {
  ChainUnavailableError,
  createLitgateClient,
  createLitgateFetch,
  LitgateHttpError,
  PaymentNotConfirmedError,
  type LitgateEvent,
  type LitgateFetchOptions,
} from '../../packages/client/src/index.ts'
import { createTokenSession } from '../../packages/client/src/token-session.ts'
import {
  createFakeTokenEndpoints,
  sendTokenInvalid,
  type FakeTokenEndpoints,
} from './fake-token-endpoints.ts'

const SUB = `0x${'ab'.repeat(32)}` as Hex
// Signing is local; the RPC is never used by these tests (a dead loopback port).
const wallet = createWalletClient({
  account: privateKeyToAccount(generatePrivateKey()),
  chain: anvil,
  transport: http('http://127.0.0.1:9'),
})

interface Fake {
  server: Server
  url: string
  tokens: FakeTokenEndpoints
  active: { value: boolean; after: number }
  /** Paid-route requests seen: the Authorization they carried ('' when none). */
  paid: string[]
  other: Array<{ path: string; authorization: string }>
  chainDown: number
}

let fake: Fake
let other: Server
let otherUrl: string
const otherSeen: string[] = []

function paymentRequired(res: ServerResponse) {
  res.writeHead(402, { 'content-type': 'application/problem+json', 'cache-control': 'no-store' })
  res.end(
    JSON.stringify({
      status: 402,
      code: 'PAYMENT_REQUIRED',
      requestId: 'r1',
      plans: [{ name: 'pro', planId: 1, prices: [{ token: `0x${'11'.repeat(20)}`, amount: '1000000' }] }],
      quote: { href: '/litgate/v1/quote', method: 'POST' },
      chainId: anvil.id,
      contract: `0x${'22'.repeat(20)}`,
    }),
  )
}

async function route(f: Fake, req: IncomingMessage, res: ServerResponse) {
  if (await f.tokens.handle(req, res)) return
  const path = req.url ?? ''
  if (path.startsWith('/api/')) {
    if (f.chainDown > 0) {
      f.chainDown--
      res.writeHead(503, { 'content-type': 'application/problem+json', 'retry-after': '5' })
      res.end(JSON.stringify({ status: 503, code: 'CHAIN_UNAVAILABLE', requestId: 'r2' }))
      return
    }
    f.paid.push(req.headers.authorization ?? '')
    const sub = f.tokens.bearer(req)
    if (sub === 'invalid') return sendTokenInvalid(res)
    if (sub === undefined) return paymentRequired(res)
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ ok: true, subscription: sub, path }))
    return
  }
  if (path === '/upstream-402') {
    res.writeHead(402, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ message: 'the backend sells things too' }))
    return
  }
  f.other.push({ path, authorization: req.headers.authorization ?? '' })
  res.writeHead(404, { 'content-type': 'text/plain', 'x-from': 'backend' })
  res.end('nothing here')
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

before(async () => {
  other = createServer((req, res) => {
    otherSeen.push(req.headers.authorization ?? '')
    res.end('other')
  })
  otherUrl = await listen(other)
})

beforeEach(async () => {
  if (fake !== undefined) await new Promise((r) => fake.server.close(r))
  const active = { value: true, after: 0 }
  const tokens = createFakeTokenEndpoints({
    chainId: anvil.id,
    isActive: () => {
      if (active.after > 0) {
        active.after--
        return false
      }
      return active.value
    },
  })
  const f: Fake = {
    server: createServer(),
    url: '',
    tokens,
    active,
    paid: [],
    other: [],
    chainDown: 0,
  }
  f.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    route(f, req, res).catch((err: unknown) => {
      res.writeHead(500)
      res.end(String(err))
    })
  })
  f.url = await listen(f.server)
  fake = f
})

after(async () => {
  await new Promise((r) => fake.server.close(r))
  await new Promise((r) => other.close(r))
})

function client(extra: Partial<LitgateFetchOptions> = {}) {
  const events: LitgateEvent[] = []
  const c = createLitgateClient({
    gateway: fake.url,
    wallet,
    plan: 'pro',
    subscriptionId: SUB,
    onEvent: (e) => events.push(e),
    ...extra,
  })
  return { ...c, events }
}

test('a 402 with a held subscription signs in with a valid EIP-4361 message, retries with Bearer, then sends the token up front', async () => {
  const c = client()
  const first = await c.fetch(`${fake.url}/api/items?x=1`)
  assert.equal(first.status, 200)
  assert.deepEqual(await first.json(), { ok: true, subscription: SUB, path: '/api/items?x=1' })
  assert.equal(fake.tokens.stats.issued, 1)
  const [message] = fake.tokens.stats.messages
  const m = parseSiweMessage(message ?? '')
  assert.equal(m.domain, new URL(fake.url).host)
  assert.equal(m.uri, new URL(fake.url).origin)
  assert.equal(m.chainId, anvil.id)
  assert.equal(m.address, wallet.account.address)
  assert.deepEqual(m.resources, [`urn:litgate:subscription:${SUB}`])
  assert.deepEqual(fake.paid.slice(0, 1), [''], 'the first request had no credential')
  assert.match(fake.paid[1] ?? '', /^Bearer fake\./)

  const second = await c.fetch(`${fake.url}/api/more`, { method: 'POST', body: 'payload' })
  assert.equal(second.status, 200)
  await second.arrayBuffer()
  assert.equal(fake.paid.length, 3, 'no 402 round trip once a token is held')
  assert.equal(fake.tokens.stats.issued, 1)
  assert.deepEqual(
    c.events.map((e) => e.type),
    ['payment-required', 'token'],
  )
})

test('a burst of concurrent 402s shares one sign-in', async () => {
  const c = client()
  const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => c.fetch(`${fake.url}/api/${i}`)))
  assert.deepEqual(
    answers.map((a) => a.status),
    Array(8).fill(200),
  )
  await Promise.all(answers.map((a) => a.arrayBuffer()))
  assert.equal(fake.tokens.stats.nonces, 1)
  assert.equal(fake.tokens.stats.issued, 1)
})

test('the activation wait re-posts the same signed message (the nonce is spent only on success) while the answer is 402 SUBSCRIPTION_INACTIVE', async () => {
  fake.active.after = 3
  const events: LitgateEvent[] = []
  let clock = Date.now()
  const session = createTokenSession({
    gateway: new URL(fake.url),
    basePath: () => '/litgate/v1',
    wallet,
    chainId: async () => anvil.id,
    fetch,
    now: () => clock,
    sleep: async (ms) => {
      clock += ms
    },
    emit: (e) => events.push(e),
    refreshBeforeExpiryMs: 60_000,
  })
  const set = await session.waitForActivation(SUB, { deadlineMs: clock + 60_000, pollIntervalMs: 500 })
  assert.equal(set.subscriptionId, SUB)
  assert.equal(fake.tokens.stats.inactive, 3)
  assert.equal(fake.tokens.stats.nonces, 1, 'one nonce for the whole wait')
  assert.equal(fake.tokens.stats.signIns, 4)
  assert.deepEqual(
    events.map((e) => e.type),
    ['activation-pending', 'activation-pending', 'activation-pending', 'active', 'token'],
  )
  // Retry-After: 1 from the fake is above the 500 ms poll interval: three waits of 1 s.
  assert.equal((events.at(-2) as { waitedMs: number }).waitedMs, 3000)
})

test('the activation wait ends with PaymentNotConfirmedError at its deadline', async () => {
  fake.active.value = false
  let clock = Date.now()
  const start = clock
  const session = createTokenSession({
    gateway: new URL(fake.url),
    basePath: () => '/litgate/v1',
    wallet,
    chainId: async () => anvil.id,
    fetch,
    now: () => clock,
    sleep: async (ms) => {
      clock += ms
    },
    emit: () => {},
    refreshBeforeExpiryMs: 60_000,
  })
  const txHash = `0x${'cd'.repeat(32)}` as Hex
  await assert.rejects(
    session.waitForActivation(SUB, { deadlineMs: start + 10_000, pollIntervalMs: 1000, txHash }),
    (err: unknown) => {
      assert.ok(err instanceof PaymentNotConfirmedError)
      assert.equal(err.code, 'PAYMENT_NOT_CONFIRMED')
      assert.equal(err.subscriptionId, SUB)
      assert.equal(err.txHash, txHash)
      assert.ok(err.waitedMs < 10_000)
      return true
    },
  )
  assert.equal(fake.tokens.stats.inactive, 10, 'bounded: one attempt per second until the deadline')
})

test('refreshes before expiry with the rotated refresh token; concurrent requests share one refresh', async () => {
  let clock = Date.now()
  const c = client({ now: () => clock })
  const first = await c.fetch(`${fake.url}/api/a`)
  await first.arrayBuffer()
  const before = c.tokens()
  assert.ok(before)
  clock += 541_000 // 600 s token, refreshed 60 s before expiry
  const answers = await Promise.all(Array.from({ length: 6 }, () => c.fetch(`${fake.url}/api/b`)))
  assert.deepEqual(
    answers.map((a) => a.status),
    Array(6).fill(200),
  )
  await Promise.all(answers.map((a) => a.arrayBuffer()))
  assert.equal(fake.tokens.stats.refreshes, 1, 'single flight')
  assert.equal(fake.tokens.stats.refreshReused, 0)
  assert.equal(fake.tokens.stats.nonces, 1, 'a refresh, not a new sign-in')
  const afterRefresh = c.tokens()
  assert.ok(afterRefresh)
  assert.notEqual(afterRefresh.accessToken, before.accessToken)
  assert.notEqual(afterRefresh.refreshToken, before.refreshToken)
  assert.ok(fake.paid.slice(-6).every((a) => a === `Bearer ${afterRefresh.accessToken}`))

  clock += 541_000 // and again: the rotated refresh token is the one presented
  const again = await c.fetch(`${fake.url}/api/c`)
  assert.equal(again.status, 200)
  await again.arrayBuffer()
  assert.equal(fake.tokens.stats.refreshes, 2)
  assert.equal(fake.tokens.stats.refreshReused, 0)
  assert.deepEqual(
    c.events.filter((e) => e.type === 'token').map((e) => (e as { reason: string }).reason),
    ['sign-in', 'refresh', 'refresh'],
  )
})

test('a revoked token: 401 TOKEN_INVALID → the SDK refreshes (refused: family revoked), signs in again and retries once', async () => {
  const c = client()
  const first = await c.fetch(`${fake.url}/api/a`)
  await first.arrayBuffer()
  fake.tokens.revokeAll()
  const res = await c.fetch(`${fake.url}/api/b`)
  assert.equal(res.status, 200)
  await res.arrayBuffer()
  assert.equal(fake.tokens.stats.refreshes, 1)
  assert.equal(fake.tokens.stats.issued, 2, 'a new sign-in, no payment')
  assert.deepEqual(fake.tokens.stats.refusals, ['TOKEN_REFRESH_INVALID'], 'the refresh of a revoked family')
  assert.deepEqual(
    fake.paid.map((a) => (a === '' ? 'none' : a === `Bearer ${c.tokens()?.accessToken}` ? 'new' : 'old')),
    ['none', 'old', 'old', 'new'],
    '402, 200, 401 on the revoked token, 200 with the new one',
  )
  assert.ok(c.events.some((e) => e.type === 'token-dropped'))
})

test('a 401 that persists is returned after one retry, not looped on', async () => {
  const c = client()
  await (await c.fetch(`${fake.url}/api/a`)).arrayBuffer()
  // Every new token is refused too: the subscription was revoked for good.
  const handle = fake.tokens.bearer.bind(fake.tokens)
  fake.tokens.bearer = (req) => (handle(req) === undefined ? undefined : 'invalid')
  const res = await c.fetch(`${fake.url}/api/b`)
  assert.equal(res.status, 401)
  assert.equal(((await res.json()) as { code: string }).code, 'TOKEN_INVALID')
  assert.equal(fake.paid.length, 2 + 2, 'the first 402 and 200, then one try and one retry')
})

test('never sends the token to another origin, and passes non-402 and foreign 402 answers through untouched', async () => {
  const c = client()
  await (await c.fetch(`${fake.url}/api/a`)).arrayBuffer()
  const elsewhere = await c.fetch(`${otherUrl}/x`)
  assert.equal(await elsewhere.text(), 'other')
  assert.deepEqual(otherSeen, [''])

  const missing = await c.fetch(`${fake.url}/nothing`)
  assert.equal(missing.status, 404)
  assert.equal(missing.headers.get('x-from'), 'backend')
  assert.equal(await missing.text(), 'nothing here')

  const foreign = await c.fetch(`${fake.url}/upstream-402`)
  assert.equal(foreign.status, 402)
  assert.deepEqual(await foreign.json(), { message: 'the backend sells things too' })
  assert.equal(fake.tokens.stats.nonces, 1, 'neither answer started a sign-in')
})

test('503 CHAIN_UNAVAILABLE is retried after Retry-After (capped), then ChainUnavailableError when it persists', async () => {
  const waits: number[] = []
  const sleep = async (ms: number) => {
    waits.push(ms)
  }
  fake.chainDown = 2
  const ok = createLitgateFetch({
    gateway: fake.url,
    wallet,
    plan: 'pro',
    subscriptionId: SUB,
    sleep,
    maxRetryDelayMs: 2000,
  })
  const res = await ok(`${fake.url}/api/a`)
  assert.equal(res.status, 200)
  await res.arrayBuffer()
  assert.deepEqual(waits, [2000, 2000], 'Retry-After 5 s capped at maxRetryDelayMs')

  fake.chainDown = 10
  waits.length = 0
  const give = createLitgateFetch({
    gateway: fake.url,
    wallet,
    plan: 'pro',
    subscriptionId: SUB,
    sleep,
    chainRetries: 2,
  })
  await assert.rejects(give(`${fake.url}/api/b`), (err: unknown) => {
    assert.ok(err instanceof ChainUnavailableError)
    assert.equal(err.attempts, 3)
    assert.equal(err.retryAfterMs, 5000)
    assert.equal(err.requestId, 'r2')
    return true
  })
  assert.deepEqual(waits, [5000, 5000])
})

test('429 TOKEN_RATE_LIMITED on a token endpoint is waited out by its Retry-After, then the sign-in goes on', async () => {
  let limited = 2
  const slept: number[] = []
  const limiting: typeof fetch = async (input, init) => {
    const req = new Request(input, init)
    if (limited > 0 && new URL(req.url).pathname.startsWith('/litgate/v1/')) {
      limited--
      return new Response(JSON.stringify({ status: 429, code: 'TOKEN_RATE_LIMITED', requestId: 'r3' }), {
        status: 429,
        headers: { 'content-type': 'application/problem+json', 'retry-after': '3' },
      })
    }
    return fetch(req)
  }
  const c = client({
    fetch: limiting,
    sleep: async (ms) => {
      slept.push(ms)
    },
  })
  const res = await c.fetch(`${fake.url}/api/data`)
  assert.equal(res.status, 200)
  await res.arrayBuffer()
  assert.deepEqual(slept, [3000, 3000])
  assert.deepEqual(
    c.events.filter((e) => e.type === 'rate-limited').map((e) => (e as { attempt: number }).attempt),
    [1, 2],
  )
  assert.equal(fake.tokens.stats.issued, 1)
})

test('a 429 that persists on the sign-in of a held subscription is a LitgateHttpError, never a reason to buy', async () => {
  const limiting: typeof fetch = async (input, init) => {
    const req = new Request(input, init)
    if (new URL(req.url).pathname.startsWith('/litgate/v1/'))
      return new Response(JSON.stringify({ status: 429, code: 'TOKEN_RATE_LIMITED', requestId: 'r4' }), {
        status: 429,
        headers: { 'content-type': 'application/problem+json', 'retry-after': '1' },
      })
    return fetch(req)
  }
  const c = client({ fetch: limiting, sleep: async () => {} })
  await assert.rejects(c.fetch(`${fake.url}/api/data`), (err: unknown) => {
    assert.ok(err instanceof LitgateHttpError, String(err))
    assert.equal(err.status, 429)
    assert.equal(err.code, 'TOKEN_RATE_LIMITED')
    return true
  })
  assert.equal(c.events.filter((e) => e.type === 'rate-limited').length, 3)
  assert.equal(c.events.filter((e) => e.type === 'quote').length, 0, 'nothing bought')
})
