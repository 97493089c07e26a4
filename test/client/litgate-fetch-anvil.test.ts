// @litgate/client against a real anvil and a real spawned `litgate run` (PGlite, the v2 PaymentProcessor,
// confirmation `latest: 1`): the 402 → quote → pay → PaymentReceived → active part, paid three ways
// (EIP-3009 submitted by the wallet itself, EIP-2612 permit, approve + pay on a token without either), one
// purchase for a burst of concurrent requests, and the typed errors (an unfunded wallet, a gateway whose chain
// is a dead port, a quote that expires by chain time).
//
// Everything goes to the gateway's REAL token endpoints (`paidAccess.tokens` with an Ed25519 key passed by
// env reference): GET {base}/nonce, POST {base}/token (polled with the same signed message until the payment
// is confirmed), POST {base}/token/refresh (rotation, reuse → family revoked), and Bearer admission on the
// paid route (the upstream sees x-litgate-subscription). A second plan with a 40 s period (`short`, on /short)
// lets a subscription lapse on the wall clock, which is what the gateway's access decisions read. Only the "activation not granted in time" case wraps
// the SDK's fetch to hold POST {base}/token at 402 for a while.
import assert from 'node:assert/strict'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { spawn } from 'node:child_process'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { parseEventLogs, type Account, type Address, type Hex, type PublicClient } from 'viem'
import { generatePrivateKey, mnemonicToAccount, privateKeyToAccount } from 'viem/accounts'
import { anvil as anvilChain } from 'viem/chains'
import {
  ChainUnavailableError,
  createLitgateClient,
  createLitgateFetch,
  InsufficientBalanceError,
  PaymentNotConfirmedError,
  paymentProcessorAbi as sdkProcessorAbi,
  QuoteExpiredError,
  type LitgateEvent,
  type LitgateFetchOptions,
  type PaymentRequired,
} from '../../packages/client/src/index.ts'
import { paymentProcessorAbi, testUsdcAbi, type LitgateDeployment } from '../../src/contracts/index.ts'
import { spawnLitgate, type LitgateProcess } from '../e2e/support.ts'
import { ANVIL_MNEMONIC, type AnvilInstance } from '../helpers/anvil.ts'
import { ACCOUNTS, PRICE, startPaidChain, type PaidChain } from '../helpers/paid-chain.ts'
import { storageBackends, type StorageBackend } from '../helpers/storage.ts'
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts'

const { deployer } = ACCOUNTS
/** The `short` plan's period: long enough for a purchase on a loaded machine, short enough to wait out. */
const SHORT_PERIOD_S = 40
const PKG = new URL('../../packages/client/', import.meta.url).pathname
const SIGNER_KEY = `0x${randomBytes(32).toString('hex')}` as Hex
const SIGNER = privateKeyToAccount(SIGNER_KEY)
const TOKEN_KEY = generateKeyPairSync('ed25519')
  .privateKey.export({ format: 'pem', type: 'pkcs8' })
  .toString()
const ENV = {
  LITGATE_TEST_QUOTE_KEY: SIGNER_KEY,
  LITGATE_TEST_TOKEN_KEY: TOKEN_KEY,
  LITGATE_CHAIN_RPC_TIMEOUT_MS: '1000',
  LITGATE_CHAIN_PROBE_INTERVAL_MS: '250',
}

let chain: PaidChain
let node: AnvilInstance
let publicClient: PublicClient
let deployment: LitgateDeployment
let deploymentsDir: string
let backend: TestUpstream
let db: StorageBackend
let gw: LitgateProcess
let planId = 0
let shortPlanId = 0

const usdc = () => chain.usdc()
const usdt = () => chain.usdt()
const wallet = (who: Account) => chain.wallet(who)
const write: PaidChain['write'] = (...args) => chain.write(...args)

const balanceOf = (token: Address, who: Address) =>
  publicClient.readContract({ address: token, abi: testUsdcAbi, functionName: 'balanceOf', args: [who] })

/** A buyer of its own (accounts from index 10 up: gas money set, both stablecoins minted). */
let nextBuyer = 10
async function freshBuyer(funded = true): Promise<Account> {
  const who = mnemonicToAccount(ANVIL_MNEMONIC, { addressIndex: nextBuyer++ })
  await node.rpc('anvil_setBalance', [who.address, '0x56BC75E2D63100000'])
  if (funded) {
    await write(deployer, usdc(), testUsdcAbi, 'mint', [who.address, 10n * PRICE])
    await write(deployer, usdt(), testUsdcAbi, 'mint', [who.address, 10n * PRICE])
  }
  return who
}

function configYaml(dataDir: string, rpcUrl: string): string {
  return `version: 1
listeners: [{ name: main, host: 127.0.0.1, port: 0 }]
admin: { enabled: true, port: 0 }
upstreams: [{ id: app, backends: [{ url: "${backend.url}" }] }]
routes:
  - { id: paid, match: { path: { prefix: /api } }, upstream: app, access: [pro] }
  - { id: short, match: { path: { prefix: /short } }, upstream: app, access: [short] }
  - { id: open, match: {}, upstream: app }
storage: { dataDir: ${JSON.stringify(dataDir)} }
paidAccess:
  chain: { preset: anvil, rpc: [{ name: anvil, http: "${rpcUrl}" }] }
  contract: { deploymentsDir: ${JSON.stringify(deploymentsDir)} }
  quoteSigner: { fromEnv: LITGATE_TEST_QUOTE_KEY }
  monitor: { confirmation: { latest: 1 }, pollIntervalMs: 100 }
  plans:
    - name: pro
      planId: ${planId}
      displayName: Pro
      prices: { "${usdc()}": "${PRICE}", "${usdt()}": "${PRICE}" }
      qos: { requestsPerSecond: 10, burst: 20 }
    - name: short
      planId: ${shortPlanId}
      displayName: Short
      prices: { "${usdc()}": "${PRICE}" }
      qos: { requestsPerSecond: 10, burst: 20 }
  # Every buyer of this file signs in from 127.0.0.1: above the default 30/min so the file is not slowed down
  # (the SDK's handling of 429 Retry-After is covered in litgate-fetch-tokens.test.ts).
  tokens:
    signingKeys: [{ kid: k1, privateKey: { fromEnv: LITGATE_TEST_TOKEN_KEY } }]
    requestsPerIpPerMinute: 300
`
}

async function spawnGateway(rpcUrl: string): Promise<LitgateProcess> {
  const options = await db.fresh({ onDisk: true })
  assert.ok(options.backend === 'pglite' && options.dataDir !== null)
  return spawnLitgate(configYaml(options.dataDir, rpcUrl), { env: ENV, startTimeoutMs: 90_000 })
}

async function subscriptionView(
  id: Hex,
): Promise<{ status: number; state?: string; accessAllowed?: boolean }> {
  const res = await fetch(`${gw.adminUrl}/litgate/v1/subscriptions/${id}`)
  const body = (await res.json()) as { state?: string; accessAllowed?: boolean }
  return { status: res.status, ...body }
}

/** The upstream's JSON echo of the request head (test/helpers/upstream.ts). */
interface Echo {
  url: string
  headers: Record<string, string | undefined>
}

function buyer(who: Account, extra: Partial<LitgateFetchOptions> = {}, watch?: (e: LitgateEvent) => void) {
  const events: LitgateEvent[] = []
  const client = createLitgateClient({
    gateway: gw.url,
    wallet: wallet(who),
    plan: 'pro',
    activationTimeoutMs: 30_000,
    onEvent: (e) => {
      events.push(e)
      watch?.(e)
    },
    ...extra,
  })
  return { client, events }
}

const paidEvent = (events: LitgateEvent[]) => {
  const paid = events.filter((e) => e.type === 'paid')
  assert.equal(paid.length, 1, 'exactly one payment')
  return paid[0] as Extract<LitgateEvent, { type: 'paid' }>
}

/** The PaymentReceived log of the SDK's transaction, and who sent it. */
async function onChain(txHash: Hex) {
  const receipt = await publicClient.getTransactionReceipt({ hash: txHash })
  const [event] = parseEventLogs({ abi: sdkProcessorAbi, logs: receipt.logs, eventName: 'PaymentReceived' })
  assert.ok(event, 'PaymentReceived emitted')
  return { from: receipt.from, blockNumber: receipt.blockNumber, args: event.args }
}

before(async () => {
  chain = await startPaidChain({ quoteSigner: SIGNER.address, saleTokens: ['usdc', 'usdt'] })
  ;({ node, publicClient, deployment, deploymentsDir, planId } = chain)
  shortPlanId = await chain.createPlan(SHORT_PERIOD_S)
  backend = await startUpstream()
  db = storageBackends({})[0] as StorageBackend
  gw = await spawnGateway(node.url)
  await gw.waitForLog((l) => l['msg'] === 'paid access ready: quotes and 402 challenges served', 0, 90_000)
})

after(async () => {
  if (gw !== undefined) {
    gw.signal('SIGTERM')
    await gw.exited
    await gw.cleanup()
  }
  await backend?.close()
  await db?.close()
  await chain?.close()
})

describe('createLitgateFetch against litgate run and anvil', () => {
  for (const [how, method, token, payMethods] of [
    ['EIP-3009 (the wallet submits payWithAuthorization)', 'authorization', 'usdc', undefined],
    ['EIP-2612 permit (payWithPermit)', 'permit', 'usdc', ['permit', 'approve']],
    ['approve + pay (a token without permit or EIP-3009)', 'approve', 'usdt', undefined],
  ] as const) {
    test(`402 → quote → ${how} → PaymentReceived → active → token → the request retried with Bearer`, async (t) => {
      const who = await freshBuyer()
      const payWith = token === 'usdc' ? usdc() : usdt()
      const before = await balanceOf(payWith, who.address)
      const { client, events } = buyer(who, { payWith, ...(payMethods === undefined ? {} : { payMethods }) })
      const t0 = performance.now()
      const res = await client.fetch(`${gw.url}/api/data?q=1`)
      const ms = Math.round(performance.now() - t0)
      assert.equal(res.status, 200)
      const body = (await res.json()) as Echo
      assert.equal(body.url, '/api/data?q=1')

      const paid = paidEvent(events)
      assert.equal(paid.method, method)
      // Admitted by the gateway's own Bearer check: the upstream sees the subscription, not the token.
      assert.equal(body.headers['x-litgate-subscription'], paid.subscriptionId.toLowerCase())
      assert.equal(body.headers['x-litgate-plan'], 'pro')
      assert.equal(body.headers['authorization'], undefined)
      const chain = await onChain(paid.txHash)
      assert.equal(chain.from.toLowerCase(), who.address.toLowerCase(), 'the wallet sent the payment itself')
      assert.equal(chain.blockNumber, paid.blockNumber)
      assert.equal(chain.args.subscriptionId, paid.subscriptionId)
      assert.equal(chain.args.payer.toLowerCase(), who.address.toLowerCase())
      assert.equal(chain.args.token.toLowerCase(), payWith.toLowerCase())
      assert.equal(chain.args.amount, PRICE)
      assert.equal(await balanceOf(payWith, who.address), before - PRICE)
      const view = await subscriptionView(paid.subscriptionId)
      assert.equal(view.status, 200)
      assert.equal(view.state, 'active', 'active on the admin listener of the real gateway')

      const kinds = events.map((e) => e.type).filter((k) => k !== 'activation-pending')
      assert.deepEqual(kinds, [
        'payment-required',
        'quote',
        ...(method === 'approve' ? ['approved'] : []),
        'paid',
        'active',
        'token',
      ])
      const quote = events.find((e) => e.type === 'quote')
      assert.equal(quote?.type === 'quote' ? quote.digest : undefined, paid.digest)
      t.diagnostic(
        `${how}: 402 to 200 in ${ms} ms, ${events.filter((e) => e.type === 'activation-pending').length} activation polls, block ${paid.blockNumber}`,
      )

      const again = await client.fetch(`${gw.url}/api/other`)
      assert.equal(again.status, 200)
      await again.arrayBuffer()
      assert.equal(events.filter((e) => e.type === 'paid').length, 1, 'held token: no second payment')
    })
  }

  test('a burst of concurrent requests shares one purchase: one quote, one payment, every request served', async () => {
    const who = await freshBuyer()
    const before = await balanceOf(usdc(), who.address)
    const { client, events } = buyer(who, { payWith: usdc() })
    const answers = await Promise.all(
      Array.from({ length: 6 }, (_, i) => client.fetch(`${gw.url}/api/burst/${i}`)),
    )
    assert.deepEqual(
      answers.map((a) => a.status),
      Array(6).fill(200),
    )
    const bodies = (await Promise.all(answers.map((a) => a.json()))) as Echo[]
    assert.equal(events.filter((e) => e.type === 'quote').length, 1)
    const paid = paidEvent(events)
    for (const b of bodies)
      assert.equal(b.headers['x-litgate-subscription'], paid.subscriptionId.toLowerCase())
    assert.equal(events.filter((e) => e.type === 'token').length, 1, 'one sign-in for the burst')
    assert.equal(await balanceOf(usdc(), who.address), before - PRICE, 'paid exactly once')
  })

  test('refresh and reuse on the real endpoints: the SDK rotates the refresh token before expiry; the spent one presented again revokes the family (401 TOKEN_REFRESH_REUSED, then the access token 401), and the SDK signs in again without paying', async (t) => {
    const who = await freshBuyer()
    let skew = 0
    const { client, events } = buyer(who, { payWith: usdc(), now: () => Date.now() + skew })
    const first = await client.fetch(`${gw.url}/api/r/1`)
    assert.equal(first.status, 200)
    await first.arrayBuffer()
    const t1 = client.tokens()
    assert.ok(t1)
    assert.match(t1.refreshToken, /^lgr_[A-Za-z0-9_-]{43}$/)
    skew = 570_000 // within the last minute of the 600 s access token: due for a refresh on the SDK's clock
    const second = await client.fetch(`${gw.url}/api/r/2`)
    assert.equal(second.status, 200)
    await second.arrayBuffer()
    const t2 = client.tokens()
    assert.ok(t2)
    assert.notEqual(t2.refreshToken, t1.refreshToken, 'rotated')
    assert.notEqual(t2.accessToken, t1.accessToken)
    skew = 0

    const reuse = await fetch(`${gw.url}/litgate/v1/token/refresh`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ refreshToken: t1.refreshToken }),
    })
    assert.equal(reuse.status, 401)
    assert.equal(((await reuse.json()) as { code: string }).code, 'TOKEN_REFRESH_REUSED')
    const t0 = performance.now()
    let refused: Response | undefined
    while (performance.now() - t0 < 5_000) {
      const res = await fetch(`${gw.url}/api/r/direct`, {
        headers: { authorization: `Bearer ${t2.accessToken}` },
      })
      if (res.status === 401) {
        refused = res
        break
      }
      await res.arrayBuffer()
      await new Promise((r) => setTimeout(r, 50))
    }
    assert.ok(refused, 'the family is revoked: its access token is refused')
    t.diagnostic(`access token refused ${Math.round(performance.now() - t0)} ms after the reuse`)
    assert.match(refused.headers.get('www-authenticate') ?? '', /error="invalid_token"/)
    assert.equal(((await refused.json()) as { code: string }).code, 'TOKEN_INVALID')

    // The SDK: 401 → refresh with the newest refresh token (refused: its family is revoked) → a fresh
    // sign-in (the subscription is still active) → 200, no second payment.
    const third = await client.fetch(`${gw.url}/api/r/3`)
    assert.equal(third.status, 200)
    const body = (await third.json()) as Echo
    const paid = paidEvent(events)
    assert.equal(body.headers['x-litgate-subscription'], paid.subscriptionId.toLowerCase())
    assert.deepEqual(
      events.flatMap((e) => (e.type === 'token' ? [e.reason] : [])),
      ['sign-in', 'refresh', 'sign-in'],
    )
    assert.deepEqual(
      events.flatMap((e) => (e.type === 'token-dropped' ? [e.reason] : [])),
      ['TOKEN_INVALID', 'TOKEN_REFRESH_INVALID'],
    )
  })

  test('activation not granted in time: PaymentNotConfirmedError; the next request waits for that payment instead of paying again', async () => {
    const who = await freshBuyer()
    const before = await balanceOf(usdc(), who.address)
    let releaseOnPoll = false
    let holdActivation = true
    // While held, POST {base}/token answers 402 SUBSCRIPTION_INACTIVE as the gateway does before it has seen
    // the payment confirmed (the real endpoint is not asked, so the nonce stays unspent).
    const holding: typeof fetch = async (input, init) => {
      const req = new Request(input, init)
      if (holdActivation && req.method === 'POST' && new URL(req.url).pathname === '/litgate/v1/token') {
        await req.body?.cancel()
        return new Response(
          JSON.stringify({ status: 402, code: 'SUBSCRIPTION_INACTIVE', requestId: 'held' }),
          { status: 402, headers: { 'content-type': 'application/problem+json' } },
        )
      }
      return fetch(req)
    }
    // The second request is still refused once, then the gateway grants: it must not buy meanwhile.
    const { client, events } = buyer(
      who,
      { payWith: usdc(), activationTimeoutMs: 5000, fetch: holding },
      (e) => {
        if (releaseOnPoll && e.type === 'activation-pending') holdActivation = false
      },
    )
    try {
      await assert.rejects(client.fetch(`${gw.url}/api/data`), (err: unknown) => {
        assert.ok(err instanceof PaymentNotConfirmedError, String(err))
        assert.equal(err.subscriptionId, paidEvent(events).subscriptionId)
        assert.equal(err.txHash, paidEvent(events).txHash)
        return true
      })
      releaseOnPoll = true
      const res = await client.fetch(`${gw.url}/api/data`)
      assert.equal(res.status, 200)
      await res.arrayBuffer()
    } finally {
      holdActivation = false
    }
    paidEvent(events)
    assert.equal(events.filter((e) => e.type === 'quote').length, 1)
    assert.equal(await balanceOf(usdc(), who.address), before - PRICE, 'paid exactly once')
  })

  test('an unfunded wallet: InsufficientBalanceError before any quote', async () => {
    const who = await freshBuyer(false)
    const { client, events } = buyer(who, { payWith: usdc() })
    await assert.rejects(client.fetch(`${gw.url}/api/data`), (err: unknown) => {
      assert.ok(err instanceof InsufficientBalanceError, String(err))
      assert.equal(err.code, 'INSUFFICIENT_BALANCE')
      assert.equal(err.balance, 0n)
      assert.equal(err.required, PRICE)
      assert.equal(err.token.toLowerCase(), usdc().toLowerCase())
      assert.equal(err.payer, who.address)
      return true
    })
    assert.deepEqual(
      events.map((e) => e.type),
      ['payment-required'],
    )
  })

  test('a gateway whose chain is a dead port (degraded): ChainUnavailableError after the bounded retries, on the paid route and on the quote', async () => {
    const dead = createServer()
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r))
    const port = (dead.address() as AddressInfo).port
    await new Promise((r) => dead.close(r))
    const degraded = await spawnGateway(`http://127.0.0.1:${port}`)
    try {
      await degraded.waitForLog(
        (l) =>
          l['msg'] ===
          'paid access degraded: chain facts unreadable; paid routes answer 503 CHAIN_UNAVAILABLE until they are read',
        0,
        90_000,
      )
      const who = await freshBuyer()
      const events: LitgateEvent[] = []
      const options = {
        gateway: degraded.url,
        wallet: wallet(who),
        plan: 'pro',
        payWith: usdc(),
        chainRetries: 2,
        maxRetryDelayMs: 50,
        onEvent: (e: LitgateEvent) => events.push(e),
      }
      const fetchPaid = createLitgateFetch(options)
      await assert.rejects(fetchPaid(`${degraded.url}/api/data`), (err: unknown) => {
        assert.ok(err instanceof ChainUnavailableError, String(err))
        assert.equal(err.attempts, 3)
        assert.ok((err.retryAfterMs ?? 0) >= 1000, 'the gateway sent Retry-After')
        assert.ok(err.requestId)
        return true
      })
      assert.deepEqual(
        events.map((e) => e.type),
        ['chain-unavailable', 'chain-unavailable'],
      )
      // The quote endpoint of the degraded gateway, with the offer a healthy gateway makes.
      const offer: PaymentRequired = {
        code: 'PAYMENT_REQUIRED',
        plans: [{ name: 'pro', planId, prices: [{ token: usdc(), amount: PRICE.toString() }] }],
        quote: { href: '/litgate/v1/quote', method: 'POST' },
        chainId: anvilChain.id,
        contract: deployment.paymentProcessor,
      }
      await assert.rejects(createLitgateClient(options).quote(offer), ChainUnavailableError)
      const free = await fetch(`${degraded.url}/hello`)
      assert.equal(free.status, 200, 'the free route is still served')
      await free.arrayBuffer()
    } finally {
      degraded.signal('SIGTERM')
      await degraded.exited
      await degraded.cleanup()
    }
  })

  test('the README integration (examples/basic.ts) runs as written, with this gateway, chain and token', async (t) => {
    const key = generatePrivateKey()
    const who = privateKeyToAccount(key)
    await node.rpc('anvil_setBalance', [who.address, '0x56BC75E2D63100000'])
    await write(deployer, usdc(), testUsdcAbi, 'mint', [who.address, 10n * PRICE])
    const example = readFileSync(join(PKG, 'examples/basic.ts'), 'utf8')
    const source = example
      .replaceAll('http://127.0.0.1:8080', gw.url)
      .replaceAll('http://127.0.0.1:8545', node.url)
      .replaceAll('0x5FbDB2315678afecb367f032d93F642f64180aa3', usdc())
      .replace("from '@litgate/client'", `from ${JSON.stringify(join(PKG, 'src/index.ts'))}`)
    assert.notEqual(source, example)
    // Inside the package so that `viem` resolves as it would for a user.
    const file = join(PKG, 'examples', `.readme-run-${process.pid}.ts`)
    writeFileSync(file, source)
    try {
      const { code, stdout, stderr } = await new Promise<{
        code: number | null
        stdout: string
        stderr: string
      }>((resolve) => {
        const child = spawn(process.execPath, [file], {
          env: { ...process.env, BUYER_KEY: key },
          stdio: ['ignore', 'pipe', 'pipe'],
        })
        let out = ''
        let err = ''
        child.stdout.on('data', (c: Buffer) => (out += c.toString()))
        child.stderr.on('data', (c: Buffer) => (err += c.toString()))
        const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
        child.on('close', (exit) => {
          clearTimeout(timer)
          resolve({ code: exit, stdout: out, stderr: err })
        })
      })
      t.diagnostic(stdout.trim().split('\n').join(' | '))
      assert.equal(code, 0, stderr)
      assert.match(stdout, /^paid 0x[0-9a-f]{64}$/m)
      assert.match(stdout, /^200 \{\s+name: 'upstream'/m)
      assert.match(stdout, /'x-litgate-subscription': '0x[0-9a-f]{64}'/)
      assert.match(stdout, /^200$/m)
      assert.equal(await balanceOf(usdc(), who.address), 9n * PRICE)
    } finally {
      rmSync(file, { force: true })
    }
  })

  test('a lapsed subscription is renewed, not bought again: on the 402 after its end the SDK quotes with the held subscription id, pays, and the same subscription is active again', async (t) => {
    const who = await freshBuyer()
    const before = await balanceOf(usdc(), who.address)
    const { client, events } = buyer(who, { plan: 'short', payWith: usdc(), pollIntervalMs: 250 })
    const first = await client.fetch(`${gw.url}/short/1`)
    assert.equal(first.status, 200)
    await first.arrayBuffer()
    const bought = paidEvent(events)
    const created = await onChain(bought.txHash)
    assert.equal(created.args.subscriptionId, created.args.digest, 'a new subscription: its id is the digest')
    assert.equal(created.args.end - created.args.start, SHORT_PERIOD_S)
    assert.equal(client.tokens()?.subscriptionEndsAtMs, created.args.end * 1000, 'the end the gateway stated')

    // Wait out the period on the wall clock (the gateway's access decisions use it), then check it lapsed.
    await new Promise((r) => setTimeout(r, Math.max(0, created.args.end * 1000 - Date.now() + 1_000)))
    const lapsed = await fetch(`${gw.url}/short/direct`, {
      headers: { authorization: `Bearer ${client.tokens()?.accessToken}` },
    })
    await lapsed.arrayBuffer()
    assert.ok(lapsed.status === 402 || lapsed.status === 401, `lapsed: ${lapsed.status}`)

    const t0 = performance.now()
    const second = await client.fetch(`${gw.url}/short/2`)
    assert.equal(second.status, 200)
    const body = (await second.json()) as Echo
    t.diagnostic(
      `402 after the end (direct: ${lapsed.status}) to 200 in ${Math.round(performance.now() - t0)} ms`,
    )
    const paid = events.flatMap((e) => (e.type === 'paid' ? [e] : []))
    assert.equal(paid.length, 2, 'one renewal payment')
    const renewal = paid[1] as (typeof paid)[number]
    assert.equal(renewal.subscriptionId, bought.subscriptionId, 'the same subscription')
    assert.deepEqual(
      events.flatMap((e) => (e.type === 'quote' ? [e.renews] : [])),
      [undefined, bought.subscriptionId],
      'the second quote renews the held subscription',
    )
    assert.equal(events.filter((e) => e.type === 'renewal-refused').length, 0)
    const renewed = await onChain(renewal.txHash)
    assert.equal(renewed.args.subscriptionId, bought.subscriptionId, 'PaymentReceived names the old id')
    assert.notEqual(renewed.args.digest, bought.subscriptionId, 'paid through a quote of its own')
    assert.ok(renewed.args.start >= created.args.end, 'lapsed: the renewal restarts at payment time')
    assert.equal(renewed.args.end - renewed.args.start, SHORT_PERIOD_S)
    assert.equal(body.headers['x-litgate-subscription'], bought.subscriptionId.toLowerCase())
    assert.equal(client.tokens()?.subscriptionEndsAtMs, renewed.args.end * 1000)
    const view = await subscriptionView(bought.subscriptionId)
    assert.equal(view.state, 'active')
    assert.equal(
      await balanceOf(usdc(), who.address),
      before - 2n * PRICE,
      'paid twice, for one subscription',
    )
  })

  test('a lapsed subscription the gateway will not renew (cancelled on chain by its owner): the renewal quote is refused (renewal-refused) and a new subscription is bought', async () => {
    const who = await freshBuyer()
    const before = await balanceOf(usdc(), who.address)
    const { client, events } = buyer(who, { plan: 'short', payWith: usdc(), pollIntervalMs: 250 })
    const first = await client.fetch(`${gw.url}/short/1`)
    assert.equal(first.status, 200)
    await first.arrayBuffer()
    const bought = paidEvent(events)
    const created = await onChain(bought.txHash)
    await write(who, deployment.paymentProcessor, paymentProcessorAbi, 'cancel', [bought.subscriptionId])
    await new Promise((r) => setTimeout(r, Math.max(0, created.args.end * 1000 - Date.now() + 1_000)))

    const second = await client.fetch(`${gw.url}/short/2`)
    assert.equal(second.status, 200)
    const body = (await second.json()) as Echo
    const refused = events.flatMap((e) => (e.type === 'renewal-refused' ? [e] : []))
    assert.equal(refused.length, 1)
    assert.equal(refused[0]?.subscriptionId, bought.subscriptionId)
    assert.match(refused[0]?.reason ?? '', /QUOTE_SUBSCRIPTION_INVALID/)
    const paid = events.flatMap((e) => (e.type === 'paid' ? [e] : []))
    assert.equal(paid.length, 2)
    const fresh = paid[1] as (typeof paid)[number]
    assert.notEqual(fresh.subscriptionId, bought.subscriptionId, 'a new subscription')
    assert.deepEqual(
      events.flatMap((e) => (e.type === 'quote' ? [e.renews] : [])),
      [undefined, undefined],
      'the refused renewal quote was never answered: the quote paid is a new one',
    )
    assert.equal(body.headers['x-litgate-subscription'], fresh.subscriptionId.toLowerCase())
    assert.equal(await balanceOf(usdc(), who.address), before - 2n * PRICE)
  })

  // Last: it moves the chain's clock far ahead of the gateway's local clock.
  test('a quote that expires by chain time before it is paid: one fresh quote, then QuoteExpiredError, nothing paid', async () => {
    const who = await freshBuyer()
    const before = await balanceOf(usdc(), who.address)
    // The chain jumps 1000 s after each quote answer: the gateway clamps chain time to its clock ± 300 s, so
    // every quote it signs (validUntil ≤ local + 300 + ttl 300) is already expired on chain.
    const jumpy: typeof fetch = async (input, init) => {
      const req = new Request(input, init)
      const isQuote = req.method === 'POST' && new URL(req.url).pathname === '/litgate/v1/quote'
      const res = await fetch(req)
      if (isQuote && res.status === 201) {
        await node.rpc('evm_increaseTime', [1000])
        await node.rpc('evm_mine')
      }
      return res
    }
    const { client, events } = buyer(who, { payWith: usdc(), fetch: jumpy })
    await assert.rejects(client.fetch(`${gw.url}/api/data`), (err: unknown) => {
      assert.ok(err instanceof QuoteExpiredError, String(err))
      assert.equal(err.code, 'QUOTE_EXPIRED')
      return true
    })
    assert.equal(events.filter((e) => e.type === 'quote').length, 2, 'one fresh quote was tried')
    assert.equal(events.filter((e) => e.type === 'paid').length, 0)
    assert.equal(await balanceOf(usdc(), who.address), before)
  })
})
