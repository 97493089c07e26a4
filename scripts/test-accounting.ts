// Pure accounting for `npm test`: how many tests each file declares, how many the runner really executed
// and reported, and every way the two can disagree. scripts/test.js does the I/O; this module is tested by
// test/test-accounting.test.ts.
import ts from 'typescript'

/** One line written by scripts/test-events-reporter.js. */
export interface TestEvent {
  type: 'test:pass' | 'test:fail' | 'test:summary'
  name?: string
  file?: string
  nesting?: number
  kind?: 'test' | 'suite' | null
  skip?: boolean
  todo?: boolean
  failureType?: string | null
  counts?: {
    tests: number
    passed: number
    failed: number
    cancelled: number
    skipped: number
    todo: number
  } | null
}

export interface FileTally {
  declared: number
  executed: number
  passed: number
  failed: number
  skipped: number
  cancelled: number
  /** The file itself failed (crashed, leaked a handle, exited non-zero) besides its tests. */
  fileFailed: boolean
}

export interface Accounting {
  files: Map<string, FileTally>
  passed: number
  failed: number
  skipped: number
  cancelled: number
  declared: number
  executed: number
  /** Human-readable reasons the run cannot be trusted; empty when every declared test ran and reported. */
  problems: string[]
}

/**
 * How many tests a file declares by source: each call `test(…)`, `it(…)`, `test.skip(…)`, `it.only(…)`,
 * `test.todo(…)` whose callee is the bare identifier counts once (found with the TypeScript parser, so
 * strings, comments and `re.test(s)` never count). A declaration inside a loop counts once however many
 * tests it generates: the runner must execute at least this many.
 */
export function countDeclarations(source: string, fileName = 'file.ts'): number {
  const sf = ts.createSourceFile(fileName, source, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS)
  let n = 0
  const visit = (node: ts.Node): void => {
    if (ts.isCallExpression(node) && isDeclarationCallee(node.expression)) n++
    ts.forEachChild(node, visit)
  }
  visit(sf)
  return n
}

function isDeclarationCallee(callee: ts.Expression): boolean {
  if (ts.isIdentifier(callee)) return callee.text === 'test' || callee.text === 'it'
  return (
    ts.isPropertyAccessExpression(callee) &&
    ts.isIdentifier(callee.expression) &&
    (callee.expression.text === 'test' || callee.expression.text === 'it') &&
    ['only', 'skip', 'todo'].includes(callee.name.text)
  )
}

/** Strips comments (forge sources: test functions are not hidden in strings there). */
function stripComments(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1')
}

function emptyTally(declared: number): FileTally {
  return { declared, executed: 0, passed: 0, failed: 0, skipped: 0, cancelled: 0, fileFailed: false }
}

/**
 * Reconciles the declared counts (keyed by absolute file path) with the reporter's events. `relativeOf`
 * maps an absolute path to the name the runner gives a file-level result (the path as passed on the command
 * line).
 */
export function reconcile(
  declared: ReadonlyMap<string, number>,
  events: readonly TestEvent[],
  relativeOf: (file: string) => string,
): Accounting {
  const files = new Map<string, FileTally>()
  for (const [file, n] of declared) files.set(file, emptyTally(n))
  let runnerSummary: NonNullable<TestEvent['counts']> | null = null
  const problems: string[] = []
  let passed = 0
  let failed = 0
  let skipped = 0
  let cancelled = 0

  for (const ev of events) {
    if (ev.type === 'test:summary') {
      if (ev.file === undefined || ev.file === null) runnerSummary = ev.counts ?? null
      continue
    }
    if (ev.kind === 'suite') continue
    const file = ev.file ?? '(unknown file)'
    let tally = files.get(file)
    if (tally === undefined) {
      tally = emptyTally(0)
      files.set(file, tally)
    }
    const isFileResult =
      ev.nesting === 0 && ev.file !== undefined && (ev.name === relativeOf(ev.file) || ev.name === ev.file)
    if (ev.type === 'test:pass') {
      if (ev.skip === true || ev.todo === true) {
        tally.skipped++
        skipped++
      } else {
        tally.passed++
        passed++
      }
      tally.executed++
    } else if (ev.todo === true) {
      // A failing todo test does not fail the run (node:test semantics).
      tally.skipped++
      tally.executed++
      skipped++
    } else {
      failed++
      tally.failed++
      if (isFileResult) tally.fileFailed = true
      else tally.executed++
      if (ev.failureType === 'cancelledByParent') {
        tally.cancelled++
        cancelled++
      }
    }
  }

  let totalDeclared = 0
  let totalExecuted = 0
  for (const [file, t] of [...files].sort(([a], [b]) => a.localeCompare(b))) {
    totalDeclared += t.declared
    totalExecuted += t.executed
    const name = relativeOf(file)
    if (t.executed < t.declared) {
      problems.push(
        `${name}: declares ${t.declared} test(s) but ${t.executed} ran and reported` +
          (t.fileFailed ? ' (the file itself failed: see its output above)' : ' (results lost)'),
      )
    }
    if (t.cancelled > 0) problems.push(`${name}: ${t.cancelled} test(s) cancelled`)
  }
  if (runnerSummary === null) {
    problems.push('the test runner printed no final summary (it crashed or was killed)')
  } else {
    const counted = passed + failed + skipped
    if (runnerSummary.tests !== counted) {
      problems.push(
        `the runner counted ${runnerSummary.tests} tests but ${counted} results reached the reporter`,
      )
    }
  }
  return {
    files,
    passed,
    failed,
    skipped,
    cancelled,
    declared: totalDeclared,
    executed: totalExecuted,
    problems,
  }
}

/** Forge: declared test functions in test contracts (`function test…(`/`function invariant…(`). */
export function countForgeDeclarations(source: string): number {
  return stripComments(source).match(/\bfunction\s+(?:test|invariant)\w*\s*\(/g)?.length ?? 0
}
