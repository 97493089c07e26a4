/** One problem found in a config file, naming where it is and what was there. */
export interface ConfigIssue {
  /** Dotted path into the document, e.g. `routes[2].upstream`; empty for the whole document. */
  readonly path: string
  readonly message: string
  /** The offending value, rendered short and safe (truncated); absent when there was none. */
  readonly value?: string
  readonly severity: 'error' | 'warning'
}

/** Renders a zod/JS path (`['routes', 2, 'upstream']`) as `routes[2].upstream`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = ''
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`
    else out += out === '' ? String(key) : `.${String(key)}`
  }
  return out
}

const MAX_VALUE_CHARS = 80

/** Renders a value for an error message: JSON, truncated, never a whole sub-document. */
export function formatValue(value: unknown): string | undefined {
  if (value === undefined) return undefined
  let text: string
  if (typeof value === 'object' && value !== null) {
    text = Array.isArray(value) ? `array(${value.length})` : `object{${Object.keys(value).slice(0, 5).join(',')}}`
  } else {
    text = JSON.stringify(value) ?? String(value)
  }
  return text.length > MAX_VALUE_CHARS ? `${text.slice(0, MAX_VALUE_CHARS)}…` : text
}

/** `routes[2].upstream: unknown upstream "api" (value: "api")` */
export function formatIssue(issue: ConfigIssue): string {
  const where = issue.path === '' ? '(root)' : issue.path
  const value = issue.value === undefined ? '' : ` (got ${issue.value})`
  return `${issue.severity}: ${where}: ${issue.message}${value}`
}

/** Thrown when a config cannot be loaded; carries every issue found, not just the first. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError'
  readonly code = 'CONFIG_INVALID'
  readonly issues: readonly ConfigIssue[]
  constructor(source: string, issues: readonly ConfigIssue[]) {
    const errors = issues.filter((i) => i.severity === 'error')
    super(`invalid config ${source}: ${errors.length} error(s)\n${errors.map(formatIssue).join('\n')}`)
    this.issues = issues
  }
}
