import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'

const SRC = new URL('../src', import.meta.url).pathname

function sourceFiles(dir: string): string[] {
  const out: string[] = []
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path))
    else if (name.endsWith('.ts') && !name.endsWith('.test.ts')) out.push(path)
  }
  return out
}

/** Subsystem of a file under src/: its first folder, or '(root)' for src/main.ts. */
function subsystemOf(file: string): string {
  const rel = relative(SRC, file)
  return rel.includes('/') ? (rel.split('/')[0] as string) : '(root)'
}

const IMPORT = /^\s*(?:import|export)\s[^'"]*?from\s+'(\.{1,2}\/[^']+)'/gm

const edges: Array<{ from: string; to: string; file: string; target: string }> = []
for (const file of sourceFiles(SRC)) {
  const text = readFileSync(file, 'utf8')
  for (const m of text.matchAll(IMPORT)) {
    const target = resolve(dirname(file), m[1] as string)
    if (!target.startsWith(SRC)) continue
    edges.push({
      from: subsystemOf(file),
      to: subsystemOf(target),
      file: relative(SRC, file),
      target: relative(SRC, target),
    })
  }
}

test('a subsystem imports another only through its index.ts (its public surface)', () => {
  const violations = edges
    .filter((e) => e.from !== e.to && e.to !== '(root)' && !e.target.endsWith('/index.ts'))
    .map((e) => `${e.file} -> ${e.target}`)
  assert.deepEqual(violations, [])
})

test('nothing imports main.ts (the composition root)', () => {
  assert.deepEqual(
    edges.filter((e) => e.target === 'main.ts').map((e) => e.file),
    [],
  )
})

test('subsystems do not depend on each other in a cycle', () => {
  const graph = new Map<string, Set<string>>()
  for (const e of edges) {
    if (e.from === e.to) continue
    if (!graph.has(e.from)) graph.set(e.from, new Set())
    graph.get(e.from)?.add(e.to)
  }
  const cycles: string[] = []
  const state = new Map<string, 'visiting' | 'done'>()
  const visit = (node: string, path: string[]): void => {
    if (state.get(node) === 'done') return
    if (state.get(node) === 'visiting') {
      cycles.push([...path.slice(path.indexOf(node)), node].join(' -> '))
      return
    }
    state.set(node, 'visiting')
    for (const next of graph.get(node) ?? []) visit(next, [...path, node])
    state.set(node, 'done')
  }
  for (const node of graph.keys()) visit(node, [])
  assert.deepEqual(cycles, [])
})
