import { readFile } from 'node:fs/promises'
import { formatIssue, formatOf, parseConfig, type Config } from '../config/index.ts'
import { isGatewayError } from '../errors/index.ts'
import { loadTlsMaterial, readTlsFile } from '../net/index.ts'
import { EXIT, type CliIo } from './io.ts'

export interface ValidateOptions {
  /** Warnings fail the check too (exit 2), e.g. in CI. */
  readonly isStrict: boolean
}

/** One file the config names that cannot be used as it is: `code` is the start-up error code. */
export interface StartupFileProblem {
  readonly code: string
  readonly message: string
}

/**
 * Loads every file the config names the way start-up does (the same functions): each listener's TLS
 * certificate and key (`loadTlsMaterial`: readable, PEM, key matches) and each upstream's `tls.caFile`
 * (`readTlsFile`). Returns every problem, not just the first.
 */
export function checkStartupFiles(config: Config): StartupFileProblem[] {
  const problems: StartupFileProblem[] = []
  const attempt = (load: () => unknown): void => {
    try {
      load()
    } catch (err) {
      if (!isGatewayError(err)) throw err
      problems.push({ code: err.code, message: err.message })
    }
  }
  for (const listener of config.listeners) {
    const tls = listener.tls
    if (tls !== undefined) attempt(() => loadTlsMaterial(tls, `listener ${listener.name}`))
  }
  for (const upstream of config.upstreams) {
    const caFile = upstream.tls?.caFile
    if (caFile !== undefined) attempt(() => readTlsFile(caFile, `upstream ${upstream.id}: tls.caFile`))
  }
  return problems
}

/** Reads a config file for a command; a read failure is written to stderr (undefined returned). */
export async function readConfigText(path: string, io: CliIo): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8')
  } catch (err) {
    io.stderr(`error: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'EIO'})\n`)
    return undefined
  }
}

/**
 * `litgate validate -c FILE [--strict]`, like `nginx -t`: syntax, schema, semantics, then the files the
 * config names (TLS certificates, keys, CA bundles) loaded as `run` loads them. Exit 0 when valid
 * (warnings printed), 2 when not; with `--strict` warnings fail too.
 */
export async function validateCommand(
  path: string | undefined,
  options: ValidateOptions,
  io: CliIo,
): Promise<number> {
  if (path === undefined) {
    io.stderr('validate needs -c FILE\n')
    return EXIT.usage
  }
  const text = await readConfigText(path, io)
  if (text === undefined) return EXIT.usage
  const result = parseConfig(text, formatOf(path))
  const issues = result.ok ? result.warnings : result.issues
  for (const issue of issues) io.stderr(`${formatIssue(issue)}\n`)
  if (!result.ok) {
    io.stderr(`${path}: invalid (${issues.filter((i) => i.severity === 'error').length} error(s))\n`)
    return EXIT.usage
  }
  const problems = checkStartupFiles(result.config)
  for (const p of problems) io.stderr(`error: ${p.code}: ${p.message}\n`)
  if (problems.length > 0) {
    io.stderr(`${path}: invalid (${problems.length} error(s))\n`)
    return EXIT.usage
  }
  if (options.isStrict && result.warnings.length > 0) {
    io.stderr(`${path}: invalid with --strict (${result.warnings.length} warning(s))\n`)
    return EXIT.usage
  }
  io.stdout(
    `${path}: ok (${result.config.routes.length} routes, ${result.config.upstreams.length} upstreams)\n`,
  )
  return EXIT.ok
}
