/**
 * Usage totals persisted per (subscription, period) on every storage backend (PGlite always, PostgreSQL
 * with DATABASE_URL): the flush writes what the live store holds, a repeated or older snapshot never
 * lowers a total ("greatest" upsert), and the periods list newest first.
 */
import { after, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import pino from 'pino'
import {
  compileQuotaLimits,
  createUsageFlusher,
  MemoryQuotaStore,
  quotaWindows,
} from '../../src/qos/index.ts'
import type { Hex } from '../../src/storage/index.ts'
import { storageBackends } from '../helpers/storage.ts'

const log = pino({ level: 'silent' })
const newId = () => `0x${randomBytes(32).toString('hex')}` as Hex

for (const backend of storageBackends()) {
  describe(`usage persistence (${backend.name})`, () => {
    after(() => backend.close())

    test('greatest upserts: idempotent, an older snapshot never lowers a total', async () => {
      const storage = await backend.open()
      const id = newId()
      const row = {
        subscriptionId: id,
        periodStartSec: 1000,
        periodEndSec: 4600,
        plan: 'pro',
        requests: 10,
        bytesIn: 100,
        bytesOut: 1000,
        updatedAtMs: 5,
      }
      await storage.usage.upsertTotals([row])
      await storage.usage.upsertTotals([row])
      await storage.usage.upsertTotals([{ ...row, requests: 4, bytesIn: 500, bytesOut: 2, updatedAtMs: 3 }])
      await storage.usage.upsertTotals([{ ...row, periodStartSec: 4600, periodEndSec: 8200, requests: 1 }])
      const got = await storage.usage.listTotals(id, 10)
      assert.deepEqual(
        got.map((r) => [r.periodStartSec, r.requests, r.bytesIn, r.bytesOut, r.updatedAtMs]),
        [
          [4600, 1, 100, 1000, 5],
          [1000, 10, 500, 1000, 5],
        ],
      )
      assert.deepEqual(await storage.usage.listTotals(newId(), 10), [])
    })

    test('the flusher writes the touched periods from the store, once per period, and again after more use', async () => {
      const storage = await backend.open()
      const store = new MemoryQuotaStore()
      const flusher = createUsageFlusher({ store, repository: storage.usage, log, intervalMs: 0 })
      const limits = compileQuotaLimits('pro', { requestsPerSecond: 100, burst: 100 }, 3600)
      const id = newId()
      const start = Math.floor(Date.now() / 1000) - 100
      const w = quotaWindows(start, 3600, Date.now() / 1000)
      for (let i = 0; i < 3; i++) {
        store.reserve(id, limits, w)
        store.settle(id, limits, w, `r${i}`, { counted: true, bytesIn: 10, bytesOut: 100 })
        flusher.touch(id, limits, w)
      }
      assert.equal(await flusher.flush(), 1)
      assert.equal(await flusher.flush(), 0, 'nothing touched since')
      store.reserve(id, limits, w)
      store.settle(id, limits, w, 'r3', { counted: true, bytesIn: 1, bytesOut: 2 })
      flusher.touch(id, limits, w)
      await flusher.close()
      const [p] = await storage.usage.listTotals(id, 10)
      assert.deepEqual(
        [p?.periodStartSec, p?.periodEndSec, p?.plan, p?.requests, p?.bytesIn, p?.bytesOut],
        [start, start + 3600, 'pro', 4, 31, 302],
      )
    })
  })
}
