import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes, type Hash } from 'node:crypto'
import { request, type IncomingMessage, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { spawnGateway, type ChildGateway } from '../helpers/child-gateway.ts'
import { startGateway } from '../helpers/gateway.ts'
import { eventually, startUpstream, type TestUpstream } from '../helpers/upstream.ts'

const KiB = 1024
const MiB = 1024 * KiB
const BODY_BYTES = 100 * MiB

/** 1 MiB of random bytes; bodies are 64 KiB windows into it at shifting offsets (cheap, not periodic). */
const BLOCK = randomBytes(MiB)

/** A body of `total` bytes produced on demand (never held whole); every chunk produced goes into `hash`. */
function bodyStream(total: number, hash: Hash, onProduced?: (bytes: number) => void): Readable {
  let produced = 0
  return new Readable({
    highWaterMark: 64 * KiB,
    read() {
      if (produced >= total) {
        this.push(null)
        return
      }
      const n = Math.min(64 * KiB, total - produced)
      const offset = ((produced / (64 * KiB)) * 4099) % (BLOCK.length - n)
      const chunk = BLOCK.subarray(offset, offset + n)
      hash.update(chunk)
      produced += n
      onProduced?.(produced)
      this.push(chunk)
    },
  })
}

/**
 * The bound on the gateway's peak-RSS growth while bodies stream through it. Streaming itself holds a
 * few 64 KiB socket/stream buffers per direction; what dominates is garbage: socket read Buffers are
 * V8 external memory, freed only by a GC, and V8 forces one after ~64 MiB of external allocations. So
 * a streaming gateway's RSS rises by anything from 0 to ~64 MiB (measured 0-64 MiB over runs of
 * 25-400 MB bodies, independent of body size), while a gateway that held one whole 100 MiB body would
 * grow by more than 100 MiB. 96 MiB sits between the two with margin on both sides.
 */
function assertBoundedGrowth(growthBytes: number): void {
  assert.ok(growthBytes < 96 * MiB, `gateway peak RSS grew by ${(growthBytes / MiB).toFixed(1)} MiB`)
}

interface Upload {
  bytes: number
  sha256: string
}

/** Backend: POST hashes the streamed body and answers {bytes, sha256}; GET /download/<n> streams n bytes. */
function streamingBackend(downloads: Map<string, string>) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    if (req.method === 'POST') {
      const hash = createHash('sha256')
      let bytes = 0
      req.on('data', (c: Buffer) => {
        bytes += c.length
        hash.update(c)
      })
      req.on('end', () => {
        const body = JSON.stringify({ bytes, sha256: hash.digest('hex') })
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
        res.end(body)
      })
      return
    }
    const total = Number(/^\/download\/(\d+)/.exec(req.url ?? '')?.[1] ?? 0)
    const hash = createHash('sha256')
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': total })
    const body = bodyStream(total, hash)
    body.on('end', () => downloads.set(req.url ?? '', hash.digest('hex')))
    body.pipe(res)
  }
}

/** Streams a generated body up; resolves with the backend's {bytes, sha256} and the client-side hash. */
async function upload(
  url: string,
  total: number,
  isChunked: boolean,
): Promise<{ echo: Upload; sha256: string; status: number }> {
  const hash = createHash('sha256')
  const u = new URL(url)
  let status = 0
  let text = ''
  const req = request({
    host: u.hostname,
    port: u.port,
    path: u.pathname,
    method: 'POST',
    agent: false,
    headers: isChunked ? {} : { 'content-length': String(total) },
  })
  const response = new Promise<void>((resolve, reject) => {
    req.on('response', (res) => {
      status = res.statusCode ?? 0
      res.setEncoding('utf8')
      res.on('data', (c: string) => (text += c))
      res.on('end', resolve)
      res.on('error', reject)
    })
    req.on('error', reject)
  })
  await pipeline(bodyStream(total, hash), req)
  await response
  return { echo: JSON.parse(text) as Upload, sha256: hash.digest('hex'), status }
}

/** Downloads and hashes a body without keeping it. */
function download(url: string): Promise<{ bytes: number; sha256: string; status: number }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url)
    const req = request({ host: u.hostname, port: u.port, path: u.pathname, agent: false }, (res) => {
      const hash = createHash('sha256')
      let bytes = 0
      res.on('data', (c: Buffer) => {
        bytes += c.length
        hash.update(c)
      })
      res.on('end', () => resolve({ bytes, sha256: hash.digest('hex'), status: res.statusCode ?? 0 }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}

describe('streaming 100 MB bodies through a gateway process (bounded memory)', () => {
  let upstream: TestUpstream
  let gw: ChildGateway
  const downloads = new Map<string, string>()

  before(async () => {
    upstream = await startUpstream(streamingBackend(downloads))
    gw = await spawnGateway({
      listeners: [{ name: 'main', host: '127.0.0.1', port: 0 }],
      server: { maxBodyBytes: 200 * MiB },
      upstreams: [{ id: 'u', backends: [{ url: upstream.url }] }],
      routes: [{ id: 'r', match: {}, upstream: 'u' }],
    })
    // Warm up (JIT, pools, buffers) before the baseline, so the baseline is the steady state.
    await upload(`${gw.url}/upload`, 4 * MiB, false)
    await download(`${gw.url}/download/${4 * MiB}`)
  })

  after(async () => {
    const code = await gw.stop()
    assert.equal(code, 0, 'gateway drained and exited cleanly')
    await upstream.close()
  })

  test('100 MB up and 100 MB down at the same time: bytes and sha256 intact, peak RSS bounded', async (t) => {
    const isPeakReset = gw.resetPeak()
    const baseline = gw.memory()
    const [up, down] = await Promise.all([
      upload(`${gw.url}/upload`, BODY_BYTES, false),
      download(`${gw.url}/download/${BODY_BYTES}`),
    ])
    const after = gw.memory()
    assert.equal(up.status, 200)
    assert.equal(up.echo.bytes, BODY_BYTES)
    assert.equal(up.echo.sha256, up.sha256)
    assert.equal(down.status, 200)
    assert.equal(down.bytes, BODY_BYTES)
    assert.equal(down.sha256, downloads.get(`/download/${BODY_BYTES}`))

    const growth = after.peakBytes - baseline.rssBytes
    t.diagnostic(
      `gateway RSS: baseline ${(baseline.rssBytes / MiB).toFixed(1)} MiB, peak ${(after.peakBytes / MiB).toFixed(1)} MiB ` +
        `(growth ${(growth / MiB).toFixed(1)} MiB, peak reset: ${isPeakReset})`,
    )
    assertBoundedGrowth(growth)
  })

  test('100 MB chunked upload (no Content-Length) is streamed with bounded RSS', async (t) => {
    const isPeakReset = gw.resetPeak()
    const baseline = gw.memory()
    const up = await upload(`${gw.url}/upload-chunked`, BODY_BYTES, true)
    const after = gw.memory()
    assert.equal(up.status, 200)
    assert.equal(up.echo.bytes, BODY_BYTES)
    assert.equal(up.echo.sha256, up.sha256)
    const growth = after.peakBytes - baseline.rssBytes
    t.diagnostic(
      `gateway RSS: baseline ${(baseline.rssBytes / MiB).toFixed(1)} MiB, peak ${(after.peakBytes / MiB).toFixed(1)} MiB ` +
        `(growth ${(growth / MiB).toFixed(1)} MiB, peak reset: ${isPeakReset})`,
    )
    assertBoundedGrowth(growth)
  })
})

describe('client aborts and slow readers (in-process gateway)', () => {
  /** A backend that streams forever (until the peer goes away) and records how its exchanges ended. */
  async function endlessBackend(): Promise<{
    upstream: TestUpstream
    produced: () => number
    responsesClosedEarly: () => number
    uploadsAborted: () => number
    sockets: Socket[]
  }> {
    let produced = 0
    let closedEarly = 0
    let aborted = 0
    const sockets: Socket[] = []
    const upstream = await startUpstream((req, res) => {
      sockets.push(req.socket)
      if (req.method === 'POST') {
        req.on('close', () => {
          if (!req.complete) aborted++
        })
        req.resume()
        req.on('end', () => res.end('done'))
        return
      }
      res.writeHead(200, { 'content-type': 'application/octet-stream' })
      const body = bodyStream(Number.MAX_SAFE_INTEGER, createHash('sha1'), (n) => (produced = n))
      body.pipe(res)
      res.on('close', () => {
        body.destroy()
        if (!res.writableFinished) closedEarly++
      })
    })
    return {
      upstream,
      produced: () => produced,
      responsesClosedEarly: () => closedEarly,
      uploadsAborted: () => aborted,
      sockets,
    }
  }

  test('client abort mid-download → the upstream request is aborted and its connection closed', async () => {
    const b = await endlessBackend()
    const gw = await startGateway({
      upstreams: [{ id: 'u', backends: [{ url: b.upstream.url }] }],
      routes: [{ id: 'r', match: {}, upstream: 'u' }],
    })
    try {
      await new Promise<void>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port: gw.port, path: '/endless', agent: false }, (res) => {
          let seen = 0
          res.on('data', (c: Buffer) => {
            seen += c.length
            if (seen >= 2 * MiB) {
              req.destroy()
              resolve()
            }
          })
        })
        req.on('error', (err) => {
          if (!req.destroyed) reject(err)
        })
        req.end()
      })
      await eventually(() => b.responsesClosedEarly() === 1, 3000, 'upstream response aborted')
      await eventually(() => b.upstream.openConnections() === 0, 3000, 'upstream connection closed')
      await eventually(() => gw.gateway.connections().open === 0, 3000, 'gateway client connections closed')
      assert.equal(gw.gateway.runtime.upstreams.get('u')?.active ?? 0, 0, 'backend slot released')
    } finally {
      await gw.stop()
      await b.upstream.close()
    }
  })

  test('client abort mid-upload → the upstream request is aborted and its connection closed', async () => {
    const b = await endlessBackend()
    const gw = await startGateway({
      upstreams: [{ id: 'u', backends: [{ url: b.upstream.url }] }],
      routes: [{ id: 'r', match: {}, upstream: 'u' }],
    })
    try {
      const req = request({
        host: '127.0.0.1',
        port: gw.port,
        path: '/upload',
        method: 'POST',
        agent: false,
        headers: { 'content-length': String(50 * MiB) },
      })
      req.on('error', () => {})
      req.write(Buffer.alloc(MiB, 1))
      await eventually(() => b.sockets.length === 1, 3000, 'upload reached the backend')
      req.destroy()
      await eventually(() => b.uploadsAborted() === 1, 3000, 'upstream saw the upload aborted')
      await eventually(() => b.upstream.openConnections() === 0, 3000, 'upstream connection closed')
      await eventually(() => gw.gateway.connections().open === 0, 3000, 'gateway client connections closed')
    } finally {
      await gw.stop()
      await b.upstream.close()
    }
  })

  test('a client that stops reading stops the backend too (backpressure through the gateway)', async () => {
    const b = await endlessBackend()
    const gw = await startGateway({
      upstreams: [{ id: 'u', backends: [{ url: b.upstream.url }] }],
      routes: [{ id: 'r', match: {}, upstream: 'u' }],
    })
    try {
      const req = request({ host: '127.0.0.1', port: gw.port, path: '/endless', agent: false })
      req.on('error', () => {})
      const res = await new Promise<IncomingMessage>((resolve) => {
        req.on('response', resolve)
        req.end()
      })
      res.pause()
      // Wait until the backend stops producing: with backpressure only the socket and stream buffers
      // of the two hops fill; without it the gateway would read on and the backend never stall.
      let last = -1
      let stable = 0
      while (stable < 20) {
        await new Promise((r) => setTimeout(r, 25))
        const now = b.produced()
        stable = now === last ? stable + 1 : 0
        last = now
      }
      // Measured: about 5-10 MiB produced before the stall (kernel socket buffers on loopback).
      assert.ok(b.produced() < 64 * MiB, `backend produced ${b.produced()} bytes for a paused client`)
      req.destroy()
      await eventually(() => b.responsesClosedEarly() === 1, 3000, 'upstream response aborted')
      await eventually(() => b.upstream.openConnections() === 0, 3000, 'upstream connection closed')
      await eventually(() => gw.gateway.connections().open === 0, 3000, 'gateway client connections closed')
    } finally {
      await gw.stop()
      await b.upstream.close()
    }
  })
})
