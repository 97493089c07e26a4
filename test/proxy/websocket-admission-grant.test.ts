// An admission stage that admits with head changes (the access-token check's AdmissionGrant) applies them to
// a WebSocket upgrade as it does to a plain request: fields removed and set on the upgrade the backend sees.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { WebSocket } from 'ws'
import type { AdmissionStage } from '../../src/runtime/index.ts'
import { startGateway, type TestGateway } from '../helpers/gateway.ts'
import { eventually } from '../helpers/upstream.ts'
import { startWsBackend, type WsBackend } from '../helpers/ws-backend.ts'

let backend: WsBackend
let gw: TestGateway

const stage: AdmissionStage = (request) =>
  request.headers.authorization === 'Bearer good'
    ? { grant: true, removeHeaders: ['authorization'], setHeaders: ['x-litgate-plan', 'pro'] }
    : { code: 'TOKEN_INVALID' }

before(async () => {
  backend = await startWsBackend()
  gw = await startGateway(
    {
      upstreams: [{ id: 'ws', backends: [{ url: backend.url }] }],
      routes: [{ id: 'ws', match: { path: { prefix: '/' } }, upstream: 'ws' }],
    },
    { admission: [stage] },
  )
})
after(async () => {
  await gw?.stop()
  await backend?.close()
})

test('a granted upgrade reaches the backend with the grant applied; a refused one never does', async () => {
  const ws = new WebSocket(`${gw.url.replace('http', 'ws')}/granted`, {
    headers: { authorization: 'Bearer good', 'x-litgate-plan': 'forged' },
  })
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('error', reject)
  })
  await eventually(() => backend.sessions.some((s) => s.path === '/granted'))
  const session = backend.sessions.find((s) => s.path === '/granted')
  assert.equal(session?.headers['authorization'], undefined)
  assert.equal(session?.headers['x-litgate-plan'], 'pro')
  ws.close()
  const status = await new Promise<number>((resolve) => {
    const bad = new WebSocket(`${gw.url.replace('http', 'ws')}/refused`, {
      headers: { authorization: 'Bearer bad' },
    })
    bad.on('error', () => undefined)
    bad.once('unexpected-response', (req, res) => {
      resolve(res.statusCode ?? 0)
      req.destroy()
    })
  })
  assert.equal(status, 401)
  assert.equal(backend.sessions.filter((s) => s.path === '/refused').length, 0)
})
