import { gcraDecide, type GcraDecision, type GcraPolicy } from './gcra.ts'
import type { LimiterStore, LimiterStoreStats } from './store.ts'

export interface MemoryStoreOptions {
  /** Hard cap on keys held (`rateLimit.maxTrackedKeys`). */
  readonly maxKeys: number
}

export interface MemoryStoreDeps {
  /** Monotonic microseconds. Default: performance.now() × 1000. */
  readonly nowUs?: () => number
}

const INITIAL_SLOTS = 1024
/** Expired keys reclaimed per new key, so the table shrinks back to the active set as traffic flows. */
const RECLAIM_PER_INSERT = 2

/**
 * GCRA state in process memory with a hard cap on keys: a Map from key to slot, the TATs in a typed
 * array, and a binary min-heap of slots ordered by TAT (arrays grow by doubling up to the cap, so an
 * unused store costs almost nothing).
 *
 * Eviction when the cap is reached drops the key with the smallest TAT: first any key whose TAT has
 * passed (it is indistinguishable from a fresh key: nothing is lost), else the key closest to being
 * fresh again (the one that loses the least debt). This is what makes a flood of new keys useless for
 * resetting a hostile client: a client being limited has the largest debt in the table (its TAT is up to
 * a full window ahead), while each flood key holds one interval of debt, so flood keys evict each other
 * and established debts stay. An LRU cap would do the opposite: `maxKeys` requests from fresh addresses
 * would push out an idle limited client and hand it a new burst.
 */
export class MemoryLimiterStore implements LimiterStore {
  readonly kind = 'memory' as const
  readonly #maxKeys: number
  readonly #nowUs: () => number
  readonly #slotOf = new Map<string, number>()
  #keys: (string | undefined)[] = []
  #tat: Float64Array
  /** heap[i] = slot; posOf[slot] = i. */
  #heap: Int32Array
  #posOf: Int32Array
  #heapSize = 0
  #free: number[] = []
  #nextSlot = 0
  #evictedExpired = 0
  #evictedActive = 0

  constructor(options: MemoryStoreOptions, deps: MemoryStoreDeps = {}) {
    if (!Number.isInteger(options.maxKeys) || options.maxKeys < 1)
      throw new RangeError(`invariant: maxKeys ${options.maxKeys}`)
    this.#maxKeys = options.maxKeys
    this.#nowUs = deps.nowUs ?? (() => Math.floor(performance.now() * 1000))
    const n = Math.min(INITIAL_SLOTS, options.maxKeys)
    this.#tat = new Float64Array(n)
    this.#heap = new Int32Array(n)
    this.#posOf = new Int32Array(n)
  }

  get size(): number {
    return this.#slotOf.size
  }

  get maxKeys(): number {
    return this.#maxKeys
  }

  take(key: string, policy: GcraPolicy, cost = 1): GcraDecision {
    const now = this.#nowUs()
    const slot = this.#slotOf.get(key)
    if (slot !== undefined) {
      const d = gcraDecide(this.#tat[slot], now, policy, cost)
      if (d.isAllowed) {
        this.#tat[slot] = d.tatUs
        // The TAT only grows: the slot can only move down the min-heap.
        this.#siftDown(this.#posOf[slot] as number)
      }
      return d
    }
    const d = gcraDecide(undefined, now, policy, cost)
    if (d.isAllowed) this.#insert(key, d.tatUs, now)
    return d
  }

  stats(): LimiterStoreStats {
    return {
      trackedKeys: this.#slotOf.size,
      evictedExpired: this.#evictedExpired,
      evictedActive: this.#evictedActive,
    }
  }

  close(): Promise<void> {
    this.#slotOf.clear()
    this.#keys = []
    this.#heapSize = 0
    this.#free = []
    this.#nextSlot = 0
    return Promise.resolve()
  }

  /** The key with the smallest TAT and that TAT, or undefined when empty (for tests and diagnostics). */
  peekOldest(): { key: string; tatUs: number } | undefined {
    if (this.#heapSize === 0) return undefined
    const slot = this.#heap[0] as number
    return { key: this.#keys[slot] as string, tatUs: this.#tat[slot] as number }
  }

  #insert(key: string, tatUs: number, now: number): void {
    // Reclaim a few keys whose TAT has passed (they carry no information), so the table shrinks to
    // the keys that are actually limited instead of staying at its high-water mark.
    for (let i = 0; i < RECLAIM_PER_INSERT && this.#heapSize > 0; i++) {
      if ((this.#tat[this.#heap[0] as number] as number) > now) break
      this.#evictedExpired++
      this.#removeTop()
    }
    if (this.#slotOf.size >= this.#maxKeys) {
      if ((this.#tat[this.#heap[0] as number] as number) <= now) this.#evictedExpired++
      else this.#evictedActive++
      this.#removeTop()
    }
    const slot = this.#allocate()
    this.#keys[slot] = key
    this.#tat[slot] = tatUs
    this.#slotOf.set(key, slot)
    const at = this.#heapSize++
    this.#heap[at] = slot
    this.#posOf[slot] = at
    this.#siftUp(at)
  }

  #allocate(): number {
    const reused = this.#free.pop()
    if (reused !== undefined) return reused
    const slot = this.#nextSlot++
    if (slot >= this.#tat.length) this.#grow()
    return slot
  }

  #grow(): void {
    const n = Math.min(this.#maxKeys, this.#tat.length * 2)
    const tat = new Float64Array(n)
    tat.set(this.#tat)
    const heap = new Int32Array(n)
    heap.set(this.#heap)
    const posOf = new Int32Array(n)
    posOf.set(this.#posOf)
    this.#tat = tat
    this.#heap = heap
    this.#posOf = posOf
  }

  #removeTop(): void {
    const slot = this.#heap[0] as number
    this.#slotOf.delete(this.#keys[slot] as string)
    this.#keys[slot] = undefined
    this.#free.push(slot)
    const last = --this.#heapSize
    if (last > 0) {
      const moved = this.#heap[last] as number
      this.#heap[0] = moved
      this.#posOf[moved] = 0
      this.#siftDown(0)
    }
  }

  #siftUp(i: number): void {
    const heap = this.#heap
    const tat = this.#tat
    const slot = heap[i] as number
    const value = tat[slot] as number
    while (i > 0) {
      const parent = (i - 1) >> 1
      const p = heap[parent] as number
      if ((tat[p] as number) <= value) break
      heap[i] = p
      this.#posOf[p] = i
      i = parent
    }
    heap[i] = slot
    this.#posOf[slot] = i
  }

  #siftDown(i: number): void {
    const heap = this.#heap
    const tat = this.#tat
    const n = this.#heapSize
    const slot = heap[i] as number
    const value = tat[slot] as number
    for (;;) {
      const left = 2 * i + 1
      if (left >= n) break
      const right = left + 1
      let child = left
      if (right < n && (tat[heap[right] as number] as number) < (tat[heap[left] as number] as number))
        child = right
      const c = heap[child] as number
      if ((tat[c] as number) >= value) break
      heap[i] = c
      this.#posOf[c] = i
      i = child
    }
    heap[i] = slot
    this.#posOf[slot] = i
  }
}
