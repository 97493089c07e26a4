import { test } from 'node:test'
import assert from 'node:assert/strict'
import { reloadUnderLoad } from './scenarios.ts'

test('50 reloads (alternating two valid configs, plus invalid ones) under load: no failed request, no leak', async (t) => {
  const f = await reloadUnderLoad({ reloads: 50, invalidEvery: 5, workers: 16, maxRequests: 200_000 })
  t.diagnostic(
    `requests: ${f.load.sent} sent, ${f.load.ok} ok, ${f.load.failed} failed ${JSON.stringify(f.load.failures)}; ` +
      `reloads: ${f.reloadsApplied} applied, ${f.reloadsRefused} refused; metrics success=${f.metricsSuccess} failure=${f.metricsFailure}; ` +
      `fds ${f.fdsBefore} -> ${f.fdsAfter}; backend connections peak ${f.backendConnsPeak}, removed backend after ${f.b2ConnsAfter}; ` +
      `websocket echoes ${f.websocketEchoes}; ${Math.round(f.durationMs)} ms`,
  )
  assert.equal(f.load.failed, 0, JSON.stringify(f.load.failures))
  assert.ok(f.load.ok > 1000, `too little load to mean anything: ${f.load.ok}`)
  assert.equal(f.reloadsApplied, 50)
  assert.equal(f.metricsSuccess, 50)
  assert.equal(f.metricsFailure, f.reloadsRefused)
  assert.ok(f.reloadsRefused >= 10)
  // The WebSocket on the unchanged route stayed open through every reload.
  assert.equal(f.isWebSocketOpen, true)
  assert.equal(f.websocketEchoes, 51)
  // Pools of the unchanged backend are reused; the twice-removed backend's pool closed.
  assert.ok(f.backendConnsPeak <= 16 * 2 + 2, `backend connections peaked at ${f.backendConnsPeak}`)
  assert.equal(f.b2ConnsAfter, 0)
  // No growth in open descriptors (sockets, pools) across 50 swaps: small slack for the runtime.
  assert.ok(f.fdsAfter <= f.fdsBefore + 4, `fds ${f.fdsBefore} -> ${f.fdsAfter}`)
})
