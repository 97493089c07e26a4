/**
 * A JSON-RPC proxy on 127.0.0.1 that forwards every call to a real node (anvil) and lets a test rewrite
 * chosen answers: the lying endpoint of the chain-trust tests. Honest unless a lie is set; a lie sees the
 * call and the node's honest answer and returns the answer to send instead (or undefined to pass it on).
 */
import { once } from 'node:events'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface RpcCall {
  readonly method: string
  readonly params: readonly unknown[]
}

/** A JSON-RPC answer: a result or an error object. */
export type RpcAnswer =
  | { readonly result: unknown }
  | { readonly error: { readonly code: number; readonly message: string; readonly data?: unknown } }

export type Lie = (call: RpcCall, honest: RpcAnswer) => RpcAnswer | undefined

export interface LyingRpc {
  readonly url: string
  /** Calls received, by method. */
  readonly calls: Map<string, number>
  setLie(lie: Lie | undefined): void
  /** Calls for which the connection is reset after the request arrived, without forwarding it ("maybe sent"). */
  setDrop(drop: ((call: RpcCall) => boolean) | undefined): void
  close(): Promise<void>
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = []
  for await (const c of req) chunks.push(c as Buffer)
  return JSON.parse(Buffer.concat(chunks).toString('utf8'))
}

export async function startLyingRpc(targetUrl: string): Promise<LyingRpc> {
  let lie: Lie | undefined
  let drop: ((call: RpcCall) => boolean) | undefined
  const calls = new Map<string, number>()
  const server: Server = createServer((req, res) => {
    void (async () => {
      const body = (await readJson(req)) as { id: unknown; method: string; params?: unknown[] }
      calls.set(body.method, (calls.get(body.method) ?? 0) + 1)
      if (drop?.({ method: body.method, params: body.params ?? [] }) === true) {
        req.socket.destroy()
        return
      }
      const upstream = await fetch(targetUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })
      const honest = (await upstream.json()) as RpcAnswer & { id: unknown }
      const answer = lie?.({ method: body.method, params: body.params ?? [] }, honest) ?? honest
      res.writeHead(200, { 'content-type': 'application/json', connection: 'close' })
      res.end(
        JSON.stringify({
          jsonrpc: '2.0',
          id: body.id,
          ...('error' in answer ? { error: answer.error } : { result: answer.result }),
        }),
      )
    })().catch(() => {
      res.writeHead(500).end()
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    setLie(next) {
      lie = next
    },
    setDrop(next) {
      drop = next
    },
    async close() {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/** The honest result of an answer (for lies that alter it). */
export function resultOf(answer: RpcAnswer): unknown {
  return 'result' in answer ? answer.result : undefined
}
