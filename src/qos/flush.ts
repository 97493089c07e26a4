/**
 * Persists per-period usage totals off the request path: settles mark their (subscription, period) as
 * touched; every interval the touched periods are read from the live store and upserted with "greatest"
 * semantics (storage `usage.upsertTotals`), so a repeated flush, a flush by another instance reading the
 * same Redis, or an older snapshot arriving late never lowers a total. A failed flush keeps its entries
 * for the next one.
 */
import type { Logger } from 'pino'
import type { Hex, UsageRepository, UsageTotals } from '../storage/index.ts'
import type { QuotaLimits, QuotaWindows } from './limits.ts'
import type { QuotaStore } from './store.ts'

export interface UsageFlusher {
  /** A counted settle of `id` in `windows.period` (cheap: one Map write). */
  touch(id: string, limits: QuotaLimits, windows: QuotaWindows): void
  /** Writes the touched periods now; resolves with the rows written. */
  flush(): Promise<number>
  /** Stops the timer and flushes once more. */
  close(): Promise<void>
}

export interface UsageFlusherDeps {
  readonly store: QuotaStore
  readonly repository: Pick<UsageRepository, 'upsertTotals'>
  readonly log: Logger
  readonly nowMs?: () => number
  /** Default 60 s; 0: no timer (flush() by hand). */
  readonly intervalMs?: number
}

interface Touched {
  readonly id: string
  readonly limits: QuotaLimits
  readonly windows: QuotaWindows
}

const BATCH = 500

export function createUsageFlusher(deps: UsageFlusherDeps): UsageFlusher {
  const nowMs = deps.nowMs ?? Date.now
  let touched = new Map<string, Touched>()
  let running: Promise<number> | undefined
  const flushOnce = async (): Promise<number> => {
    if (touched.size === 0) return 0
    const batch = touched
    touched = new Map()
    const rows: UsageTotals[] = []
    try {
      for (const t of batch.values()) {
        const u = await deps.store.usage(t.id, t.limits, t.windows)
        const end = t.windows.period.endSec
        rows.push({
          subscriptionId: t.id as Hex,
          periodStartSec: end - t.limits.periodSec,
          periodEndSec: end,
          plan: t.limits.plan,
          requests: u.periodRequests,
          bytesIn: u.periodBytesIn,
          bytesOut: u.periodBytesOut,
          updatedAtMs: Math.floor(nowMs()),
        })
      }
      for (let i = 0; i < rows.length; i += BATCH)
        await deps.repository.upsertTotals(rows.slice(i, i + BATCH))
      return rows.length
    } catch (err) {
      // Kept for the next flush (a newer touch of the same period wins: same key).
      for (const [k, v] of batch) if (!touched.has(k)) touched.set(k, v)
      deps.log.warn(
        { err: (err as Error).message, periods: batch.size },
        'qos usage flush failed; retried next interval',
      )
      return 0
    }
  }
  const flush = (): Promise<number> => {
    running = (running ?? Promise.resolve(0)).then(flushOnce, flushOnce)
    return running
  }
  const interval = deps.intervalMs ?? 60_000
  const timer = interval > 0 ? setInterval(() => void flush(), interval) : undefined
  timer?.unref()
  return {
    touch(id, limits, windows) {
      touched.set(`${id}|${windows.period.index}`, { id, limits, windows })
    },
    flush,
    async close() {
      clearInterval(timer)
      await flush()
    },
  }
}
