/**
 * Nonce bookkeeping for the gateway's sending accounts. Sends of one account are serialised (a promise
 * chain per account), so nonces are handed out strictly in order without gaps or duplicates; the next nonce
 * is read from the chain (`pending` count) on first use and after the node rejects a nonce.
 * Pure apart from the injected `fetchPendingNonce`; no timers.
 */
import { GatewayError } from '../errors/index.ts'

/** How a send used the nonce it was given. */
export type NonceUse<T> =
  /** Consumed, or possibly consumed (ambiguous broadcast): the next send gets nonce + 1. */
  | { readonly kind: 'used'; readonly value: T }
  /** Definitely not sent to any node: the next send reuses the nonce. */
  | { readonly kind: 'unused'; readonly error: unknown }
  /** The node rejected the nonce (too low, too high, slot taken): resync from the chain and retry. */
  | { readonly kind: 'stale'; readonly error: unknown }

export interface NonceManagerOptions {
  /** Sends allowed to wait for one account's lock; beyond it `CHAIN_SEND_QUEUE_FULL`. */
  readonly maxWaiting: number
  /** Resyncs per send before giving up with `CHAIN_NONCE_CONFLICT`. */
  readonly maxResyncs: number
}

export interface NonceManagerDeps {
  /** The account's transaction count at the `pending` tag. */
  readonly fetchPendingNonce: (address: string) => Promise<number>
}

export interface NonceManager {
  /** Runs `send` with the account's next nonce, under the account's lock. */
  withNonce<T>(address: string, send: (nonce: number) => Promise<NonceUse<T>>): Promise<T>
  /** Forgets the cached nonce so the next send re-reads it from the chain (e.g. after a dropped tx). */
  invalidate(address: string): void
  /** The next nonce per account (undefined = will be read from the chain); for status and tests. */
  snapshot(): Record<string, number | undefined>
}

/** Next nonce after a send used `nonce` in the given way (pure). */
export function nextNonceAfter(nonce: number, kind: NonceUse<unknown>['kind']): number | undefined {
  if (kind === 'used') return nonce + 1
  if (kind === 'unused') return nonce
  return undefined
}

interface AccountSlot {
  next: number | undefined
  tail: Promise<unknown>
  waiting: number
}

export function createNonceManager(options: NonceManagerOptions, deps: NonceManagerDeps): NonceManager {
  const accounts = new Map<string, AccountSlot>()

  function slotOf(address: string): AccountSlot {
    const key = address.toLowerCase()
    let slot = accounts.get(key)
    if (slot === undefined) {
      slot = { next: undefined, tail: Promise.resolve(), waiting: 0 }
      accounts.set(key, slot)
    }
    return slot
  }

  async function runLocked<T>(slot: AccountSlot, address: string, send: (nonce: number) => Promise<NonceUse<T>>): Promise<T> {
    for (let resyncs = 0; ; resyncs++) {
      slot.next ??= await deps.fetchPendingNonce(address)
      const nonce = slot.next
      let use: NonceUse<T>
      try {
        use = await send(nonce)
      } catch (err) {
        // A throwing send gives no information on delivery: re-read the nonce before the next send.
        slot.next = undefined
        throw err
      }
      slot.next = nextNonceAfter(nonce, use.kind)
      if (use.kind === 'used') return use.value
      if (use.kind === 'unused') throw use.error
      if (resyncs >= options.maxResyncs) {
        throw new GatewayError('CHAIN_NONCE_CONFLICT', `nonce ${nonce} still rejected after ${resyncs} resyncs`, {
          cause: use.error,
        })
      }
    }
  }

  return {
    withNonce<T>(address: string, send: (nonce: number) => Promise<NonceUse<T>>): Promise<T> {
      const slot = slotOf(address)
      if (slot.waiting >= options.maxWaiting) {
        return Promise.reject(new GatewayError('CHAIN_SEND_QUEUE_FULL', `more than ${options.maxWaiting} sends waiting for one account`))
      }
      slot.waiting++
      const run = async (): Promise<T> => {
        try {
          return await runLocked(slot, address, send)
        } finally {
          slot.waiting--
        }
      }
      const result = slot.tail.then(run, run)
      slot.tail = result.catch(() => undefined)
      return result
    },
    invalidate(address: string): void {
      slotOf(address).next = undefined
    },
    snapshot(): Record<string, number | undefined> {
      const out: Record<string, number | undefined> = {}
      for (const [key, slot] of accounts) out[key] = slot.next
      return out
    },
  }
}
