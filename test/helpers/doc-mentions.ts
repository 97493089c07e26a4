/**
 * Finds the names a Markdown page mentions that the code must also know: metric names, admin
 * endpoints, error codes and environment variables, config key paths, and full example configs.
 * Pure (text in, mentions out) so that test/docs.test.ts can check the extraction on planted text.
 *
 * The notation a doc author uses (also in the failure messages of test/docs.test.ts):
 * - metric: `litgate_…` anywhere; `{a,b}` right after a `_` expands (`litgate_x_{a,b}` = `litgate_x_a`,
 *   `litgate_x_b`), a trailing `*` is a family prefix (`litgate_process_*`), and `{label,…}` or
 *   `{label="value"}` after the name names labels;
 * - admin endpoint: a code span `METHOD /path` (`GET /readyz?verbose`, `POST /reload`), or an admin URL
 *   on the default admin port (`http://127.0.0.1:9901/reload`, method from `-XPOST` on the same line);
 * - error code: an upper-case name with an underscore (`UPSTREAM_RESET`); `LITGATE_…` names (and a few
 *   others the code reads from the environment) are environment variables instead;
 * - config key: a code span holding a dotted path, absolute from a top-level key (`server.maxConnections`,
 *   `routes[].retry.maxRetries`, `config.routes`) or relative from a section name (`retry.maxRetries`,
 *   `pool.maxQueue`), optionally followed by `: value`; or an inline YAML mapping of a section
 *   (`admin: { enabled: true, port: 9901 }`). A single bare name (`maxBodyBytes`) is not checked;
 * - example config: a fenced `yaml` block whose first key is `version: 1`;
 * - repository file: a code span holding a relative path with a `/` that ends in a file extension or `/`
 *   (`src/http/proxy.ts`, `bench/`, or from src/: `http/websocket.ts`); a Markdown link target
 *   (`[x](operations/reload.md)`) relative to the page.
 */

export interface MetricMention {
  readonly line: number
  /** The text as written, for messages. */
  readonly text: string
  /** Names after brace expansion; for a family prefix, the prefix (without `*`). */
  readonly names: readonly string[]
  readonly isPrefix: boolean
  readonly labels: readonly string[]
}

export interface EndpointMention {
  readonly line: number
  readonly text: string
  readonly method: string
  /** Path without the query. */
  readonly path: string
  /** Path and query as written (`/readyz?verbose`). */
  readonly target: string
}

export interface NameMention {
  readonly line: number
  readonly name: string
}

export interface ConfigMention {
  readonly line: number
  readonly text: string
  /** Segments as written, `[]` kept (`['routes[]', 'retry', 'maxRetries']`); `config.` stripped. */
  readonly segments: readonly string[]
  /** True when written from the root (`config.` prefix). */
  readonly isRooted: boolean
  /** The value after `: `, when one was written. */
  readonly value: string | undefined
}

export interface YamlBlock {
  /** Line of the opening fence. */
  readonly line: number
  readonly text: string
}

export interface DocMentions {
  readonly metrics: MetricMention[]
  readonly endpoints: EndpointMention[]
  /** Upper-case names with an underscore: error codes or environment variables (told apart by the caller). */
  readonly upperNames: NameMention[]
  /** Code spans that look like config paths (the caller decides which first segments count). */
  readonly configPaths: ConfigMention[]
  /** Inline YAML mappings in code spans (`admin: { enabled: true }`), unparsed. */
  readonly inlineYaml: Array<{ readonly line: number; readonly text: string }>
  readonly yamlConfigs: YamlBlock[]
  /** Repository paths named in code spans (`src/http/proxy.ts`, `http/`). */
  readonly files: NameMention[]
  /** Relative Markdown link targets, without the `#fragment`. */
  readonly links: NameMention[]
}

const METHODS = 'GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS'
const ENDPOINT_SPAN = new RegExp(`^(${METHODS}) (/[^\\s]*)$`)
const ADMIN_URL = /https?:\/\/(?:127\.0\.0\.1|localhost|\[::1\]):9901(\/[^\s`'")]*)/g
const UPPER_NAME = /\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]*)+\*?(?![A-Za-z0-9])/g
const SEGMENT = '[a-z][A-Za-z0-9]*(?:\\[\\])?'
const CONFIG_SPAN = new RegExp(`^(config\\.)?(${SEGMENT}(?:\\.${SEGMENT})+)(?:\\s*:\\s+(\\S.*))?$`)
const INLINE_YAML_SPAN = /^[a-z][A-Za-z0-9]*:\s*\{.*\}$/
const CODE_SPAN = /`([^`\n]+)`/g
const FILE_SPAN = /^[A-Za-z0-9_.-]+\/(?:[A-Za-z0-9_.-]+\/)*(?:[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.[a-z]+)?$/
const LINK = /\]\(([^)\s]+)\)/g

/** Every mention in one Markdown page. Line numbers are 1-based. */
export function scanDoc(text: string): DocMentions {
  const out: DocMentions = {
    metrics: [],
    endpoints: [],
    upperNames: [],
    configPaths: [],
    inlineYaml: [],
    yamlConfigs: [],
    files: [],
    links: [],
  }
  const lines = text.split('\n')
  let fence: { lang: string; line: number; body: string[] } | undefined
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string
    const lineNo = i + 1
    const fenceMatch = /^\s*```(\w*)/.exec(line)
    if (fenceMatch !== null) {
      if (fence === undefined) {
        fence = { lang: fenceMatch[1] ?? '', line: lineNo, body: [] }
      } else {
        if (fence.lang === 'yaml' && /^version:\s*1\s*$/m.test(fence.body[0] ?? ''))
          out.yamlConfigs.push({ line: fence.line, text: fence.body.join('\n') })
        fence = undefined
      }
      continue
    }
    if (fence !== undefined) fence.body.push(line)
    // Anywhere, fenced code included: metrics, upper-case names, admin URLs.
    out.metrics.push(...scanMetrics(line, lineNo))
    for (const m of line.matchAll(UPPER_NAME)) out.upperNames.push({ line: lineNo, name: m[0] })
    for (const m of line.matchAll(ADMIN_URL)) {
      const target = m[1] as string
      const method = /-X\s*([A-Z]+)/.exec(line)?.[1] ?? 'GET'
      out.endpoints.push({ line: lineNo, text: m[0], method, path: target.split('?')[0] as string, target })
    }
    if (fence !== undefined) continue
    for (const m of line.matchAll(LINK)) {
      const target = (m[1] as string).split('#')[0] as string
      if (target !== '' && !/^[a-z]+:/.test(target)) out.links.push({ line: lineNo, name: target })
    }
    // Code spans of prose and tables only.
    for (const m of line.matchAll(CODE_SPAN)) {
      const span = (m[1] as string).trim()
      const endpoint = ENDPOINT_SPAN.exec(span)
      if (endpoint !== null) {
        const target = endpoint[2] as string
        out.endpoints.push({
          line: lineNo,
          text: span,
          method: endpoint[1] as string,
          path: target.split('?')[0] as string,
          target,
        })
        continue
      }
      const config = CONFIG_SPAN.exec(span)
      if (config !== null) {
        out.configPaths.push({
          line: lineNo,
          text: span,
          segments: (config[2] as string).split('.'),
          isRooted: config[1] !== undefined,
          value: config[3],
        })
        continue
      }
      if (INLINE_YAML_SPAN.test(span)) out.inlineYaml.push({ line: lineNo, text: span })
      else if (FILE_SPAN.test(span)) out.files.push({ line: lineNo, name: span })
    }
  }
  return out
}

/** Metric mentions on one line (see the module comment for the notation). */
export function scanMetrics(line: string, lineNo: number): MetricMention[] {
  const out: MetricMention[] = []
  const start = /\blitgate_/g
  let m: RegExpExecArray | null
  while ((m = start.exec(line)) !== null) {
    let i = m.index
    let bases = ['']
    const word = /[a-z0-9_]/
    const takeWord = (): string => {
      let s = ''
      while (i < line.length && word.test(line[i] as string)) s += line[i++]
      return s
    }
    for (;;) {
      const w = takeWord()
      bases = bases.map((b) => b + w)
      // `{a,b}` right after an underscore is an alternation, anything else in braces is labels.
      if (line[i] === '{' && line[i - 1] === '_') {
        const close = line.indexOf('}', i)
        if (close === -1) break
        const alternatives = line.slice(i + 1, close).split(',')
        bases = bases.flatMap((b) => alternatives.map((a) => b + a.trim()))
        i = close + 1
        continue
      }
      break
    }
    let isPrefix = false
    if (line[i] === '*') {
      isPrefix = true
      i++
    }
    const labels: string[] = []
    if (line[i] === '{') {
      const close = line.indexOf('}', i)
      if (close !== -1) {
        for (const part of line.slice(i + 1, close).split(',')) {
          const name = /^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:[=!]~?|$)/.exec(part)?.[1]
          if (name !== undefined) labels.push(name)
        }
        i = close + 1
      }
    }
    // A bare `litgate_` (prose about the prefix) names nothing.
    if (isPrefix || bases.some((b) => b !== 'litgate_'))
      out.push({ line: lineNo, text: line.slice(m.index, i), names: bases, isPrefix, labels })
    start.lastIndex = i
  }
  return out
}

/** Histogram sample suffixes: a doc may name `x_bucket`, `x_sum` or `x_count` of histogram `x`. */
export function metricBaseName(name: string, histograms: ReadonlySet<string>): string {
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (name.endsWith(suffix) && histograms.has(name.slice(0, -suffix.length)))
      return name.slice(0, -suffix.length)
  }
  return name
}

/**
 * Config key paths of a JSON Schema (as `configJsonSchema()` gives it): `server.maxConnections`,
 * `routes[].retry.budget.percent`, …, each with its schema node; object-valued keys included.
 */
export function schemaPaths(schema: Record<string, unknown>): Map<string, Record<string, unknown>> {
  const out = new Map<string, Record<string, unknown>>()
  const walk = (node: Record<string, unknown>, path: string): void => {
    if (Array.isArray(node['anyOf'])) {
      for (const alt of node['anyOf'] as Record<string, unknown>[]) walk(alt, path)
      return
    }
    if (node['type'] === 'array' && typeof node['items'] === 'object' && node['items'] !== null) {
      walk(node['items'] as Record<string, unknown>, `${path}[]`)
      return
    }
    const props = node['properties'] as Record<string, Record<string, unknown>> | undefined
    if (props === undefined) return
    for (const [key, child] of Object.entries(props)) {
      const p = path === '' ? key : `${path}.${key}`
      out.set(p, child)
      walk(child, p)
    }
  }
  walk(schema, '')
  return out
}

/** `a[].b.c` → `a.b.c`: docs may write array steps with or without `[]`. */
export function withoutArraySteps(path: string): string {
  return path.replaceAll('[]', '')
}
