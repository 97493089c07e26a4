// Mutation check of the modules that decide safety (docs/testing.md): applies small, realistic mutations
// (operator flips, boolean literals, removed guard lines, off-by-one constants) one at a time and runs the
// module's own unit tests against each. A mutant is "killed" when a test fails (or the run times out) and
// "survived" when every test still passes: a survivor is a behaviour no test pins.
//
//   node scripts/mutate.ts [--max N] [--module NAME] [--rev GIT_REV] [--timeout-ms MS] [--list]
//
// It never edits the working tree: the sources are copied (or exported from GIT_REV with `git archive`)
// into a temporary directory, mutated there, and the copy is deleted on exit, Ctrl-C or a crash. Within the
// copy each mutated file is restored in `finally` before the next mutant. No dependency beyond node.
import { spawn, execFileSync } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'

/** A module under test and the unit tests that decide its behaviour. */
export interface Target {
  readonly name: string
  readonly file: string
  readonly tests: readonly string[]
}

const TARGETS: readonly Target[] = [
  {
    name: 'retry policy',
    file: 'src/resilience/retry-policy.ts',
    tests: ['src/resilience/resilience.test.ts'],
  },
  {
    name: 'circuit breaker',
    file: 'src/resilience/circuit-breaker.ts',
    tests: ['src/resilience/resilience.test.ts'],
  },
  { name: 'header rules', file: 'src/http/headers.ts', tests: ['src/http/headers.test.ts'] },
  {
    name: 'forwarded headers',
    file: 'src/security/forwarded-headers.ts',
    tests: ['src/security/forwarded-headers.test.ts'],
  },
  { name: 'body limit', file: 'src/http/body-limit.ts', tests: ['src/http/body-limit.test.ts'] },
  {
    name: 'health tracker',
    file: 'src/health/health-tracker.ts',
    tests: ['src/health/health-tracker.test.ts'],
  },
  { name: 'redaction', file: 'src/observability/redact.ts', tests: ['src/observability/redact.test.ts'] },
  {
    name: 'nonce manager',
    file: 'src/blockchain/nonce-manager.ts',
    tests: ['src/blockchain/nonce-manager.test.ts'],
  },
]

/** One mutant: line `line` (0-based) of `target.file` replaced by `mutated`. */
export interface Mutant {
  readonly target: Target
  readonly line: number
  readonly original: string
  readonly mutated: string
  readonly operator: string
}

// Binary operators are written with a space either side (prettier), which keeps `<` of generics, `=>`
// of arrows and `|` of union types out of the way.
const FLIPS: ReadonlyArray<readonly [string, string]> = [
  [' < ', ' <= '],
  [' <= ', ' < '],
  [' > ', ' >= '],
  [' >= ', ' > '],
  [' === ', ' !== '],
  [' !== ', ' === '],
  [' && ', ' || '],
  [' || ', ' && '],
  [' + 1', ' - 1'],
  [' - 1', ' + 1'],
  [' += ', ' -= '],
  ['++', '--'],
]

function isCode(line: string): boolean {
  const t = line.trim()
  if (t === '' || t.startsWith('//') || t.startsWith('*') || t.startsWith('/*')) return false
  if (t.startsWith('import ') || t.startsWith('export type ') || t.startsWith('export interface '))
    return false
  if (/^(readonly )?[\w#]+\??: /.test(t) && !t.includes('=')) return false // interface or class field type
  return true
}

/** Every mutant of `target` (deterministic order: line, then operator). */
export function mutantsOf(target: Target, source: string): Mutant[] {
  const lines = source.split('\n')
  const out: Mutant[] = []
  const add = (line: number, mutated: string, operator: string) => {
    if (mutated !== lines[line]) out.push({ target, line, original: lines[line]!, mutated, operator })
  }
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i]!
    if (!isCode(text)) continue
    const code = text.replace(/\s\/\/.*$/, '') // not inside trailing comments
    for (const [from, to] of FLIPS) {
      for (let at = code.indexOf(from); at !== -1; at = code.indexOf(from, at + from.length)) {
        add(i, text.slice(0, at) + to + text.slice(at + from.length), `'${from.trim()}' → '${to.trim()}'`)
      }
    }
    for (const m of code.matchAll(/\b(true|false)\b/g)) {
      const flipped = m[1] === 'true' ? 'false' : 'true'
      add(i, text.slice(0, m.index) + flipped + text.slice(m.index + m[0].length), `${m[1]} → ${flipped}`)
    }
    for (const m of code.matchAll(/\(!(?!=)/g)) {
      add(i, text.slice(0, m.index + 1) + text.slice(m.index + 2), "'!' removed")
    }
    // Off-by-one constants: numeric literals outside strings and regexes.
    if (!/['/`]/.test(code)) {
      for (const m of code.matchAll(/(?<![\w.])(\d+)(?![\w.])/g)) {
        const n = Number(m[1])
        add(i, text.slice(0, m.index) + String(n + 1) + text.slice(m.index + m[0].length), `${n} → ${n + 1}`)
      }
    }
    // A guard that returns, continues or throws early, on one line: removed.
    if (/^\s*if \(.*\) (return|continue|throw)\b/.test(code)) add(i, '', 'guard line removed')
    // A statement that updates state: removed.
    if (/^\s*[\w.#[\]]+ (=|\+=|-=) .+$/.test(code) && !/^\s*(const|let|return)\b/.test(code)) {
      add(i, '', 'assignment removed')
    }
  }
  return out
}

/** Deterministic spread sample of at most `max` mutants (every k-th), so each module keeps its share. */
function sample<T>(items: readonly T[], max: number): T[] {
  if (items.length <= max) return [...items]
  const out: T[] = []
  for (let k = 0; k < max; k++) out.push(items[Math.floor((k * items.length) / max)]!)
  return out
}

/** Process group of the test run in progress, ended by pid if the check is interrupted. */
let runningGroup: number | undefined

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return
  try {
    process.kill(-pid, 'SIGKILL')
  } catch {
    // already gone
  }
}

function runTests(
  cwd: string,
  tests: readonly string[],
  timeoutMs: number,
): Promise<'pass' | 'fail' | 'timeout'> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--test', '--test-reporter=dot', ...tests], {
      cwd,
      stdio: 'ignore',
      detached: true, // own process group: a timeout ends the test runner and its children, by pid
      env: { ...process.env, LITGATE_FC_SEED: process.env.LITGATE_FC_SEED ?? '1' },
    })
    runningGroup = child.pid
    const timer = setTimeout(() => {
      killGroup(child.pid)
      resolve('timeout')
    }, timeoutMs)
    child.on('exit', (code) => {
      clearTimeout(timer)
      runningGroup = undefined
      resolve(code === 0 ? 'pass' : 'fail')
    })
  })
}

function prepareCopy(rev: string | undefined): string {
  const dir = mkdtempSync(join(tmpdir(), 'litgate-mutate-'))
  try {
    fillCopy(dir, rev)
  } catch (err) {
    rmSync(dir, { recursive: true, force: true })
    throw err
  }
  return dir
}

function fillCopy(dir: string, rev: string | undefined): void {
  if (rev === undefined) {
    for (const part of ['src', 'test', 'docs', 'package.json', 'tsconfig.json']) {
      if (existsSync(part)) cpSync(part, join(dir, part), { recursive: true })
    }
  } else {
    const tar = join(dir, '.export.tar')
    execFileSync('git', [
      'archive',
      '--format=tar',
      `--output=${tar}`,
      rev,
      'src',
      'test',
      'docs',
      'package.json',
    ])
    execFileSync('tar', ['-x', '-f', tar, '-C', dir])
    rmSync(tar)
  }
  symlinkSync(join(process.cwd(), 'node_modules'), join(dir, 'node_modules'))
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      max: { type: 'string', default: '400' },
      module: { type: 'string' },
      rev: { type: 'string' },
      'timeout-ms': { type: 'string', default: '30000' },
      list: { type: 'boolean', default: false },
    },
  })
  const max = Number(values.max)
  const timeoutMs = Number(values['timeout-ms'])
  if (!Number.isInteger(max) || max < 1) throw new Error(`--max must be an integer ≥ 1; got ${values.max}`)
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1000)
    throw new Error(`--timeout-ms must be ≥ 1000; got ${values['timeout-ms']}`)

  const dir = prepareCopy(values.rev)
  const cleanup = () => rmSync(dir, { recursive: true, force: true })
  process.once('exit', cleanup)
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      killGroup(runningGroup)
      cleanup()
      process.exit(130)
    })
  }

  const targets = TARGETS.filter((t) => values.module === undefined || t.name === values.module).filter(
    (t) => existsSync(join(dir, t.file)) && t.tests.every((f) => existsSync(join(dir, f))),
  )
  const skipped = TARGETS.filter(
    (t) => !targets.includes(t) && (values.module === undefined || t.name === values.module),
  )
  for (const t of skipped)
    process.stdout.write(`skip ${t.name}: ${t.file} or its tests absent at this revision\n`)
  const all = targets.flatMap((t) => mutantsOf(t, readFileSync(join(dir, t.file), 'utf8')))
  const perModule = Math.max(1, Math.floor(max / Math.max(1, targets.length)))
  const chosen = targets.flatMap((t) =>
    sample(
      all.filter((m) => m.target === t),
      perModule,
    ),
  )
  process.stdout.write(`${all.length} mutants generated, ${chosen.length} run (≤ ${perModule} per module)\n`)
  if (values.list) {
    for (const m of chosen)
      process.stdout.write(`${m.target.file}:${m.line + 1} ${m.operator}: ${m.mutated.trim()}\n`)
    return
  }

  for (const t of targets) {
    const result = await runTests(dir, t.tests, timeoutMs)
    if (result !== 'pass') throw new Error(`baseline: ${t.tests.join(' ')} ${result} before any mutation`)
  }

  const score = new Map<string, { killed: number; survived: number }>()
  const survivors: Mutant[] = []
  const started = performance.now()
  for (const m of chosen) {
    const path = join(dir, m.target.file)
    const source = readFileSync(path, 'utf8')
    const lines = source.split('\n')
    lines[m.line] = m.mutated
    let result: 'pass' | 'fail' | 'timeout'
    try {
      writeFileSync(path, lines.join('\n'))
      result = await runTests(dir, m.target.tests, timeoutMs)
    } finally {
      writeFileSync(path, source)
    }
    const s = score.get(m.target.name) ?? { killed: 0, survived: 0 }
    if (result === 'pass') {
      s.survived++
      survivors.push(m)
    } else s.killed++
    score.set(m.target.name, s)
  }

  let killed = 0
  let total = 0
  process.stdout.write('\nmodule               killed  survived  score\n')
  for (const t of targets) {
    const s = score.get(t.name) ?? { killed: 0, survived: 0 }
    killed += s.killed
    total += s.killed + s.survived
    const pct =
      s.killed + s.survived === 0 ? '-' : `${Math.round((100 * s.killed) / (s.killed + s.survived))}%`
    process.stdout.write(
      `${t.name.padEnd(20)} ${String(s.killed).padStart(6)}  ${String(s.survived).padStart(8)}  ${pct.padStart(5)}\n`,
    )
  }
  const seconds = Math.round((performance.now() - started) / 1000)
  process.stdout.write(
    `total: ${killed}/${total} killed (${total === 0 ? 0 : Math.round((100 * killed) / total)}%) in ${seconds} s\n`,
  )
  if (survivors.length > 0) {
    process.stdout.write('\nsurvivors:\n')
    for (const m of survivors)
      process.stdout.write(
        `  ${m.target.file}:${m.line + 1} ${m.operator}: ${m.mutated.trim() || '(line removed)'}\n`,
      )
  }
}

if (import.meta.main) await main()
