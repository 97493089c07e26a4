import { test } from 'node:test'
import assert from 'node:assert/strict'
import { shutdownUnderLoad } from './scenarios.ts'

test('SIGTERM under load: every request the gateway accepted completes, exit 0 within the deadline', async (t) => {
  const f = await shutdownUnderLoad({ workers: 32, loadMs: 1500, maxRequests: 200_000, upstreamDelayMs: 20, deadlineMs: 5000 })
  t.diagnostic(
    `accepted ${f.accepted}, accepted and completed ${f.acceptedAndOk}, accepted but not completed ${f.acceptedNotOk.length}; ` +
      `client: ${f.load.sent} sent, ${f.load.ok} ok, ${f.load.failed} refused/reset before acceptance ${JSON.stringify(f.load.failures)}; ` +
      `active at SIGTERM ${f.activeAtSignal}; exit ${f.exitCode} after ${Math.round(f.exitMs)} ms (deadline ${f.deadlineMs} ms); readyz while draining ${f.readyDuringDrain}`,
  )
  assert.deepEqual(f.acceptedNotOk, [])
  assert.equal(f.acceptedAndOk, f.accepted)
  assert.ok(f.accepted > 200, `too little load: ${f.accepted}`)
  // Requests that failed client-side were never accepted by the gateway (refused after the port closed).
  for (const id of f.load.failedIds) assert.ok(!f.load.okIds.has(id))
  assert.equal(f.exitCode, 0)
  assert.ok(f.exitMs < f.deadlineMs, `exit took ${f.exitMs} ms`)
})
