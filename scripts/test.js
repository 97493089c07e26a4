// The project's one test command (`npm test`): the contract suite (forge) when contracts/ exists, then
// every TypeScript test file under src/ and test/ through node's test runner. Prints one closing line
// "tests: N passed, N failed" that sums both. Extra arguments narrow the TypeScript run to those files.
import { spawn } from 'node:child_process'
import { existsSync, symlinkSync } from 'node:fs'
import { createInterface } from 'node:readline'

const args = process.argv.slice(2)
let passed = 0
let failed = 0
let skipped = 0

/** Runs a command, streaming its output through while scanning lines with `onLine`. */
function run(cmd, cmdArgs, options, onLine) {
  return new Promise((resolve) => {
    const child = spawn(cmd, cmdArgs, { ...options, stdio: ['ignore', 'pipe', 'pipe'] })
    for (const stream of [child.stdout, child.stderr]) {
      const out = stream === child.stdout ? process.stdout : process.stderr
      createInterface({ input: stream }).on('line', (line) => {
        out.write(line + '\n')
        onLine(line)
      })
    }
    child.on('close', (code, signal) => resolve(code ?? (signal ? 1 : 0)))
  })
}

let exitCode = 0
const onlyTs = args.length > 0 || process.env.LITGATE_SKIP_CONTRACTS === '1'
if (!onlyTs && existsSync('contracts/foundry.toml')) {
  if (!existsSync('contracts/node_modules')) symlinkSync('../node_modules', 'contracts/node_modules')
  // contracts/tools/forge runs the real binary: the npm wrapper exits 0 even when forge fails.
  let sawSummary = false
  const code = await run('sh', ['contracts/tools/forge', 'test', '--root', 'contracts'], {}, (line) => {
    // forge: "Ran 4 test suites in 1.2s (3.4s CPU time): 120 tests passed, 0 failed, 0 skipped (120 total tests)"
    const m = /Ran \d+ test suites?.*?: (\d+) tests passed, (\d+) failed, (\d+) skipped/.exec(line)
    if (m) {
      sawSummary = true
      passed += Number(m[1])
      failed += Number(m[2])
      skipped += Number(m[3])
    }
  })
  if (code !== 0 || !sawSummary) {
    process.stderr.write(`contract tests failed (exit ${code}${sawSummary ? '' : ', no summary line'})\n`)
    exitCode = 1
  }
}

const files = args.length > 0 ? args : ['src/**/*.test.ts', 'test/**/*.test.ts']
const concurrency = process.env.LITGATE_TEST_CONCURRENCY ?? '3'
const code = await run(
  process.execPath,
  ['--test', '--test-force-exit', `--test-concurrency=${concurrency}`, '--test-timeout=180000', '--test-reporter=spec', ...files],
  {},
  (line) => {
    const m = /^ℹ (pass|fail|skipped|todo) (\d+)$/.exec(line)
    if (m?.[1] === 'pass') passed += Number(m[2])
    else if (m?.[1] === 'fail') failed += Number(m[2])
    else if (m) skipped += Number(m[2])
  },
)
if (code !== 0) exitCode = 1

process.stdout.write(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped\n`)
process.exit(exitCode !== 0 || failed > 0 ? 1 : 0)
