import { Client } from 'undici'
import { connect } from 'node:net'
import { connect as tlsConnect } from 'node:tls'

/** Settings of one active check (validated config). */
export interface ActiveCheckOptions {
  readonly type: 'http' | 'tcp'
  readonly path: string
  readonly method: 'GET' | 'HEAD'
  readonly host?: string | undefined
  /** Inclusive status ranges that pass. */
  readonly expected: ReadonlyArray<readonly [number, number]>
  readonly bodyContains?: string | undefined
  readonly intervalMs: number
  readonly jitterPercent: number
  readonly timeoutMs: number
}

export interface CheckTarget {
  readonly id: string
  readonly origin: string
  readonly hostname: string
  readonly port: number
  readonly isTls: boolean
  readonly tlsOptions: { rejectUnauthorized: boolean; ca?: Buffer; servername?: string }
}

export interface ActiveCheckerDeps {
  readonly random: () => number
  /** Receives each result; `detail` explains a failure (status, error code), never a secret. */
  readonly onResult: (target: CheckTarget, isPassing: boolean, detail: string) => void
}

const MAX_BODY_BYTES = 64 * 1024

/** Parses "200" / "200-399" into inclusive ranges. */
export function parseStatusRanges(specs: readonly string[]): Array<readonly [number, number]> {
  return specs.map((spec) => {
    const [a, b] = spec.split('-')
    return [Number(a), Number(b ?? a)] as const
  })
}

/**
 * Runs active health checks for a set of backends, off the request path: one timer per backend,
 * each interval randomised by ±jitter so checks never synchronise. HTTP checks use a dedicated
 * one-connection client per backend (never the request pool, so a saturated pool cannot starve them).
 */
export class ActiveChecker {
  readonly #options: ActiveCheckOptions
  readonly #deps: ActiveCheckerDeps
  readonly #timers = new Map<string, NodeJS.Timeout>()
  readonly #clients = new Map<string, Client>()
  #isStopped = false

  constructor(options: ActiveCheckOptions, deps: ActiveCheckerDeps) {
    this.#options = options
    this.#deps = deps
  }

  start(targets: readonly CheckTarget[]): void {
    for (const target of targets) {
      // First check soon (spread over one interval), then every jittered interval.
      this.#schedule(target, this.#deps.random() * Math.min(this.#options.intervalMs, 1000))
    }
  }

  async stop(): Promise<void> {
    this.#isStopped = true
    for (const timer of this.#timers.values()) clearTimeout(timer)
    this.#timers.clear()
    await Promise.all([...this.#clients.values()].map((c) => c.destroy()))
    this.#clients.clear()
  }

  #schedule(target: CheckTarget, delayMs: number): void {
    if (this.#isStopped) return
    const timer = setTimeout(() => {
      void this.#check(target).then(({ isPassing, detail }) => {
        if (this.#isStopped) return
        this.#deps.onResult(target, isPassing, detail)
        this.#schedule(target, this.#nextDelay())
      })
    }, delayMs)
    timer.unref()
    this.#timers.set(target.id, timer)
  }

  #nextDelay(): number {
    const { intervalMs, jitterPercent } = this.#options
    const spread = (intervalMs * jitterPercent) / 100
    return Math.max(1, intervalMs - spread + this.#deps.random() * 2 * spread)
  }

  async #check(target: CheckTarget): Promise<{ isPassing: boolean; detail: string }> {
    try {
      return this.#options.type === 'tcp' ? await this.#tcp(target) : await this.#http(target)
    } catch (err) {
      const code = (err as { code?: string }).code ?? (err as Error).name
      return { isPassing: false, detail: `error ${code}` }
    }
  }

  #tcp(target: CheckTarget): Promise<{ isPassing: boolean; detail: string }> {
    return new Promise((resolve) => {
      const socket = target.isTls
        ? tlsConnect({ host: target.hostname, port: target.port, ...target.tlsOptions })
        : connect({ host: target.hostname, port: target.port })
      const done = (isPassing: boolean, detail: string): void => {
        clearTimeout(timer)
        socket.destroy()
        resolve({ isPassing, detail })
      }
      const timer = setTimeout(() => done(false, 'timeout'), this.#options.timeoutMs)
      socket.once(target.isTls ? 'secureConnect' : 'connect', () => done(true, 'connected'))
      socket.once('error', (err: NodeJS.ErrnoException) => done(false, `error ${err.code ?? 'ERR'}`))
    })
  }

  async #http(target: CheckTarget): Promise<{ isPassing: boolean; detail: string }> {
    let client = this.#clients.get(target.id)
    if (client === undefined) {
      client = new Client(target.origin, {
        connectTimeout: this.#options.timeoutMs,
        headersTimeout: this.#options.timeoutMs,
        bodyTimeout: this.#options.timeoutMs,
        pipelining: 1,
        ...(target.isTls ? { connect: target.tlsOptions } : {}),
      })
      this.#clients.set(target.id, client)
    }
    const { statusCode, body } = await client.request({
      method: this.#options.method,
      path: this.#options.path,
      headers: {
        host: this.#options.host ?? `${target.hostname}:${target.port}`,
        'user-agent': 'litgate-health-check',
      },
      signal: AbortSignal.timeout(this.#options.timeoutMs),
    })
    let text = ''
    if (this.#options.bodyContains !== undefined) {
      for await (const chunk of body) {
        text += (chunk as Buffer).toString('utf8')
        if (text.length >= MAX_BODY_BYTES) break
      }
      body.destroy()
    } else {
      await body.dump()
    }
    const isStatusOk = this.#options.expected.some(([lo, hi]) => statusCode >= lo && statusCode <= hi)
    if (!isStatusOk) return { isPassing: false, detail: `status ${statusCode}` }
    if (this.#options.bodyContains !== undefined && !text.includes(this.#options.bodyContains)) {
      return { isPassing: false, detail: 'body mismatch' }
    }
    return { isPassing: true, detail: `status ${statusCode}` }
  }
}
