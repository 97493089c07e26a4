import type { ConfigInput } from '../config/index.ts'

/** The embedded demo: one listener, two demo backends balanced round robin, a WebSocket route. */
export function demoConfig(port: number, backendUrls: readonly string[]): ConfigInput {
  return {
    version: 1,
    listeners: [{ name: 'demo', host: '127.0.0.1', port, http2: true }],
    upstreams: [
      { id: 'demo-api', balancing: 'round-robin', backends: backendUrls.map((url) => ({ url })) },
    ],
    routes: [
      { id: 'websocket', match: { path: { exact: '/ws' } }, upstream: 'demo-api' },
      { id: 'api', match: { path: { prefix: '/' } }, upstream: 'demo-api' },
    ],
  }
}
