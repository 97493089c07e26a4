/**
 * The composition root and CLI. The only module that reads process.env, installs signal handlers
 * and constructs the root logger; everything else receives its dependencies.
 *
 *   litgate run -c FILE        serve with a config file (SIGHUP reloads it, SIGTERM/SIGINT drain)
 *   litgate validate -c FILE   check a config file (like nginx -t); exit 0 when valid
 *   litgate demo [--port N]    start two demo backends and a gateway in front of them
 */
import { parseArgs } from 'node:util'
import type { Logger } from 'pino'
import { configSchema, ConfigError, formatIssue, loadConfigFile, parseConfig, type Config } from './config/index.ts'
import { Gateway } from './lifecycle/index.ts'
import { createRootLogger } from './observability/index.ts'
import { startDemoUpstream } from './demo/index.ts'
import { demoConfig } from './demo/index.ts'
import { readFile } from 'node:fs/promises'
import { formatOf } from './config/index.ts'

/** Exit codes: documented in docs/operations (0 drained, 1 failure, 2 usage/config, 3 forced). */
export const EXIT = Object.freeze({ ok: 0, failure: 1, usage: 2, forced: 3 })

const USAGE = `usage:
  litgate run -c FILE [--log-level LEVEL]   serve (SIGHUP reloads, SIGTERM/SIGINT drain)
  litgate validate -c FILE                  check a config file; exit 0 when valid
  litgate demo [--port N]                   demo backends + gateway on 127.0.0.1
`

type Env = Record<string, string | undefined>

export async function main(argv: readonly string[], env: Env): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        port: { type: 'string' },
        'log-level': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    })
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}`)
    return EXIT.usage
  }
  const { values, positionals } = parsed
  const command = positionals[0] ?? (values.config !== undefined ? 'run' : undefined)
  if (values.help === true || command === undefined) {
    process.stdout.write(USAGE)
    return values.help === true ? EXIT.ok : EXIT.usage
  }
  const level = values['log-level'] ?? env['LITGATE_LOG_LEVEL'] ?? 'info'
  switch (command) {
    case 'validate':
      return validate(values.config)
    case 'run': {
      if (values.config === undefined) return usage('run needs -c FILE')
      const log = createRootLogger({ level: level as 'info' })
      return run(values.config, log)
    }
    case 'demo': {
      const port = Number(values.port ?? env['PORT'] ?? 8080)
      if (!Number.isInteger(port) || port < 0 || port > 65535) return usage(`invalid --port ${String(values.port)}`)
      const log = createRootLogger({ level: level as 'info' })
      return demo(port, log)
    }
    default:
      return usage(`unknown command ${JSON.stringify(command)}`)
  }
}

function usage(message: string): number {
  process.stderr.write(`${message}\n${USAGE}`)
  return EXIT.usage
}

async function validate(path: string | undefined): Promise<number> {
  if (path === undefined) return usage('validate needs -c FILE')
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    process.stderr.write(`error: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'EIO'})\n`)
    return EXIT.usage
  }
  const result = parseConfig(text, formatOf(path))
  const issues = result.ok ? result.warnings : result.issues
  for (const issue of issues) process.stderr.write(`${formatIssue(issue)}\n`)
  if (!result.ok) {
    process.stderr.write(`${path}: invalid (${issues.filter((i) => i.severity === 'error').length} error(s))\n`)
    return EXIT.usage
  }
  process.stdout.write(`${path}: ok (${result.config.routes.length} routes, ${result.config.upstreams.length} upstreams)\n`)
  return EXIT.ok
}

async function start(config: Config, log: Logger): Promise<Gateway | undefined> {
  try {
    return await Gateway.start(config, { log })
  } catch (err) {
    log.error({ err }, 'gateway failed to start')
    log.flush()
    return undefined
  }
}

/** Serves until a signal stops it; resolves with the exit code. */
function serve(gateway: Gateway, config: Config, log: Logger, reload?: () => Promise<Config>): Promise<number> {
  return new Promise<number>((resolve) => {
    let isStopping = false
    const onStop = (signal: NodeJS.Signals): void => {
      if (isStopping) {
        log.warn({ signal }, 'second signal: exiting now')
        log.flush()
        process.exit(EXIT.forced)
      }
      isStopping = true
      log.info({ signal, deadlineMs: config.server.shutdownTimeoutMs }, 'draining')
      void gateway.stop(config.server.shutdownTimeoutMs).then((result) => {
        log.info(result, 'stopped')
        log.flush()
        process.off('SIGHUP', onReload)
        process.off('SIGTERM', onStop)
        process.off('SIGINT', onStop)
        resolve(result.isForced ? EXIT.forced : EXIT.ok)
      })
    }
    const onReload = (): void => {
      if (reload === undefined) return
      reload()
        .then((next) => gateway.reload(next))
        .then((result) => log.info(result, 'config reloaded'))
        .catch((err: unknown) => {
          const detail = err instanceof ConfigError ? err.issues.map(formatIssue) : String((err as Error).message)
          log.error({ detail }, 'reload failed; previous config keeps serving')
        })
    }
    process.on('SIGTERM', onStop)
    process.on('SIGINT', onStop)
    process.on('SIGHUP', onReload)
  })
}

async function run(path: string, log: Logger): Promise<number> {
  let loaded
  try {
    loaded = await loadConfigFile(path)
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`)
      return EXIT.usage
    }
    throw err
  }
  for (const warning of loaded.warnings) log.warn({ issue: formatIssue(warning) }, 'config warning')
  const gateway = await start(loaded.config, log)
  if (gateway === undefined) return EXIT.failure
  return serve(gateway, loaded.config, log, async () => (await loadConfigFile(path)).config)
}

async function demo(port: number, log: Logger): Promise<number> {
  const backends = await Promise.all([startDemoUpstream('backend-a'), startDemoUpstream('backend-b')])
  const config = configSchema.parse(demoConfig(port, backends.map((b) => b.url)))
  const gateway = await start(config, log)
  if (gateway === undefined) {
    await Promise.all(backends.map((b) => b.close()))
    return EXIT.failure
  }
  const url = `http://127.0.0.1:${gateway.addresses()['demo']?.port ?? port}`
  process.stdout.write(
    `\nlitgate demo: gateway on ${url} -> backends ${backends.map((b) => b.url).join(', ')}\n` +
      `  try:  curl -s ${url}/hello                            (alternates backend-a / backend-b)\n` +
      `        curl -s --http2-prior-knowledge ${url}/h2       (HTTP/2 cleartext)\n` +
      `        curl -s ${url}/%2e%2e/etc/passwd                (normalised: cannot escape the route)\n` +
      `  stop: Ctrl-C (graceful drain)\n\n`,
  )
  const code = await serve(gateway, config, log)
  await Promise.all(backends.map((b) => b.close()))
  return code
}
