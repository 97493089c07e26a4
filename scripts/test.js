// The project's one test command (`npm test`): the contract suite (forge) when contracts/ exists, then
// every TypeScript test file under src/ and test/ through node's test runner. Extra arguments narrow the
// TypeScript run to those files.
//
// The count is part of the result. Every test file is scanned for its declarations (scripts/test-accounting.ts)
// and the runner's results are collected by a reporter of ours beside the spec reporter; the run fails when
// a file reports fewer tests than it declares, when a test is cancelled, when a file crashes or keeps a handle
// open after its tests (scripts/test-leak-guard.js), or when the runner's own total disagrees with the
// results that reached the reporter. The closing line is "tests: N passed, N failed, N skipped".
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { countDeclarations, countForgeDeclarations, reconcile } from './test-accounting.ts'

const args = process.argv.slice(2)
const root = process.cwd()
let passed = 0
let failed = 0
let skipped = 0
const problems = []

/** Runs a command, streaming its output through while scanning lines with `onLine`. */
function run(cmd, cmdArgs, options, onLine, limitMs) {
  return new Promise((resolvePromise) => {
    const child = spawn(cmd, cmdArgs, { ...options, stdio: ['ignore', 'pipe', 'pipe'] })
    const timer =
      limitMs === undefined
        ? undefined
        : setTimeout(() => {
            problems.push(
              `${cmd} ${cmdArgs[0] ?? ''} still running after ${Math.round(limitMs / 1000)} s: killed`,
            )
            child.kill('SIGKILL')
          }, limitMs)
    for (const stream of [child.stdout, child.stderr]) {
      const out = stream === child.stdout ? process.stdout : process.stderr
      createInterface({ input: stream }).on('line', (line) => {
        out.write(line + '\n')
        onLine(line)
      })
    }
    child.on('close', (code, signal) => {
      if (timer !== undefined) clearTimeout(timer)
      resolvePromise(code ?? (signal ? 1 : 0))
    })
  })
}

/** Files under `dir` whose name ends with `suffix`, recursively, skipping node_modules. */
function findFiles(dir, suffix) {
  if (!existsSync(dir)) return []
  const out = []
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules') continue
    const path = join(dir, name)
    if (statSync(path).isDirectory()) out.push(...findFiles(path, suffix))
    else if (name.endsWith(suffix)) out.push(path)
  }
  return out.sort()
}

let exitCode = 0
const onlyTs = args.length > 0 || process.env.LITGATE_SKIP_CONTRACTS === '1'
if (!onlyTs && existsSync('contracts/foundry.toml')) {
  if (!existsSync('contracts/node_modules')) symlinkSync('../node_modules', 'contracts/node_modules')
  const declaredForge = findFiles('contracts/test', '.sol').reduce(
    (n, f) => n + countForgeDeclarations(readFileSync(f, 'utf8')),
    0,
  )
  // contracts/tools/forge runs the real binary: the npm wrapper exits 0 even when forge fails.
  let summary = null
  const code = await run('sh', ['contracts/tools/forge', 'test', '--root', 'contracts'], {}, (line) => {
    // forge: "Ran 4 test suites in 1.2s (3.4s CPU time): 120 tests passed, 0 failed, 0 skipped (120 total tests)"
    const m = /Ran \d+ test suites?.*?: (\d+) tests passed, (\d+) failed, (\d+) skipped/.exec(line)
    if (m) summary = { passed: Number(m[1]), failed: Number(m[2]), skipped: Number(m[3]) }
  })
  if (summary !== null) {
    passed += summary.passed
    failed += summary.failed
    skipped += summary.skipped
    const ran = summary.passed + summary.failed + summary.skipped
    if (ran < declaredForge) problems.push(`contracts: ${declaredForge} forge tests declared but ${ran} ran`)
  }
  if (code !== 0 || summary === null) {
    problems.push(`contract tests failed (forge exit ${code}${summary === null ? ', no summary line' : ''})`)
  }
}

const files = (
  args.length > 0 ? args : [...findFiles('src', '.test.ts'), ...findFiles('test', '.test.ts')]
).map((f) => resolve(f))
const declared = new Map(files.map((f) => [f, countDeclarations(readFileSync(f, 'utf8'))]))
const eventsDir = mkdtempSync(join(tmpdir(), 'litgate-test-'))
const eventsFile = join(eventsDir, 'events.jsonl')
const concurrency = process.env.LITGATE_TEST_CONCURRENCY ?? '3'
// A hung file cannot hold CI forever: each test has --test-timeout, a leaked handle fails its file
// (test-leak-guard.js), and the whole run has this ceiling.
const runLimitMs = Number(process.env.LITGATE_TEST_RUN_LIMIT_MS ?? 20 * 60_000)
const code = await run(
  process.execPath,
  [
    '--test',
    `--test-concurrency=${concurrency}`,
    '--test-timeout=180000',
    '--import',
    new URL('./test-leak-guard.js', import.meta.url).pathname,
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    `--test-reporter=${new URL('./test-events-reporter.js', import.meta.url).pathname}`,
    `--test-reporter-destination=${eventsFile}`,
    ...files.map((f) => relative(root, f)),
  ],
  {},
  () => {},
  runLimitMs,
)
if (code !== 0) exitCode = 1

const events = existsSync(eventsFile)
  ? readFileSync(eventsFile, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l))
  : []
rmSync(eventsDir, { recursive: true, force: true })
const acc = reconcile(declared, events, (f) => relative(root, f))
passed += acc.passed
failed += acc.failed
skipped += acc.skipped
problems.push(...acc.problems)

process.stdout.write(
  `\ntest accounting: ${files.length} TypeScript files, ${acc.declared} declarations, ${acc.executed} tests executed` +
    ` (${acc.passed} passed, ${acc.failed} failed, ${acc.skipped} skipped, ${acc.cancelled} cancelled)\n`,
)
if (problems.length > 0) {
  process.stdout.write(`the run cannot be trusted:\n${problems.map((p) => `  - ${p}`).join('\n')}\n`)
  exitCode = 1
}
process.stdout.write(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped\n`)
process.exit(exitCode !== 0 || failed > 0 ? 1 : 0)
