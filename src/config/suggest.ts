/**
 * "Did you mean" for unknown config keys: the allowed keys at a path come from the schema itself (so a
 * new field is suggested without a list to maintain), the closest one by edit distance is offered.
 */
import type { z } from 'zod'

/**
 * Edit distance between two strings, case-insensitive: insertions, deletions, substitutions and
 * transpositions of neighbours each cost 1 (optimal string alignment), so `wieght` → `weight` is 1.
 */
export function editDistance(a: string, b: string): number {
  const s = a.toLowerCase()
  const t = b.toLowerCase()
  const rows: number[][] = []
  for (let i = 0; i <= s.length; i++) {
    const row: number[] = [i]
    for (let j = 1; j <= t.length; j++) {
      if (i === 0) {
        row.push(j)
        continue
      }
      const prev = rows[i - 1] as number[]
      const cost = s[i - 1] === t[j - 1] ? 0 : 1
      let d = Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + cost)
      if (i > 1 && j > 1 && s[i - 1] === t[j - 2] && s[i - 2] === t[j - 1]) {
        d = Math.min(d, ((rows[i - 2] as number[])[j - 2] as number) + 1)
      }
      row.push(d)
    }
    rows.push(row)
  }
  return (rows[s.length] as number[])[t.length] as number
}

/**
 * The allowed key closest to `key`, when it is close enough to be a typo: at most a third of the
 * longer name's length (at least 1, at most 3) edits. Ties go to the first in schema order.
 */
export function suggestKey(key: string, allowed: readonly string[]): string | undefined {
  let best: string | undefined
  let bestDistance = Infinity
  for (const candidate of allowed) {
    const d = editDistance(key, candidate)
    const limit = Math.min(3, Math.max(1, Math.floor(Math.max(key.length, candidate.length) / 3)))
    if (d <= limit && d < bestDistance) {
      best = candidate
      bestDistance = d
    }
  }
  return best
}

interface Def {
  readonly type: string
  readonly shape?: Record<string, z.ZodType>
  readonly element?: z.ZodType
  readonly innerType?: z.ZodType
  readonly in?: z.ZodType
  readonly options?: readonly z.ZodType[]
}

function defOf(schema: z.ZodType): Def {
  return (schema as unknown as { _zod: { def: Def } })._zod.def
}

/** Schemas reachable at `schema` once wrappers (optional, default, pipe/transform, union) are removed. */
function unwrap(schema: z.ZodType): z.ZodType[] {
  const def = defOf(schema)
  switch (def.type) {
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'catch':
    case 'readonly':
    case 'nonoptional':
      return def.innerType === undefined ? [] : unwrap(def.innerType)
    case 'pipe':
      return def.in === undefined ? [] : unwrap(def.in)
    case 'union':
      return (def.options ?? []).flatMap(unwrap)
    default:
      return [schema]
  }
}

/**
 * Keys an object at `path` (zod issue path) may have, in schema order; undefined when the path does not
 * lead to an object schema. Union branches contribute all their keys.
 */
export function allowedKeysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] | undefined {
  let current = unwrap(schema)
  for (const segment of path) {
    const next: z.ZodType[] = []
    for (const s of current) {
      const def = defOf(s)
      if (def.type === 'object' && typeof segment === 'string') {
        const child = def.shape?.[segment]
        if (child !== undefined) next.push(...unwrap(child))
      } else if (def.type === 'array' && typeof segment === 'number' && def.element !== undefined) {
        next.push(...unwrap(def.element))
      }
    }
    current = next
  }
  const keys = new Set<string>()
  for (const s of current) {
    const def = defOf(s)
    if (def.type === 'object') for (const k of Object.keys(def.shape ?? {})) keys.add(k)
  }
  return keys.size === 0 ? undefined : [...keys]
}

/** `unknown key "wieght"; did you mean "weight"?`, or the allowed keys when none is close. */
export function unknownKeyMessage(key: string, allowed: readonly string[] | undefined): string {
  if (allowed === undefined) return `unknown key ${JSON.stringify(key)}`
  const suggestion = suggestKey(key, allowed)
  if (suggestion !== undefined)
    return `unknown key ${JSON.stringify(key)}; did you mean ${JSON.stringify(suggestion)}?`
  return `unknown key ${JSON.stringify(key)} (allowed: ${allowed.join(', ')})`
}
