import assert from 'node:assert/strict'
import { test } from 'node:test'
import { parseConfig } from '../config/index.ts'
import { demoConfig, demoPaidLayer, type DemoPaidOptions } from './demo-config.ts'
import { formatStepLine, runFlow, type FlowContext, type FlowStep, type StepResult } from './demo-flow.ts'

// runFlow never touches the context itself: the fake steps below ignore it.
const ctx = {} as FlowContext
const step = (name: string, run: () => Promise<StepResult>): FlowStep => ({ name, run })

test('every step ok or pending: the flow is ok, one line per step in order', async () => {
  const lines: string[] = []
  const outcome = await runFlow(
    [
      step('a', () => Promise.resolve({ status: 'ok', detail: 'did a' })),
      step('b', () => Promise.resolve({ status: 'pending', detail: 'not built yet' })),
    ],
    ctx,
    (l) => lines.push(l),
  )
  assert.equal(outcome.isOk, true)
  assert.deepEqual(
    outcome.results.map((r) => [r.name, r.status]),
    [
      ['a', 'ok'],
      ['b', 'pending'],
    ],
  )
  assert.equal(lines.length, 2)
  assert.match(lines[0] ?? '', /^\s+1\/2 OK\s+a\s+\d+ ms {2}did a\n$/)
  assert.match(lines[1] ?? '', /^\s+2\/2 PENDING b\s+\d+ ms {2}not built yet\n$/)
})

test('a failed step fails the flow and skips the steps after it (they depend on its results)', async () => {
  let ranAfter = false
  const outcome = await runFlow(
    [
      step('a', () => Promise.resolve({ status: 'failed', detail: 'expected 201, got 400' })),
      step('b', () => {
        ranAfter = true
        return Promise.resolve({ status: 'ok', detail: '' })
      }),
    ],
    ctx,
    () => {},
  )
  assert.equal(outcome.isOk, false)
  assert.equal(ranAfter, false)
  assert.deepEqual(
    outcome.results.map((r) => r.status),
    ['failed', 'skipped'],
  )
})

test('a step that throws is a failed step with the first line of the message', async () => {
  const outcome = await runFlow(
    [step('a', () => Promise.reject(new Error('connect ECONNREFUSED\n    at stack')))],
    ctx,
    () => {},
  )
  assert.equal(outcome.isOk, false)
  assert.equal(outcome.results[0]?.detail, 'threw: connect ECONNREFUSED')
})

test('formatStepLine pads number, status and name into columns', () => {
  assert.equal(
    formatStepLine(9, 12, { name: 'quote', status: 'ok', detail: 'x', ms: 5 }),
    '10/12 OK      quote                5 ms  x\n',
  )
})

const PAID: DemoPaidOptions = {
  rpcUrl: 'http://127.0.0.1:8545',
  deploymentsDir: '/tmp/d',
  dataDir: '/tmp/d/data',
  planId: 1,
  prices: { '0x5FbDB2315678afecb367f032d93F642f64180aa3': 10_000_000n },
  quoteSignerEnv: 'LITGATE_DEMO_QUOTE_KEY',
  tokenKeyEnv: 'LITGATE_DEMO_TOKEN_KEY',
}

test('the demo config is valid with and without the paid route (the paid one sells /paid through plan pro)', () => {
  const plain = parseConfig(JSON.stringify(demoConfig(0, ['http://127.0.0.1:1'], 0)), 'json')
  assert.equal(plain.ok, true)
  const paid = parseConfig(
    JSON.stringify(demoConfig(8080, ['http://127.0.0.1:1', 'http://127.0.0.1:2'], 9901, PAID)),
    'json',
  )
  assert.ok(paid.ok, JSON.stringify(paid))
  const route = paid.config.routes.find((r) => r.id === 'paid')
  assert.deepEqual(route?.access, ['pro'])
  assert.equal(
    paid.config.paidAccess?.plans[0]?.prices['0x5FbDB2315678afecb367f032d93F642f64180aa3'],
    '10000000',
  )
  assert.equal(paid.config.storage.dataDir, '/tmp/d/data')
  assert.deepEqual(
    paid.config.paidAccess?.tokens?.signingKeys.map((k) => k.kid),
    ['demo-1'],
  )
})

test('the paid layer without the fast monitor (the bench) leaves the payment monitor at its defaults', () => {
  const parse = (layer: ReturnType<typeof demoPaidLayer>) => {
    const r = parseConfig(JSON.stringify({ ...demoConfig(0, ['http://127.0.0.1:1'], 0), ...layer }), 'json')
    assert.ok(r.ok, JSON.stringify(r))
    return r.config.paidAccess?.monitor
  }
  const fast = parse(demoPaidLayer(PAID))
  const plain = parse(demoPaidLayer(PAID, { hasFastMonitor: false }))
  assert.equal(fast?.pollIntervalMs, 100)
  assert.deepEqual(fast?.confirmation, { latest: 1 })
  assert.equal(plain?.pollIntervalMs, 1_000)
  assert.equal(plain?.confirmation, undefined)
})
