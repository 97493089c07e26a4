// Starts the gateway as its own process (`node bin/litgate.js run -c FILE`), the way it runs in production.
import { openSync, closeSync, writeFileSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { ChildProcess } from 'node:child_process'
import { type Children, waitForPort } from './proc.ts'

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url))

/**
 * The benchmark's gateway config: one listener, one upstream, one catch-all route; every other setting
 * at its default (access log and metrics on). `hasAccessLog: false` turns the access log off.
 */
export function litgateConfig(
  port: number,
  upstreamPort: number,
  opts: { server?: Record<string, unknown>; hasAccessLog?: boolean } = {},
): Record<string, unknown> {
  return {
    version: 1,
    ...(opts.hasAccessLog === false ? { logging: { accessLog: { enabled: false } } } : {}),
    listeners: [{ name: 'main', host: '127.0.0.1', port }],
    server: { shutdownTimeoutMs: 2000, ...opts.server },
    upstreams: [
      {
        id: 'up',
        backends: [{ url: `http://127.0.0.1:${upstreamPort}` }],
        pool: { maxConnectionsPerBackend: 256 },
      },
    ],
    routes: [{ id: 'all', match: { path: { prefix: '/' } }, upstream: 'up' }],
  }
}

export interface StartedLitgate {
  readonly child: ChildProcess
  readonly logPath: string
}

/**
 * Writes `config` (or uses `configPath` as given) and starts the gateway pinned to `pinCore`, its log
 * lines going to a file in `dir`. Resolves once `port` accepts connections.
 */
export async function startLitgate(opts: {
  children: Children
  dir: string
  port: number
  config?: Record<string, unknown>
  configPath?: string
  pinCore?: number
  nodeArgs?: readonly string[]
  /** Checkout to run the gateway from (default: this repository), e.g. a snapshot or a patched copy. */
  root?: string
  /** The gateway's environment (default: ours). */
  env?: NodeJS.ProcessEnv
}): Promise<StartedLitgate> {
  let configPath = opts.configPath
  if (configPath === undefined) {
    configPath = join(opts.dir, 'litgate.json')
    writeFileSync(configPath, JSON.stringify(opts.config, null, 2))
  }
  const logPath = join(opts.dir, 'litgate.log')
  const fd = openSync(logPath, 'a')
  const args = [
    ...(opts.nodeArgs ?? []),
    join(opts.root ?? REPO_ROOT, 'bin/litgate.js'),
    'run',
    '-c',
    configPath,
  ]
  const io = { stdout: fd, stderr: fd, ...(opts.env === undefined ? {} : { env: opts.env }) }
  const child =
    opts.pinCore === undefined
      ? opts.children.spawn(process.execPath, args, io)
      : opts.children.spawn('taskset', ['-c', String(opts.pinCore), process.execPath, ...args], io)
  closeSync(fd)
  try {
    await waitForPort(opts.port, 20_000, child)
  } catch (err) {
    process.stderr.write(`litgate log:\n${readFileSync(logPath, 'utf8').slice(-4000)}\n`)
    throw err
  }
  return { child, logPath }
}
