/**
 * A TCP fault injector on 127.0.0.1 for RPC failure tests (a real socket server, not a protocol mock):
 * - `blackhole`: accepts connections, reads everything, never answers (a hung RPC);
 * - `proxy`: forwards bytes to a target port (a healthy RPC behind it; the target can be switched);
 * - `reset`: accepts and immediately destroys connections (a crashing RPC).
 * `cut()` destroys every open connection, whatever the mode.
 */
import { createConnection, createServer, type Socket } from 'node:net'

export type FaultMode = 'blackhole' | 'proxy' | 'reset'

export interface TcpFault {
  readonly port: number
  /** `http://127.0.0.1:<port>` (append a path or query as needed). */
  readonly url: string
  /** Connections accepted so far. */
  readonly acceptedConnections: number
  readonly mode: FaultMode
  setMode(mode: FaultMode): void
  /** Port that `proxy` mode forwards to. */
  setTarget(port: number): void
  /** Destroys all open connections (client and upstream sides). */
  cut(): void
  close(): Promise<void>
}

export async function startTcpFault(initial: { mode: FaultMode; targetPort?: number }): Promise<TcpFault> {
  let mode = initial.mode
  let targetPort = initial.targetPort
  let accepted = 0
  const open = new Set<Socket>()
  const track = (s: Socket): void => {
    open.add(s)
    s.on('close', () => open.delete(s))
    s.on('error', () => s.destroy())
  }

  const server = createServer((client) => {
    accepted++
    track(client)
    if (mode === 'reset') {
      client.resetAndDestroy()
      return
    }
    if (mode === 'blackhole' || targetPort === undefined) {
      client.resume() // read and discard; never write
      return
    }
    const upstream = createConnection({ host: '127.0.0.1', port: targetPort })
    track(upstream)
    client.pipe(upstream)
    upstream.pipe(client)
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('tcp fault injector has no port')
  const port = address.port

  return {
    port,
    url: `http://127.0.0.1:${port}`,
    get acceptedConnections() {
      return accepted
    },
    get mode() {
      return mode
    },
    setMode(next: FaultMode): void {
      mode = next
    },
    setTarget(next: number): void {
      targetPort = next
    },
    cut(): void {
      for (const s of open) s.destroy()
      open.clear()
    },
    async close(): Promise<void> {
      for (const s of open) s.destroy()
      open.clear()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
