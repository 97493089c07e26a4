/**
 * Reload and shutdown under load, against the real CLI in a child process (loopback only):
 *
 *   node bench/reload-under-load.ts [--reloads 50] [--workers 32] [--invalid-every 5] [--max-requests 500000]
 *
 * 1. `--reloads` valid reloads alternating two configs (half SIGHUP, half POST /reload), an invalid
 *    config after every `--invalid-every`-th (refused by both triggers), a WebSocket on an unchanged
 *    route echoing after each reload, while `--workers` keep-alive clients send requests.
 * 2. SIGTERM during load: requests the gateway accepted (access-log lines) vs requests that completed
 *    for the client, and the exit time against the drain deadline.
 * The same scenarios run in CI as test/e2e/reload-under-load.test.ts and shutdown-under-load.test.ts.
 */
import { parseArgs } from 'node:util'
import { reloadUnderLoad, shutdownUnderLoad } from '../test/e2e/scenarios.ts'

const { values } = parseArgs({
  options: {
    reloads: { type: 'string', default: '50' },
    workers: { type: 'string', default: '32' },
    'invalid-every': { type: 'string', default: '5' },
    'max-requests': { type: 'string', default: '500000' },
    'load-ms': { type: 'string', default: '3000' },
  },
})
const workers = Number(values.workers)
const maxRequests = Number(values['max-requests'])

const r = await reloadUnderLoad({
  reloads: Number(values.reloads),
  invalidEvery: Number(values['invalid-every']),
  workers,
  maxRequests,
})
process.stdout.write(
  `reload under load: ${r.reloadsApplied} reloads applied, ${r.reloadsRefused} invalid refused (metrics: success ${r.metricsSuccess}, failure ${r.metricsFailure})\n` +
    `  requests: ${r.load.sent} sent, ${r.load.ok} ok, ${r.load.failed} failed ${JSON.stringify(r.load.failures)} in ${Math.round(r.durationMs)} ms\n` +
    `  open fds (config A, under load): ${r.fdsBefore} after the 2nd reload -> ${r.fdsAfter} after the last\n` +
    `  backend connections peak ${r.backendConnsPeak}; removed backend's connections at the end: ${r.b2ConnsAfter}\n` +
    `  websocket on an unchanged route: ${r.websocketEchoes} echoes, open at the end: ${String(r.isWebSocketOpen)}\n`,
)

const s = await shutdownUnderLoad({ workers, loadMs: Number(values['load-ms']), maxRequests, upstreamDelayMs: 20, deadlineMs: 5000 })
process.stdout.write(
  `SIGTERM under load: ${s.accepted} accepted by the gateway, ${s.acceptedAndOk} of them completed for the client, ` +
    `${s.acceptedNotOk.length} accepted but not completed\n` +
    `  client: ${s.load.sent} sent, ${s.load.ok} ok, ${s.load.failed} not accepted (port closed) ${JSON.stringify(s.load.failures)}\n` +
    `  active connections at SIGTERM ${s.activeAtSignal}; exit code ${String(s.exitCode)} after ${Math.round(s.exitMs)} ms (deadline ${s.deadlineMs} ms); /readyz while draining: ${s.readyDuringDrain}\n`,
)
process.exitCode = r.load.failed === 0 && s.acceptedNotOk.length === 0 && s.exitCode === 0 ? 0 : 1
