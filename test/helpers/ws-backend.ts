import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { WebSocketServer, type WebSocket } from 'ws'

/** What the backend saw of one WebSocket connection. */
export interface BackendSession {
  readonly ws: WebSocket
  readonly path: string
  readonly headers: IncomingMessage['headers']
  /** Messages received, in order (text as string, binary as Buffer). */
  readonly received: Array<string | Buffer>
  /** Set when the connection closed: the close code and reason the backend observed. */
  closed: { code: number; reason: string } | undefined
}

export interface WsBackend {
  readonly url: string
  readonly port: number
  readonly server: Server
  readonly sessions: BackendSession[]
  /** Open TCP connections to this backend right now (upgraded or not). */
  openConnections(): number
  close(): Promise<void>
}

/**
 * A real WebSocket backend (`ws` on node:http) on an ephemeral loopback port.
 * - path `/refuse`: answers the upgrade with `403` and a text body, then closes;
 * - path `/hold`: never answers the upgrade (a stuck backend);
 * - any other path: accepts and echoes every message with its text/binary type. Control messages
 *   (text): `close:<code>:<reason>` closes with that code, `terminate` destroys the socket,
 *   `blast:<count>:<size>` sends `count` binary messages of `size` bytes as fast as `ws` accepts them.
 */
export async function startWsBackend(): Promise<WsBackend> {
  const sessions: BackendSession[] = []
  const sockets = new Set<Socket>()
  const server = createServer((_req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain' })
    res.end('websocket only')
  })
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 * 1024 })
  server.on('connection', (s: Socket) => {
    sockets.add(s)
    s.once('close', () => sockets.delete(s))
  })
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (req.url === '/refuse') {
      socket.end(
        'HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\ncontent-length: 9\r\nx-reason: policy\r\n\r\nforbidden',
      )
      return
    }
    if (req.url === '/hold') {
      socket.on('error', () => socket.destroy())
      socket.on('end', () => socket.destroy())
      socket.resume() // read (and drop) so the gateway going away is noticed
      return
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const session: BackendSession = {
        ws,
        path: req.url ?? '',
        headers: req.headers,
        received: [],
        closed: undefined,
      }
      sessions.push(session)
      ws.on('error', () => ws.terminate())
      ws.on('close', (code, reason) => {
        session.closed = { code, reason: reason.toString() }
      })
      ws.on('message', (data: Buffer, isBinary) => {
        const message = isBinary ? data : data.toString()
        session.received.push(message)
        if (!isBinary) {
          const text = message as string
          if (text.startsWith('close:')) {
            const [, code, reason] = text.split(':')
            ws.close(Number(code), reason)
            return
          }
          if (text === 'terminate') {
            ws.terminate()
            return
          }
          if (text.startsWith('blast:')) {
            const [, count, size] = text.split(':')
            const chunk = Buffer.alloc(Number(size), 0x61)
            for (let i = 0; i < Number(count); i++) ws.send(chunk, { binary: true })
            return
          }
        }
        ws.send(data, { binary: isBinary })
      })
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    server,
    sessions,
    openConnections: () => sockets.size,
    close: () =>
      new Promise<void>((resolve) => {
        for (const client of wss.clients) client.terminate()
        for (const s of sockets) s.destroy()
        wss.close()
        server.close(() => resolve())
      }),
  }
}
