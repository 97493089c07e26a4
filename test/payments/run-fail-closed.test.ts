// `litgate run` with a paid route: until the paid layer is wired into main, the process refuses to start
// rather than proxy the route for free.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { spawnLitgate } from '../e2e/support.ts'

const CONFIG = `version: 1
listeners: [{ name: main, host: 127.0.0.1, port: 0 }]
admin: { enabled: true, port: 0 }
upstreams: [{ id: app, backends: [{ url: "http://127.0.0.1:9" }] }]
routes:
  - { id: paid, match: { path: { prefix: /api } }, upstream: app, access: [pro] }
  - { id: open, match: {}, upstream: app }
paidAccess:
  chain: { preset: anvil }
  contract: { paymentProcessor: "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0" }
  quoteSigner: { file: /nonexistent/quote-signer }
  plans:
    - { name: pro, planId: 1, displayName: Pro, prices: { "0x5FbDB2315678afecb367f032d93F642f64180aa3": "1000000" }, qos: { requestsPerSecond: 1, burst: 1 } }
`

test('litgate run refuses to start with a paid route while the paid layer is not wired (never proxies it unpaid)', async () => {
  const outcome = await spawnLitgate(CONFIG).then(
    (p) => p,
    (err: unknown) => err as Error,
  )
  if (!(outcome instanceof Error)) {
    // It started (the guard is broken): end the process we started before failing.
    outcome.signal('SIGKILL')
    await outcome.exited
    assert.fail('litgate run started with a paid route')
  }
  assert.match(outcome.message, /litgate exited/)
})
