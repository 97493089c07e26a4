import type { Logger } from 'pino'
import type { Config } from '../config/index.ts'
import { isGatewayError, type ErrorCode } from '../errors/index.ts'
import { RestartRequiredError, type ReloadResult } from './gateway.ts'
import { formatChange } from './reload-fields.ts'

/** What asked for a reload. */
export type ReloadTrigger = 'signal' | 'admin' | 'watch' | 'api'

/** Loads and validates the config to apply; never applies anything itself. */
export type ConfigSource = () => Promise<
  | { readonly ok: true; readonly config: Config; readonly warnings: readonly string[] }
  | { readonly ok: false; readonly issues: readonly string[] }
>

/** The outcome of one reload attempt (also the admin API's answer). */
export type ReloadOutcome =
  | {
      readonly ok: true
      readonly trigger: ReloadTrigger
      readonly isChanged: boolean
      readonly version: string
      readonly previousVersion: string
      readonly tlsReloaded: readonly string[]
      readonly warnings: readonly string[]
      readonly durationMs: number
    }
  | {
      readonly ok: false
      readonly trigger: ReloadTrigger
      readonly code: ErrorCode
      readonly message: string
      readonly issues: readonly string[]
      /** The version still serving. */
      readonly version: string
      readonly durationMs: number
    }

/** The gateway operations a reloader needs. */
export interface ReloadTarget {
  reload(config: Config): Promise<ReloadResult>
  readonly runtime: { readonly version: string }
}

export interface ReloaderDeps {
  readonly target: ReloadTarget
  readonly load: ConfigSource
  readonly log: Logger
  /** Called once per attempt, after the swap (or the refusal): metrics, logging settings. */
  readonly onOutcome?: (outcome: ReloadOutcome, config: Config | undefined) => void
  readonly now?: () => number
}

/**
 * Runs reloads one at a time: load → validate → gateway.reload (build, swap, retire). Every attempt is
 * logged once with its trigger and, on failure, its reason code; the previous config keeps serving on
 * any failure. Concurrent requests (a SIGHUP during an admin reload) queue behind the running one, so
 * the last one always reads the newest file.
 */
export class Reloader {
  readonly #deps: ReloaderDeps
  readonly #now: () => number
  #tail: Promise<unknown> = Promise.resolve()
  #last: ReloadOutcome | undefined

  constructor(deps: ReloaderDeps) {
    this.#deps = deps
    this.#now = deps.now ?? (() => performance.now())
  }

  /** The last outcome (for the admin status page). */
  get last(): ReloadOutcome | undefined {
    return this.#last
  }

  reload(trigger: ReloadTrigger): Promise<ReloadOutcome> {
    const run = this.#tail.then(() => this.#attempt(trigger))
    this.#tail = run.catch(() => undefined)
    return run
  }

  async #attempt(trigger: ReloadTrigger): Promise<ReloadOutcome> {
    const { target, log } = this.#deps
    const started = this.#now()
    let outcome: ReloadOutcome
    let config: Config | undefined
    try {
      const loaded = await this.#deps.load()
      if (!loaded.ok) {
        outcome = this.#failure(
          trigger,
          started,
          'CONFIG_INVALID',
          'config rejected by validation',
          loaded.issues,
        )
      } else {
        config = loaded.config
        const result = await target.reload(loaded.config)
        outcome = {
          ok: true,
          trigger,
          isChanged: result.isChanged,
          version: result.version,
          previousVersion: result.previousVersion,
          tlsReloaded: result.tlsReloaded,
          warnings: loaded.warnings,
          durationMs: this.#now() - started,
        }
      }
    } catch (err) {
      config = undefined
      const code: ErrorCode = isGatewayError(err) ? err.code : 'RELOAD_FAILED'
      // A refused restart-bound change lists each field with its running and its new value.
      const issues = err instanceof RestartRequiredError ? err.changes.map(formatChange) : []
      outcome = this.#failure(trigger, started, code, (err as Error).message, issues)
    }
    this.#last = outcome
    if (outcome.ok) {
      log.info(
        {
          trigger,
          version: outcome.version,
          previousVersion: outcome.previousVersion,
          isChanged: outcome.isChanged,
          tlsReloaded: outcome.tlsReloaded.length > 0 ? outcome.tlsReloaded : undefined,
          warnings: outcome.warnings.length > 0 ? outcome.warnings : undefined,
          durationMs: Math.round(outcome.durationMs),
        },
        outcome.isChanged ? 'config reloaded' : 'config unchanged',
      )
    } else {
      log.error(
        {
          trigger,
          code: outcome.code,
          detail: outcome.message,
          issues: outcome.issues.length > 0 ? outcome.issues : undefined,
          version: outcome.version,
        },
        'reload failed; previous config keeps serving',
      )
    }
    try {
      this.#deps.onOutcome?.(outcome, outcome.ok ? config : undefined)
    } catch (err) {
      log.error({ err, code: 'INTERNAL_ERROR' }, 'reload outcome hook failed')
    }
    return outcome
  }

  #failure(
    trigger: ReloadTrigger,
    started: number,
    code: ErrorCode,
    message: string,
    issues: readonly string[],
  ): ReloadOutcome {
    return {
      ok: false,
      trigger,
      code,
      message,
      issues,
      version: this.#deps.target.runtime.version,
      durationMs: this.#now() - started,
    }
  }
}
