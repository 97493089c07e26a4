import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import pino from 'pino'
import type { AdmissionGrant, AdmissionRefusal, AdmissionRequest } from '../runtime/index.ts'
import { createQosGate, type QosHooks } from './gate.ts'
import { compileQuotaLimits, quotaWindows } from './limits.ts'
import { MemoryQuotaStore } from './memory-store.ts'
import { QuotaStoreError, type QuotaStore } from './store.ts'

const log = pino({ level: 'silent' })
const ID = `0x${'ab'.repeat(32)}`
const base: AdmissionGrant = Object.freeze({
  grant: true,
  removeHeaders: ['authorization'],
  setHeaders: ['x-litgate-subscription', ID],
  subject: { subscriptionId: ID, plan: 'pro' },
})
const request = (requestId: string): AdmissionRequest => ({
  requestId,
  routeId: 'paid',
  method: 'GET',
  path: '/api',
  clientAddress: '127.0.0.1',
  headers: {},
  isUpgrade: false,
})
const limits = compileQuotaLimits('pro', { requestsPerSecond: 1, burst: 2, requestsPerDay: 10 }, 3600)
const NOW_MS = 1_800_000_000_000
const row = { startSec: NOW_MS / 1000 - 100 }

function gate(
  store: QuotaStore,
  opts: { onError?: 'allow' | 'deny'; headers?: boolean } = {},
  hooks: QosHooks = {},
) {
  return createQosGate(
    { rateLimitHeaders: opts.headers ?? true, onError: opts.onError ?? 'allow' },
    {
      store,
      limitsFor: (plan) => (plan === 'pro' ? limits : undefined),
      subscription: () => row,
      log,
      hooks,
      nowMs: () => NOW_MS,
      settleRetryMs: [1, 1],
    },
  )
}

const failing = (): QuotaStore => {
  const inner = new MemoryQuotaStore()
  return Object.assign(Object.create(inner) as QuotaStore, {
    kind: 'redis' as const,
    reserve: () => Promise.reject(new QuotaStoreError('down')),
  })
}

describe('QoS gate', () => {
  test('admits with the token grant kept, a meter and the RateLimit fields; refuses over the burst', async () => {
    const g = gate(new MemoryQuotaStore())
    const first = (await g.admit(base, request('a'))) as AdmissionGrant
    assert.equal(first.grant, true)
    assert.deepEqual(
      [first.removeHeaders, first.setHeaders, first.subject],
      [base.removeHeaders, base.setHeaders, base.subject],
    )
    assert.deepEqual(first.meter?.responseHeaders, [
      'ratelimit-policy',
      '"rps";q=1;w=1, "daily";q=10;w=86400',
      'ratelimit',
      `"rps";r=1;t=1, "daily";r=9;t=${86_400 - 100}`,
    ])
    await g.admit(base, request('b'))
    const refused = (await g.admit(base, request('c'))) as AdmissionRefusal
    assert.equal(refused.code, 'QUOTA_EXCEEDED')
    assert.equal(refused.headers?.['retry-after'], '1')
    assert.equal(refused.problemMembers, '"violated-policies":["rps"]')
  })

  test('without the flag admitted responses carry no RateLimit fields (refusals still do)', async () => {
    const g = gate(new MemoryQuotaStore(), { headers: false })
    const ok = (await g.admit(base, request('a'))) as AdmissionGrant
    assert.equal(ok.meter?.responseHeaders, undefined)
  })

  test('a grant without a subject, or of an unmetered plan, passes untouched', async () => {
    const g = gate(new MemoryQuotaStore())
    const plain: AdmissionGrant = { grant: true, removeHeaders: [], setHeaders: [] }
    assert.equal(await g.admit(plain, request('a')), plain)
    const other: AdmissionGrant = { ...base, subject: { subscriptionId: ID, plan: 'free' } }
    assert.equal(await g.admit(other, request('b')), other)
  })

  test('store failure: fail open admits unmetered, fail closed answers RATE_LIMIT_UNAVAILABLE', async () => {
    const seen: string[] = []
    const hooks: QosHooks = { onStoreError: (op, action) => seen.push(`${op}:${action}`) }
    assert.equal(await gate(failing(), { onError: 'allow' }, hooks).admit(base, request('a')), base)
    const closed = (await gate(failing(), { onError: 'deny' }, hooks).admit(
      base,
      request('b'),
    )) as AdmissionRefusal
    assert.equal(closed.code, 'RATE_LIMIT_UNAVAILABLE')
    assert.deepEqual(seen, ['reserve:allowed', 'reserve:refused'])
  })

  test('a settle that landed but reported a failure is retried without counting twice', async () => {
    const inner = new MemoryQuotaStore()
    let calls = 0
    let retried: (isNew: boolean) => void = () => undefined
    const retry = new Promise<boolean>((resolve) => (retried = resolve))
    const flaky = Object.assign(Object.create(inner) as QuotaStore, {
      kind: 'memory' as const,
      reserve: inner.reserve.bind(inner),
      settle: (...args: Parameters<QuotaStore['settle']>) => {
        calls++
        const isNew = inner.settle(...args)
        // The first one lands, then its answer is lost (a Redis timeout after the script ran).
        if (calls === 1) return Promise.reject(new QuotaStoreError('timeout'))
        retried(isNew)
        return isNew
      },
    })
    const g = gate(flaky)
    const v = (await g.admit(base, request('req-1'))) as AdmissionGrant
    v.meter?.end({ reachedUpstream: true, bytesIn: 5, bytesOut: 50, status: 200 })
    assert.equal(await retry, false, 'the retry finds the request settled')
    assert.equal(calls, 2)
    const u = inner.usage(ID, limits, quotaWindows(row.startSec, 3600, NOW_MS / 1000))
    assert.deepEqual([u.periodRequests, u.periodBytesIn, u.periodBytesOut], [1, 5, 50])
  })
})
