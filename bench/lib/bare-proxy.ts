// The reference point of the CPU target: a bare node:http server forwarding every request to one
// upstream through an undici Pool, with no features at all (no routing, limits, request ids, forwarded
// headers or error handling beyond a 502). `node bench/lib/bare-proxy.ts PORT UPSTREAM_PORT`.
import { createServer } from 'node:http'
import { Pool, type Dispatcher } from 'undici'

const port = Number(process.argv[2])
const upstreamPort = Number(process.argv[3])
const pool = new Pool(`http://127.0.0.1:${upstreamPort}`, { connections: 256, pipelining: 1 })

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'proxy-connection', 'upgrade'])

const server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
  pool.request(
    {
      path: req.url ?? '/',
      method: req.method as Dispatcher.HttpMethod,
      headers: req.headers,
      body: req.method === 'GET' || req.method === 'HEAD' ? null : req,
    },
    (err, data) => {
      if (err !== null) {
        res.writeHead(502).end()
        return
      }
      const headers: Record<string, string | string[]> = {}
      for (const [name, value] of Object.entries(data.headers)) {
        if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value
      }
      res.writeHead(data.statusCode, headers)
      data.body.pipe(res)
    },
  )
})
server.listen(port, '127.0.0.1')
process.on('SIGTERM', () => {
  server.close()
  server.closeAllConnections()
  void pool.close()
})
