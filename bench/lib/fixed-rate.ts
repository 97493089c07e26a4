// Open-loop, fixed-rate HTTP/1.1 load generator for latency at a given offered load (wrk is closed-loop
// and cannot hold a rate; h2load's --rate paces new connections, not requests).
//
// Request i is due at t0 + i/rate, whatever happened to earlier requests. A 1 ms timer sends every request
// that has come due on an idle keep-alive connection (FIFO, so all connections are used). When every
// connection is busy, the request waits in a queue and its clock keeps running: a slow server cannot
// hide its slowness by slowing the sender down (no coordinated omission). Two latencies are recorded:
//   - `fromDue`: from the request's exact due time (wrk2's definition; it includes the up-to-1 ms timer
//     granularity of this generator, the same for every target);
//   - `fromTick`: from the timer tick that found the request due (the generator's own timer lag is left
//     out, queueing for a connection is still counted). This is the headline number.
// A deliberately minimal client (raw sockets, Content-Length bodies only) so that its cost is small and
// the same for every target. Percentiles are exact (all samples are kept and sorted).
import { connect, type Socket } from 'node:net'

export interface FixedRateOptions {
  readonly port: number
  readonly rate: number
  readonly warmupS: number
  readonly durationS: number
  readonly connections: number
  readonly path?: string
  /** Sent on every request (e.g. `authorization`). */
  readonly headers?: Readonly<Record<string, string>>
}

export interface Percentiles {
  readonly p50Us: number
  readonly p90Us: number
  readonly p99Us: number
  readonly p999Us: number
  readonly maxUs: number
}

export interface FixedRateResult {
  readonly offeredRps: number
  /** Requests due inside the measured window, how many completed with 200, and how many did not. */
  readonly scheduled: number
  readonly completed: number
  readonly failed: number
  readonly achievedRps: number
  readonly fromTick: Percentiles
  readonly fromDue: Percentiles
  /** Share of measured requests that found no idle connection and had to wait for one. */
  readonly queuedShare: number
  /** Responses other than 200 (warm-up included), by status code: each counts as failed. */
  readonly refusedByStatus: Readonly<Record<string, number>>
}

const CRLFCRLF = Buffer.from('\r\n\r\n')

interface Pending {
  readonly dueMs: number
  readonly tickMs: number
  readonly isMeasured: boolean
}

function percentiles(samples: Float64Array): Percentiles {
  const s = samples.slice().sort()
  const at = (q: number): number =>
    s.length === 0 ? NaN : (s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] as number)
  return { p50Us: at(0.5), p90Us: at(0.9), p99Us: at(0.99), p999Us: at(0.999), maxUs: at(1) }
}

/** Runs the schedule to the end and resolves with the measured window's statistics. */
export async function runFixedRate(opts: FixedRateOptions): Promise<FixedRateResult> {
  const extra = Object.entries(opts.headers ?? {})
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('')
  const request = Buffer.from(
    `GET ${opts.path ?? '/'} HTTP/1.1\r\nHost: 127.0.0.1:${opts.port}\r\n${extra}\r\n`,
  )
  const refusedByStatus: Record<string, number> = {}
  const intervalMs = 1000 / opts.rate
  const total = Math.round(opts.rate * (opts.warmupS + opts.durationS))
  const firstMeasured = Math.round(opts.rate * opts.warmupS)
  const measured = total - firstMeasured
  const fromTick = new Float64Array(measured)
  const fromDue = new Float64Array(measured)
  let recorded = 0
  let queued = 0
  let outstanding = 0

  const idle: Conn[] = []
  const waiting: Pending[] = []
  let onAllDone: (() => void) | undefined

  class Conn {
    socket: Socket
    chunks: Buffer[] = []
    bytes = 0
    need = -1
    current: Pending | undefined

    constructor() {
      this.socket = this.#open()
    }

    #open(): Socket {
      const s = connect({ port: opts.port, host: '127.0.0.1', noDelay: true })
      s.on('data', (chunk: Buffer) => this.onData(chunk))
      s.on('error', () => {})
      s.on('close', () => this.onClose())
      return s
    }

    send(p: Pending): void {
      this.current = p
      this.chunks.length = 0
      this.bytes = 0
      this.need = -1
      this.socket.write(request)
    }

    onData(chunk: Buffer): void {
      if (this.current === undefined) return
      this.chunks.push(chunk)
      this.bytes += chunk.length
      const buf = this.chunks.length === 1 ? chunk : Buffer.concat(this.chunks, this.bytes)
      if (this.need < 0) {
        const end = buf.indexOf(CRLFCRLF)
        if (end < 0) return
        const head = buf.toString('latin1', 0, end)
        const m = /\r\ncontent-length:\s*(\d+)/i.exec(head)
        if (m === null || !head.startsWith('HTTP/1.1 200')) {
          const status = /^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 'unparsed'
          refusedByStatus[status] = (refusedByStatus[status] ?? 0) + 1
          this.fail()
          return
        }
        this.need = end + 4 + Number(m[1])
      }
      if (this.bytes < this.need) return
      const p = this.current
      this.current = undefined
      const now = performance.now()
      if (p.isMeasured) {
        fromTick[recorded] = (now - p.tickMs) * 1000
        fromDue[recorded] = (now - p.dueMs) * 1000
        recorded++
      }
      done(this)
    }

    fail(): void {
      this.socket.destroy() // onClose counts the failure
    }

    onClose(): void {
      if (this.current !== undefined) {
        this.current = undefined
        outstanding--
      }
      // Replace a lost connection so the pool keeps its size.
      if (isRunning) {
        this.socket = this.#open()
        done(this, false)
      }
    }
  }

  let isRunning = true
  const done = (c: Conn, countAsFinished = true): void => {
    if (countAsFinished) outstanding--
    const next = waiting.shift()
    if (next !== undefined) {
      outstanding++
      c.send(next)
    } else {
      idle.push(c)
    }
    if (outstanding === 0 && waiting.length === 0 && onAllDone !== undefined) onAllDone()
  }

  const conns: Conn[] = []
  for (let i = 0; i < opts.connections; i++) conns.push(new Conn())
  await Promise.all(
    conns.map(
      (c) =>
        new Promise<void>((resolve, reject) => {
          c.socket.once('connect', resolve)
          c.socket.once('error', reject)
        }),
    ),
  )
  idle.push(...conns)

  const t0 = performance.now() + 10
  let i = 0
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now()
      while (i < total) {
        const due = t0 + i * intervalMs
        if (due > now) break
        const p: Pending = { dueMs: due, tickMs: now, isMeasured: i >= firstMeasured }
        outstanding++
        const c = idle.shift()
        if (c !== undefined) c.send(p)
        else {
          outstanding--
          if (p.isMeasured) queued++
          waiting.push(p)
        }
        i++
      }
      if (i < total) setTimeout(tick, 1)
      else resolve()
    }
    setTimeout(tick, 10)
  })
  const tEnd = t0 + total * intervalMs
  // Let the tail finish (bounded: anything not back within 5 s counts as an error).
  await new Promise<void>((resolve) => {
    if (outstanding === 0 && waiting.length === 0) resolve()
    else {
      onAllDone = resolve
      setTimeout(resolve, 5000).unref()
    }
  })
  isRunning = false
  for (const c of conns) c.socket.destroy()
  const windowS = (tEnd - (t0 + firstMeasured * intervalMs)) / 1000
  return {
    offeredRps: opts.rate,
    scheduled: measured,
    completed: recorded,
    failed: measured - recorded,
    achievedRps: recorded / windowS,
    fromTick: percentiles(fromTick.subarray(0, recorded)),
    fromDue: percentiles(fromDue.subarray(0, recorded)),
    queuedShare: queued / measured,
    refusedByStatus,
  }
}
