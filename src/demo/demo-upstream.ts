import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { WebSocketServer } from 'ws'

/**
 * A small backend for the demo: answers JSON naming itself (and the subscription the gateway attached), and
 * echoes WebSocket messages on /ws.
 */
export interface DemoUpstream {
  readonly name: string
  readonly url: string
  close(): Promise<void>
}

export async function startDemoUpstream(name: string): Promise<DemoUpstream> {
  const server: Server = createServer((req, res) => {
    const body = JSON.stringify({
      backend: name,
      method: req.method,
      path: req.url,
      requestId: req.headers['x-request-id'],
      forwardedFor: req.headers['x-forwarded-for'],
      // Set by the gateway on a paid route admitted with an access token (never the token itself).
      subscription: req.headers['x-litgate-subscription'],
      plan: req.headers['x-litgate-plan'],
      authorization: req.headers.authorization === undefined ? undefined : '(present)',
    })
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
    res.end(body)
  })
  const wss = new WebSocketServer({ server, path: '/ws', maxPayload: 1024 * 1024 })
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    name,
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const client of wss.clients) client.terminate()
        wss.close()
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
