// `litgate run` with a paid route fails closed at start when the paid layer cannot be built from what the
// operator gave it: here the quote-signer key reference names a file that does not exist. The process
// exits non-zero, says which reference (never a value), and never serves the route.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { spawnLitgate } from '../e2e/support.ts'

test('litgate run refuses to start when the quote-signer key cannot be read (CHAIN_KEY_INVALID naming the reference)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'litgate-fail-closed-'))
  const config = `version: 1
listeners: [{ name: main, host: 127.0.0.1, port: 0 }]
admin: { enabled: true, port: 0 }
upstreams: [{ id: app, backends: [{ url: "http://127.0.0.1:9" }] }]
routes:
  - { id: paid, match: { path: { prefix: /api } }, upstream: app, access: [pro] }
  - { id: open, match: {}, upstream: app }
storage: { dataDir: ${JSON.stringify(join(dir, 'data'))} }
paidAccess:
  chain: { preset: anvil, rpc: [{ name: dead, http: "http://127.0.0.1:9" }] }
  contract: { paymentProcessor: "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0" }
  quoteSigner: { file: /nonexistent/quote-signer }
  plans:
    - { name: pro, planId: 1, displayName: Pro, prices: { "0x5FbDB2315678afecb367f032d93F642f64180aa3": "1000000" }, qos: { requestsPerSecond: 1, burst: 1 } }
`
  try {
    const outcome = await spawnLitgate(config).then(
      (p) => p,
      (err: unknown) => err as Error,
    )
    if (!(outcome instanceof Error)) {
      // It started (fail-closed is broken): end the process we started before failing.
      await outcome.cleanup()
      assert.fail('litgate run started without a usable quote-signer key')
    }
    assert.match(outcome.message, /litgate exited/)
    assert.match(outcome.message, /CHAIN_KEY_INVALID/)
    assert.match(outcome.message, /file:\/nonexistent\/quote-signer/)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
