/**
 * Every config field is either applied by a reload (and a test here proves it) or restart-bound (and a
 * reload that changes it is refused, naming it). The first test walks the zod schema so that a new field
 * cannot be added without deciding which.
 */
import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect as netConnect, type Socket } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import { connect as h2connect } from 'node:http2'
import { X509Certificate } from 'node:crypto'
import type { z } from 'zod'
import { configSchema, MODERN_CIPHERS } from '../../src/config/index.ts'
import {
  APPLIED_ON_RELOAD,
  CONSTANT_FIELDS,
  RESTART_BOUND,
  restartBoundChanges,
} from '../../src/lifecycle/index.ts'
import { send } from '../helpers/client.ts'
import { makeSelfSignedCert, makeTestCa } from '../helpers/tls.ts'
import { deadPort, eventually, startUpstream } from '../helpers/upstream.ts'
import { Redis } from 'ioredis'
import { RedisLimiterStore, redisClientOptions } from '../../src/limits/index.ts'
import { accessLines, makeConfig, startOperated, type PartialConfig } from '../observability/support.ts'
import { spawnLitgate } from './support.ts'

const THIS_FILE = readFileSync(import.meta.filename, 'utf8')

/** The test (in this file) that proves each applied field really applies. */
const PROOF: Record<(typeof APPLIED_ON_RELOAD)[number], string> = {
  'listeners[].tls.certFile': 'listeners[].tls certFile/keyFile: new handshakes get the new certificate',
  'listeners[].tls.keyFile': 'listeners[].tls certFile/keyFile: new handshakes get the new certificate',
  'listeners[].tls.certificates':
    'listeners[].tls certificates and clientAuth: new handshakes get the SNI certificates and client verification',
  'listeners[].tls.clientAuth':
    'listeners[].tls certificates and clientAuth: new handshakes get the SNI certificates and client verification',
  'server.maxConnections': 'server.maxConnections: a lowered cap refuses the next connection',
  'server.keepAliveTimeoutMs':
    'server.keepAliveTimeoutMs: new and already open keep-alive connections get the new idle timeout',
  'server.headersTimeoutMs': 'server.headersTimeoutMs: a slow request head gets 408 after the new timeout',
  'server.requestBodyTimeoutMs': 'server.requestBodyTimeoutMs: a stalled body is cut after the new timeout',
  'server.maxHeaderBytes': 'server.maxHeaderBytes: a head above the new limit gets 431',
  'server.requestBodyIdleTimeoutMs':
    'server.requestBodyIdleTimeoutMs: a stalled body on a new connection is cut after the new idle timeout',
  'server.tlsHandshakeTimeoutMs':
    'server.tlsHandshakeTimeoutMs: a connection that never handshakes is closed after the new timeout',
  'server.http2IdleTimeoutMs':
    'server.http2IdleTimeoutMs and http2PingIntervalMs: open sessions get the new idle timeout and PING interval',
  'server.http2PingIntervalMs':
    'server.http2IdleTimeoutMs and http2PingIntervalMs: open sessions get the new idle timeout and PING interval',
  'server.http2MaxClientResets':
    'server.http2MaxClientResets and http2ClientResetWindowMs: a reload applies the new rapid-reset bound',
  'server.http2ClientResetWindowMs':
    'server.http2MaxClientResets and http2ClientResetWindowMs: a reload applies the new rapid-reset bound',
  'server.http2MaxStreamsPerClient': 'server.http2MaxStreamsPerClient: a lowered cap refuses the next stream',
  'server.buffering':
    'server.buffering and the minimum rates: the next request gets the new budget and rates',
  'server.minRequestBodyBytesPerSecond':
    'server.buffering and the minimum rates: the next request gets the new budget and rates',
  'server.minResponseBytesPerSecond':
    'server.buffering and the minimum rates: the next request gets the new budget and rates',
  'server.minRateWindowMs':
    'server.buffering and the minimum rates: the next request gets the new budget and rates',
  'server.maxUrlBytes': 'snapshot server fields apply to the next request',
  'server.maxBodyBytes': 'snapshot server fields apply to the next request',
  'server.trustedProxies': 'snapshot server fields apply to the next request',
  'server.requestIdHeader': 'snapshot server fields apply to the next request',
  'server.underscoresInHeaders': 'snapshot server fields apply to the next request',
  'server.securityHeaders': 'snapshot server fields apply to the next request',
  'server.shutdownTimeoutMs': 'litgate run applies logging and server.shutdownTimeoutMs from a reloaded file',
  upstreams: 'upstreams and routes: a changed route and upstream timeout apply to the next request',
  routes: 'upstreams and routes: a changed route and upstream timeout apply to the next request',
  'logging.level': 'litgate run applies logging and server.shutdownTimeoutMs from a reloaded file',
  'logging.accessLog.enabled':
    'litgate run applies logging and server.shutdownTimeoutMs from a reloaded file',
  'logging.accessLog.sampleSuccessRatio':
    'litgate run applies logging and server.shutdownTimeoutMs from a reloaded file',
  'rateLimit.perIp':
    'rateLimit.perIp and ipv6PrefixLength: a reload limits the next request under the new policy',
  'rateLimit.ipv6PrefixLength':
    'rateLimit.perIp and ipv6PrefixLength: a reload limits the next request under the new policy',
  'rateLimit.redis.onError': 'rateLimit.redis.onError: a reload turns fail-open into fail-closed',
  'admin.tokens': 'admin.tokens and openPaths: a reload swaps the tokens and open paths for the next request',
  'admin.openPaths':
    'admin.tokens and openPaths: a reload swaps the tokens and open paths for the next request',
}

interface SchemaField {
  readonly path: string
  readonly kind: string
}

/** Leaves of the schema, plus optional objects (their presence is a field too). Unions are leaves. */
function schemaFields(schema: z.ZodType): SchemaField[] {
  const out: SchemaField[] = []
  const walk = (s: z.ZodType, path: string, isOptional: boolean): void => {
    const def = (s as unknown as { _zod: { def: Record<string, unknown> & { type: string } } })._zod.def
    switch (def.type) {
      case 'default':
      case 'prefault':
      case 'nullable':
      case 'optional':
        return walk(def['innerType'] as z.ZodType, path, isOptional || def.type === 'optional')
      case 'pipe':
        return walk(def['in'] as z.ZodType, path, isOptional)
      case 'array':
        return walk(def['element'] as z.ZodType, `${path}[]`, false)
      case 'object':
        if (isOptional && path !== '') out.push({ path, kind: 'presence' })
        for (const [key, child] of Object.entries(def['shape'] as Record<string, z.ZodType>))
          walk(child, path === '' ? key : `${path}.${key}`, false)
        return
      default:
        out.push({ path, kind: def.type })
    }
  }
  walk(schema, '', false)
  return out
}

/** `a.b[].c` → `a.b[]` → `a.b` → `a`. */
function ancestors(path: string): string[] {
  const out = [path]
  let p = path
  while (p !== '') {
    p = p.endsWith('[]') ? p.slice(0, -2) : p.includes('.') ? p.slice(0, p.lastIndexOf('.')) : ''
    if (p !== '') out.push(p)
  }
  return out
}

describe('reload field classification', () => {
  const applied = new Set<string>(APPLIED_ON_RELOAD)
  const restart = new Set<string>(RESTART_BOUND)
  const constant = new Set<string>(CONSTANT_FIELDS)
  const fields = schemaFields(configSchema)

  test('every schema field is applied on reload, restart-bound or constant (nearest entry wins)', () => {
    const unclassified: string[] = []
    for (const f of fields) {
      const entry = ancestors(f.path).find((p) => applied.has(p) || restart.has(p) || constant.has(p))
      if (entry === undefined) unclassified.push(f.path)
    }
    assert.deepEqual(unclassified, [], 'add each to APPLIED_ON_RELOAD (with a test) or RESTART_BOUND')
    for (const c of constant)
      assert.equal(fields.find((f) => f.path === c)?.kind, 'literal', `${c} is not a constant`)
  })

  test('no entry is stale, none is in two lists', () => {
    const paths = new Set(fields.flatMap((f) => ancestors(f.path)))
    for (const entry of [...applied, ...restart, ...constant])
      assert.ok(paths.has(entry), `${entry} is not a config field`)
    for (const entry of applied) assert.ok(!restart.has(entry), `${entry} is in both lists`)
  })

  test('every applied field names a test in this file that proves it applies', () => {
    for (const entry of applied) {
      const name = PROOF[entry as keyof typeof PROOF]
      assert.ok(name !== undefined, `${entry} has no proof`)
      assert.ok(THIS_FILE.includes(`test('${name}'`), `${entry}: no test named '${name}'`)
    }
  })

  test('restartBoundChanges compares by field; an added listener and added TLS are changes', () => {
    const base = makeConfig(BASE)
    assert.deepEqual(restartBoundChanges(base, makeConfig(BASE)), [])
    // Applied fields never count.
    assert.deepEqual(restartBoundChanges(base, makeConfig({ ...BASE, server: { maxUrlBytes: 100 } })), [])
    const more = makeConfig({
      ...BASE,
      listeners: [
        { name: 'main', host: '127.0.0.1', port: 0, tls: { certFile: 'a', keyFile: 'b' } },
        { name: 'two', port: 8081 },
      ],
    })
    assert.deepEqual(
      restartBoundChanges(base, more).map((c) => [c.field, c.from, c.to]),
      [
        ['listeners[1].name', undefined, 'two'],
        ['listeners[1].host', undefined, '127.0.0.1'],
        ['listeners[1].port', undefined, 8081],
        ['listeners[1].http2', undefined, false],
        [
          'listeners[0].tls',
          undefined,
          { certFile: 'a', keyFile: 'b', certificates: [], minVersion: 'TLSv1.2', ciphers: MODERN_CIPHERS },
        ],
        ['listeners[0].tls.minVersion', undefined, 'TLSv1.2'],
        ['listeners[0].tls.ciphers', undefined, MODERN_CIPHERS],
      ],
    )
  })
})

const BASE: PartialConfig = {
  upstreams: [{ id: 'u', backends: [{ url: 'http://127.0.0.1:9' }] }],
  routes: [{ id: 'r', match: {}, upstream: 'u' }],
}

function withServer(upstreamUrl: string, server: PartialConfig['server'] = {}): PartialConfig {
  return {
    server,
    upstreams: [{ id: 'u', backends: [{ url: upstreamUrl }] }],
    routes: [{ id: 'r', match: {}, upstream: 'u' }],
  }
}

function connectRaw(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = netConnect(port, '127.0.0.1', () => resolve(s))
    s.once('error', reject)
  })
}

/** Resolves with ms until the server closed `socket`, or 'open' after `timeoutMs`. */
function closedWithin(socket: Socket, timeoutMs: number): Promise<number | 'open'> {
  const started = performance.now()
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve(0)
    const timer = setTimeout(() => {
      socket.off('close', onClose)
      resolve('open')
    }, timeoutMs)
    const onClose = (): void => {
      clearTimeout(timer)
      resolve(performance.now() - started)
    }
    socket.once('close', onClose)
    socket.resume()
  })
}

/** Reads one HTTP/1.1 response (head + Content-Length body) from `socket`. */
function readResponse(
  socket: Socket,
  timeoutMs = 3000,
): Promise<{ status: number; head: string; body: string }> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0)
    const timer = setTimeout(() => finish(new Error(`no complete response: ${buf.toString()}`)), timeoutMs)
    const finish = (err?: Error, value?: { status: number; head: string; body: string }): void => {
      clearTimeout(timer)
      socket.off('data', onData)
      socket.off('close', onClose)
      if (err !== undefined) reject(err)
      else resolve(value as { status: number; head: string; body: string })
    }
    const onClose = (): void => finish(new Error(`closed before a complete response: ${buf.toString()}`))
    const onData = (c: Buffer): void => {
      buf = Buffer.concat([buf, c])
      const text = buf.toString('latin1')
      const end = text.indexOf('\r\n\r\n')
      if (end === -1) return
      const head = text.slice(0, end)
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0)
      if (buf.length < end + 4 + length) return
      finish(undefined, {
        status: Number(head.split(' ')[1]),
        head,
        body: buf.subarray(end + 4, end + 4 + length).toString(),
      })
    }
    socket.on('data', onData)
    socket.once('close', onClose)
  })
}

async function reloadTo(gw: Awaited<ReturnType<typeof startOperated>>, input: PartialConfig): Promise<void> {
  gw.next(makeConfig(input))
  const outcome = await gw.reloader.reload('api')
  assert.ok(outcome.ok && outcome.isChanged, JSON.stringify(outcome))
}

describe('fields applied on reload', () => {
  test('server.maxConnections: a lowered cap refuses the next connection', async () => {
    const up = await startUpstream()
    const gw = await startOperated(withServer(up.url, { maxConnections: 100 }))
    const port = Number(new URL(gw.url).port)
    const sockets: Socket[] = []
    try {
      sockets.push(await connectRaw(port), await connectRaw(port))
      const deadline = Date.now() + 2000
      while (gw.gateway.connections().open < 2 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 10))
      await reloadTo(gw, withServer(up.url, { maxConnections: 2 }))
      const third = await connectRaw(port)
      sockets.push(third)
      assert.notEqual(await closedWithin(third, 1000), 'open', 'the third connection was accepted')
      const until = Date.now() + 1000
      while (gw.gateway.connections().rejected < 1 && Date.now() < until)
        await new Promise((r) => setTimeout(r, 10))
      assert.equal(gw.gateway.connections().rejected, 1)
    } finally {
      for (const s of sockets) s.destroy()
      await gw.stop()
      await up.close()
    }
  })

  test('server.keepAliveTimeoutMs: new and already open keep-alive connections get the new idle timeout', async () => {
    const up = await startUpstream()
    const gw = await startOperated(withServer(up.url, { keepAliveTimeoutMs: 60_000 }))
    const port = Number(new URL(gw.url).port)
    const open = await connectRaw(port)
    try {
      open.write('GET /a HTTP/1.1\r\nhost: x\r\n\r\n')
      assert.equal((await readResponse(open)).status, 200)
      await reloadTo(gw, withServer(up.url, { keepAliveTimeoutMs: 300 }))
      // The connection opened before the reload: its next response sets the new idle timeout.
      open.write('GET /b HTTP/1.1\r\nhost: x\r\n\r\n')
      assert.equal((await readResponse(open)).status, 200)
      const fresh = await connectRaw(port)
      fresh.write('GET /c HTTP/1.1\r\nhost: x\r\n\r\n')
      assert.equal((await readResponse(fresh)).status, 200)
      const [a, b] = await Promise.all([closedWithin(open, 5000), closedWithin(fresh, 5000)])
      assert.notEqual(a, 'open', 'the connection open before the reload kept the old timeout')
      assert.notEqual(b, 'open', 'a new connection kept the old timeout')
    } finally {
      open.destroy()
      await gw.stop()
      await up.close()
    }
  })

  test('server.headersTimeoutMs: a slow request head gets 408 after the new timeout', async () => {
    const up = await startUpstream()
    const gw = await startOperated(withServer(up.url, { headersTimeoutMs: 15_000 }))
    const port = Number(new URL(gw.url).port)
    const s = await connectRaw(port)
    try {
      await reloadTo(gw, withServer(up.url, { headersTimeoutMs: 200 }))
      const started = performance.now()
      s.write('GET /slow HTTP/1.1\r\nhost: x\r\n')
      const res = await readResponse(s, 4000)
      assert.equal(res.status, 408)
      assert.ok(performance.now() - started < 4000)
    } finally {
      s.destroy()
      await gw.stop()
      await up.close()
    }
  })

  test('server.requestBodyTimeoutMs: a stalled body is cut after the new timeout', async () => {
    const up = await startUpstream((req, res) => {
      req.resume()
      req.on('end', () => res.end('ok'))
    })
    const gw = await startOperated(withServer(up.url, { requestBodyTimeoutMs: 300_000 }))
    const port = Number(new URL(gw.url).port)
    const s = await connectRaw(port)
    try {
      await reloadTo(gw, withServer(up.url, { headersTimeoutMs: 200, requestBodyTimeoutMs: 400 }))
      s.write('POST /upload HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\nab')
      assert.notEqual(await closedWithin(s, 4000), 'open', 'the stalled request kept its connection')
    } finally {
      s.destroy()
      await gw.stop()
      await up.close()
    }
  })

  test('server.maxHeaderBytes: a head above the new limit gets 431', async () => {
    const up = await startUpstream()
    const gw = await startOperated(withServer(up.url, { maxHeaderBytes: 16 * 1024 }))
    try {
      const headers = { 'x-big': 'b'.repeat(3000) }
      assert.equal((await send(`${gw.url}/h`, { headers })).status, 200)
      await reloadTo(gw, withServer(up.url, { maxHeaderBytes: 1024 }))
      const res = await send(`${gw.url}/h`, { headers })
      assert.equal(res.status, 431)
      assert.equal(res.json<{ code: string }>().code, 'HEADERS_TOO_LARGE')
    } finally {
      await gw.stop()
      await up.close()
    }
  })

  test('server.requestBodyIdleTimeoutMs: a stalled body on a new connection is cut after the new idle timeout', async () => {
    const up = await startUpstream((req, res) => {
      req.resume()
      req.on('end', () => res.end('ok'))
    })
    const gw = await startOperated(withServer(up.url))
    const port = Number(new URL(gw.url).port)
    const before = await connectRaw(port)
    let after: Socket | undefined
    try {
      before.write('POST /upload HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\nab')
      await reloadTo(gw, withServer(up.url, { requestBodyIdleTimeoutMs: 200 }))
      after = await connectRaw(port)
      after.write('POST /upload HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\nab')
      assert.notEqual(await closedWithin(after, 3000), 'open', 'the stalled body kept its connection')
      // The socket timeout is set when a connection is accepted: one accepted before keeps the old one.
      assert.equal(before.destroyed, false)
    } finally {
      before.destroy()
      after?.destroy()
      await gw.stop()
      await up.close()
    }
  })

  test('server.tlsHandshakeTimeoutMs: a connection that never handshakes is closed after the new timeout', async () => {
    const cert = await makeSelfSignedCert()
    const up = await startUpstream()
    const config = (server: PartialConfig['server']): PartialConfig => ({
      ...withServer(up.url, server),
      listeners: [
        { name: 'main', host: '127.0.0.1', port: 0, tls: { certFile: cert.certFile, keyFile: cert.keyFile } },
      ],
    })
    const gw = await startOperated(config({}))
    const port = Number(new URL(gw.url).port)
    let s: Socket | undefined
    try {
      await reloadTo(gw, config({ tlsHandshakeTimeoutMs: 200 }))
      s = await connectRaw(port)
      assert.notEqual(await closedWithin(s, 3000), 'open', 'the silent connection is still open')
    } finally {
      s?.destroy()
      await gw.stop()
      await up.close()
      await cert.remove()
    }
  })

  test('server.http2IdleTimeoutMs and http2PingIntervalMs: open sessions get the new idle timeout and PING interval', async () => {
    const up = await startUpstream()
    const config = (server: PartialConfig['server']): PartialConfig => ({
      ...withServer(up.url, server),
      listeners: [{ name: 'main', host: '127.0.0.1', port: 0, http2: true }],
    })
    const gw = await startOperated(config({}))
    const port = Number(new URL(gw.url).port)
    const session = h2connect(`http://127.0.0.1:${port}`)
    session.on('error', () => undefined)
    // A peer that sends the preface and SETTINGS, then never reads a frame (never answers a PING).
    const deaf = await connectRaw(port)
    try {
      deaf.write(
        Buffer.concat([
          Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'),
          Buffer.from('000000040000000000', 'hex'),
        ]),
      )
      if (session.connecting) await new Promise<void>((resolve) => session.once('connect', () => resolve()))
      const closed = new Promise<void>((resolve) => session.once('close', () => resolve()))
      let goaways = 0
      session.on('goaway', () => goaways++)
      await reloadTo(gw, config({ http2IdleTimeoutMs: 200 }))
      await Promise.race([closed, new Promise((r) => setTimeout(r, 3000))])
      assert.ok(
        session.closed || session.destroyed,
        'the idle session opened before the reload is still open',
      )
      assert.ok(goaways >= 1, 'closed without GOAWAY')
      assert.notEqual(await closedWithin(deaf, 2000), 'open', 'the silent raw session is idle too')

      // Idle timeout long again, PING interval short: only a peer that does not answer PINGs is closed.
      await reloadTo(gw, config({ http2IdleTimeoutMs: 60_000, http2PingIntervalMs: 200 }))
      const live = h2connect(`http://127.0.0.1:${port}`)
      live.on('error', () => undefined)
      const deaf2 = await connectRaw(port)
      try {
        deaf2.write(
          Buffer.concat([
            Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'),
            Buffer.from('000000040000000000', 'hex'),
          ]),
        )
        assert.notEqual(await closedWithin(deaf2, 3000), 'open', 'a peer ignoring PINGs kept its session')
        assert.equal(live.closed || live.destroyed, false, 'a peer answering PINGs lost its session')
      } finally {
        deaf2.destroy()
        live.destroy()
      }
    } finally {
      deaf.destroy()
      session.destroy()
      await gw.stop()
      await up.close()
    }
  })

  test('server.http2MaxClientResets and http2ClientResetWindowMs: a reload applies the new rapid-reset bound', async () => {
    const up = await startUpstream()
    const h2 = { listeners: [{ name: 'main', host: '127.0.0.1', port: 0, http2: true }] }
    const gw = await startOperated({ ...withServer(up.url, { http2MaxClientResets: 1000 }), ...h2 })
    /** Opens and cancels streams 10 per write until the server closes; returns the GOAWAY's last stream id and code. */
    const flood = async (): Promise<{ last: number; code: number } | undefined> => {
      const socket = netConnect(Number(new URL(gw.url).port), '127.0.0.1')
      socket.on('error', () => undefined)
      let buf = Buffer.alloc(0)
      socket.on('data', (c: Buffer) => (buf = Buffer.concat([buf, c])))
      const frame = (type: number, flags: number, id: number, payload: Buffer): Buffer => {
        const head = Buffer.alloc(9)
        head.writeUIntBE(payload.length, 0, 3)
        head[3] = type
        head[4] = flags
        head.writeUInt32BE(id, 5)
        return Buffer.concat([head, payload])
      }
      const lit = (n: string, v: string) =>
        Buffer.concat([Buffer.from([0, n.length]), Buffer.from(n), Buffer.from([v.length]), Buffer.from(v)])
      const block = Buffer.concat([
        lit(':method', 'GET'),
        lit(':path', '/'),
        lit(':scheme', 'http'),
        lit(':authority', 'a'),
      ])
      const cancel = Buffer.from([0, 0, 0, 8])
      socket.write(
        Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), frame(4, 0, 0, Buffer.alloc(0))]),
      )
      for (let id = 1; id < 2 * 300 && !socket.destroyed;) {
        const parts: Buffer[] = []
        for (let i = 0; i < 10; i++, id += 2) parts.push(frame(1, 5, id, block), frame(3, 0, id, cancel))
        socket.write(Buffer.concat(parts))
        await new Promise((r) => setTimeout(r, 2))
      }
      await new Promise((r) => setTimeout(r, 100))
      socket.destroy()
      for (let i = 0; i + 9 <= buf.length; i += 9 + buf.readUIntBE(i, 3))
        if (buf[i + 3] === 7)
          return { last: buf.readUInt32BE(i + 9) & 0x7fffffff, code: buf.readUInt32BE(i + 13) }
      return undefined
    }
    try {
      assert.equal(await flood(), undefined, '300 cancelled streams are under a bound of 1000')
      await reloadTo(gw, {
        ...withServer(up.url, { http2MaxClientResets: 20, http2ClientResetWindowMs: 60_000 }),
        ...h2,
      })
      const goaway = await flood()
      assert.equal(goaway?.code, 0xb, 'ENHANCE_YOUR_CALM')
      assert.ok((goaway?.last ?? Infinity) <= 2 * (20 + 30), `last stream ${goaway?.last}`)
    } finally {
      await gw.stop()
      await up.close()
    }
  })

  test('rateLimit.perIp and ipv6PrefixLength: a reload limits the next request under the new policy', async () => {
    const up = await startUpstream()
    const base = { ...withServer(up.url, { trustedProxies: ['127.0.0.1/32'] }) }
    const gw = await startOperated(base)
    const as = (client: string) => ({ headers: { 'x-forwarded-for': client } })
    try {
      for (let i = 0; i < 5; i++) assert.equal((await send(`${gw.url}/`, as('2001:db8::1'))).status, 200)
      await reloadTo(gw, { ...base, rateLimit: { perIp: { requests: 2, windowSeconds: 60 } } })
      assert.equal((await send(`${gw.url}/`, as('2001:db8::1'))).status, 200)
      assert.equal((await send(`${gw.url}/`, as('2001:db8::2'))).status, 200)
      // Same /64 (the default prefix): one budget of 2.
      const limited = await send(`${gw.url}/`, as('2001:db8::3'))
      assert.equal(limited.status, 429)
      assert.equal(limited.headers['ratelimit-policy'], '"ip";q=2;w=60')
      await reloadTo(gw, {
        ...base,
        rateLimit: { perIp: { requests: 2, windowSeconds: 60 }, ipv6PrefixLength: 128 },
      })
      assert.equal((await send(`${gw.url}/`, as('2001:db8::3'))).status, 200, 'per address now')
      await reloadTo(gw, {
        ...base,
        rateLimit: { perIp: { requests: 50, windowSeconds: 60 }, ipv6PrefixLength: 128 },
      })
      assert.equal(
        (await send(`${gw.url}/`, as('2001:db8::1'))).status,
        200,
        'the raised limit fits the old debt',
      )
    } finally {
      await gw.stop()
      await up.close()
    }
  })

  test('rateLimit.redis.onError: a reload turns fail-open into fail-closed', async () => {
    const up = await startUpstream()
    // A Redis store whose server is gone: every decision fails.
    const down = new Redis(`redis://127.0.0.1:${await deadPort()}/0`, {
      ...redisClientOptions(100),
      retryStrategy: () => null,
    })
    down.on('error', () => undefined)
    const rateLimit = (onError: 'allow' | 'deny'): PartialConfig['rateLimit'] => ({
      store: 'redis',
      perIp: { requests: 100, windowSeconds: 1 },
      redis: { url: { fromEnv: 'UNUSED_IN_PROCESS' }, onError },
    })
    const gw = await startOperated(
      { ...withServer(up.url), rateLimit: rateLimit('allow') },
      { rateLimit: { store: new RedisLimiterStore(down, { keyPrefix: 'litgate-test:dead:' }) } },
    )
    try {
      assert.equal((await send(`${gw.url}/`)).status, 200)
      await reloadTo(gw, { ...withServer(up.url), rateLimit: rateLimit('deny') })
      const refused = await send(`${gw.url}/`)
      assert.equal(refused.status, 503)
      assert.equal((JSON.parse(refused.body) as { code: string }).code, 'RATE_LIMIT_UNAVAILABLE')
    } finally {
      await gw.stop()
      down.disconnect()
      await up.close()
    }
  })

  test('server.buffering and the minimum rates: the next request gets the new budget and rates', async () => {
    const big = Buffer.alloc(32 * 1024 * 1024, 1)
    const up = await startUpstream((req, res) => {
      req.resume()
      req.on('end', () => (req.url === '/big' ? res.end(big) : res.end('ok')))
    })
    const gw = await startOperated(withServer(up.url))
    try {
      assert.equal((await send(`${gw.url}/p`, { method: 'POST', body: 'x' })).status, 200)
      await reloadTo(gw, withServer(up.url, { buffering: { memoryBudgetBytes: 0 } }))
      const refused = await send(`${gw.url}/p`, { method: 'POST', body: 'x' })
      assert.equal(refused.status, 503)
      assert.equal(refused.json<{ code: string }>().code, 'BUFFER_CAPACITY_EXHAUSTED')
      await reloadTo(
        gw,
        withServer(up.url, {
          minRequestBodyBytesPerSecond: 10_000,
          minResponseBytesPerSecond: 1024 * 1024,
          minRateWindowMs: 300,
        }),
      )
      // A trickling body is too slow under the new minimum (the idle timeout, 60 s, never fires).
      const trickle = await connectRaw(Number(new URL(gw.url).port))
      trickle.write('POST /p HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n')
      const timer = setInterval(() => trickle.write('0123456789'), 100)
      try {
        const answer = await readResponse(trickle, 5000)
        assert.equal(answer.status, 408)
        assert.match(answer.body, /REQUEST_BODY_TOO_SLOW/)
      } finally {
        clearInterval(timer)
        trickle.destroy()
      }
      // A reader that takes nothing of a 32 MiB response is cut under the new response minimum.
      const reader = await connectRaw(Number(new URL(gw.url).port))
      reader.pause()
      reader.write('GET /big HTTP/1.1\r\nHost: t\r\n\r\n')
      await eventually(() => gw.gateway.slowClients().slowReadAborts === 1, 5000, 'slow reader cut')
      reader.destroy()
    } finally {
      await gw.stop()
      await up.close()
    }
  })

  test('server.http2MaxStreamsPerClient: a lowered cap refuses the next stream', async () => {
    const up = await startUpstream((req, res) => {
      req.resume()
      req.on('end', () => res.end('ok'))
    })
    const config = (server: PartialConfig['server']): PartialConfig => ({
      ...withServer(up.url, server),
      listeners: [{ name: 'main', host: '127.0.0.1', port: 0, http2: true }],
    })
    const gw = await startOperated(config({}))
    const session = h2connect(gw.url)
    session.on('error', () => undefined)
    try {
      const open = () => {
        const stream = session.request({ ':method': 'POST', ':path': '/p', 'content-length': '100' })
        stream.on('error', () => undefined)
        stream.write(Buffer.alloc(10))
        return stream
      }
      const first = open()
      const second = open()
      await eventually(() => gw.gateway.slowClients().memoryBytes >= 200, 3000, 'two streams open')
      assert.equal(gw.gateway.slowClients().refusedStreams, 0)
      await reloadTo(gw, config({ http2MaxStreamsPerClient: 2 }))
      const third = open()
      await new Promise<void>((resolve) => third.once('close', () => resolve()))
      assert.equal(third.rstCode, 7, 'REFUSED_STREAM')
      assert.equal(gw.gateway.slowClients().refusedStreams, 1)
      first.destroy()
      second.destroy()
    } finally {
      session.destroy()
      await gw.stop()
      await up.close()
    }
  })

  test('snapshot server fields apply to the next request', async () => {
    const up = await startUpstream()
    const gw = await startOperated(withServer(up.url))
    try {
      const longUrl = `/${'u'.repeat(100)}`
      assert.equal((await send(`${gw.url}${longUrl}`)).status, 200)
      const proxied = await send(`${gw.url}/u`, { headers: { x_under: '1' } })
      assert.equal(proxied.status, 200)
      assert.equal(proxied.headers['x-content-type-options'], undefined)
      await reloadTo(
        gw,
        withServer(up.url, {
          maxUrlBytes: 64,
          maxBodyBytes: 10,
          requestIdHeader: 'x-correlation-id',
          trustedProxies: ['127.0.0.1/32'],
          underscoresInHeaders: 'reject',
          securityHeaders: { proxiedResponses: true },
        }),
      )
      assert.equal((await send(`${gw.url}/u`)).headers['x-content-type-options'], 'nosniff')
      const underscored = await send(`${gw.url}/u`, { headers: { x_under: '1' } })
      assert.equal(underscored.status, 400)
      assert.equal(underscored.json<{ code: string }>().code, 'INVALID_HEADER_NAME')
      assert.equal((await send(`${gw.url}${longUrl}`)).status, 414)
      assert.equal((await send(`${gw.url}/b`, { method: 'POST', body: 'x'.repeat(20) })).status, 413)
      const before = accessLines(gw.lines).length
      const res = await send(`${gw.url}/id`, {
        headers: { 'x-correlation-id': 'corr-1', 'x-forwarded-for': '203.0.113.7' },
      })
      assert.equal(res.status, 200)
      assert.equal(res.headers['x-correlation-id'], 'corr-1')
      const line = accessLines(gw.lines).slice(before)[0]
      assert.equal(line?.['reqId'], 'corr-1')
      assert.equal(line?.['clientIp'], '203.0.113.7')
    } finally {
      await gw.stop()
      await up.close()
    }
  })

  test('upstreams and routes: a changed route and upstream timeout apply to the next request', async () => {
    // undici checks header timeouts on a coarse (about 0.5 s) tick: the backend is well beyond it.
    const slow = await startUpstream((_req, res) => setTimeout(() => res.end('late'), 1500))
    const config = (prefix: string, headersMs: number): PartialConfig => ({
      upstreams: [{ id: 'u', backends: [{ url: slow.url }], timeouts: { headersMs } }],
      routes: [{ id: 'r', match: { path: { prefix } }, upstream: 'u', retry: { maxRetries: 0 } }],
    })
    const gw = await startOperated(config('/', 60_000))
    try {
      assert.equal((await send(`${gw.url}/x`)).status, 200)
      await reloadTo(gw, config('/v2', 100))
      assert.equal((await send(`${gw.url}/x`)).status, 404)
      const res = await send(`${gw.url}/v2/x`)
      assert.equal(res.status, 504)
      assert.equal(res.json<{ code: string }>().code, 'UPSTREAM_HEADERS_TIMEOUT')
    } finally {
      await gw.stop()
      await slow.close()
    }
  })

  test('listeners[].tls certFile/keyFile: new handshakes get the new certificate', async () => {
    const a = await makeSelfSignedCert()
    const b = await makeSelfSignedCert()
    const up = await startUpstream()
    const config = (certFile: string, keyFile: string): PartialConfig => ({
      listeners: [{ name: 'main', host: '127.0.0.1', port: 0, tls: { certFile, keyFile } }],
      ...withServer(up.url),
    })
    const gw = await startOperated(config(a.certFile, a.keyFile))
    const port = Number(new URL(gw.url).port)
    const served = (): Promise<string> =>
      new Promise((resolve, reject) => {
        const s = tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false }, () => {
          const fp = s.getPeerCertificate().fingerprint256
          s.destroy()
          resolve(fp)
        })
        s.once('error', reject)
      })
    try {
      assert.equal(await served(), new X509Certificate(a.cert).fingerprint256)
      await reloadTo(gw, config(b.certFile, b.keyFile))
      assert.equal(await served(), new X509Certificate(b.cert).fingerprint256)
    } finally {
      await gw.stop()
      await up.close()
      await a.remove()
      await b.remove()
    }
  })
  test('listeners[].tls certificates and clientAuth: new handshakes get the SNI certificates and client verification', async () => {
    const main = await makeSelfSignedCert()
    const api = await makeSelfSignedCert({ dns: ['api.example.com'] })
    const ca = await makeTestCa()
    const client = await ca.issueClient('client')
    const up = await startUpstream()
    const tls = { certFile: main.certFile, keyFile: main.keyFile }
    const config = (extra: object): PartialConfig => ({
      listeners: [{ name: 'main', host: '127.0.0.1', port: 0, tls: { ...tls, ...extra } }],
      ...withServer(up.url),
    })
    const gw = await startOperated(config({}))
    const port = Number(new URL(gw.url).port)
    // Fingerprint served and the status of one GET (undefined when the connection ended without one).
    const served = (options: { cert?: Buffer; key?: Buffer }): Promise<{ fp?: string; status?: number }> =>
      new Promise((resolve) => {
        let fp: string | undefined
        let data = ''
        const s = tlsConnect(
          { port, host: '127.0.0.1', servername: 'api.example.com', rejectUnauthorized: false, ...options },
          () => {
            fp = s.getPeerCertificate().fingerprint256
            s.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
          },
        )
        s.on('data', (c: Buffer) => (data += c.toString()))
        s.on('error', () => {})
        s.on('close', () => {
          const m = /^HTTP\/1\.1 (\d{3})/.exec(data)
          resolve({ ...(fp === undefined ? {} : { fp }), ...(m === null ? {} : { status: Number(m[1]) }) })
        })
      })
    try {
      assert.deepEqual(await served({}), { fp: new X509Certificate(main.cert).fingerprint256, status: 200 })
      await reloadTo(
        gw,
        config({
          certificates: [{ certFile: api.certFile, keyFile: api.keyFile }],
          clientAuth: { caFile: ca.certFile, mode: 'require' },
        }),
      )
      assert.equal((await served({})).status, undefined, 'no client certificate: refused')
      assert.deepEqual(await served(client), {
        fp: new X509Certificate(api.cert).fingerprint256,
        status: 200,
      })
      await reloadTo(
        gw,
        config({
          certificates: [{ certFile: api.certFile, keyFile: api.keyFile }],
          clientAuth: { caFile: ca.certFile, mode: 'request' },
        }),
      )
      assert.equal((await served({})).status, 200, 'request mode: served without a certificate')
    } finally {
      await gw.stop()
      await up.close()
      await Promise.all([main.remove(), api.remove(), ca.remove()])
    }
  })
})

describe('restart-bound fields', () => {
  test('a reload changing restart-bound fields is refused naming each with old and new value; nothing applies', async () => {
    const up = await startUpstream()
    const gw = await startOperated(withServer(up.url))
    try {
      const version = gw.gateway.runtime.version
      gw.next(
        makeConfig({
          ...withServer(up.url, { maxUrlBytes: 64 }),
          listeners: [{ name: 'main', host: '127.0.0.1', port: 1 }],
          admin: { enabled: true, port: 0 },
          tracing: { enabled: true },
          reload: { watchFile: true },
        }),
      )
      const res = await fetch(`${gw.adminUrl}/reload`, { method: 'POST' })
      assert.equal(res.status, 409)
      const outcome = (await res.json()) as { code: string; message: string; issues: string[] }
      assert.equal(outcome.code, 'CONFIG_RESTART_REQUIRED')
      const expected = [
        'listeners[0].port: 0 -> 1',
        'admin.enabled: false -> true',
        'admin.port: 9901 -> 0',
        'tracing.enabled: false -> true',
        'reload.watchFile: false -> true',
      ]
      assert.deepEqual(outcome.issues, expected)
      for (const e of expected) assert.ok(outcome.message.includes(e), `message misses ${e}`)
      // Nothing applied: the same snapshot serves, and the applied field changed with it did not apply.
      assert.equal(gw.gateway.runtime.version, version)
      assert.equal((await send(`${gw.url}/${'u'.repeat(100)}`)).status, 200)
    } finally {
      await gw.stop()
      await up.close()
    }
  })
})

describe('litgate run (main.ts wiring)', () => {
  test('litgate run applies logging and server.shutdownTimeoutMs from a reloaded file', async () => {
    const up = await startUpstream((req, res) => {
      if (req.url === '/hang') return // never answers: holds the drain
      res.end('ok')
    })
    const file = (extra: string): string => `version: 1
listeners: [{ name: main, port: 0 }]
admin: { enabled: true, port: 0 }
server: { shutdownTimeoutMs: ${extra.includes('short') ? 300 : 30000} }
logging: ${extra.replace('short', '')}
upstreams: [{ id: app, backends: [{ url: "${up.url}" }] }]
routes: [{ id: r, match: {}, upstream: app }]
`
    const gw = await spawnLitgate(file('{ level: info }'), { keepLogLevel: false })
    const accessFor = (path: string, from: number): boolean =>
      gw.logs.slice(from).some((l) => l['log'] === 'access' && l['path'] === path)
    const reload = async (text: string): Promise<number> => {
      const from = gw.logs.length
      gw.writeConfig(text)
      gw.signal('SIGHUP')
      return gw.indexOfLog((l) => l['msg'] === 'config reloaded', from)
    }
    try {
      const a = await reload(file('{ level: info, accessLog: { enabled: false } }'))
      assert.equal((await send(`${gw.url}/off`)).status, 200)
      const b = await reload(file('{ level: info, accessLog: { enabled: true, sampleSuccessRatio: 0 } }'))
      assert.ok(!accessFor('/off', a), 'accessLog.enabled: false was not applied')
      assert.equal((await send(`${gw.url}/sampled`)).status, 200)
      assert.equal((await send(`${gw.url}/missing%zz`)).status, 400)
      const c = await reload(file('{ level: warn } short'))
      assert.ok(!accessFor('/sampled', b), 'sampleSuccessRatio: 0 was not applied')
      assert.ok(gw.logs.slice(b, c).some((l) => l['log'] === 'access' && l['status'] === 400))
      // At level warn, an info access line is no longer written.
      assert.equal((await send(`${gw.url}/quiet`)).status, 200)
      void send(`${gw.url}/hang`).catch(() => undefined)
      await eventually(() => up.received.some((r) => r.url === '/hang'), 5000, 'the backend to hold /hang')
      gw.signal('SIGTERM')
      const forced = await gw.waitForLog((l) => l['msg'] === 'forced shutdown', c, 5000)
      assert.equal(forced['deadlineMs'], 300)
      assert.equal((await gw.exited).code, 3)
      assert.ok(!accessFor('/quiet', c), 'logging.level warn was not applied')
    } finally {
      await gw.cleanup()
      await up.close()
    }
  })
})

describe('admin fields applied on reload', () => {
  test('admin.tokens and openPaths: a reload swaps the tokens and open paths for the next request', async () => {
    const up = await startUpstream()
    const dir = mkdtempSync(join(tmpdir(), 'litgate-admin-tokens-'))
    const tokenFile = join(dir, 'ops.token')
    const first = 'f'.repeat(40)
    const second = 's'.repeat(40)
    writeFileSync(tokenFile, `${first}\n`)
    const file = (openPaths: string, role: string): string => `version: 1
listeners: [{ name: main, port: 0 }]
admin:
  enabled: true
  port: 0
  openPaths: [${openPaths}]
  tokens: [{ id: ops, role: ${role}, secret: { file: "${tokenFile}" } }]
upstreams: [{ id: app, backends: [{ url: "${up.url}" }] }]
routes: [{ id: r, match: {}, upstream: app }]
`
    const gw = await spawnLitgate(file('/healthz', 'operate'))
    const as = (token: string, method = 'GET') => ({ method, headers: { authorization: `Bearer ${token}` } })
    try {
      assert.equal((await send(`${gw.adminUrl}/status`, as(first))).status, 200)
      assert.equal((await send(`${gw.adminUrl}/metrics`)).status, 401)
      assert.equal((await send(`${gw.adminUrl}/healthz`)).status, 200)
      // The secret rotated in its file: the reload (asked with the old token) reads it again.
      writeFileSync(tokenFile, second)
      assert.equal((await send(`${gw.adminUrl}/reload`, as(first, 'POST'))).status, 200)
      assert.equal((await send(`${gw.adminUrl}/status`, as(first))).status, 401, 'old token still accepted')
      assert.equal((await send(`${gw.adminUrl}/status`, as(second))).status, 200)
      // Role and open paths changed in the config.
      let from = gw.logs.length
      gw.writeConfig(file('/healthz, /metrics', 'read'))
      gw.signal('SIGHUP')
      await gw.indexOfLog((l) => l['msg'] === 'config reloaded', from)
      assert.equal((await send(`${gw.adminUrl}/metrics`)).status, 200, '/metrics not opened')
      assert.equal((await send(`${gw.adminUrl}/reload`, as(second, 'POST'))).status, 403, 'role not lowered')
      // An unreadable secret fails the reload as a whole: the running tokens keep working.
      rmSync(tokenFile)
      from = gw.logs.length
      gw.signal('SIGHUP')
      const failed = await gw.waitForLog(
        (l) => l['msg'] === 'reload failed; previous config keeps serving',
        from,
      )
      assert.equal(failed['code'], 'ADMIN_TOKEN_INVALID')
      assert.equal((await send(`${gw.adminUrl}/status`, as(second))).status, 200)
      for (const secret of [first, second])
        assert.ok(!JSON.stringify(gw.logs).includes(secret), 'a token was logged')
    } finally {
      await gw.cleanup()
      await up.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
