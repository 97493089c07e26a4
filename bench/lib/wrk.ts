// Runs wrk (closed loop: a fixed number of connections, each sending its next request as soon as the
// previous response ends) and parses its summary. Used for the throughput run.
import { execFile } from 'node:child_process'

export interface WrkResult {
  readonly requests: number
  readonly seconds: number
  readonly rps: number
  /** Latency percentiles in microseconds (wrk --latency). */
  readonly p50Us: number
  readonly p90Us: number
  readonly p99Us: number
  readonly non2xx: number
  readonly socketErrors: number
}

const UNIT_US: Record<string, number> = { us: 1, ms: 1000, s: 1_000_000, m: 60_000_000 }

function toUs(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text)
  if (m === null) throw new Error(`wrk: cannot parse duration ${JSON.stringify(text)}`)
  return Number(m[1]) * (UNIT_US[m[2] as string] as number)
}

/** Parses `wrk --latency` output. */
export function parseWrk(out: string): WrkResult {
  const pct = (p: string): number => {
    const m = new RegExp(`^\\s+${p}%\\s+(\\S+)`, 'm').exec(out)
    if (m === null) throw new Error(`wrk: no ${p}% line in output:\n${out}`)
    return toUs(m[1] as string)
  }
  const total = /(\d+) requests in ([\d.]+)(us|ms|s|m),/.exec(out)
  if (total === null) throw new Error(`wrk: no request count in output:\n${out}`)
  const seconds = toUs(`${total[2]}${total[3]}`) / 1e6
  const requests = Number(total[1])
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out)
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out)
  return {
    requests,
    seconds,
    rps: requests / seconds,
    p50Us: pct('50'),
    p90Us: pct('90'),
    p99Us: pct('99'),
    non2xx: non2xx === null ? 0 : Number(non2xx[1]),
    socketErrors: sock === null ? 0 : [1, 2, 3, 4].reduce((a, i) => a + Number(sock[i]), 0),
  }
}

/**
 * Runs wrk with one thread (it shares a core with the upstream) and returns its parsed summary. `headers`
 * are sent on every request (`-H`).
 */
export function runWrk(
  wrk: string,
  url: string,
  connections: number,
  seconds: number,
  headers: Readonly<Record<string, string>> = {},
): Promise<WrkResult> {
  const args = ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', '--timeout', '5s']
  for (const [name, value] of Object.entries(headers)) args.push('-H', `${name}: ${value}`)
  args.push(url)
  return new Promise((resolve, reject) => {
    execFile(wrk, args, { timeout: (seconds + 30) * 1000, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err !== null) {
        reject(new Error(`wrk failed: ${err.message}\n${stderr}`))
        return
      }
      try {
        resolve(parseWrk(stdout))
      } catch (e) {
        reject(e as Error)
      }
    })
  })
}
