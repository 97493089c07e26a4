import { realpathSync } from 'node:fs'
import { resolve } from 'node:path'
import { formatIssue, formatOf, parseConfig } from '../config/index.ts'
import type { ReloadOutcome } from '../lifecycle/index.ts'
import { parseAdminAddress } from './admin-address.ts'
import { EXIT, type CliIo } from './io.ts'
import { readConfigText } from './validate.ts'

/** True when both paths name the same file: same absolute path, or the same file behind symlinks. */
export function isSameFile(a: string, b: string): boolean {
  if (resolve(a) === resolve(b)) return true
  try {
    return realpathSync(a) === realpathSync(b)
  } catch {
    return false
  }
}

/**
 * `litgate reload -c FILE [--admin ADDRESS]`: validates the file here first (nothing is sent when it is
 * invalid), warns when FILE is not the file the running gateway loaded (from `GET /status`: the gateway
 * always reloads its own file), then asks for `POST /reload`. Exit 0 when the gateway applied (or found
 * unchanged) the config, 1 when it refused or cannot be reached, 2 for usage or an invalid file.
 */
export async function reloadCommand(
  path: string | undefined,
  adminOption: string | undefined,
  io: CliIo,
  token?: string,
): Promise<number> {
  // The admin API's bearer token (role operate), when it has tokens configured; never printed.
  const headers: Record<string, string> =
    token === undefined || token === '' ? {} : { authorization: `Bearer ${token}` }
  const usage = (message: string): number => {
    io.stderr(`${message}\n`)
    return EXIT.usage
  }
  if (path === undefined) return usage('reload needs -c FILE')
  let base: URL | undefined
  if (adminOption !== undefined) {
    const parsed = parseAdminAddress(adminOption)
    if (!parsed.ok) return usage(parsed.message)
    base = parsed.url
  }
  const text = await readConfigText(path, io)
  if (text === undefined) return EXIT.usage
  const result = parseConfig(text, formatOf(path))
  if (!result.ok) {
    for (const issue of result.issues) io.stderr(`${formatIssue(issue)}\n`)
    io.stderr(`${path}: invalid; nothing was sent to the gateway\n`)
    return EXIT.usage
  }
  if (base === undefined) {
    const admin = result.config.admin
    if (!admin.enabled)
      return usage('admin listener disabled in the config: pass --admin HOST:PORT or send SIGHUP')
    const host = admin.host === '0.0.0.0' || admin.host === '::' ? '127.0.0.1' : admin.host
    base = new URL(`http://${host.includes(':') ? `[${host}]` : host}:${admin.port}/`)
  }
  const loaded = await runningConfigFile(base, headers)
  if (loaded === null) {
    io.stderr(
      `warning: the gateway at ${base.host} was not started from a file; it re-applies its own config\n`,
    )
  } else if (loaded !== undefined && !isSameFile(path, loaded)) {
    io.stderr(
      `warning: ${path} is not the file the gateway at ${base.host} loaded (${loaded}); it reloads ${loaded}\n`,
    )
  }
  let response: Response
  try {
    response = await fetch(new URL('/reload', base), {
      method: 'POST',
      headers,
      signal: AbortSignal.timeout(30_000),
    })
  } catch (err) {
    io.stderr(`error: cannot reach the admin API at ${base.host} (${(err as Error).message})\n`)
    return EXIT.failure
  }
  if (response.status === 401 || response.status === 403) {
    const problem = (await response.json()) as { code?: string; detail?: string }
    io.stderr(
      `error: the admin API refused the reload: ${problem.code ?? response.status}` +
        `${problem.detail === undefined ? '' : `: ${problem.detail}`} (LITGATE_ADMIN_TOKEN: a token of role operate)\n`,
    )
    return EXIT.failure
  }
  const outcome = (await response.json()) as ReloadOutcome
  if (outcome.ok) {
    io.stdout(
      outcome.isChanged
        ? `reloaded: ${outcome.previousVersion} -> ${outcome.version}\n`
        : `unchanged: ${outcome.version}\n`,
    )
    return EXIT.ok
  }
  io.stderr(`reload failed: ${outcome.code}: ${outcome.message}\n`)
  for (const issue of outcome.issues) io.stderr(`  ${issue}\n`)
  io.stderr(`config ${outcome.version} keeps serving\n`)
  return EXIT.failure
}

/**
 * The config file the running gateway loaded, from `/status`: a path, null when it runs an in-memory
 * config (demo), undefined when that cannot be told (unreachable, older gateway): then no warning.
 */
async function runningConfigFile(
  base: URL,
  headers: Record<string, string>,
): Promise<string | null | undefined> {
  try {
    const response = await fetch(new URL('/status', base), { headers, signal: AbortSignal.timeout(5000) })
    if (!response.ok) return undefined
    const status = (await response.json()) as { configFile?: unknown }
    if (status.configFile === null) return null
    return typeof status.configFile === 'string' ? status.configFile : undefined
  } catch {
    return undefined
  }
}
