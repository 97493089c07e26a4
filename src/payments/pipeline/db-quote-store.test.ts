// The database QuoteStore on every storage backend (PGlite always, PostgreSQL when DATABASE_URL is set):
// the memory store's cap and Retry-After outcomes, caps that hold under concurrent inserts from two store
// instances (on PostgreSQL two pools), GET served by a store over the reopened database, the sweep's
// retention (the attack: a quote paid just before expiry, its payment processed by the monitor after a
// sweep), paid quotes kept, and schema v3 applied on a v2 database.
import assert from 'node:assert/strict'
import { after, describe, test } from 'node:test'
import { pino } from 'pino'
import { encodeAbiParameters, encodeEventTopics, getAddress, type Address, type Hex } from 'viem'
import { storageBackends, type StorageBackend } from '../../../test/helpers/storage.ts'
import type { ChainLog } from '../../blockchain/index.ts'
import { paymentProcessorAbi } from '../../contracts/index.ts'
import { isGatewayError } from '../../errors/index.ts'
import {
  createStorage,
  MIGRATIONS,
  openStorage,
  type NewQuote,
  type Storage,
  type StorageOptions,
} from '../../storage/index.ts'
import { createPaymentMonitor, type BlockRef, type MonitorChainSource } from '../monitor/index.ts'
import { createMemoryQuoteStore, type QuoteStore, type StoredQuote } from '../quote-store.ts'
import {
  createDbMonitorStore,
  createDbQuoteLookup,
  createDbQuoteStore,
  createEffectConsumer,
  DEFAULT_QUOTE_RETENTION_SECONDS,
} from './index.ts'

const CHAIN = 31337
const CONTRACT = getAddress('0x00000000000000000000000000000000000000cc')
const TOKEN = getAddress('0x5fbdb2315678afecb367f032d93f642f64180aa3')
const ZERO_ADDRESS = getAddress('0x0000000000000000000000000000000000000000')
const ZERO_ID = `0x${'00'.repeat(32)}` as Hex
const h = (n: number): Hex => `0x${n.toString(16).padStart(64, '0')}`
const payerOf = (n: number): Address => getAddress(`0x${(0x7099 + n).toString(16).padStart(40, '9')}`)
const RETENTION = BigInt(DEFAULT_QUOTE_RETENTION_SECONDS)

/** A quote as the endpoint hands it to the store (checksummed addresses, the answer as served). */
function stored(n: number, validUntil: bigint, payer = payerOf(0)): StoredQuote {
  const quoteId = h(0x1000 + n)
  return {
    quoteId,
    digest: h(0xd000 + n),
    payer,
    beneficiary: ZERO_ADDRESS,
    subscriptionId: ZERO_ID,
    token: TOKEN,
    amount: 2n ** 200n + BigInt(n),
    planId: 3,
    periods: 2,
    validUntil,
    signature: `0x${'1b'.repeat(65)}`,
    plan: 'pro',
    answer: {
      quoteId,
      plan: 'pro',
      amount: (2n ** 200n + BigInt(n)).toString(),
      validUntil: validUntil.toString(),
      quote: { payer, planId: 3, periods: 2 },
      pay: { function: 'pay(quote, signature)' },
    },
  }
}

/** A second handle on the database of `storage` (PostgreSQL: another pool, as a second gateway has). */
async function reopen(backend: StorageBackend, options: StorageOptions): Promise<Storage> {
  const { storage } = await openStorage(options)
  return backend.track(storage)
}

/** The memory store's scenario, replayed on any store: the outcomes in order and the sizes after each. */
async function capScenario(store: QuoteStore): Promise<unknown[]> {
  const limits = { maxOpenPerPayer: 2, maxOpen: 3 }
  const [a, b, c] = [payerOf(1), payerOf(2), payerOf(3)]
  const out: unknown[] = []
  const step = async (q: StoredQuote, now: bigint) => {
    out.push(await store.insert(q, limits, now), store.size())
  }
  await step(stored(1, 110n, a), 100n)
  await step(stored(2, 120n, a), 100n)
  await step(stored(3, 130n, a), 100n) // payer-limit: Retry-After until 110
  await step(stored(4, 140n, b), 100n)
  await step(stored(5, 150n, c), 100n) // global-limit: the earliest (110) frees a slot first
  await step(stored(6, 150n, c), 109n) // still full: Retry-After 1 s
  await step(stored(7, 170n, a), 110n) // 110 expired (validUntil <= now): the payer's cap frees
  await step(stored(8, 180n, c), 110n) // global: 120, 140, 170 open → full again
  return out
}

const EXPECTED_CAPS = [
  { ok: true },
  1,
  { ok: true },
  2,
  { ok: false, reason: 'payer-limit', retryAfterSeconds: 10 },
  2,
  { ok: true },
  3,
  { ok: false, reason: 'global-limit', retryAfterSeconds: 10 },
  3,
  { ok: false, reason: 'global-limit', retryAfterSeconds: 1 },
  3,
  { ok: true },
  3,
  { ok: false, reason: 'global-limit', retryAfterSeconds: 10 },
  3,
]

/** PaymentReceived as the chain logs it (real ABI encoding), for the monitor's chain source. */
function paymentLog(q: StoredQuote, block: BlockRef, txHash: Hex, start: number, end: number): ChainLog {
  const topics = encodeEventTopics({
    abi: paymentProcessorAbi,
    eventName: 'PaymentReceived',
    args: { digest: q.digest, subscriptionId: q.digest, payer: q.payer },
  } as never) as Hex[]
  const data = encodeAbiParameters(
    [
      { name: 'beneficiary', type: 'address' },
      { name: 'token', type: 'address' },
      { name: 'amount', type: 'uint256' },
      { name: 'planId', type: 'uint16' },
      { name: 'start', type: 'uint32' },
      { name: 'end', type: 'uint32' },
    ],
    [q.payer, q.token, q.amount, q.planId, start, end],
  )
  return {
    address: CONTRACT.toLowerCase() as Address,
    topics: topics.map((t) => t.toLowerCase() as Hex),
    data: data.toLowerCase() as Hex,
    blockNumber: block.number,
    blockHash: block.hash,
    transactionHash: txHash,
    logIndex: 0,
    removed: false,
  }
}

for (const backend of storageBackends()) {
  describe(`database quote store (${backend.name})`, () => {
    after(() => backend.close())

    test(`${backend.name}: caps and Retry-After exactly as the memory store; paid quotes stop counting`, async () => {
      assert.deepEqual(await capScenario(createMemoryQuoteStore()), EXPECTED_CAPS, 'the reference')
      const storage = await backend.open()
      const store = createDbQuoteStore(storage)
      assert.deepEqual(await capScenario(store), EXPECTED_CAPS)
      // The payment monitor marks a quote paid: it no longer holds a slot (and is still served).
      assert.equal(await storage.quotes.setState(h(0x1002), 'open', 'paid'), true)
      assert.deepEqual(
        await store.insert(stored(9, 190n, payerOf(4)), { maxOpenPerPayer: 2, maxOpen: 3 }, 110n),
        {
          ok: true,
        },
      )
      assert.equal((await store.get(h(0x1002), 110n))?.plan, 'pro', 'a paid quote is still served')
      assert.equal(await storage.quotes.countOpen(0n), 4, 'refused quotes were never written; one is paid')
    })

    test(`${backend.name}: concurrent inserts from two instances never overshoot the caps`, async (t) => {
      const options = await backend.fresh({ onDisk: backend.name === 'pglite' })
      const first = await reopen(backend, options)
      // PGlite is one process per data directory: the second "instance" is a second store on the handle.
      const second = backend.name === 'postgres' ? await reopen(backend, options) : first
      const stores = [createDbQuoteStore(first), createDbQuoteStore(second)]
      const limits = { maxOpenPerPayer: 3, maxOpen: 5 }
      const started = performance.now()
      const global = await Promise.all(
        Array.from({ length: 24 }, (_, i) =>
          (stores[i % 2] as QuoteStore).insert(stored(100 + i, 1_000n, payerOf(100 + i)), limits, 0n),
        ),
      )
      t.diagnostic(`24 concurrent inserts: ${(performance.now() - started).toFixed(0)} ms`)
      assert.equal(global.filter((o) => o.ok).length, 5, 'exactly maxOpen admitted')
      assert.ok(global.every((o) => o.ok || (o.reason === 'global-limit' && o.retryAfterSeconds === 1_000)))
      assert.equal(await first.quotes.countOpen(0n), 5, 'rows in the database')

      const options2 = await backend.fresh({ onDisk: backend.name === 'pglite' })
      const a = await reopen(backend, options2)
      const b = backend.name === 'postgres' ? await reopen(backend, options2) : a
      const pair = [createDbQuoteStore(a), createDbQuoteStore(b)]
      const payer = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          (pair[i % 2] as QuoteStore).insert(stored(200 + i, 500n + BigInt(i)), limits, 0n),
        ),
      )
      assert.equal(payer.filter((o) => o.ok).length, 3, 'exactly maxOpenPerPayer admitted')
      assert.ok(payer.every((o) => o.ok || o.reason === 'payer-limit'))
      assert.equal(await a.quotes.countOpen(0n, payerOf(0)), 3)
    })

    test(`${backend.name}: GET is served from the database after a restart (another store, another handle)`, async () => {
      const options = await backend.fresh({ onDisk: true })
      const before = await reopen(backend, options)
      const quote = stored(1, 2_000n)
      const limits = { maxOpenPerPayer: 5, maxOpen: 5 }
      assert.deepEqual(await createDbQuoteStore(before).insert(quote, limits, 1_000n), { ok: true })
      await before.close()

      const after = await reopen(backend, options)
      const store = createDbQuoteStore(after)
      assert.deepEqual(await store.get(quote.quoteId, 1_999n), quote, 'every field, the answer as served')
      assert.deepEqual(await store.get(quote.quoteId.toUpperCase().replace('0X', '0x') as Hex, 1_000n), quote)
      assert.equal(await store.get(quote.quoteId, 2_000n), undefined, 'expired at validUntil')
      assert.equal(await store.get(h(0xfff), 1_000n), undefined, 'unknown id')
      // The monitor reads the same row by digest.
      const expected = await createDbQuoteLookup(after.quotes).byDigests([quote.digest])
      assert.deepEqual(expected.get(quote.digest), {
        payer: quote.payer.toLowerCase(),
        amount: quote.amount,
        planId: 3,
        token: TOKEN.toLowerCase(),
      })
      // The caps count quotes the previous instance issued.
      assert.deepEqual(await store.insert(stored(2, 2_100n), { maxOpenPerPayer: 1, maxOpen: 5 }, 1_000n), {
        ok: false,
        reason: 'payer-limit',
        retryAfterSeconds: 1_000,
      })
    })

    test(`${backend.name}: sweep keeps open quotes for the retention period, never deletes paid ones, in bounded batches`, async () => {
      const storage = await backend.open()
      assert.throws(() => createDbQuoteStore(storage, { retentionSeconds: 0 }), RangeError)
      assert.throws(() => createDbQuoteStore(storage, { sweepBatchSize: 0 }), RangeError)
      const store = createDbQuoteStore(storage, { sweepBatchSize: 2, maxSweepBatches: 2 })
      const limits = { maxOpenPerPayer: 100, maxOpen: 100 }
      for (let i = 0; i < 8; i++) assert.ok((await store.insert(stored(i, 1_000n), limits, 900n)).ok)
      assert.ok((await store.insert(stored(50, 5_000n), limits, 900n)).ok)
      assert.equal(store.size(), 9)
      assert.equal(await storage.quotes.setState(h(0x1000), 'open', 'paid'), true)

      assert.equal(await store.sweep(1_001n), 0, 'expired, but within retention')
      assert.equal(store.size(), 1, 'only the quote valid until 5000 is open and unexpired')
      assert.equal(await store.sweep(1_000n + RETENTION), 0, 'at validUntil + retention: still kept')
      assert.equal(await store.sweep(1_001n + RETENTION), 4, 'two batches of two, the rest waits')
      assert.equal(await store.sweep(1_001n + RETENTION), 3)
      assert.equal(await store.sweep(1_001n + RETENTION), 0)
      assert.equal((await storage.quotes.get(h(0x1000)))?.state, 'paid', 'the paid quote is kept')
      assert.equal(await storage.quotes.get(h(0x1001)), undefined)
      assert.equal(await store.sweep(10n ** 12n), 1, 'the last open one, past its own retention')
      assert.equal(store.size(), 0)
      assert.equal((await storage.quotes.get(h(0x1000)))?.state, 'paid', 'paid: never swept')
    })

    test(`${backend.name}: attack — a quote paid just before expiry and processed by a lagging monitor after a sweep is still known, then kept as paid`, async () => {
      const storage = await backend.open()
      const store = createDbQuoteStore(storage)
      const limits = { maxOpenPerPayer: 5, maxOpen: 5 }
      const paid = stored(1, 1_300n) // issued at chain time 1000, TTL 300
      const late = stored(2, 1_300n, payerOf(9))
      assert.ok((await store.insert(paid, limits, 1_000n)).ok)
      assert.ok((await store.insert(late, limits, 1_000n)).ok)

      // The payment lands in a block at 1299 (one second before expiry); the monitor is down meanwhile and
      // the gateway keeps sweeping: one hour later, and with `finalized` confirmations much later still.
      for (const now of [1_300n, 1_300n + 3_600n, 1_300n + RETENTION - 1n]) await store.sweep(now)

      const blocks: BlockRef[] = [0, 1, 2, 3].map((n) => ({
        number: n,
        hash: h(0xb00 + n),
        parentHash: h(0xb00 + n - 1),
        timestamp: 1_297 + n,
      }))
      const logs = [paymentLog(paid, blocks[2] as BlockRef, h(0xaa), 1_299, 1_299 + 2 * 2_592_000)]
      const ptr = (n: number) => ({ number: n, hash: (blocks[n] as BlockRef).hash })
      const source: MonitorChainSource = {
        heads: async () => ({ latest: ptr(3), safe: ptr(3), finalized: ptr(3) }),
        blocks: async (from, to) => blocks.slice(from, to + 1),
        logs: async (from, to) => logs.filter((l) => l.blockNumber >= from && l.blockNumber <= to),
      }
      const monitor = createPaymentMonitor(
        {
          chainId: CHAIN,
          contract: CONTRACT.toLowerCase() as Address,
          policy: { tag: 'finalized' },
          startBlock: 0,
          maxRangeBlocks: 100,
          maxTrackedBlocks: 100,
          pollIntervalMs: 1,
        },
        {
          source,
          store: createDbMonitorStore(storage, createEffectConsumer({})),
          quotes: createDbQuoteLookup(storage.quotes),
          log: pino({ level: 'silent' }),
        },
      )
      await monitor.start()
      const outcome = await monitor.pollUntilCaughtUp(10)
      assert.equal('caughtUp' in outcome && outcome.caughtUp, true, JSON.stringify(outcome))
      const payment = await storage.payments.get({ chainId: CHAIN, txHash: h(0xaa), logIndex: 0 })
      assert.ok(payment !== undefined, 'the payment is recorded')
      assert.equal(payment.isUnknownQuote, false, 'the quote was still there: not unknown-quote')
      assert.equal(payment.isUnderpaid || payment.isWrongPayer, false)
      assert.equal((await storage.quotes.get(paid.quoteId))?.state, 'paid', 'marked paid by the monitor')
      assert.equal(payment.activatedAt instanceof Date, true, 'finalized at the policy: activated')

      // Long after the retention: the unpaid quote goes, the paid one stays for good.
      assert.equal(await store.sweep(1_301n + RETENTION), 1)
      assert.equal((await storage.quotes.get(paid.quoteId))?.state, 'paid')
      assert.equal(await storage.quotes.get(late.quoteId), undefined)
      const lookup = await createDbQuoteLookup(storage.quotes).byDigests([paid.digest, late.digest])
      assert.notEqual(lookup.get(paid.digest), null)
      assert.equal(lookup.get(late.digest), null, 'beyond the retention a late payment is unknown-quote')
    })

    test(`${backend.name}: marking paid is idempotent (the same effect twice, a second payment of the quote)`, async () => {
      const storage = await backend.open()
      const quote = stored(1, 1_300n)
      assert.ok(
        (await createDbQuoteStore(storage).insert(quote, { maxOpenPerPayer: 5, maxOpen: 5 }, 1_000n)).ok,
      )
      const consume = createEffectConsumer({})
      const effect = (tx: number, anomaly: null | 'underpaid') => ({
        type: 'record-payment' as const,
        key: `record-payment:${CHAIN}:${h(tx)}:0:${h(0xb02)}`,
        recordKey: `${CHAIN}:${h(tx)}:0`,
        chainId: CHAIN,
        txHash: h(tx),
        logIndex: 0,
        blockNumber: 2,
        blockHash: h(0xb02),
        at: 1_299,
        anomaly,
        payment: {
          type: 'payment' as const,
          txHash: h(tx),
          logIndex: 0,
          digest: quote.digest,
          subscriptionId: quote.digest,
          payer: quote.payer.toLowerCase() as Address,
          beneficiary: quote.payer.toLowerCase() as Address,
          token: TOKEN.toLowerCase() as Address,
          amount: quote.amount,
          planId: 3,
          start: 1_299,
          end: 9_999,
        },
      })
      const ctx = { chainId: CHAIN, blockTime: () => 1_299 }
      await storage.transaction((repos) => consume(repos, [effect(0xa1, 'underpaid')], ctx))
      assert.equal((await storage.quotes.get(quote.quoteId))?.state, 'open', 'an anomaly does not spend it')
      await storage.transaction((repos) => consume(repos, [effect(0xa2, null)], ctx))
      assert.equal((await storage.quotes.get(quote.quoteId))?.state, 'paid')
      await storage.transaction((repos) => consume(repos, [effect(0xa2, null), effect(0xa3, null)], ctx))
      assert.equal((await storage.quotes.get(quote.quoteId))?.state, 'paid')
    })

    test(`${backend.name}: schema v3 applies on a v2 database; a v2 quote stays known to the monitor but is not served`, async () => {
      const options = await backend.fresh({ onDisk: true })
      const v2 = backend.track(await createStorage(options, {}, MIGRATIONS.slice(0, 2)))
      assert.equal((await v2.migrate()).to, 2)
      const legacy = stored(1, 2_000n)
      const row: NewQuote = {
        id: legacy.quoteId,
        payer: legacy.payer,
        beneficiary: legacy.beneficiary,
        subscriptionId: legacy.subscriptionId,
        token: legacy.token,
        amount: legacy.amount,
        planId: legacy.planId,
        periods: legacy.periods,
        validUntil: legacy.validUntil,
        digest: legacy.digest,
        signature: legacy.signature,
      }
      assert.equal(await v2.quotes.insert(row), true)
      await v2.close()

      const { storage, migration } = await openStorage(options)
      backend.track(storage)
      // v3 and every later migration apply on top of v2.
      assert.equal(migration.from, 2)
      assert.equal(migration.to, MIGRATIONS.length)
      assert.deepEqual(migration.applied[0], { version: 3, name: MIGRATIONS[2]?.name })
      const got = await storage.quotes.get(legacy.quoteId)
      assert.deepEqual([got?.plan, got?.answer, got?.amount], [null, null, legacy.amount])
      const store = createDbQuoteStore(storage)
      assert.equal(await store.get(legacy.quoteId, 1_000n), undefined, 'no answer to serve')
      assert.notEqual(
        (await createDbQuoteLookup(storage.quotes).byDigests([legacy.digest])).get(legacy.digest),
        null,
      )
      assert.deepEqual(await store.insert(stored(2, 2_000n), { maxOpenPerPayer: 1, maxOpen: 9 }, 1_000n), {
        ok: false,
        reason: 'payer-limit',
        retryAfterSeconds: 1_000,
      })
      const other = { ...row, id: h(9), digest: h(9) }
      await assert.rejects(storage.quotes.insert({ ...other, answer: '[1]' }), 'the answer is a JSON object')
      await assert.rejects(storage.quotes.insert({ ...other, answer: '{' }), 'the answer is JSON')
      await assert.rejects(
        storage.quotes.insert({ ...other, plan: 'no spaces' }),
        'a plan name as configured',
      )
      assert.equal(await storage.quotes.insert({ ...other, plan: 'pro', answer: '{"a":1}' }), true)
    })

    test(`${backend.name}: a database failure is STORAGE_UNAVAILABLE (the endpoints answer 503)`, async () => {
      const options = await backend.fresh()
      const storage = backend.track(await createStorage(options))
      await storage.migrate()
      const store = createDbQuoteStore(storage)
      await storage.close()
      const unavailable = (err: unknown) => isGatewayError(err) && err.code === 'STORAGE_UNAVAILABLE'
      await assert.rejects(store.insert(stored(1, 10n), { maxOpenPerPayer: 1, maxOpen: 1 }, 0n), unavailable)
      await assert.rejects(store.get(h(0x1001), 0n), unavailable)
      await assert.rejects(store.sweep(0n), unavailable)
    })

    test(`${backend.name}: lockCaps refuses to run outside a transaction (it would lock nothing)`, async () => {
      const storage: Storage = await backend.open()
      await assert.rejects(storage.quotes.lockCaps(), /inside transaction/)
    })
  })
}
