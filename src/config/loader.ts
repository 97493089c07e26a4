import { readFile } from 'node:fs/promises'
import { extname } from 'node:path'
import { parseDocument } from 'yaml'
import type { z } from 'zod'
import { configSchema, type Config } from './schema.ts'
import { ConfigError, formatPath, formatValue, type ConfigIssue } from './issues.ts'
import { checkConfigSemantics } from './validation.ts'
import { deepFreeze } from './freeze.ts'
import { allowedKeysAt, unknownKeyMessage } from './suggest.ts'

export type ConfigFormat = 'yaml' | 'json'

/** Result of parsing: a validated, deep-frozen config plus warnings, or every issue found. */
export type ParseResult =
  | { readonly ok: true; readonly config: Config; readonly warnings: readonly ConfigIssue[] }
  | { readonly ok: false; readonly issues: readonly ConfigIssue[] }

function lineCol(text: string, offset: number): string {
  let line = 1
  let col = 1
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++
      col = 1
    } else col++
  }
  return `line ${line}, column ${col}`
}

function parseText(text: string, format: ConfigFormat): { data: unknown; issues: ConfigIssue[] } {
  if (format === 'json') {
    try {
      return { data: JSON.parse(text) as unknown, issues: [] }
    } catch (err) {
      return {
        data: undefined,
        issues: [{ path: '', message: `invalid JSON: ${(err as Error).message}`, severity: 'error' }],
      }
    }
  }
  // yaml: duplicate keys are errors (uniqueKeys default); no custom tags; aliases bounded.
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true })
  if (doc.errors.length > 0) {
    return {
      data: undefined,
      issues: doc.errors.map((e) => ({
        path: '',
        message: `invalid YAML at ${lineCol(text, e.pos[0])}: ${e.message.split('\n')[0] ?? e.code}`,
        severity: 'error' as const,
      })),
    }
  }
  return { data: doc.toJS({ maxAliasCount: 100 }) as unknown, issues: [] }
}

type ZodIssue = z.core.$ZodIssue

/**
 * One zod issue as config issues. An unknown key (also inside a union such as `path: { prefx: / }`) is
 * one issue per key, with the closest allowed key at that path suggested: the same text for `validate`,
 * `run` and reload, since they share this parser.
 */
function schemaIssues(issue: ZodIssue): ConfigIssue[] {
  const path = formatPath(issue.path)
  const unknown = issue.code === 'unrecognized_keys' ? issue.keys : unknownInEveryBranch(issue)
  if (unknown !== undefined) {
    const allowed = allowedKeysAt(configSchema, issue.path)
    return unknown.map((key) => ({
      path,
      message: unknownKeyMessage(key, allowed),
      severity: 'error' as const,
    }))
  }
  const base = { path, message: issue.message, severity: 'error' as const }
  const value = formatValue((issue as { input?: unknown }).input)
  return [value === undefined ? base : { ...base, value }]
}

/** Keys every branch of a failed union rejected as unknown (then they, not the union, are the problem). */
function unknownInEveryBranch(issue: ZodIssue): readonly string[] | undefined {
  if (issue.code !== 'invalid_union' || issue.errors.length === 0) return undefined
  let common: Set<string> | undefined
  for (const branch of issue.errors) {
    const keys = new Set(
      branch.flatMap((i) => (i.code === 'unrecognized_keys' && i.path.length === 0 ? i.keys : [])),
    )
    common = common === undefined ? keys : new Set([...common].filter((k) => keys.has(k)))
  }
  return common === undefined || common.size === 0 ? undefined : [...common]
}

/**
 * Parses and validates a config document: syntax, schema (types, ranges, unknown keys) and semantics
 * (references, duplicates, shadowed routes). Never throws for bad input; returns every issue found.
 */
export function parseConfig(text: string, format: ConfigFormat = 'yaml'): ParseResult {
  const { data, issues } = parseText(text, format)
  if (issues.length > 0) return { ok: false, issues }
  const parsed = configSchema.safeParse(data, { reportInput: true })
  if (!parsed.success) {
    return { ok: false, issues: parsed.error.issues.flatMap(schemaIssues) }
  }
  const semantic = checkConfigSemantics(parsed.data)
  if (semantic.some((i) => i.severity === 'error')) return { ok: false, issues: semantic }
  return { ok: true, config: deepFreeze(parsed.data), warnings: semantic }
}

/** Picks the format from the file extension (.json → JSON, anything else → YAML). */
export function formatOf(path: string): ConfigFormat {
  return extname(path).toLowerCase() === '.json' ? 'json' : 'yaml'
}

/** Reads and parses a config file; throws ConfigError (with every issue) when it is invalid. */
export async function loadConfigFile(
  path: string,
): Promise<{ config: Config; warnings: readonly ConfigIssue[] }> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO'
    throw new ConfigError(path, [
      { path: '', message: `cannot read config file (${code})`, severity: 'error' },
    ])
  }
  const result = parseConfig(text, formatOf(path))
  if (!result.ok) throw new ConfigError(path, result.issues)
  return { config: result.config, warnings: result.warnings }
}
