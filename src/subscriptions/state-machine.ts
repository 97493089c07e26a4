/**
 * The subscription state machine: a pure function of (current row, event, actor, chain-time now) to a
 * decision — a new row plus its audit record, an audited refusal, or nothing (the event was already
 * applied). The contract computes `start`/`end`; the machine takes them as truth and checks its own
 * expectation (renewal extends from max(now, current end)) against them: a mismatch is an anomaly in the
 * audit, never a reason to deviate from the chain.
 */
import type {
  Actor,
  AuditCause,
  Bytes32,
  ChainStatus,
  ChainSubscription,
  PaymentConfirmedEvent,
  SubscriptionAudit,
  SubscriptionEvent,
  SubscriptionRecord,
  SubscriptionState,
} from './types.ts'

/** How many applied payment digests a row remembers (idempotency of re-delivered payments). */
export const MAX_REMEMBERED_PAYMENTS = 32
/** Bound of an operator id and a revoke reason in the audit. */
export const MAX_OPERATOR_TEXT = 128

export type Decision =
  | { readonly kind: 'change'; readonly next: SubscriptionRecord; readonly audit: SubscriptionAudit }
  | { readonly kind: 'refused'; readonly reason: string; readonly audit: SubscriptionAudit }
  | { readonly kind: 'unchanged' }

const UNCHANGED: Decision = Object.freeze({ kind: 'unchanged' })
const ZERO_ADDRESS = '0x0000000000000000000000000000000000000000'

/**
 * The state a row is in at `nowSec`: derived from the chain's status, the end and an operator hold, so
 * the stored state can never disagree with the bounds (pending = not on chain yet).
 */
export function deriveState(
  chainStatus: ChainStatus | null,
  endSec: number,
  nowSec: number,
  hasOperatorHold: boolean,
): SubscriptionState {
  if (hasOperatorHold || chainStatus === 'revoked') return 'revoked'
  if (chainStatus === null) return 'pending'
  if (endSec <= nowSec) return 'expired'
  return chainStatus === 'cancelled' ? 'cancelled' : 'active'
}

/** Which actor kind may cause each event: only the chain (the monitor's verified logs) activates. */
const ALLOWED_ACTOR: Readonly<Record<SubscriptionEvent['type'], Actor['kind']>> = Object.freeze({
  'payment-seen': 'chain',
  'payment-confirmed': 'chain',
  'payment-reorged': 'chain',
  cancel: 'chain',
  revoke: 'chain',
  expiry: 'system',
  'operator-revoke': 'operator',
  reconciliation: 'system',
})

function causeOf(event: SubscriptionEvent): AuditCause {
  switch (event.type) {
    case 'operator-revoke':
      return 'operator'
    default:
      return event.type
  }
}

function isActorAllowed(event: SubscriptionEvent, actor: Actor): boolean {
  if (actor.kind !== ALLOWED_ACTOR[event.type]) return false
  if (event.type === 'expiry') return actor.kind === 'system' && actor.source === 'clock'
  if (event.type === 'reconciliation') return actor.kind === 'system' && actor.source === 'reconciliation'
  if (actor.kind === 'operator') {
    return (
      actor.operatorId.length > 0 &&
      actor.operatorId.length <= MAX_OPERATOR_TEXT &&
      actor.operatorId.trim() === actor.operatorId
    )
  }
  return true
}

interface AuditInput {
  readonly cause: AuditCause
  readonly anomalies?: readonly string[]
  readonly digest?: Bytes32 | null
  readonly detail?: SubscriptionAudit['detail']
}

function audit(
  id: Bytes32,
  actor: Actor,
  nowSec: number,
  from: SubscriptionRecord | undefined,
  to: SubscriptionRecord | undefined,
  input: AuditInput,
): SubscriptionAudit {
  return {
    subscriptionId: id,
    cause: input.cause,
    actor,
    fromState: from?.state ?? null,
    toState: to?.state ?? null,
    fromVersion: from?.version ?? null,
    toVersion: to?.version ?? null,
    atSec: nowSec,
    digest: input.digest ?? null,
    anomalies: input.anomalies ?? [],
    detail: input.detail ?? {},
  }
}

function refuse(
  id: Bytes32,
  actor: Actor,
  nowSec: number,
  current: SubscriptionRecord | undefined,
  cause: AuditCause,
  reason: string,
  digest: Bytes32 | null = null,
): Decision {
  return {
    kind: 'refused',
    reason,
    audit: audit(id, actor, nowSec, current, current, { cause, anomalies: [reason], digest }),
  }
}

function bounds(r: SubscriptionRecord): SubscriptionAudit['detail'] {
  return {
    planId: r.planId,
    startSec: r.startSec,
    endSec: r.endSec,
    chainStatus: r.chainStatus,
  }
}

function withDetail(
  from: SubscriptionRecord | undefined,
  to: SubscriptionRecord,
): SubscriptionAudit['detail'] {
  const out: Record<string, string | number | boolean | null> = {}
  if (from !== undefined) for (const [k, v] of Object.entries(bounds(from))) out[`old.${k}`] = v
  for (const [k, v] of Object.entries(bounds(to))) out[`new.${k}`] = v
  return out
}

function newest(a: number | null, b: number): number {
  return a === null ? b : Math.max(a, b)
}

function rememberDigest(list: readonly Bytes32[], digest: Bytes32): readonly Bytes32[] {
  const next = [...list, digest]
  return next.length > MAX_REMEMBERED_PAYMENTS ? next.slice(next.length - MAX_REMEMBERED_PAYMENTS) : next
}

/**
 * Decides what `event`, caused by `actor` at chain time `nowSec`, does to `current` (undefined: no row).
 * Pure; the caller persists `next` by compare-and-set on `current.version` together with `audit`.
 */
export function decideTransition(
  current: SubscriptionRecord | undefined,
  event: SubscriptionEvent,
  actor: Actor,
  nowSec: number,
): Decision {
  const id = event.subscriptionId
  if (current !== undefined && current.id !== id)
    throw new Error(`decideTransition: row ${current.id} given for event on ${id}`)
  if (!isActorAllowed(event, actor)) {
    return refuse(id, actor, nowSec, current, causeOf(event), `actor-not-allowed:${actor.kind}`)
  }
  switch (event.type) {
    case 'payment-seen': {
      // Only a creation has a pending phase; renewals extend a row that already grants access.
      if (current !== undefined || event.subscriptionId !== event.digest) return UNCHANGED
      const next: SubscriptionRecord = {
        id,
        state: 'pending',
        owner: event.payer,
        beneficiary: event.beneficiary === ZERO_ADDRESS ? event.payer : event.beneficiary,
        planId: event.planId,
        token: event.token,
        startSec: event.startSec,
        endSec: event.endSec,
        chainStatus: null,
        chainBlock: event.blockNumber,
        version: 1,
        updatedAtSec: nowSec,
        paymentDigests: [],
        beforeLastPayment: null,
        operatorHold: null,
      }
      return {
        kind: 'change',
        next,
        audit: audit(id, actor, nowSec, current, next, {
          cause: 'payment-seen',
          digest: event.digest,
          detail: withDetail(undefined, next),
        }),
      }
    }
    case 'payment-confirmed':
      return confirmPayment(current, event, actor, nowSec)
    case 'payment-reorged': {
      if (current === undefined || !current.paymentDigests.includes(event.digest)) return UNCHANGED
      const last = current.paymentDigests[current.paymentDigests.length - 1]
      if (last !== event.digest) {
        // A newer payment still stands on an older one that is gone: only the chain can say what holds.
        return refuse(id, actor, nowSec, current, 'payment-reorged', 'reorg-of-older-payment', event.digest)
      }
      const prior = current.beforeLastPayment
      const digests = current.paymentDigests.slice(0, -1)
      const base = {
        ...current,
        version: current.version + 1,
        updatedAtSec: nowSec,
        paymentDigests: digests,
        beforeLastPayment: null,
        chainBlock: null,
      }
      // A renewal whose previous bounds are not remembered (two renewals reorged in a row): the time it
      // bought is no longer backed by a confirmed payment and the rest is unknown, so no access until the
      // chain is read again (the anomaly queues it for reconciliation).
      const isBoundsUnknown = prior === null && event.digest !== event.subscriptionId
      const next: SubscriptionRecord =
        prior === null
          ? // The creation is gone: back to pending (no access) until it is confirmed again or reconciled.
            { ...base, chainStatus: null, state: 'pending' }
          : {
              ...base,
              planId: prior.planId,
              startSec: prior.startSec,
              endSec: prior.endSec,
              state: deriveState(current.chainStatus, prior.endSec, nowSec, current.operatorHold !== null),
            }
      return {
        kind: 'change',
        next,
        audit: audit(id, actor, nowSec, current, next, {
          cause: 'payment-reorged',
          digest: event.digest,
          anomalies: isBoundsUnknown ? ['reorg-bounds-unknown'] : [],
          detail: withDetail(current, next),
        }),
      }
    }
    case 'cancel': {
      if (current === undefined) return refuse(id, actor, nowSec, current, 'cancel', 'unknown-subscription')
      if (current.chainStatus === 'cancelled') return UNCHANGED
      if (current.chainStatus !== 'live')
        return refuse(id, actor, nowSec, current, 'cancel', `cancel-of-${current.chainStatus ?? 'pending'}`)
      const next = changed(
        current,
        { chainStatus: 'cancelled', chainBlock: newest(current.chainBlock, event.blockNumber) },
        nowSec,
      )
      return {
        kind: 'change',
        next,
        audit: audit(id, actor, nowSec, current, next, {
          cause: 'cancel',
          detail: { ...withDetail(current, next), by: event.by },
        }),
      }
    }
    case 'revoke': {
      if (current === undefined) return refuse(id, actor, nowSec, current, 'revoke', 'unknown-subscription')
      if (current.chainStatus === 'revoked' && current.endSec === event.endSec) return UNCHANGED
      const anomalies: string[] = []
      // The contract ends a revoked subscription at min(end, block.timestamp).
      const expectedEnd = Math.min(current.endSec, event.blockTimestampSec)
      if (event.endSec !== expectedEnd) anomalies.push('revoke-end-mismatch')
      if (current.chainStatus === 'revoked') anomalies.push('revoked-twice')
      const next = changed(
        current,
        {
          chainStatus: 'revoked',
          endSec: event.endSec,
          chainBlock: newest(current.chainBlock, event.blockNumber),
        },
        nowSec,
      )
      return {
        kind: 'change',
        next,
        audit: audit(id, actor, nowSec, current, next, {
          cause: 'revoke',
          anomalies,
          detail: { ...withDetail(current, next), by: event.by, expectedEndSec: expectedEnd },
        }),
      }
    }
    case 'expiry': {
      if (current === undefined) return UNCHANGED
      if (current.state !== 'active' && current.state !== 'cancelled') return UNCHANGED
      if (current.endSec > nowSec) return UNCHANGED
      const next = changed(current, {}, nowSec)
      return {
        kind: 'change',
        next,
        audit: audit(id, actor, nowSec, current, next, {
          cause: 'expiry',
          detail: { endSec: current.endSec },
        }),
      }
    }
    case 'operator-revoke': {
      if (actor.kind !== 'operator') throw new Error('unreachable: operator event without operator')
      if (current === undefined) return refuse(id, actor, nowSec, current, 'operator', 'unknown-subscription')
      if (current.operatorHold !== null) return UNCHANGED
      const reason = event.reason.slice(0, MAX_OPERATOR_TEXT)
      const next = changed(
        current,
        {
          operatorHold: { operatorId: actor.operatorId, atSec: nowSec },
          endSec: Math.min(current.endSec, nowSec),
        },
        nowSec,
      )
      return {
        kind: 'change',
        next,
        audit: audit(id, actor, nowSec, current, next, {
          cause: 'operator',
          detail: { ...withDetail(current, next), operatorId: actor.operatorId, reason },
        }),
      }
    }
    case 'reconciliation':
      // A read older than the newest fact applied says nothing about now (the monitor is ahead of it).
      if (current?.chainBlock != null && event.blockNumber < current.chainBlock) return UNCHANGED
      return reconcile(current, event.chain, event.blockNumber, id, actor, nowSec)
  }
}

/** `current` with `patch` applied, the state re-derived, version + 1. */
function changed(
  current: SubscriptionRecord,
  patch: Partial<SubscriptionRecord>,
  nowSec: number,
): SubscriptionRecord {
  const merged = { ...current, ...patch }
  return {
    ...merged,
    state: deriveState(merged.chainStatus, merged.endSec, nowSec, merged.operatorHold !== null),
    version: current.version + 1,
    updatedAtSec: nowSec,
  }
}

function confirmPayment(
  current: SubscriptionRecord | undefined,
  event: PaymentConfirmedEvent,
  actor: Actor,
  nowSec: number,
): Decision {
  const id = event.subscriptionId
  if (current?.paymentDigests.includes(event.digest) === true) return UNCHANGED
  const isCreation = event.subscriptionId === event.digest
  const anomalies: string[] = []
  const t = event.blockTimestampSec
  const period = event.expected === undefined ? null : event.expected.periods * event.expected.periodSeconds
  if (event.endSec <= event.startSec) anomalies.push('end-not-after-start')
  if (isCreation) {
    // Creation: start = block.timestamp, end = start + periods × period.
    if (event.startSec !== t) anomalies.push('start-mismatch')
    if (period !== null && event.endSec !== t + period) anomalies.push('end-mismatch')
    const beneficiary = event.beneficiary === ZERO_ADDRESS ? event.payer : event.beneficiary
    const base = current ?? {
      id,
      state: 'pending' as const,
      version: 0,
      paymentDigests: [],
      operatorHold: null,
    }
    if (current !== undefined && current.state !== 'pending' && current.chainStatus === null)
      anomalies.push(`creation-over-${current.state}`)
    const merged = {
      ...base,
      owner: event.payer,
      beneficiary,
      planId: event.planId,
      token: event.token,
      startSec: event.startSec,
      endSec: event.endSec,
      chainStatus: current?.chainStatus ?? ('live' as const),
      chainBlock: newest(current?.chainBlock ?? null, event.blockNumber),
      paymentDigests: rememberDigest(base.paymentDigests, event.digest),
      beforeLastPayment: null,
    }
    const next: SubscriptionRecord = {
      ...merged,
      state: deriveState(merged.chainStatus, merged.endSec, nowSec, merged.operatorHold !== null),
      version: base.version + 1,
      updatedAtSec: nowSec,
    }
    return {
      kind: 'change',
      next,
      audit: audit(id, actor, nowSec, current, next, {
        cause: 'payment-confirmed',
        digest: event.digest,
        anomalies,
        detail: withDetail(current, next),
      }),
    }
  }
  if (current === undefined || current.chainStatus === null) {
    // A renewal of a subscription the cache does not hold as confirmed: reconciliation must fetch it.
    return refuse(id, actor, nowSec, current, 'renewal', 'renewal-of-unknown-subscription', event.digest)
  }
  const isPlanChange = event.planId !== current.planId
  // Renewal extends from max(now, current end): a lapsed subscription restarts at the payment's block.
  const isLapsed = current.endSec <= t
  const from = Math.max(t, current.endSec)
  const expectedStart = isLapsed ? t : current.startSec
  if (event.startSec !== expectedStart) anomalies.push('start-mismatch')
  if (isPlanChange && !isLapsed) {
    // Proration (see PaymentProcessor.sol): an upgrade keeps the end, a downgrade converts the unused
    // time at the old rate; either way the end does not move earlier. The exact value needs both sales.
    if (event.endSec < current.endSec) anomalies.push('end-mismatch')
  } else if (period !== null ? event.endSec !== from + period : event.endSec <= from) {
    anomalies.push('end-mismatch')
  }
  if (event.token.toLowerCase() !== current.token.toLowerCase()) anomalies.push('token-mismatch')
  // The contract accepts renewals only of a Live subscription: the cache was behind.
  if (current.chainStatus !== 'live') anomalies.push(`renewal-of-${current.chainStatus}`)
  if (current.operatorHold !== null) anomalies.push('renewal-during-operator-hold')
  const next = changed(
    current,
    {
      planId: event.planId,
      startSec: event.startSec,
      endSec: event.endSec,
      chainStatus: 'live',
      chainBlock: newest(current.chainBlock, event.blockNumber),
      paymentDigests: rememberDigest(current.paymentDigests, event.digest),
      beforeLastPayment: {
        planId: current.planId,
        startSec: current.startSec,
        endSec: current.endSec,
        state: current.state,
      },
    },
    nowSec,
  )
  return {
    kind: 'change',
    next,
    audit: audit(id, actor, nowSec, current, next, {
      cause: isPlanChange ? 'plan-change' : 'renewal',
      digest: event.digest,
      anomalies,
      detail: { ...withDetail(current, next), expectedStartSec: expectedStart, extendsFromSec: from },
    }),
  }
}

const FIELDS = ['owner', 'beneficiary', 'planId', 'token', 'startSec', 'endSec'] as const

function reconcile(
  current: SubscriptionRecord | undefined,
  chain: ChainSubscription | null,
  blockNumber: number,
  id: Bytes32,
  actor: Actor,
  nowSec: number,
): Decision {
  if (chain === null) {
    // Unknown on chain: a pending row is still waiting; anything else must stop granting access.
    if (current === undefined || current.chainStatus === null) return UNCHANGED
    // Nothing of it is on chain: forget its payments too, so their re-inclusion is applied again.
    const next = changed(
      current,
      { chainStatus: null, chainBlock: blockNumber, paymentDigests: [], beforeLastPayment: null },
      nowSec,
    )
    return {
      kind: 'change',
      next,
      audit: audit(id, actor, nowSec, current, next, {
        cause: 'reconciliation',
        anomalies: ['not-on-chain'],
        detail: withDetail(current, next),
      }),
    }
  }
  if (current === undefined) {
    const merged = { ...chain, chainStatus: chain.status }
    const next: SubscriptionRecord = {
      id,
      owner: merged.owner,
      beneficiary: merged.beneficiary,
      planId: merged.planId,
      token: merged.token,
      startSec: merged.startSec,
      endSec: merged.endSec,
      chainStatus: merged.chainStatus,
      chainBlock: blockNumber,
      state: deriveState(merged.chainStatus, merged.endSec, nowSec, false),
      version: 1,
      updatedAtSec: nowSec,
      paymentDigests: [],
      beforeLastPayment: null,
      operatorHold: null,
    }
    return {
      kind: 'change',
      next,
      audit: audit(id, actor, nowSec, current, next, {
        cause: 'reconciliation',
        anomalies: ['missing-row'],
        detail: withDetail(undefined, next),
      }),
    }
  }
  const anomalies: string[] = []
  for (const f of FIELDS) {
    const a = current[f]
    const b = chain[f]
    const same =
      typeof a === 'string' && typeof b === 'string' ? a.toLowerCase() === b.toLowerCase() : a === b
    if (!same) anomalies.push(`${f}-differs`)
  }
  if (current.chainStatus !== chain.status) anomalies.push('status-differs')
  const expectedState = deriveState(chain.status, chain.endSec, nowSec, current.operatorHold !== null)
  if (anomalies.length === 0 && current.state === expectedState) return UNCHANGED
  // A stale time-derived state alone (the expiry job not run yet) is a repair, not an anomaly.
  if (anomalies.length === 0) anomalies.push('state-stale')
  const next = changed(
    current,
    {
      owner: chain.owner,
      beneficiary: chain.beneficiary,
      planId: chain.planId,
      token: chain.token,
      startSec: chain.startSec,
      endSec: chain.endSec,
      chainStatus: chain.status,
      chainBlock: blockNumber,
    },
    nowSec,
  )
  return {
    kind: 'change',
    next,
    audit: audit(id, actor, nowSec, current, next, {
      cause: 'reconciliation',
      anomalies,
      detail: withDetail(current, next),
    }),
  }
}
