/**
 * Per-request counters and histograms without per-call label hashing. prom-client validates and
 * hashes the label object on every `inc`/`observe`; on the request path that costs more than the rest
 * of the metrics together. Here a caller resolves a series handle once (per route, per upstream) and
 * updates plain numbers; the registry formats them at scrape time. Both classes implement the part of
 * prom-client's metric interface its Registry uses (`name`, `help`, `type`, `get`, `reset`).
 */
import type { Registry } from 'prom-client'

type Labels = Readonly<Record<string, string>>

interface ExportedValue {
  readonly labels: Record<string, string | number>
  readonly value: number
  readonly metricName?: string
}

/** A counter series: add to `value`. */
export interface CounterSeries {
  value: number
}

/** Series of one metric family keyed by their label set; a series is created on first use. */
class SeriesMap<T> {
  readonly #entries = new Map<string, { readonly labels: Labels; readonly series: T }>()
  readonly #create: () => T

  constructor(create: () => T) {
    this.#create = create
  }

  get(labels: Labels): T {
    const key = keyOf(labels)
    let entry = this.#entries.get(key)
    if (entry === undefined) {
      entry = { labels, series: this.#create() }
      this.#entries.set(key, entry)
    }
    return entry.series
  }

  delete(labels: Labels): void {
    this.#entries.delete(keyOf(labels))
  }

  clear(): void {
    this.#entries.clear()
  }

  entries(): IterableIterator<{ readonly labels: Labels; readonly series: T }> {
    return this.#entries.values()
  }
}

export class FastCounter {
  readonly name: string
  readonly help: string
  readonly type = 'counter'
  readonly aggregator = 'sum'
  readonly #series = new SeriesMap<CounterSeries>(() => ({ value: 0 }))

  constructor(options: { name: string; help: string; registers: readonly Registry[] }) {
    this.name = options.name
    this.help = options.help
    for (const r of options.registers) r.registerMetric(this as never)
  }

  /** The series for `labels` (created on first use); keep it and add to its `value`. */
  series(labels: Labels): CounterSeries {
    return this.#series.get(labels)
  }

  remove(labels: Labels): void {
    this.#series.delete(labels)
  }

  get(): Promise<{ name: string; help: string; type: string; values: ExportedValue[]; aggregator: string }> {
    const values: ExportedValue[] = []
    for (const { labels, series } of this.#series.entries())
      values.push({ labels: { ...labels }, value: series.value })
    return Promise.resolve({
      name: this.name,
      help: this.help,
      type: this.type,
      values,
      aggregator: this.aggregator,
    })
  }

  reset(): void {
    this.#series.clear()
  }
}

/** A histogram series: `observe(v)` is a bucket search and three additions. */
export class HistogramSeries {
  readonly #bounds: readonly number[]
  readonly counts: Float64Array
  sum = 0
  count = 0

  constructor(bounds: readonly number[]) {
    this.#bounds = bounds
    this.counts = new Float64Array(bounds.length)
  }

  observe(value: number): void {
    const bounds = this.#bounds
    for (let i = 0; i < bounds.length; i++) {
      if (value <= (bounds[i] as number)) {
        this.counts[i] = (this.counts[i] as number) + 1
        break
      }
    }
    this.sum += value
    this.count++
  }
}

export class FastHistogram {
  readonly name: string
  readonly help: string
  readonly type = 'histogram'
  readonly aggregator = 'sum'
  readonly #bounds: readonly number[]
  readonly #series: SeriesMap<HistogramSeries>

  constructor(options: {
    name: string
    help: string
    buckets: readonly number[]
    registers: readonly Registry[]
  }) {
    this.name = options.name
    this.help = options.help
    const bounds = [...options.buckets].sort((a, b) => a - b)
    this.#bounds = bounds
    this.#series = new SeriesMap(() => new HistogramSeries(bounds))
    for (const r of options.registers) r.registerMetric(this as never)
  }

  series(labels: Labels): HistogramSeries {
    return this.#series.get(labels)
  }

  remove(labels: Labels): void {
    this.#series.delete(labels)
  }

  get(): Promise<{ name: string; help: string; type: string; values: ExportedValue[]; aggregator: string }> {
    const values: ExportedValue[] = []
    const bucket = `${this.name}_bucket`
    for (const { labels, series } of this.#series.entries()) {
      let cumulative = 0
      for (let i = 0; i < this.#bounds.length; i++) {
        cumulative += series.counts[i] as number
        values.push({
          labels: { ...labels, le: this.#bounds[i] as number },
          value: cumulative,
          metricName: bucket,
        })
      }
      values.push({ labels: { ...labels, le: '+Inf' }, value: series.count, metricName: bucket })
      values.push({ labels: { ...labels }, value: series.sum, metricName: `${this.name}_sum` })
      values.push({ labels: { ...labels }, value: series.count, metricName: `${this.name}_count` })
    }
    return Promise.resolve({
      name: this.name,
      help: this.help,
      type: this.type,
      values,
      aggregator: this.aggregator,
    })
  }

  reset(): void {
    this.#series.clear()
  }
}

function keyOf(labels: Labels): string {
  let key = ''
  for (const name of Object.keys(labels).sort()) key += `${name}\u0000${labels[name] ?? ''}\u0001`
  return key
}
