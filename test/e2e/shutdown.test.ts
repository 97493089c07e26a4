import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { connect as h2connect } from 'node:http2'
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { respondAfter, startUpstream } from '../helpers/upstream.ts'
import { makeSelfSignedCert } from '../helpers/tls.ts'
import { startOperated } from '../observability/support.ts'
import { admin, spawnLitgate } from './support.ts'

function cfg(upstream: string, deadlineMs: number): string {
  return `version: 1
listeners: [{ name: main, port: 0 }]
admin: { enabled: true, port: 0 }
server: { shutdownTimeoutMs: ${deadlineMs} }
upstreams: [{ id: app, backends: [{ url: "${upstream}" }] }]
routes: [{ id: api, match: {}, upstream: app }]
`
}

/** Starts a GET and resolves with its outcome (status and body, or the error code). */
function get(url: string, options: { tls?: boolean } = {}): Promise<string> {
  return new Promise((resolve) => {
    const fn = options.tls === true ? httpsRequest : httpRequest
    const req = fn(url, { agent: false, rejectUnauthorized: false }, (res) => {
      let body = ''
      res.on('data', (c: Buffer) => (body += c.toString()))
      res.on('end', () => resolve(`${res.statusCode} ${body} connection=${String(res.headers.connection)}`))
      res.on('error', (e: NodeJS.ErrnoException) => resolve(`error ${e.code ?? e.message}`))
    })
    req.on('error', (e: NodeJS.ErrnoException) => resolve(`error ${e.code ?? e.message}`))
    req.end()
  })
}

describe('shutdown (spawned gateway)', () => {
  test('a request longer than the deadline is force-closed: exit 3 soon after the deadline, reason logged', async () => {
    const up = await startUpstream((_req, res) => respondAfter(res, 10_000, () => res.end('late')))
    const gw = await spawnLitgate(cfg(up.url, 1000)).catch(async (err: unknown) => {
      await up.close() // a gateway that fails to start must not leave the backend listening
      throw err
    })
    try {
      const pending = get(`${gw.url}/slow`)
      await new Promise((r) => setTimeout(r, 200))
      const t0 = performance.now()
      gw.signal('SIGTERM')
      const ready = await admin(`${gw.adminUrl}/readyz`)
      assert.equal(ready.status, 503)
      const exit = await gw.exited
      const tookMs = exit.at - t0
      assert.equal(exit.code, 3)
      assert.ok(tookMs >= 900 && tookMs < 3000, `exit after ${tookMs} ms`)
      assert.match(await pending, /^error /)
      assert.ok(
        gw.logs.some((l) => l['code'] === 'SHUTDOWN_DEADLINE_EXCEEDED' && l['msg'] === 'forced shutdown'),
      )
    } finally {
      await gw.cleanup()
      await up.close()
    }
  })

  test('a second signal exits at once with code 3', async () => {
    const up = await startUpstream((_req, res) => respondAfter(res, 10_000, () => res.end('late')))
    const gw = await spawnLitgate(cfg(up.url, 30_000)).catch(async (err: unknown) => {
      await up.close() // a gateway that fails to start must not leave the backend listening
      throw err
    })
    try {
      const pending = get(`${gw.url}/slow`)
      await new Promise((r) => setTimeout(r, 200))
      gw.signal('SIGTERM')
      await gw.waitForLog((l) => l['msg'] === 'draining')
      const t0 = performance.now()
      gw.signal('SIGINT')
      const exit = await gw.exited
      assert.equal(exit.code, 3)
      assert.ok(exit.at - t0 < 2000)
      await pending
    } finally {
      await gw.cleanup()
      await up.close()
    }
  })

  test('idle: SIGTERM exits 0 at once', async () => {
    const up = await startUpstream()
    const gw = await spawnLitgate(cfg(up.url, 30_000)).catch(async (err: unknown) => {
      await up.close() // a gateway that fails to start must not leave the backend listening
      throw err
    })
    try {
      assert.match(await get(`${gw.url}/x`), /^200 /)
      const t0 = performance.now()
      gw.signal('SIGTERM')
      const exit = await gw.exited
      assert.equal(exit.code, 0)
      assert.ok(exit.at - t0 < 2000)
      assert.ok(gw.logs.some((l) => l['msg'] === 'stopped' && l['exitCode'] === 0))
    } finally {
      await gw.cleanup()
      await up.close()
    }
  })
})

describe('drain (in-process): in-flight requests finish on every protocol', () => {
  const slowUpstream = () => startUpstream((_req, res) => setTimeout(() => res.end('slow-done'), 400))

  test('HTTP/1.1: the in-flight response completes with Connection: close; readiness is false while draining', async () => {
    const up = await slowUpstream()
    const gw = await startOperated({
      upstreams: [{ id: 'u', backends: [{ url: up.url }] }],
      routes: [{ id: 'r', match: {}, upstream: 'u' }],
    })
    try {
      const pending = get(`${gw.url}/x`)
      await new Promise((r) => setTimeout(r, 100))
      const stopping = gw.gateway.stop(5000)
      assert.equal(gw.gateway.isReady(), false)
      assert.equal(await pending, '200 slow-done connection=close')
      assert.deepEqual(await stopping, { isForced: false, remainingAtDeadline: 0 })
    } finally {
      await gw.stop()
      await up.close()
    }
  })

  test('HTTP/2 (h2c): the in-flight stream completes after GOAWAY', async () => {
    const up = await slowUpstream()
    const gw = await startOperated({
      listeners: [{ name: 'main', host: '127.0.0.1', port: 0, http2: true }],
      upstreams: [{ id: 'u', backends: [{ url: up.url }] }],
      routes: [{ id: 'r', match: {}, upstream: 'u' }],
    })
    const session = h2connect(gw.url)
    try {
      const stream = session.request({ ':path': '/x' })
      let body = ''
      stream.on('data', (c: Buffer) => (body += c.toString()))
      const done = new Promise<string>((resolve) => {
        stream.on('end', () => resolve(body))
        stream.on('error', (e) => resolve(`error ${e.message}`))
      })
      await new Promise((r) => setTimeout(r, 100))
      const stopping = gw.gateway.stop(5000)
      assert.equal(await done, 'slow-done')
      assert.equal((await stopping).isForced, false)
    } finally {
      session.destroy()
      await gw.stop()
      await up.close()
    }
  })

  test('TLS HTTP/1.1 and TLS h2: the in-flight response completes', async () => {
    const cert = await makeSelfSignedCert()
    const up = await slowUpstream()
    try {
      for (const http2 of [false, true]) {
        const gw = await startOperated({
          listeners: [
            {
              name: 'main',
              host: '127.0.0.1',
              port: 0,
              http2,
              tls: { certFile: cert.certFile, keyFile: cert.keyFile },
            },
          ],
          upstreams: [{ id: 'u', backends: [{ url: up.url }] }],
          routes: [{ id: 'r', match: {}, upstream: 'u' }],
        })
        try {
          const pending = get(`${gw.url.replace('http:', 'https:')}/x`, { tls: true })
          await new Promise((r) => setTimeout(r, 150))
          const stopping = gw.gateway.stop(5000)
          assert.match(await pending, /^200 slow-done/, `http2=${http2}`)
          assert.equal((await stopping).isForced, false)
        } finally {
          await gw.stop()
        }
      }
    } finally {
      await up.close()
      await cert.remove()
    }
  })
})
