// `litgate demo` as a new user runs it (`npm start` runs the same command): a child process on embedded
// defaults only (anvil from the npm package, the contracts, PGlite in a temporary directory). The scripted
// buyer (`--flow`) must exit 0 with one line per step (payment, then the access token's life: nonce →
// EIP-4361 sign-in → paid request 200 → refresh → reuse revokes the family → 401 → 402 without a token);
// the served demo must answer the free route (200)
// and challenge the paid one (402 + PAYMENT-REQUIRED), and SIGTERM must stop its anvil and remove its data.
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { delimiter, join } from 'node:path'
import { createInterface } from 'node:readline'
import { test } from 'node:test'
import { isGone, ROOT, waitGone } from './operator.ts'

const BIN = join(ROOT, 'bin/litgate.js')
/** Generous: PGlite's first start alone takes several seconds of CPU on a loaded 2-core host. */
const LIMIT_MS = 120_000

interface DemoChild {
  readonly child: ChildProcess
  readonly lines: string[]
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  stderr(): string
  /** Resolves with the first stdout line matching `re` (its match). */
  waitForLine(re: RegExp, timeoutMs: number): Promise<RegExpExecArray>
  /** SIGKILLs, by pid, the demo and the anvil it printed, when still running. */
  cleanup(): Promise<void>
}

function startDemo(args: readonly string[]): DemoChild {
  const child = spawn(process.execPath, [BIN, 'demo', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      PATH: `${join(ROOT, 'node_modules/.bin')}${delimiter}${process.env['PATH'] ?? ''}`,
    },
  })
  const lines: string[] = []
  let stderr = ''
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()))
  const waiters = new Set<() => void>()
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    lines.push(line)
    for (const w of waiters) w()
  })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.once('exit', (code, signal) => r({ code, signal })),
  )
  const anvilPid = (): number | undefined => {
    for (const line of lines) {
      const m = /anvil pid (\d+)/.exec(line)
      if (m) return Number(m[1])
    }
    return undefined
  }
  return {
    child,
    lines,
    exited,
    stderr: () => stderr,
    waitForLine: (re, timeoutMs) =>
      new Promise((resolve, reject) => {
        const check = (): boolean => {
          for (const line of lines) {
            const m = re.exec(line)
            if (m) {
              waiters.delete(check)
              clearTimeout(timer)
              resolve(m)
              return true
            }
          }
          return false
        }
        const timer = setTimeout(() => {
          waiters.delete(check)
          reject(new Error(`no line matching ${re} within ${timeoutMs} ms; stderr: ${stderr.slice(-2_000)}`))
        }, timeoutMs)
        if (!check()) waiters.add(check)
      }),
    async cleanup() {
      const pid = anvilPid()
      for (const p of [child.pid, pid]) {
        if (p !== undefined && !isGone(p)) {
          try {
            process.kill(p, 'SIGKILL')
          } catch {
            // gone meanwhile
          }
        }
      }
      if (child.exitCode === null && child.signalCode === null) await exited
      if (pid !== undefined) await waitGone(pid, 5_000)
    },
  }
}

test(
  'litgate demo --flow: a scripted buyer quotes, pays with EIP-3009, sees the subscription active, signs in for an access token, is served, refreshes, and sees the family revoked on reuse; exits 0',
  { timeout: LIMIT_MS + 10_000 },
  async (t) => {
    const demo = startDemo(['--flow'])
    const timer = setTimeout(() => demo.child.kill('SIGKILL'), LIMIT_MS)
    try {
      const { code, signal } = await demo.exited
      clearTimeout(timer)
      const out = demo.lines.join('\n')
      t.diagnostic(out)
      assert.equal(signal, null, `killed after ${LIMIT_MS} ms:\n${out}`)
      assert.equal(code, 0, `${out}\n${demo.stderr()}`)
      const step = (status: string, name: string, detail: RegExp): void => {
        const line = demo.lines.find((l) => new RegExp(`^\\s*\\d+/\\d+ ${status}\\s+${name}\\s`).test(l))
        assert.ok(line, `no ${status} line for "${name}":\n${out}`)
        assert.match(line, detail)
      }
      step('OK', 'free route', /GET \/hello → 200 from backend-/)
      step(
        'OK',
        'challenge',
        /→ 402 PAYMENT_REQUIRED requestId=\S+; PAYMENT-REQUIRED: x402 v2, 10000000 of 0x/,
      )
      step('OK', 'quote', /→ 201 quoteId=0x[0-9a-f]{64} subscription=0x[0-9a-f]{64}/)
      step('OK', 'pay \\(EIP-3009\\)', /tx=0x[0-9a-f]{64} block=\d+ gas=\d+ subscription=0x[0-9a-f]{64}/)
      step('OK', 'activation', /→ active, accessAllowed/)
      step('OK', 'nonce', /GET \/litgate\/v1\/nonce → 200 nonce=[0-9a-f]{32} expiresAt=/)
      step(
        'OK',
        'token \\(EIP-4361\\)',
        /signed by 0x[0-9a-fA-F]{40}; POST \/litgate\/v1\/token → 200 after \d+ attempt\(s\): kid=demo-1 typ=at\+jwt jti=\S+ fam=(\S+) plan=pro expiresIn=\d+s refreshToken=lgr_/,
      )
      step(
        'OK',
        'paid request',
        /GET \/paid\/data with Bearer → 200 from backend-[ab]; upstream saw x-litgate-subscription=0x[0-9a-f]{8}…[0-9a-f]{4} x-litgate-plan=pro, no Authorization/,
      )
      step('OK', 'refresh', /token\/refresh → 200: kid=demo-1 .* \(was lgr_\S+, now spent\)/)
      step('OK', 'refresh reuse', /→ 401 TOKEN_REFRESH_REUSED requestId=\S+: family fam=\S+ revoked/)
      step(
        'OK',
        'revoked token',
        /with the refreshed token → 401 TOKEN_INVALID after \d+ ms; WWW-Authenticate: Bearer realm="litgate", error="invalid_token"/,
      )
      step('OK', 'no token', /GET \/paid\/data without a token → 402 PAYMENT_REQUIRED/)
      assert.match(out, /flow: 12 ok, 0 pending, 0 failed, 0 skipped in \d+ ms → exit 0/)
      // One family throughout: signed in, refreshed within it, revoked as a whole.
      const fams = [...out.matchAll(/fam=([A-Za-z0-9_-]+)/g)].map((m) => m[1])
      assert.equal(fams.length, 3, out)
      assert.equal(new Set(fams).size, 1, `one token family: ${fams.join(', ')}`)
      // The subscription the quote named is the one the payment created.
      const quoted = /quote .*subscription=(0x[0-9a-f]{64})/.exec(out)?.[1]
      const paid = /pay \(EIP-3009\).*subscription=(0x[0-9a-f]{64})/.exec(out)?.[1]
      assert.equal(paid, quoted)
      const anvilPid = Number(/anvil pid (\d+)/.exec(out)?.[1])
      assert.ok(await waitGone(anvilPid, 5_000), `anvil ${anvilPid} still running after the flow`)
    } finally {
      clearTimeout(timer)
      await demo.cleanup()
    }
  },
)

test(
  'litgate demo --port 0: prints its URLs; free route 200, paid route 402 with PAYMENT-REQUIRED; SIGTERM drains, stops anvil, removes the data directory',
  { timeout: LIMIT_MS + 10_000 },
  async (t) => {
    const demo = startDemo(['--port', '0'])
    try {
      const started = await demo.waitForLine(/^\s+started\s+since process start (\d+) ms/, LIMIT_MS)
      t.diagnostic(`demo ready in ${started[1]} ms`)
      const gateway = (
        await demo.waitForLine(/^\s+gateway\s+(http:\/\/127\.0\.0\.1:\d+)/, 1_000)
      )[1] as string
      const admin = (await demo.waitForLine(/^\s+admin\s+(http:\/\/127\.0\.0\.1:\d+)/, 1_000))[1] as string
      const anvilPid = Number((await demo.waitForLine(/anvil pid (\d+)/, 1_000))[1])
      const dataDir = (await demo.waitForLine(/^\s+database\s+PGlite in (\S+)/, 1_000))[1] as string
      assert.ok(!isGone(anvilPid), 'anvil runs while the demo serves')
      assert.ok(existsSync(dataDir), 'the PGlite data directory exists while the demo serves')

      const free = await fetch(`${gateway}/hello`)
      assert.equal(free.status, 200)
      assert.match(((await free.json()) as { backend: string }).backend, /^backend-[ab]$/)
      const paid = await fetch(`${gateway}/paid/data`)
      assert.equal(paid.status, 402)
      const required = JSON.parse(
        Buffer.from(paid.headers.get('payment-required') ?? '', 'base64').toString('utf8'),
      ) as { x402Version: number; accepts: Array<{ network: string; amount: string }> }
      assert.equal(required.x402Version, 2)
      assert.equal(required.accepts[0]?.network, 'eip155:31337')
      assert.equal(((await paid.json()) as { code: string }).code, 'PAYMENT_REQUIRED')
      const ready = await fetch(`${admin}/readyz`)
      assert.equal(ready.status, 200)
      await ready.arrayBuffer()
      // The printed commands name the printed URLs.
      const out = demo.lines.join('\n')
      assert.ok(out.includes(`curl -i ${gateway}/paid/data`), out)
      assert.ok(out.includes(`curl -s -X POST ${gateway}/litgate/v1/quote`), out)
      assert.ok(out.includes(`curl -s ${admin}/litgate/v1/subscriptions/:id`), out)
      assert.ok(out.includes(`curl -s ${gateway}/litgate/v1/nonce`), out)
      assert.ok(out.includes(`curl -s -X POST ${gateway}/litgate/v1/token `), out)
      assert.ok(out.includes('packages/client/README.md'), out)

      demo.child.kill('SIGTERM')
      const { code } = await demo.exited
      assert.equal(code, 0, demo.stderr())
      assert.ok(await waitGone(anvilPid, 5_000), `anvil ${anvilPid} still running after SIGTERM`)
      assert.equal(existsSync(dataDir), false, 'the data directory is removed at exit')
    } finally {
      await demo.cleanup()
    }
  },
)

test(
  'a SIGTERM while the demo is still starting stops its anvil and removes its data directory',
  { timeout: LIMIT_MS + 10_000 },
  async () => {
    const demo = startDemo(['--port', '0'])
    try {
      // Logged once anvil and PGlite are up, before the gateway listens (the start-up signal handlers' window).
      const ready = await demo.waitForLine(/"msg":"demo chain and storage ready"/, LIMIT_MS)
      demo.child.kill('SIGTERM')
      const line = JSON.parse(ready.input) as { pid: number; dataDir: string }
      const { code } = await demo.exited
      // 3: caught during start-up; 0: the gateway was listening already and drained.
      assert.ok(code === 3 || code === 0, `exit ${String(code)}: ${demo.stderr()}`)
      assert.ok(await waitGone(line.pid, 5_000), `anvil ${line.pid} still running`)
      assert.match(line.dataDir, /litgate-demo-/)
      assert.equal(existsSync(join(line.dataDir, '..')), false, `${line.dataDir} left behind`)
    } finally {
      await demo.cleanup()
    }
  },
)
