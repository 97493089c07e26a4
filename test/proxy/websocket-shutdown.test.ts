import { test } from 'node:test'
import assert from 'node:assert/strict'
import { WebSocket } from 'ws'
import { startGateway } from '../helpers/gateway.ts'
import { startDemoUpstream } from '../../src/demo/index.ts'
import { createServer } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { WebSocketServer } from 'ws'

function waitOpen(ws: WebSocket): Promise<void> {
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('error', reject)
  })
}

test('graceful stop sends WebSocket clients close 1001 (Going Away)', async () => {
  const backend = await startDemoUpstream('ws')
  const gw = await startGateway({
    upstreams: [{ id: 'u', backends: [{ url: backend.url }] }],
    routes: [{ id: 'r', match: {}, upstream: 'u' }],
  })
  try {
    const ws = new WebSocket(`ws://127.0.0.1:${gw.port}/ws`)
    await waitOpen(ws)
    const echoed = new Promise<string>((r) => ws.once('message', (d) => r(String(d))))
    ws.send('hello')
    assert.equal(await echoed, 'hello')
    const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)))
    const result = await gw.gateway.stop(3000)
    assert.equal(await closed, 1001)
    assert.equal(result.isForced, false)
  } finally {
    await gw.stop()
    await backend.close()
  }
})

test('the close frame waits for the frame in flight: a large message arrives intact, then 1001', async () => {
  const big = Buffer.alloc(1024 * 1024, 7)
  // A binary frame written by hand in two halves, 200 ms apart, so shutdown lands mid-frame.
  const header = Buffer.alloc(10)
  header[0] = 0x82
  header[1] = 127
  header.writeBigUInt64BE(BigInt(big.length), 2)
  const server = createServer()
  const wss = new WebSocketServer({ server })
  let onSent: () => void = () => {}
  const sent = new Promise<void>((r) => (onSent = r))
  wss.on('connection', (sock) =>
    sock.on('message', () => {
      const raw = (sock as unknown as { _socket: Socket })._socket
      raw.write(Buffer.concat([header, big.subarray(0, big.length / 2)]))
      onSent()
      setTimeout(() => raw.write(big.subarray(big.length / 2)), 200)
    }),
  )
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const gw = await startGateway({
    upstreams: [{ id: 'u', backends: [{ url }] }],
    routes: [{ id: 'r', match: {}, upstream: 'u' }],
  })
  try {
    const ws = new WebSocket(`ws://127.0.0.1:${gw.port}/`, { maxPayload: 64 * 1024 * 1024 })
    await waitOpen(ws)
    let received: Buffer | undefined
    ws.on('message', (d: Buffer) => (received = d))
    const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)))
    ws.send('go')
    // Stop while the frame is half through the gateway.
    await sent
    await new Promise((r) => setTimeout(r, 50))
    await gw.gateway.stop(5000)
    assert.equal(
      await closed,
      1001,
      'a clean Going Away, not a protocol error (1002) or abnormal close (1006)',
    )
    assert.ok(received?.equals(big), 'the message in flight was delivered whole before the close frame')
  } finally {
    await gw.stop()
    for (const c of wss.clients) c.terminate()
    wss.close()
    server.close()
  }
})

test('each upgrade is reported once when it ends (status 101 with bytes, or the refusal status)', async () => {
  const { Gateway } = await import('../../src/lifecycle/index.ts')
  const { configSchema } = await import('../../src/config/index.ts')
  const { memoryLogger } = await import('../helpers/gateway.ts')
  const backend = await startDemoUpstream('ws')
  const summaries: Array<{
    status: number
    routeId: string | undefined
    bytesIn: number
    bytesOut: number
    code?: string | undefined
  }> = []
  const gateway = await Gateway.start(
    configSchema.parse({
      version: 1,
      listeners: [{ name: 'm', port: 0 }],
      upstreams: [{ id: 'u', backends: [{ url: backend.url }] }],
      routes: [
        { id: 'ws', match: { path: { exact: '/ws' } }, upstream: 'u' },
        { id: 'plain', match: { path: { prefix: '/' } }, upstream: 'u', websocket: false },
      ],
    }),
    { log: memoryLogger().log, onExchangeEnd: (s) => summaries.push(s) },
  )
  const port = gateway.addresses()['m']?.port ?? 0
  try {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`)
    await waitOpen(ws)
    const echoed = new Promise((r) => ws.once('message', r))
    ws.send('x'.repeat(1000))
    await echoed
    const closed = new Promise((r) => ws.once('close', r))
    ws.close()
    await closed
    const refused = new WebSocket(`ws://127.0.0.1:${port}/other`)
    await new Promise((r) => refused.once('error', r))
    const deadline = Date.now() + 3000
    while (summaries.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
    const tunnel = summaries.find((s) => s.routeId === 'ws')
    assert.equal(tunnel?.status, 101)
    assert.ok((tunnel?.bytesIn ?? 0) > 1000, 'client→backend bytes counted')
    assert.ok((tunnel?.bytesOut ?? 0) > 1000, 'backend→client bytes counted')
    const refusal = summaries.find((s) => s.routeId === 'plain')
    assert.equal(refusal?.status, 400)
    assert.equal(refusal?.code, 'UPGRADE_NOT_ALLOWED')
    assert.equal(summaries.length, 2, 'exactly one report per upgrade')
  } finally {
    await gateway.stop(1000)
    await backend.close()
  }
})
