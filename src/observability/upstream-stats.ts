import type { BackendStats, UpstreamStats } from './metrics.ts'

/** The parts of a backend the metrics read (src/upstream `Backend` satisfies it). */
export interface BackendLike {
  readonly id: string
  readonly active: number
  readonly maxActive: number
  readonly tunnels: number
  readonly isDraining: boolean
}

/** The parts of an upstream the metrics read (src/upstream `Upstream` satisfies it). */
export interface UpstreamLike {
  readonly id: string
  readonly queueDepth: number
  readonly backends: readonly BackendLike[]
  /** Health and breaker state per backend, when the upstream tracks them. */
  stats?(): readonly { readonly backendId: string; readonly state: string; readonly breaker: string }[]
}

/**
 * Describes an upstream for a scrape. Health and breaker state come from `stats()` when the upstream
 * provides it; otherwise (or for a backend it does not list) they read as healthy / closed.
 */
export function describeUpstream(u: UpstreamLike): UpstreamStats {
  const stats = u.stats?.()
  const backends: BackendStats[] = u.backends.map((b, i) => {
    const st = stats?.[i]?.backendId === b.id ? stats[i] : stats?.find((x) => x.backendId === b.id)
    return {
      id: b.id,
      state: b.isDraining ? 'draining' : (st?.state ?? 'healthy'),
      breakerState: st?.breaker ?? 'closed',
      active: b.active,
      maxActive: b.maxActive,
      tunnels: b.tunnels,
      isDraining: b.isDraining,
    }
  })
  return { id: u.id, queueDepth: u.queueDepth, backends }
}
