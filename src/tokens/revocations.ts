/**
 * Revoked token families and token ids as the edge sees them. In process: a set checked on every request
 * (two Map lookups). Across instances: a RevocationBus (Redis pub/sub channel `litgate:revocations` by
 * default) carries each revocation to every instance, and the database's list of revoked families is
 * polled as a backstop (an instance that missed a message, or no Redis at all). An entry is kept until
 * every access token it can concern has expired (the longest access lifetime plus the clock skew).
 */

/** One revocation on the wire (JSON on the bus). */
export interface RevocationMessage {
  readonly kind: 'family' | 'jti'
  readonly id: string
  /** Instance that published it (an instance ignores its own echo). */
  readonly origin: string
}

/** Publishes revocations to the other instances and hands theirs over. */
export interface RevocationBus {
  publish(message: RevocationMessage): Promise<void>
  /** Registers the receiver of the other instances' messages (called once). */
  onMessage(receive: (message: RevocationMessage) => void): void
  close(): Promise<void>
}

export interface RevocationSet {
  revokeFamily(id: string, nowMs: number): void
  revokeJti(id: string, nowMs: number): void
  /** Whether the family or the token id was revoked (hot path). */
  isRevoked(fam: string, jti: string): boolean
  /** Drops entries older than the retention; answers how many. */
  sweep(nowMs: number): number
  readonly size: number
}

/** `retentionMs`: how long an entry is kept (≥ the longest access-token lifetime plus the skew). */
export function createRevocationSet(retentionMs: number): RevocationSet {
  const families = new Map<string, number>()
  const jtis = new Map<string, number>()
  const sweepMap = (m: Map<string, number>, nowMs: number): number => {
    let n = 0
    // Insertion order is revocation order: stop at the first entry still inside the retention.
    for (const [id, at] of m) {
      if (nowMs - at < retentionMs) break
      m.delete(id)
      n++
    }
    return n
  }
  return {
    revokeFamily(id, nowMs) {
      if (!families.has(id)) families.set(id, nowMs)
    },
    revokeJti(id, nowMs) {
      if (!jtis.has(id)) jtis.set(id, nowMs)
    },
    isRevoked: (fam, jti) => families.has(fam) || (jtis.size > 0 && jtis.has(jti)),
    sweep: (nowMs) => sweepMap(families, nowMs) + sweepMap(jtis, nowMs),
    get size() {
      return families.size + jtis.size
    },
  }
}

/** What the Redis adapter needs of two ioredis clients (a subscriber connection issues no other command). */
export interface RedisPublisher {
  publish(channel: string, message: string): Promise<unknown>
}
export interface RedisSubscriber {
  subscribe(channel: string): Promise<unknown>
  on(event: 'message', listener: (channel: string, message: string) => void): unknown
}

const ID = /^[A-Za-z0-9._:-]{1,128}$/

/** Parses a bus message; undefined for anything else on the channel (never trusted further). */
export function parseRevocationMessage(text: string): RevocationMessage | undefined {
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch {
    return undefined
  }
  if (v === null || typeof v !== 'object') return undefined
  const { kind, id, origin } = v as Record<string, unknown>
  if (kind !== 'family' && kind !== 'jti') return undefined
  if (typeof id !== 'string' || !ID.test(id) || typeof origin !== 'string' || origin.length > 64)
    return undefined
  return { kind, id, origin }
}

/**
 * The bus over Redis pub/sub: `publisher.publish(channel, JSON)`; `subscriber` subscribed to `channel`.
 * Publishing failures are reported to `onError` and swallowed: the database poll is the backstop.
 */
export function createRedisRevocationBus(
  clients: {
    readonly publisher: RedisPublisher
    readonly subscriber: RedisSubscriber
    readonly close: () => Promise<void>
  },
  options: { readonly channel: string; readonly onError: (err: Error) => void },
): RevocationBus {
  let receive: ((m: RevocationMessage) => void) | undefined
  clients.subscriber.on('message', (channel, text) => {
    if (channel !== options.channel) return
    const message = parseRevocationMessage(text)
    if (message !== undefined) receive?.(message)
  })
  clients.subscriber.subscribe(options.channel).catch((err: unknown) => options.onError(err as Error))
  return {
    async publish(message) {
      try {
        await clients.publisher.publish(options.channel, JSON.stringify(message))
      } catch (err) {
        options.onError(err as Error)
      }
    },
    onMessage(r) {
      receive = r
    },
    close: () => clients.close(),
  }
}
