import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { GatewayError } from '../../src/errors/index.ts'
import { eventually, startUpstream } from '../helpers/upstream.ts'
import { makeSelfSignedCert } from '../helpers/tls.ts'
import { makeConfig, startOperated, type PartialConfig } from '../observability/support.ts'

function get(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { agent: false }, (res) => {
      let body = ''
      res.on('data', (c: Buffer) => (body += c.toString()))
      res.on('end', () => resolve(`${res.statusCode} ${body}`))
    })
    req.on('error', reject)
    req.end()
  })
}

describe('atomic reload (in-process)', () => {
  test('an in-flight request finishes on its snapshot; the unchanged backend keeps its pool and connections', async () => {
    const a = await startUpstream((req, res) =>
      setTimeout(() => res.end(`a ${req.url}`), req.url === '/slow' ? 300 : 0),
    )
    const b = await startUpstream((req, res) => res.end(`b ${req.url}`))
    const base: PartialConfig = {
      upstreams: [{ id: 'u', backends: [{ url: a.url }] }],
      routes: [{ id: 'r', match: {}, upstream: 'u' }],
    }
    const gw = await startOperated(base)
    try {
      assert.equal(await get(`${gw.url}/warm`), '200 a /warm')
      const poolBefore = gw.gateway.runtime.upstreams.get('u')?.backends[0]?.pool
      const connectionsBefore = a.openConnections()
      const slow = get(`${gw.url}/slow`)
      await new Promise((r) => setTimeout(r, 50))
      gw.next(
        makeConfig({
          upstreams: [
            { id: 'u', backends: [{ url: a.url }] },
            { id: 'v', backends: [{ url: b.url }] },
          ],
          routes: [
            { id: 'v', match: { path: { prefix: '/v' } }, upstream: 'v' },
            { id: 'r', match: {}, upstream: 'u' },
          ],
        }),
      )
      const outcome = await gw.reloader.reload('api')
      assert.equal(outcome.ok, true)
      assert.equal(await get(`${gw.url}/v/1`), '200 b /v/1')
      assert.equal(await slow, '200 a /slow')
      assert.equal(gw.gateway.runtime.upstreams.get('u')?.backends[0]?.pool, poolBefore)
      assert.ok(a.openConnections() <= connectionsBefore + 1)
    } finally {
      await gw.stop()
      await a.close()
      await b.close()
    }
  })

  test('a request queued for a backend slot survives a reload: it moves to the new upstream and is served', async () => {
    // One connection per backend: /hold occupies it, /queued waits in the upstream's queue across the swap.
    let releaseHold: (() => void) | undefined
    const a = await startUpstream((req, res) => {
      if (req.url === '/hold') releaseHold = () => res.end('a /hold')
      else res.end(`a ${req.url}`)
    })
    const pool = { maxConnectionsPerBackend: 1, queueTimeoutMs: 5000 }
    const gw = await startOperated({
      upstreams: [{ id: 'u', backends: [{ url: a.url }], pool }],
      routes: [{ id: 'r', match: {}, upstream: 'u' }],
    })
    try {
      const hold = get(`${gw.url}/hold`)
      await eventually(() => releaseHold !== undefined, 2000, 'the backend holds /hold')
      const queued = get(`${gw.url}/queued`)
      const before = gw.gateway.runtime.upstreams.get('u')
      await eventually(() => (before?.queueDepth ?? 0) === 1, 2000, '/queued waits in the queue')
      gw.next(
        makeConfig({
          upstreams: [{ id: 'u', backends: [{ url: a.url }], pool }],
          routes: [
            { id: 'r', match: {}, upstream: 'u' },
            { id: 'other', match: { path: { prefix: '/other' } }, upstream: 'u' },
          ],
        }),
      )
      const outcome = await gw.reloader.reload('api')
      assert.equal(outcome.ok, true)
      assert.notEqual(gw.gateway.runtime.upstreams.get('u'), before, 'the reload built a new upstream')
      releaseHold?.()
      assert.equal(await hold, '200 a /hold')
      assert.equal(await queued, '200 a /queued')
    } finally {
      await gw.stop()
      await a.close()
    }
  })

  test('a removed backend drains: its in-flight request completes, then its pool closes', async () => {
    const a = await startUpstream((req, res) => res.end(`a ${req.url}`))
    const b = await startUpstream((req, res) => setTimeout(() => res.end(`b ${req.url}`), 300))
    const gw = await startOperated({
      upstreams: [{ id: 'u', backends: [{ url: b.url }] }],
      routes: [{ id: 'r', match: {}, upstream: 'u' }],
    })
    try {
      const inflight = get(`${gw.url}/x`)
      await new Promise((r) => setTimeout(r, 50))
      gw.next(
        makeConfig({
          upstreams: [{ id: 'u', backends: [{ url: a.url }] }],
          routes: [{ id: 'r', match: {}, upstream: 'u' }],
        }),
      )
      assert.equal((await gw.reloader.reload('api')).ok, true)
      assert.equal(await get(`${gw.url}/y`), '200 a /y')
      assert.equal(await inflight, '200 b /x')
      const deadline = Date.now() + 2000
      while (b.openConnections() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
      assert.equal(b.openConnections(), 0)
    } finally {
      await gw.stop()
      await a.close()
      await b.close()
    }
  })

  test('listener, admin or tracing changes are refused as a whole (CONFIG_RESTART_REQUIRED)', async () => {
    const a = await startUpstream()
    const base: PartialConfig = {
      upstreams: [{ id: 'u', backends: [{ url: a.url }] }],
      routes: [{ id: 'r', match: {}, upstream: 'u' }],
    }
    const gw = await startOperated(base)
    try {
      const version = gw.gateway.runtime.version
      for (const change of [
        { listeners: [{ name: 'other', host: '127.0.0.1', port: 0 }] },
        { tracing: { enabled: true } },
        { admin: { enabled: true, port: 0 } },
      ]) {
        gw.next(makeConfig({ ...base, ...change, routes: [{ id: 'r2', match: {}, upstream: 'u' }] }))
        const outcome = await gw.reloader.reload('api')
        assert.equal(outcome.ok, false)
        assert.equal(!outcome.ok && outcome.code, 'CONFIG_RESTART_REQUIRED')
        assert.equal(gw.gateway.runtime.version, version)
      }
    } finally {
      await gw.stop()
      await a.close()
    }
  })

  test('a TLS listener: certificates are re-read on reload; an unreadable key fails the reload (RELOAD_FAILED) and nothing changes', async () => {
    const cert = await makeSelfSignedCert()
    const a = await startUpstream()
    const listeners = [
      { name: 'main', host: '127.0.0.1', port: 0, tls: { certFile: cert.certFile, keyFile: cert.keyFile } },
    ]
    const base: PartialConfig = {
      listeners,
      upstreams: [{ id: 'u', backends: [{ url: a.url }] }],
      routes: [{ id: 'r', match: {}, upstream: 'u' }],
    }
    const gw = await startOperated(base)
    try {
      gw.next(makeConfig(base))
      const same = await gw.reloader.reload('api')
      assert.ok(same.ok && !same.isChanged && same.tlsReloaded.includes('main'))
      const version = gw.gateway.runtime.version
      writeFileSync(cert.keyFile, 'not a key')
      gw.next(makeConfig({ ...base, routes: [{ id: 'r2', match: {}, upstream: 'u' }] }))
      const outcome = await gw.reloader.reload('api')
      assert.equal(outcome.ok, false)
      assert.equal(!outcome.ok && outcome.code, 'RELOAD_FAILED')
      assert.ok(!outcome.ok && !outcome.message.includes('not a key'))
      assert.equal(gw.gateway.runtime.version, version)
    } finally {
      await gw.stop()
      await a.close()
      await cert.remove()
    }
  })

  test('reload while draining is refused with RELOAD_NOT_SERVING', async () => {
    const a = await startUpstream()
    const gw = await startOperated({
      upstreams: [{ id: 'u', backends: [{ url: a.url }] }],
      routes: [{ id: 'r', match: {}, upstream: 'u' }],
    })
    await gw.gateway.stop(100)
    await assert.rejects(
      gw.gateway.reload(gw.gateway.runtime.config),
      (err: unknown) => err instanceof GatewayError && err.code === 'RELOAD_NOT_SERVING',
    )
    await gw.stop()
    await a.close()
  })
})
