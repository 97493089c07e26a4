/**
 * The two operational scenarios behind the e2e tests and bench/reload-under-load.ts: reloads under load
 * and SIGTERM under load, each against the real CLI in a child process and real loopback backends.
 */
import WebSocket from 'ws'
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts'
import { startWsBackend, type WsBackend } from '../helpers/ws-backend.ts'
import { admin, metric, runLoad, spawnLitgate, type LitgateProcess, type LoadResult } from './support.ts'

function configA(b1: string, ws: string): string {
  return `version: 1
listeners: [{ name: main, port: 0 }]
admin: { enabled: true, port: 0 }
server: { shutdownTimeoutMs: 5000 }
upstreams:
  - { id: app, backends: [{ url: "${b1}" }] }
  - { id: ws, backends: [{ url: "${ws}" }] }
routes:
  - { id: ws, match: { path: { prefix: /ws } }, upstream: ws }
  - { id: api, match: { path: { prefix: /api } }, upstream: app }
`
}

/** B: a second backend (fresh pool on every switch to B, drained on every switch back) and a new route. */
function configB(b1: string, b2: string, ws: string): string {
  return `version: 1
listeners: [{ name: main, port: 0 }]
admin: { enabled: true, port: 0 }
server: { shutdownTimeoutMs: 5000 }
upstreams:
  - { id: app, balancing: least-connections, backends: [{ url: "${b1}" }, { url: "${b2}" }] }
  - { id: ws, backends: [{ url: "${ws}" }] }
routes:
  - { id: ws, match: { path: { prefix: /ws } }, upstream: ws }
  - { id: api, match: { path: { prefix: /api } }, upstream: app, timeoutMs: 10000 }
  - { id: api-v2, match: { path: { prefix: /v2 } }, upstream: app }
`
}

const INVALID = [
  'version: 1\nlisteners: [{ name: main, port: 0 }]\nupstreams: []\nroutes: []\n', // schema
  'version: 1\nlisteners: [ { name: main, port: 0 }\n', // YAML syntax
  (b1: string) =>
    `version: 1\nlisteners: [{ name: main, port: 0 }]\nadmin: { enabled: true, port: 0 }\nupstreams: [{ id: app, backends: [{ url: "${b1}" }] }]\nroutes: [{ id: api, match: {}, upstream: nope }]\n`, // semantic
]

export interface ReloadFigures {
  readonly load: LoadResult
  readonly reloadsApplied: number
  readonly reloadsRefused: number
  readonly metricsSuccess: number
  readonly metricsFailure: number
  readonly fdsBefore: number
  readonly fdsAfter: number
  readonly backendConnsPeak: number
  readonly b2ConnsAfter: number
  readonly websocketEchoes: number
  readonly isWebSocketOpen: boolean
  readonly durationMs: number
}

function slowish(name: string): Promise<TestUpstream> {
  // A few ms of work per request so requests are in flight across every swap.
  return startUpstream((req, res) => {
    setTimeout(() => {
      const body = JSON.stringify({ name, url: req.url })
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
      res.end(body)
    }, 2)
  }, name)
}

/**
 * `reloads` valid reloads alternating A/B (half by SIGHUP, half by POST /reload), plus an invalid config
 * after every `invalidEvery`-th, while `workers` clients send requests and one WebSocket on an unchanged
 * route echoes a message after every reload.
 */
export async function reloadUnderLoad(options: {
  readonly reloads: number
  readonly invalidEvery: number
  readonly workers: number
  readonly maxRequests: number
}): Promise<ReloadFigures> {
  const b1 = await slowish('b1')
  const b2 = await slowish('b2')
  const wsb: WsBackend = await startWsBackend()
  let gw: LitgateProcess | undefined
  let ws: WebSocket | undefined
  try {
    gw = await spawnLitgate(configA(b1.url, wsb.url))
    const g = gw
    // Open descriptors measured on config A with the load running (client sockets + warm pool), after
    // the 2nd reload and after the last one: growth would be leaked sockets or pools.
    let fdsBefore = -1
    let fdsAfter = -1
    ws = new WebSocket(`${g.url.replace('http', 'ws')}/ws/echo`)
    const socket = ws
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve())
      socket.once('error', reject)
    })
    let isWebSocketOpen = true
    socket.once('close', () => (isWebSocketOpen = false))
    let echoes = 0
    const echo = (n: number): Promise<void> =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`websocket echo ${n} timed out (open: ${String(isWebSocketOpen)}, backend sessions: ${wsb.sessions.length}, received: ${wsb.sessions[0]?.received.length ?? -1})`)), 5000)
        socket.once('message', (data) => {
          clearTimeout(timer)
          if (String(data) === `ping-${n}`) echoes++
          resolve()
        })
        socket.send(`ping-${n}`)
      })

    let isDone = false
    const started = performance.now()
    const loading = runLoad({
      url: g.url,
      paths: ['/api/a', '/api/b?x=1', '/api/c'],
      workers: options.workers,
      maxRequests: options.maxRequests,
      shouldStop: () => isDone,
      idPrefix: 'reload',
    })
    let applied = 0
    let refused = 0
    let peak = 0
    // Reload outcome lines arrive on stdout asynchronously: wait for the n-th one, then judge it.
    const isOutcome = (l: Record<string, unknown>): boolean =>
      l['msg'] === 'config reloaded' || l['msg'] === 'config unchanged' || String(l['msg']).startsWith('reload failed')
    let scanned = 0
    const nextOutcome = async (): Promise<Record<string, unknown>> => {
      const at = await g.indexOfLog(isOutcome, scanned)
      scanned = at + 1
      return g.logs[at] as Record<string, unknown>
    }
    for (let i = 0; i < options.reloads; i++) {
      g.writeConfig(i % 2 === 0 ? configB(b1.url, b2.url, wsb.url) : configA(b1.url, wsb.url))
      if (i % 2 === 0) g.signal('SIGHUP')
      else {
        const r = await admin(`${g.adminUrl}/reload`, 'POST')
        if (r.status !== 200) throw new Error(`reload ${i} refused: ${r.body}`)
      }
      const line = await nextOutcome()
      if (line['msg'] !== 'config reloaded') throw new Error(`reload ${i} failed: ${JSON.stringify(line)}`)
      applied++
      await echo(i)
      peak = Math.max(peak, b1.openConnections() + b2.openConnections())
      if (i % 2 === 1) {
        // Give the removed backend's pool a moment to close (its requests finish within ms).
        await new Promise((r) => setTimeout(r, 50))
        if (fdsBefore === -1) fdsBefore = g.openFds()
        fdsAfter = g.openFds()
      }
      if ((i + 1) % options.invalidEvery === 0) {
        const bad = INVALID[((i + 1) / options.invalidEvery) % INVALID.length] as string | ((b: string) => string)
        g.writeConfig(typeof bad === 'string' ? bad : bad(b1.url))
        const r = await admin(`${g.adminUrl}/reload`, 'POST')
        if (r.status === 200) throw new Error('an invalid config was applied')
        if (!String((await nextOutcome())['msg']).startsWith('reload failed')) throw new Error('no failure line')
        refused++
        // The invalid file stays on disk until the next valid write: SIGHUP must refuse it too.
        g.signal('SIGHUP')
        if (!String((await nextOutcome())['msg']).startsWith('reload failed')) throw new Error('no failure line')
        refused++
      }
      await new Promise((r) => setTimeout(r, 20))
    }
    // Let the load run a little on the final config, then stop it.
    await new Promise((r) => setTimeout(r, 200))
    isDone = true
    const load = await loading
    const durationMs = performance.now() - started
    // Final config: B if the number of reloads is odd, else A (b2 removed → its pool drains and closes).
    await new Promise((r) => setTimeout(r, 300))
    const text = (await admin(`${g.adminUrl}/metrics`)).body
    const metricsSuccess = metric(text, 'litgate_reloads_total', { result: 'success' }) ?? 0
    let metricsFailure = 0
    for (const code of ['CONFIG_INVALID', 'CONFIG_RESTART_REQUIRED', 'RELOAD_FAILED']) {
      metricsFailure += metric(text, 'litgate_reloads_total', { result: 'failure', code }) ?? 0
    }
    await echo(options.reloads)
    const isOpenAtEnd = isWebSocketOpen
    socket.close(1000)
    return {
      load,
      reloadsApplied: applied,
      reloadsRefused: refused,
      metricsSuccess,
      metricsFailure,
      fdsBefore,
      fdsAfter,
      backendConnsPeak: peak,
      b2ConnsAfter: b2.openConnections(),
      websocketEchoes: echoes,
      isWebSocketOpen: isOpenAtEnd,
      durationMs,
    }
  } finally {
    ws?.terminate()
    if (gw !== undefined) {
      gw.signal('SIGTERM')
      await Promise.race([gw.exited, new Promise((r) => setTimeout(r, 8000).unref())])
      await gw.cleanup()
    }
    await b1.close()
    await b2.close()
    await wsb.close()
  }
}

export interface ShutdownFigures {
  readonly load: LoadResult
  /** Request ids the gateway accepted (one access-log line each). */
  readonly accepted: number
  /** Accepted requests that the client saw succeed. */
  readonly acceptedAndOk: number
  /** Accepted requests that did not complete for the client, or completed with a non-2xx status. */
  readonly acceptedNotOk: string[]
  readonly exitCode: number | null
  readonly exitMs: number
  readonly deadlineMs: number
  /** Client connections with a request in flight when draining began (from the 'draining' log line). */
  readonly activeAtSignal: number
  readonly readyDuringDrain: number
}

/**
 * `workers` clients load the gateway; after `loadMs`, SIGTERM. Clients keep going until the gateway is
 * gone (new connections are then refused). Every request the gateway accepted must complete.
 */
export async function shutdownUnderLoad(options: {
  readonly workers: number
  readonly loadMs: number
  readonly maxRequests: number
  readonly upstreamDelayMs: number
  readonly deadlineMs: number
}): Promise<ShutdownFigures> {
  const up = await startUpstream((req, res) => {
    setTimeout(() => {
      const body = JSON.stringify({ url: req.url })
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
      res.end(body)
    }, options.upstreamDelayMs)
  })
  let gw: LitgateProcess | undefined
  try {
    gw = await spawnLitgate(`version: 1
listeners: [{ name: main, port: 0, http2: true }]
admin: { enabled: true, port: 0 }
server: { shutdownTimeoutMs: ${options.deadlineMs} }
upstreams: [{ id: app, backends: [{ url: "${up.url}" }] }]
routes: [{ id: api, match: {}, upstream: app }]
`)
    const g = gw
    let isGone = false
    void g.exited.then(() => (isGone = true))
    const loading = runLoad({
      url: g.url,
      paths: ['/a', '/b', '/c?q=1'],
      workers: options.workers,
      maxRequests: options.maxRequests,
      shouldStop: () => isGone,
      idPrefix: 'drain',
      pauseAfterFailureMs: 5,
    })
    await new Promise((r) => setTimeout(r, options.loadMs))
    const signalledAt = performance.now()
    g.signal('SIGTERM')
    // Readiness must turn false while draining (the admin listener stays up until the end).
    let readyDuringDrain = -1
    try {
      readyDuringDrain = (await admin(`${g.adminUrl}/readyz`)).status
    } catch {
      readyDuringDrain = 0 // already gone
    }
    const exit = await g.exited
    const load = await loading
    const accessed = g.logs.filter((l) => l['log'] === 'access')
    const acceptedNotOk: string[] = []
    let acceptedAndOk = 0
    for (const l of accessed) {
      const id = String(l['reqId'])
      if (load.okIds.has(id) && l['status'] === 200) acceptedAndOk++
      else acceptedNotOk.push(`${id}: status ${String(l['status'])} code ${String(l['code'])}`)
    }
    return {
      load,
      accepted: accessed.length,
      acceptedAndOk,
      acceptedNotOk,
      exitCode: exit.code,
      exitMs: exit.at - signalledAt,
      deadlineMs: options.deadlineMs,
      activeAtSignal: Number((g.logs.find((l) => l['msg'] === 'draining')?.['connections'] as { active?: number } | undefined)?.active ?? -1),
      readyDuringDrain,
    }
  } finally {
    await gw?.cleanup()
    await up.close()
  }
}
