import { test } from 'node:test'
import assert from 'node:assert/strict'
import { request as httpsRequest } from 'node:https'
import { request as httpRequest } from 'node:http'
import { startGateway } from '../helpers/gateway.ts'
import { eventually, startUpstream } from '../helpers/upstream.ts'
import { makeSelfSignedCert } from '../helpers/tls.ts'

for (const isTls of [false, true]) {
  test(`connection counts by state follow a request in flight (${isTls ? 'TLS' : 'cleartext'} HTTP/1.1)`, async () => {
    const held: Array<() => void> = []
    const up = await startUpstream((_req, res) => held.push(() => res.end('ok')))
    const cert = isTls ? await makeSelfSignedCert() : undefined
    const gw = await startGateway({
      listeners: [
        {
          name: 'main',
          host: '127.0.0.1',
          port: 0,
          ...(cert === undefined ? {} : { tls: { certFile: cert.certFile, keyFile: cert.keyFile } }),
        },
      ],
      upstreams: [{ id: 'u', backends: [{ url: up.url }] }],
      routes: [{ id: 'r', match: {}, upstream: 'u' }],
    })
    try {
      const done = new Promise<number>((resolve, reject) => {
        const options = {
          host: '127.0.0.1',
          port: gw.port,
          path: '/',
          agent: false as const,
          rejectUnauthorized: false,
        }
        const req = (isTls ? httpsRequest : httpRequest)(options, (res) => {
          res.resume()
          res.on('end', () => resolve(res.statusCode ?? 0))
        })
        req.on('error', reject)
        req.end()
      })
      await eventually(() => held.length === 1, 3000, 'request at the backend')
      assert.deepEqual(
        {
          open: gw.gateway.connections().open,
          active: gw.gateway.connections().active,
          idle: gw.gateway.connections().idle,
        },
        { open: 1, active: 1, idle: 0 },
      )
      held.shift()?.()
      assert.equal(await done, 200)
      await eventually(() => gw.gateway.connections().open === 0, 3000, 'connection closed')
      assert.equal(gw.gateway.connections().active, 0)
    } finally {
      for (const h of held) h()
      await gw.stop()
      await up.close()
      await cert?.remove()
    }
  })
}
