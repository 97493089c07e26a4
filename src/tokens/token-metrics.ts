/** The access tokens' metrics (docs/operations/observability.md "Access tokens"). Labels are bounded sets. */
import { Counter, type Registry } from 'prom-client'
import type { ErrorCode } from '../errors/index.ts'
import type { EdgeOutcome } from './credential-check.ts'

export type RevocationSource = 'refresh-reuse' | 'operator' | 'peer' | 'database'

export interface TokenMetrics {
  issued(kind: 'token' | 'refresh'): void
  refused(code: ErrorCode): void
  check(outcome: EdgeOutcome): void
  cacheLookup(isHit: boolean): void
  revoked(source: RevocationSource): void
}

const OUTCOMES: readonly EdgeOutcome[] = [
  'admitted',
  'absent',
  'malformed',
  'signature',
  'expired',
  'claims',
  'revoked',
  'plan',
  'inactive',
]

export function createTokenMetrics(registry: Registry): TokenMetrics {
  const issued = new Counter({
    name: 'litgate_tokens_issued_total',
    help: 'Access tokens issued, by kind (token: a sign-in; refresh: a rotation).',
    labelNames: ['kind'],
    registers: [registry],
  })
  const refused = new Counter({
    name: 'litgate_token_requests_refused_total',
    help: 'Nonce, token and refresh requests refused, by error code.',
    labelNames: ['code'],
    registers: [registry],
  })
  const checks = new Counter({
    name: 'litgate_token_checks_total',
    help: 'Bearer checks on paid routes, by outcome (admitted, absent, expired, revoked, plan, inactive, …).',
    labelNames: ['outcome'],
    registers: [registry],
  })
  const lookups = new Counter({
    name: 'litgate_token_cache_lookups_total',
    help: 'Verification-cache lookups of the Bearer check, by result (hit, miss).',
    labelNames: ['result'],
    registers: [registry],
  })
  const revocations = new Counter({
    name: 'litgate_token_revocations_total',
    help: 'Token families revoked as this instance learnt them, by source (refresh-reuse, operator, peer, database).',
    labelNames: ['source'],
    registers: [registry],
  })
  // Children bound once: the hot path does no label lookup.
  const byOutcome = new Map(OUTCOMES.map((o) => [o, checks.labels(o)]))
  const hit = lookups.labels('hit')
  const miss = lookups.labels('miss')
  for (const kind of ['token', 'refresh']) issued.labels(kind)
  return {
    issued: (kind) => issued.labels(kind).inc(),
    refused: (code) => refused.labels(code).inc(),
    check: (outcome) => byOutcome.get(outcome)?.inc(),
    cacheLookup: (isHit) => (isHit ? hit : miss).inc(),
    revoked: (source) => revocations.labels(source).inc(),
  }
}
