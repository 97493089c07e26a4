// `litgate run` selling access end to end, as an operator runs it: a spawned gateway process with a
// paidAccess section against a real anvil running the v2 PaymentProcessor, on every storage backend
// (embedded PGlite in a data directory always; PostgreSQL when DATABASE_URL is set). Covers: the free route
// proxied and the paid route challenged (402 + PAYMENT-REQUIRED); POST {base}/quote; paying the quote with
// EIP-3009 (relayer), EIP-2612 permit and approve + pay; the subscription active on the admin listener within
// the confirmation policy (latency printed); a restart on the same database (still active, one activation);
// degraded start (chain unreachable: paid route and quotes 503 CHAIN_UNAVAILABLE, free route served,
// then ready once the chain answers); a price below the contract's refused at start (PLAN_CHAIN_MISMATCH).
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { after, before, describe, test } from 'node:test'
import {
  decodeErrorResult,
  encodeFunctionData,
  type Account,
  type BaseError,
  type Hex,
  type PublicClient,
} from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import {
  paymentProcessorAbi,
  quoteDomain,
  quoteTypes,
  testUsdcAbi,
  type LitgateDeployment,
} from '../../src/contracts/index.ts'
import { spawnLitgate, type LitgateProcess } from '../e2e/support.ts'
import type { AnvilInstance } from '../helpers/anvil.ts'
import {
  ACCOUNTS,
  buyerSide,
  freshStorage,
  PRICE,
  startPaidChain,
  stop,
  structOf,
  subscription,
  subscriptionOf,
  waitForLog as waitForLogLine,
  type GatewayStorage,
  type PaidChain,
  type QuoteAnswer,
} from '../helpers/paid-chain.ts'
import { storageBackends } from '../helpers/storage.ts'
import { startTcpFault } from '../helpers/tcp-fault.ts'
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts'

const { deployer, buyer, relayer } = ACCOUNTS
const SIGNER_KEY = `0x${randomBytes(32).toString('hex')}` as Hex
const SIGNER = privateKeyToAccount(SIGNER_KEY)
const CONFIRMATIONS = 2

let chain: PaidChain
let node: AnvilInstance
let publicClient: PublicClient
let deployment: LitgateDeployment
let deploymentsDir: string
let backend: TestUpstream
let planId = 0

const usdc = () => chain.usdc()
const write: PaidChain['write'] = (...args) => chain.write(...args)
const { requestQuote, payByAuthorization, payByPermit, payByApprove } = buyerSide(() => chain)
const waitForLog = (gw: LitgateProcess, msg: string, timeoutMs = 20_000) => waitForLogLine(gw, msg, timeoutMs)

function configYaml(storage: GatewayStorage, opts: { rpcUrl?: string; price?: bigint } = {}): string {
  return `version: 1
listeners: [{ name: main, host: 127.0.0.1, port: 0 }]
admin: { enabled: true, port: 0 }
upstreams: [{ id: app, backends: [{ url: "${backend.url}" }] }]
routes:
  - { id: paid, match: { path: { prefix: /api } }, upstream: app, access: [pro] }
  - { id: open, match: {}, upstream: app }
storage: ${storage.yaml()}
paidAccess:
  chain: { preset: anvil, rpc: [{ name: anvil, http: "${opts.rpcUrl ?? node.url}" }] }
  contract: { deploymentsDir: ${JSON.stringify(deploymentsDir)} }
  quoteSigner: { fromEnv: LITGATE_TEST_QUOTE_KEY }
  monitor: { confirmation: { latest: ${CONFIRMATIONS} }, pollIntervalMs: 100 }
  plans:
    - name: pro
      planId: ${planId}
      displayName: Pro
      prices: { "${usdc()}": "${(opts.price ?? PRICE).toString()}" }
      qos: { requestsPerSecond: 10, burst: 20 }
`
}

const ENV = {
  LITGATE_TEST_QUOTE_KEY: SIGNER_KEY,
  // Fast reconnection for the degraded-mode case; the defaults are for real providers.
  LITGATE_CHAIN_RPC_TIMEOUT_MS: '1000',
  LITGATE_CHAIN_PROBE_INTERVAL_MS: '250',
}

async function spawn(storage: GatewayStorage, opts: { rpcUrl?: string; price?: bigint } = {}) {
  return spawnLitgate(configYaml(storage, opts), { env: ENV })
}

/**
 * Policy `latest + N`: with fewer than N − 1 blocks on top of the payment's the subscription must not be
 * active (watched for 600 ms each), then the block that meets the policy is mined and the time until the
 * admin listener says active is measured (the monitor's detection latency plus one admin round trip).
 */
async function activeAfterPolicy(gw: LitgateProcess, id: Hex): Promise<number> {
  for (let extra = 0; extra < CONFIRMATIONS - 1; extra++) {
    const end = performance.now() + 600
    while (performance.now() < end) {
      const s = await subscription(gw, id)
      assert.ok(
        !(s.status === 200 && s.body.state === 'active'),
        `active with ${extra} block(s) on top: before the policy`,
      )
      await new Promise((r) => setTimeout(r, 50))
    }
    await node.rpc('evm_mine')
  }
  const t0 = performance.now()
  while (performance.now() - t0 < 10_000) {
    const s = await subscription(gw, id)
    if (s.status === 200 && s.body.state === 'active') return Math.round(performance.now() - t0)
    await new Promise((r) => setTimeout(r, 10))
  }
  assert.fail(`subscription ${id} not active within 10 s of the block that met the policy`)
}

before(async () => {
  chain = await startPaidChain({
    quoteSigner: SIGNER.address,
    fund: { to: buyer.address, amount: 100n * PRICE },
  })
  ;({ node, publicClient, deployment, deploymentsDir, planId } = chain)
  backend = await startUpstream()
})

after(async () => {
  await backend?.close()
  await chain?.close()
})

for (const db of storageBackends()) {
  describe(`litgate run sells access (${db.name})`, () => {
    let storage: GatewayStorage
    before(async () => {
      storage = await freshStorage(db)
    })
    after(async () => {
      await storage?.cleanup()
    })

    test('402 on the paid route, quote, pay three ways: never active before the policy, active right after it; a restart keeps one activation each', async (t) => {
      let gw = await spawn(storage)
      const ids: Hex[] = []
      try {
        await waitForLog(gw, 'paid access ready: quotes and 402 challenges served')
        const open = await fetch(`${gw.url}/hello`)
        assert.equal(open.status, 200)
        await open.arrayBuffer()
        const paid = await fetch(`${gw.url}/api/data`)
        assert.equal(paid.status, 402)
        assert.equal(paid.headers.get('cache-control'), 'no-store')
        const required = JSON.parse(
          Buffer.from(paid.headers.get('payment-required') ?? '', 'base64').toString('utf8'),
        ) as { x402Version: number; accepts: Array<{ network: string; payTo: string; amount: string }> }
        assert.equal(required.x402Version, 2)
        assert.equal(required.accepts[0]?.network, `eip155:${deployment.chainId}`)
        assert.equal(required.accepts[0]?.payTo.toLowerCase(), deployment.paymentProcessor.toLowerCase())
        assert.equal(required.accepts[0]?.amount, PRICE.toString())
        const problem = (await paid.json()) as { code: string; requestId: string }
        assert.equal(problem.code, 'PAYMENT_REQUIRED')
        assert.ok(problem.requestId)
        assert.equal(backend.received.filter((r) => r.url === '/api/data').length, 0, 'never proxied unpaid')

        for (const [how, pay] of [
          ['EIP-3009', payByAuthorization],
          ['EIP-2612 permit', payByPermit],
          ['approve + pay', payByApprove],
        ] as const) {
          const answer = await requestQuote(gw, buyer.address)
          // Any instance serves the stored answer by id.
          const again = await fetch(`${gw.url}/litgate/v1/quote/${answer.quoteId}`)
          assert.equal(again.status, 200)
          assert.equal(((await again.json()) as QuoteAnswer).digest, answer.digest)
          const receipt = await pay(answer, buyer)
          const id = subscriptionOf(receipt)
          ids.push(id)
          const ms = await activeAfterPolicy(gw, id)
          t.diagnostic(
            `${how}: not active before latest+${CONFIRMATIONS}; active ${ms} ms after the block that met it`,
          )
        }
        const status = (await (await fetch(`${gw.adminUrl}/status`)).json()) as {
          paidAccess: { phase: string; monitor: { running: boolean } }
        }
        assert.equal(status.paidAccess.phase, 'ready')
        assert.equal(status.paidAccess.monitor.running, true)
        await stop(gw)

        // Restart on the same database: the monitor resumes from its cursor; nothing activates twice.
        gw = await spawn(storage)
        await waitForLog(gw, 'payment monitor running')
        for (let i = 0; i < 3; i++) await node.rpc('evm_mine')
        for (const id of ids) {
          const s = await subscription(gw, id)
          assert.equal(s.status, 200)
          assert.equal(s.body.state, 'active')
        }
        await stop(gw)
        assert.deepEqual(
          await storage.activations(ids),
          ids.map(() => 1),
          'one activation per payment, across the restart',
        )
      } finally {
        await gw.cleanup()
      }
    })

    test('chain unreachable at start: degraded (paid route and quotes 503 CHAIN_UNAVAILABLE, free route served), then ready', async () => {
      const fault = await startTcpFault({ mode: 'reset', targetPort: node.port })
      const gw = await spawn(storage, { rpcUrl: fault.url })
      try {
        await waitForLog(
          gw,
          'paid access degraded: chain facts unreadable; paid routes answer 503 CHAIN_UNAVAILABLE until they are read',
        )
        const open = await fetch(`${gw.url}/hello`)
        assert.equal(open.status, 200)
        await open.arrayBuffer()
        for (const [method, path] of [
          ['GET', '/api/data'],
          ['POST', '/litgate/v1/quote'],
        ] as const) {
          const res = await fetch(`${gw.url}${path}`, { method })
          assert.equal(res.status, 503, `${method} ${path}`)
          assert.ok(Number(res.headers.get('retry-after')) >= 1)
          assert.equal(((await res.json()) as { code: string }).code, 'CHAIN_UNAVAILABLE')
        }
        const ready = (await (await fetch(`${gw.adminUrl}/readyz?verbose`)).json()) as {
          paidAccess?: { phase: string }
        }
        assert.equal(ready.paidAccess?.phase, 'degraded')
        fault.setMode('proxy')
        await waitForLog(gw, 'paid access ready: quotes and 402 challenges served', 90_000)
        const paid = await fetch(`${gw.url}/api/data`)
        assert.equal(paid.status, 402)
        await paid.arrayBuffer()
        await stop(gw)
      } finally {
        await gw.cleanup()
        await fault.close()
      }
    })

    test('hostile payments of gateway quotes: replayed, paid by another wallet, underpaid, forged, for another contract or chain, expired — each refused by the contract, one activation', async () => {
      const gw = await spawn(storage)
      try {
        await waitForLog(gw, 'paid access ready: quotes and 402 challenges served')
        const refusal = async (
          who: Account,
          fn: string,
          args: unknown[],
        ): Promise<string> => {
          const err = await publicClient
            .simulateContract({
              account: who,
              address: deployment.paymentProcessor,
              abi: paymentProcessorAbi,
              functionName: fn,
              args,
            } as never)
            .then(
              () => 'accepted',
              (e: unknown) => (e as Error).message,
            )
          return err
        }
        await write(buyer, usdc(), testUsdcAbi, 'approve', [deployment.paymentProcessor, 10n * PRICE])
        const a = await requestQuote(gw, buyer.address)
        const paidOnce = await write(buyer, deployment.paymentProcessor, paymentProcessorAbi, 'pay', [
          structOf(a),
          a.signature,
        ])
        const id = subscriptionOf(paidOnce)
        await activeAfterPolicy(gw, id)
        // Replayed: the very same quote and signature a second time.
        assert.match(await refusal(buyer, 'pay', [structOf(a), a.signature]), /QuoteAlreadyPaid/)
        // Paid by another wallet: the quote names the buyer as payer.
        const b = await requestQuote(gw, buyer.address)
        await write(deployer, usdc(), testUsdcAbi, 'mint', [relayer.address, PRICE])
        await write(relayer, usdc(), testUsdcAbi, 'approve', [deployment.paymentProcessor, PRICE])
        assert.match(await refusal(relayer, 'pay', [structOf(b), b.signature]), /PayerMismatch/)
        // Underpaid: the amount lowered after signing breaks the signature; the contract never takes less.
        assert.match(
          await refusal(buyer, 'pay', [{ ...structOf(b), amount: PRICE - 1n }, b.signature]),
          /InvalidQuoteSignature|AmountBelowPrice/,
        )
        // Forged: the terms signed by a key that is not the quote signer.
        const forger = privateKeyToAccount(`0x${randomBytes(32).toString('hex')}` as Hex)
        const forged = await forger.signTypedData({
          domain: quoteDomain(deployment.chainId, deployment.paymentProcessor),
          types: quoteTypes,
          primaryType: 'Quote',
          message: structOf(b),
        })
        assert.match(await refusal(buyer, 'pay', [structOf(b), forged]), /InvalidQuoteSignature/)
        // For another contract or chain: the quote signer's own signature over the same terms, but for another
        // verifying contract / chain id, is refused here.
        for (const domain of [
          quoteDomain(deployment.chainId, usdc()),
          quoteDomain(deployment.chainId + 1, deployment.paymentProcessor),
        ]) {
          const elsewhere = await SIGNER.signTypedData({
            domain,
            types: quoteTypes,
            primaryType: 'Quote',
            message: structOf(b),
          })
          assert.match(await refusal(buyer, 'pay', [structOf(b), elsewhere]), /InvalidQuoteSignature/)
        }
        // Expired: the same call evaluated at a block time past validUntil (an eth_call block override, so the
        // shared node's clock is not moved: the chain client refuses blocks from the future).
        const expired = await publicClient
          .call({
            account: buyer.address,
            to: deployment.paymentProcessor,
            data: encodeFunctionData({
              abi: paymentProcessorAbi,
              functionName: 'pay',
              args: [structOf(b), b.signature],
            } as never),
            blockOverrides: { time: structOf(b).validUntil + 1n },
          })
          .then(
            () => 'accepted',
            (e: unknown) => {
              const raw = (e as BaseError).walk(
                (x) => typeof (x as { data?: unknown }).data === 'string',
              ) as { data: Hex } | null
              return raw === null
                ? (e as Error).message
                : decodeErrorResult({ abi: paymentProcessorAbi, data: raw.data }).errorName
            },
          )
        assert.equal(expired, 'QuoteExpired')
        // Only the one genuine payment activated anything.
        for (let i = 0; i < CONFIRMATIONS; i++) await node.rpc('evm_mine')
        await new Promise((r) => setTimeout(r, 300))
        await stop(gw)
        assert.deepEqual(await storage.activations([id]), [1])
      } finally {
        await gw.cleanup()
      }
    })

    if (db.name === 'postgres')
      test('two gateway instances on one PostgreSQL: one payment, one activation, both answer active', async () => {
        const first = await spawn(storage)
        let second: LitgateProcess | undefined
        try {
          second = await spawn(storage)
          await waitForLog(first, 'payment monitor running')
          await waitForLog(second, 'payment monitor running')
          const answer = await requestQuote(first, buyer.address)
          // The quote issued by one instance is served by the other (one database).
          const there = await fetch(`${second.url}/litgate/v1/quote/${answer.quoteId}`)
          assert.equal(there.status, 200)
          await there.arrayBuffer()
          const id = subscriptionOf(await payByAuthorization(answer, buyer))
          await activeAfterPolicy(first, id)
          const end = performance.now() + 5_000
          while ((await subscription(second, id)).body.state !== 'active') {
            assert.ok(performance.now() < end, 'the second instance sees the activation')
            await new Promise((r) => setTimeout(r, 50))
          }
          await stop(first)
          await stop(second)
          assert.deepEqual(await storage.activations([id]), [1], 'two monitors, one activation')
        } finally {
          await first.cleanup()
          await second?.cleanup()
        }
      })

    test('a configured price below the contract refuses the start, naming the plan (PLAN_CHAIN_MISMATCH)', async () => {
      const outcome = await spawn(storage, { price: PRICE - 1n }).then(
        (p) => p,
        (err: unknown) => err as Error,
      )
      if (!(outcome instanceof Error)) {
        await outcome.cleanup()
        assert.fail('litgate started with a price below the on-chain price')
      }
      assert.match(outcome.message, /PLAN_CHAIN_MISMATCH/)
      assert.match(outcome.message, /pro/)
    })
  })
}
