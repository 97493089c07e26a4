import type { RouteContext } from '../runtime/index.ts'

/**
 * What the gateway does with a request body before it takes an upstream slot:
 * - `none`: no body;
 * - `buffer`: read it first, up to `maxBytes` (slow senders then cost no upstream slot);
 * - `stream`: forward it as it arrives (it holds a slot while it does, counted in the client's share);
 * - `refuse`: declared larger than the route buffers, with `requestBuffering.overLimit: refuse` (413).
 */
export type BodyPlan =
  { readonly kind: 'none' | 'stream' | 'refuse' } | { readonly kind: 'buffer'; readonly maxBytes: number }

export interface BodyPlanInput {
  readonly hasBody: boolean
  readonly declaredBytes: number | undefined
  readonly buffering: RouteContext['requestBuffering']
  /** The retry policy wants this body buffered for replay (the rule of old: see Exchange). */
  readonly isReplayEligible: boolean
  readonly maxReplayBodyBytes: number
}

const NONE: BodyPlan = Object.freeze({ kind: 'none' })
const STREAM: BodyPlan = Object.freeze({ kind: 'stream' })
const REFUSE: BodyPlan = Object.freeze({ kind: 'refuse' })

/** Decides a body's plan from the route's buffering policy, its declared length and the retry policy. */
export function planBody(q: BodyPlanInput): BodyPlan {
  if (!q.hasBody) return NONE
  const replayBytes = q.isReplayEligible ? q.maxReplayBodyBytes : 0
  if (q.buffering.isEnabled) {
    const maxBytes = Math.max(q.buffering.maxBytes, replayBytes)
    if (q.declaredBytes !== undefined && q.declaredBytes > maxBytes)
      return q.buffering.overLimit === 'refuse' ? REFUSE : STREAM
    return { kind: 'buffer', maxBytes }
  }
  return q.isReplayEligible ? { kind: 'buffer', maxBytes: replayBytes } : STREAM
}
