import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import {
  countDeclarations,
  countForgeDeclarations,
  reconcile,
  type TestEvent,
} from '../scripts/test-accounting.ts'

test('countDeclarations counts test/it calls once each, not regex .test(), strings or comments', () => {
  const src = [
    "import { test, it, describe } from 'node:test'",
    "test('a', () => {})",
    'test("b", async () => {})',
    'test.skip(`c`, () => {})',
    "describe('s', () => { it('d', () => {}); it.todo('e') })",
    'for (const x of xs) test(`case ${x}`, () => {})',
    "const ok = /x/.test('x')",
    "// test('commented out', () => {})",
    "/* it('also commented', () => {}) */",
    'test(name, () => {}) // a computed name counts too',
    'const s = "test(\'inside a string\', () => {})"',
    "const url = 'http://example.test/'; test('after a url', () => {})",
  ].join('\n')
  assert.equal(countDeclarations(src), 8)
})

test('countForgeDeclarations counts test and invariant functions', () => {
  const src =
    'function testPay() public {}\nfunction invariant_balance() public {}\nfunction helper() internal {}\n// function testOld() public {}'
  assert.equal(countForgeDeclarations(src), 2)
})

const FILE = '/repo/test/a.test.ts'
const rel = (f: string): string => relative('/repo', f)
const pass = (name: string, extra: Partial<TestEvent> = {}): TestEvent => ({
  type: 'test:pass',
  name,
  file: FILE,
  nesting: 0,
  kind: 'test',
  ...extra,
})
const summary = (tests: number): TestEvent => ({
  type: 'test:summary',
  counts: { tests, passed: tests, failed: 0, cancelled: 0, skipped: 0, todo: 0 },
})

test('reconcile: every declared test reported gives no problem; suites are not tests', () => {
  const acc = reconcile(
    new Map([[FILE, 2]]),
    [pass('a'), pass('b', { nesting: 1 }), pass('s', { kind: 'suite' }), summary(2)],
    rel,
  )
  assert.deepEqual(acc.problems, [])
  assert.equal(acc.passed, 2)
  assert.equal(acc.executed, 2)
})

test('reconcile: lost results (fewer reported than declared) are a problem naming the file', () => {
  const acc = reconcile(new Map([[FILE, 3]]), [pass('a'), pass('b'), summary(2)], rel)
  assert.equal(acc.problems.length, 1)
  assert.match(
    acc.problems[0] ?? '',
    /test\/a\.test\.ts: declares 3 test\(s\) but 2 ran and reported \(results lost\)/,
  )
})

test('reconcile: a file that never reported anything is a problem', () => {
  const other = '/repo/test/b.test.ts'
  const acc = reconcile(
    new Map([
      [FILE, 1],
      [other, 4],
    ]),
    [pass('a'), summary(1)],
    rel,
  )
  assert.deepEqual(acc.problems, ['test/b.test.ts: declares 4 test(s) but 0 ran and reported (results lost)'])
})

test('reconcile: cancelled tests and a failed file are failures and problems', () => {
  const acc = reconcile(
    new Map([[FILE, 2]]),
    [
      pass('a'),
      {
        type: 'test:fail',
        name: 'b',
        file: FILE,
        nesting: 0,
        kind: 'test',
        failureType: 'cancelledByParent',
      },
      {
        type: 'test:fail',
        name: 'test/a.test.ts',
        file: FILE,
        nesting: 0,
        kind: 'test',
        failureType: 'testCodeFailure',
      },
      summary(3),
    ],
    rel,
  )
  assert.equal(acc.failed, 2)
  assert.equal(acc.cancelled, 1)
  assert.deepEqual(acc.problems, ['test/a.test.ts: 1 test(s) cancelled'])
  assert.equal(acc.files.get(FILE)?.fileFailed, true)
})

test('reconcile: a runner total that differs from the results received, or no summary, is a problem', () => {
  assert.deepEqual(reconcile(new Map([[FILE, 1]]), [pass('a'), summary(5)], rel).problems, [
    'the runner counted 5 tests but 1 results reached the reporter',
  ])
  assert.deepEqual(reconcile(new Map([[FILE, 1]]), [pass('a')], rel).problems, [
    'the test runner printed no final summary (it crashed or was killed)',
  ])
})

test('reconcile: skipped and todo tests count as executed and skipped; a failing todo does not fail', () => {
  const acc = reconcile(
    new Map([[FILE, 3]]),
    [
      pass('a', { skip: true }),
      pass('b', { todo: true }),
      { type: 'test:fail', name: 'c', file: FILE, nesting: 0, kind: 'test', todo: true },
      summary(3),
    ],
    rel,
  )
  assert.deepEqual(acc.problems, [])
  assert.equal(acc.skipped, 3)
  assert.equal(acc.failed, 0)
})

// End to end through the real runner: a scratch project with one clean file, one that leaks a server and
// one that declares a test it never runs. scripts/test.js must report each and exit non-zero.
test('npm test fails a file that leaks a handle and a file whose tests do not all run, and says which', () => {
  const dir = mkdtempSync(join(tmpdir(), 'litgate-accounting-'))
  try {
    const scripts = new URL('../scripts/', import.meta.url).pathname
    writeFileSync(join(dir, 'clean.test.ts'), "import { test } from 'node:test'\ntest('fine', () => {})\n")
    writeFileSync(
      join(dir, 'leaky.test.ts'),
      "import { test } from 'node:test'\nimport net from 'node:net'\ntest('opens a server and forgets it', () => { net.createServer().listen(0, '127.0.0.1') })\n",
    )
    writeFileSync(
      join(dir, 'lossy.test.ts'),
      "import { test } from 'node:test'\ntest('runs', () => {})\nif (process.env.NEVER === '1') test('never registered', () => {})\n",
    )
    // A fresh runner, not a child of this one (node:test refuses to nest when NODE_TEST_CONTEXT is set).
    const { NODE_TEST_CONTEXT: _ctx, ...inherited } = process.env
    const childEnv = { ...inherited, LITGATE_TEST_LEAK_GRACE_MS: '300' }
    const r = spawnSync(
      process.execPath,
      [join(scripts, 'test.js'), 'clean.test.ts', 'leaky.test.ts', 'lossy.test.ts'],
      { cwd: dir, encoding: 'utf8', env: childEnv, timeout: 60_000 },
    )
    assert.equal(r.status, 1, r.stdout + r.stderr)
    assert.match(r.stdout + r.stderr, /leaked handles: .*leaky\.test\.ts.*TCPServerWrap/)
    assert.match(r.stdout, /lossy\.test\.ts: declares 2 test\(s\) but 1 ran and reported \(results lost\)/)
    assert.match(r.stdout, /test accounting: 3 TypeScript files, 4 declarations, 3 tests executed/)
    assert.match(r.stdout, /^tests: 3 passed, 1 failed, 0 skipped$/m)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
