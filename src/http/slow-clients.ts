import type { ServerConfig } from '../config/index.ts'
import { ByteBudget } from './byte-budget.ts'
import { TransferWatch, type TransferRatePolicy } from './transfer-rate.ts'

/** What slow-client protection counted since start (read at scrape time). */
export interface SlowClientCounts {
  /** Request bodies moved from memory to a temp file. */
  readonly spills: number
  /** Request bodies refused (503) because neither the memory nor the temp-file budget could take them. */
  readonly bufferRefusals: number
  /** Request bodies forwarded unbuffered because the budgets were spent (`onExhausted: stream`). */
  readonly bufferBypasses: number
  /** Exchanges ended because the client sent its body too slowly (408). */
  readonly slowBodyAborts: number
  /** Responses cut because the client read them too slowly. */
  readonly slowReadAborts: number
  /** Requests refused (429) or responses cut because their client IP held its share of upstream slots. */
  readonly shareRefusals: number
}

/** What the metrics read at scrape time (Gateway.slowClients). */
export interface SlowClientSnapshot extends SlowClientCounts {
  /** Bytes of buffered request bodies and read-ahead responses in memory now. */
  readonly memoryBytes: number
  /** Bytes of buffered request bodies in temp files now. */
  readonly tempFileBytes: number
  /** HTTP/2 streams refused by `server.http2MaxStreamsPerClient` (since start). */
  readonly refusedStreams: number
}

/** Gateway-wide buffering state (`server.buffering` and the minimum rates): budgets, settings, counts. */
export interface BufferingSettings {
  readonly requestMemoryBytes: number
  readonly tempDir: string | undefined
  readonly onExhausted: 'refuse' | 'stream'
}

function ratePolicies(server: ServerConfig): [TransferRatePolicy, TransferRatePolicy] {
  return [
    { minBytesPerSecond: server.minRequestBodyBytesPerSecond, windowMs: server.minRateWindowMs },
    { minBytesPerSecond: server.minResponseBytesPerSecond, windowMs: server.minRateWindowMs },
  ]
}

/**
 * The gateway's slow-client protection state, shared by every request of every runtime: the memory
 * and temp-file budgets of buffered bodies and read-ahead responses, the minimum-rate watch (one
 * shared timer) and the counters. One per gateway; `configure` applies a reloaded `server` section.
 */
export class SlowClients {
  readonly memory: ByteBudget
  readonly disk: ByteBudget
  readonly watch: TransferWatch
  settings: BufferingSettings
  readonly counts = {
    spills: 0,
    bufferRefusals: 0,
    bufferBypasses: 0,
    slowBodyAborts: 0,
    slowReadAborts: 0,
    shareRefusals: 0,
  }

  constructor(server: ServerConfig, now: () => number) {
    const b = server.buffering
    this.memory = new ByteBudget(b.memoryBudgetBytes)
    this.disk = new ByteBudget(b.tempDir === undefined ? 0 : b.tempBudgetBytes)
    this.watch = new TransferWatch(...ratePolicies(server), now)
    this.settings = settingsOf(server)
  }

  /** A reloaded `server` section: new budgets and rates apply to new reservations and the next check. */
  configure(server: ServerConfig): void {
    const b = server.buffering
    this.memory.setLimit(b.memoryBudgetBytes)
    this.disk.setLimit(b.tempDir === undefined ? 0 : b.tempBudgetBytes)
    this.watch.configure(...ratePolicies(server))
    this.settings = settingsOf(server)
  }

  readonly onSpill = (): void => {
    this.counts.spills++
  }

  snapshot(): Omit<SlowClientSnapshot, 'refusedStreams'> {
    return { ...this.counts, memoryBytes: this.memory.usedBytes, tempFileBytes: this.disk.usedBytes }
  }
}

function settingsOf(server: ServerConfig): BufferingSettings {
  const b = server.buffering
  return Object.freeze({
    requestMemoryBytes: b.requestMemoryBytes,
    tempDir: b.tempDir,
    onExhausted: b.onExhausted,
  })
}
