import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'

export interface TestUpstream {
  readonly url: string
  readonly port: number
  readonly server: Server
  /** Requests received, in order. */
  readonly received: IncomingMessage[]
  /** Open TCP connections from the gateway right now. */
  openConnections(): number
  close(): Promise<void>
}

export type Handler = (req: IncomingMessage, res: ServerResponse) => void

/** A real HTTP/1.1 backend on an ephemeral loopback port. Default handler: JSON echo of the request head. */
export async function startUpstream(handler?: Handler, name = 'upstream'): Promise<TestUpstream> {
  const received: IncomingMessage[] = []
  const sockets = new Set<Socket>()
  const server = createServer((req, res) => {
    received.push(req)
    if (handler !== undefined) return handler(req, res)
    const body = JSON.stringify({ name, method: req.method, url: req.url, headers: req.headers })
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
    res.end(body)
  })
  server.on('connection', (s: Socket) => {
    sockets.add(s)
    s.once('close', () => sockets.delete(s))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    server,
    received,
    openConnections: () => sockets.size,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  }
}

/** Runs `fn` after `ms` unless the response closes first: a slow test backend must not outlive its test. */
export function respondAfter(res: ServerResponse, ms: number, fn: () => void): void {
  const timer = setTimeout(fn, ms)
  res.once('close', () => clearTimeout(timer))
}

/** A port on which nothing listens (bound then released). */
export async function deadPort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const { port } = s.address() as AddressInfo
  await new Promise<void>((r) => s.close(() => r()))
  return port
}

/** Polls `fn` until it returns true or `timeoutMs` passes (for observing asynchronous cleanup). */
export async function eventually(fn: () => boolean, timeoutMs = 2000, what = 'condition'): Promise<void> {
  const start = Date.now()
  while (!fn()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}
