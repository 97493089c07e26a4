import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { cpSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { makeSelfSignedCert, type TestCert } from './helpers/tls.ts'

const BIN = new URL('../bin/litgate.js', import.meta.url).pathname
const ROOT = resolve(import.meta.dirname, '..')

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 20_000 })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

describe('litgate validate', () => {
  let dir: string
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'litgate-cli-'))
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  test('exits 0 and summarises a valid config', () => {
    const file = join(dir, 'ok.yaml')
    writeFileSync(
      file,
      'version: 1\nlisteners: [{ name: m, port: 8080 }]\nupstreams: [{ id: u, backends: [{ url: "http://127.0.0.1:1" }] }]\nroutes: [{ id: r, match: {}, upstream: u }]\n',
    )
    const r = cli('validate', '-c', file)
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /ok \(1 routes, 1 upstreams\)/)
  })

  test('exits non-zero and names the field and value of each error', () => {
    const file = join(dir, 'bad.yaml')
    writeFileSync(
      file,
      'version: 1\nlisteners: [{ name: m, port: 99999 }]\nupstreams: [{ id: u, backends: [{ url: "http://127.0.0.1:1" }] }]\nroutes: [{ id: r, match: {}, upstream: missing }]\n',
    )
    const r = cli('validate', '-c', file)
    assert.equal(r.code, 2)
    assert.match(r.stderr, /listeners\[0\]\.port: .*\(got 99999\)/)
    const semantic = join(dir, 'bad2.yaml')
    writeFileSync(
      semantic,
      'version: 1\nlisteners: [{ name: m, port: 8080 }]\nupstreams: [{ id: u, backends: [{ url: "http://127.0.0.1:1" }] }]\nroutes: [{ id: r, match: {}, upstream: missing }]\n',
    )
    const r2 = cli('validate', '-c', semantic)
    assert.equal(r2.code, 2)
    assert.match(r2.stderr, /routes\[0\]\.upstream: unknown upstream \(got "missing"\)/)
  })

  test('a missing file is a clear error', () => {
    const r = cli('validate', '-c', join(dir, 'nope.yaml'))
    assert.equal(r.code, 2)
    assert.match(r.stderr, /cannot read .*ENOENT/)
  })

  test('run with an invalid config refuses to start', () => {
    const file = join(dir, 'bad3.yaml')
    writeFileSync(file, 'version: 1\n')
    const r = cli('run', '-c', file)
    assert.equal(r.code, 2)
    assert.match(r.stderr, /listeners/)
  })

  test('unknown commands print usage', () => {
    const r = cli('frobnicate')
    assert.equal(r.code, 2)
    assert.match(r.stderr, /usage:/)
  })
})

describe('litgate validate: TLS files, --strict, did you mean', () => {
  let dir: string
  let a: TestCert
  let b: TestCert
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'litgate-cli-tls-'))
    ;[a, b] = await Promise.all([makeSelfSignedCert(), makeSelfSignedCert()])
  })
  after(async () => {
    rmSync(dir, { recursive: true, force: true })
    await Promise.all([a.remove(), b.remove()])
  })

  const tlsConfig = (certFile: string, keyFile: string): string =>
    `version: 1\nlisteners: [{ name: secure, port: 8443, tls: { certFile: "${certFile}", keyFile: "${keyFile}" } }]\n` +
    'upstreams: [{ id: u, backends: [{ url: "http://127.0.0.1:1" }] }]\nroutes: [{ id: r, match: {}, upstream: u }]\n'

  function validateText(name: string, text: string, ...flags: string[]) {
    const file = join(dir, name)
    writeFileSync(file, text)
    return cli('validate', '-c', file, ...flags)
  }

  test('a config whose certificate and key load passes', () => {
    const r = validateText('tls-ok.yaml', tlsConfig(a.certFile, a.keyFile))
    assert.equal(r.code, 0, r.stderr)
  })

  test('a missing certificate fails validation with TLS_FILE_UNREADABLE naming listener, key and path', () => {
    const missing = join(dir, 'nope.pem')
    const r = validateText('tls-missing.yaml', tlsConfig(missing, a.keyFile))
    assert.equal(r.code, 2)
    assert.ok(
      r.stderr.includes(
        `error: TLS_FILE_UNREADABLE: listener secure: tls.certFile ${missing}: cannot read (ENOENT)`,
      ),
      r.stderr,
    )
  })

  test("a key that is not the certificate's fails validation with TLS_KEY_MISMATCH", () => {
    const r = validateText('tls-mismatch.yaml', tlsConfig(a.certFile, b.keyFile))
    assert.equal(r.code, 2)
    assert.match(
      r.stderr,
      /error: TLS_KEY_MISMATCH: listener secure: tls\.keyFile .* is not the private key of tls\.certFile/,
    )
  })

  test('an SNI server name its certificate does not cover fails validation with TLS_NAME_NOT_COVERED', () => {
    const text =
      `version: 1\nlisteners: [{ name: secure, port: 8443, tls: { certFile: "${a.certFile}", keyFile: "${a.keyFile}",\n` +
      `  certificates: [{ certFile: "${b.certFile}", keyFile: "${b.keyFile}", serverNames: [api.example.com] }] } }]\n` +
      'upstreams: [{ id: u, backends: [{ url: "http://127.0.0.1:1" }] }]\nroutes: [{ id: r, match: {}, upstream: u }]\n'
    const r = validateText('tls-sni.yaml', text)
    assert.equal(r.code, 2)
    assert.ok(
      r.stderr.includes(
        `error: TLS_NAME_NOT_COVERED: listener secure: tls.certificates[0].serverNames[0] "api.example.com" is not covered by certFile ${b.certFile} (its DNS names: localhost)`,
      ),
      r.stderr,
    )
  })

  test('a file that is not PEM fails validation with TLS_FILE_INVALID; no key material is printed', () => {
    const r = validateText('tls-swapped.yaml', tlsConfig(a.keyFile, a.certFile))
    assert.equal(r.code, 2)
    assert.match(
      r.stderr,
      /error: TLS_FILE_INVALID: listener secure: tls\.certFile .*: not a PEM certificate/,
    )
    assert.ok(!r.stderr.includes('BEGIN'), r.stderr)
  })

  test("an upstream's unreadable tls.caFile fails validation", () => {
    const text =
      'version: 1\nlisteners: [{ name: m, port: 8080 }]\n' +
      `upstreams: [{ id: u, tls: { caFile: "${join(dir, 'ca.pem')}" }, backends: [{ url: "https://127.0.0.1:1" }] }]\n` +
      'routes: [{ id: r, match: {}, upstream: u }]\n'
    const r = validateText('ca-missing.yaml', text)
    assert.equal(r.code, 2)
    assert.match(r.stderr, /TLS_FILE_UNREADABLE: upstream u: tls\.caFile .*ca\.pem: cannot read \(ENOENT\)/)
  })

  test('--strict fails on warnings (exit 2); without it they are printed and pass', () => {
    const text =
      'version: 1\nlisteners: [{ name: m, port: 8080 }]\n' +
      'upstreams: [{ id: u, backends: [{ url: "http://127.0.0.1:1" }] }, { id: unused, backends: [{ url: "http://127.0.0.1:2" }] }]\n' +
      'routes: [{ id: r, match: {}, upstream: u }]\n'
    const loose = validateText('warn.yaml', text)
    assert.equal(loose.code, 0, loose.stderr)
    assert.match(loose.stderr, /warning: upstreams\[1\]: upstream is not used by any route/)
    const strict = validateText('warn.yaml', text, '--strict')
    assert.equal(strict.code, 2)
    assert.match(strict.stderr, /invalid with --strict \(1 warning\(s\)\)/)
    assert.equal(strict.stdout, '')
  })

  test('unknown keys get "did you mean", in validate and in run (the same validator)', () => {
    const text = `version: 1\nlisteners: [{ name: m, port: 8080, htp2: true }]\nupstreams: [{ id: u, backends: [{ url: "http://127.0.0.1:1" }] }]\nroutes: [{ id: r, match: {}, upstream: u }]\n`
    const file = join(dir, 'typo.yaml')
    writeFileSync(file, text)
    for (const r of [cli('validate', '-c', file), cli('run', '-c', file)]) {
      assert.equal(r.code, 2)
      assert.ok(r.stderr.includes('listeners[0]: unknown key "htp2"; did you mean "http2"?'), r.stderr)
    }
  })
})

describe('litgate run: start-up failures are one line with their own code', () => {
  let dir: string
  let a: TestCert
  let b: TestCert
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'litgate-cli-start-'))
    ;[a, b] = await Promise.all([makeSelfSignedCert(), makeSelfSignedCert()])
  })
  after(async () => {
    rmSync(dir, { recursive: true, force: true })
    await Promise.all([a.remove(), b.remove()])
  })

  /** `run` a config; returns exit code, stderr and the parsed log lines of stdout. */
  function runConfig(name: string, text: string) {
    const file = join(dir, name)
    writeFileSync(file, text)
    const r = cli('run', '-c', file)
    const logs = r.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
    return { ...r, logs }
  }

  function assertOneLine(r: ReturnType<typeof runConfig>, code: string, pattern: RegExp): void {
    assert.equal(r.code, 1, r.stderr)
    const lines = r.stderr.trim().split('\n')
    assert.equal(lines.length, 1, r.stderr)
    assert.match(lines[0] as string, new RegExp(`^error: ${code}: ${pattern.source}`))
    const failure = r.logs.find((l) => /failed to start/.test(String(l['msg'])))
    assert.equal(failure?.['code'], code)
    assert.equal(failure?.['err'], undefined, 'no error object (stack) in the log line')
    assert.ok(!r.stdout.includes('    at '), 'no stack trace')
    assert.ok(!r.logs.some((l) => l['code'] === 'INTERNAL_ERROR'))
  }

  test('a port in use: LISTEN_ADDRESS_IN_USE naming the listener and address', async () => {
    const taken = createServer()
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r))
    const port = (taken.address() as AddressInfo).port
    try {
      const r = runConfig(
        'inuse.yaml',
        `version: 1\nlisteners: [{ name: public, host: 127.0.0.1, port: ${port} }]\nupstreams: [{ id: u, backends: [{ url: "http://127.0.0.1:1" }] }]\nroutes: [{ id: r, match: {}, upstream: u }]\n`,
      )
      assertOneLine(
        r,
        'LISTEN_ADDRESS_IN_USE',
        new RegExp(`listener public: cannot bind 127\\.0\\.0\\.1:${port}: address already in use`),
      )
    } finally {
      await new Promise((r) => taken.close(r))
    }
  })

  test('the admin port in use: LISTEN_ADDRESS_IN_USE naming the admin listener', async () => {
    const taken = createServer()
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r))
    const port = (taken.address() as AddressInfo).port
    try {
      const r = runConfig(
        'admin-inuse.yaml',
        `version: 1\nlisteners: [{ name: public, port: 0 }]\nadmin: { enabled: true, port: ${port} }\nupstreams: [{ id: u, backends: [{ url: "http://127.0.0.1:1" }] }]\nroutes: [{ id: r, match: {}, upstream: u }]\n`,
      )
      assertOneLine(
        r,
        'LISTEN_ADDRESS_IN_USE',
        /admin listener: cannot bind 127\.0\.0\.1:\d+: address already in use/,
      )
    } finally {
      await new Promise((r) => taken.close(r))
    }
  })

  test('an admin listener on a non-loopback address without tokens: ADMIN_AUTH_REQUIRED, nothing bound', () => {
    const r = runConfig(
      'admin-open.yaml',
      'version: 1\nlisteners: [{ name: public, port: 0 }]\nadmin: { enabled: true, host: 0.0.0.0, port: 0 }\nupstreams: [{ id: u, backends: [{ url: "http://127.0.0.1:1" }] }]\nroutes: [{ id: r, match: {}, upstream: u }]\n',
    )
    assertOneLine(
      r,
      'ADMIN_AUTH_REQUIRED',
      /admin\.host 0\.0\.0\.0 is not a loopback address and admin\.tokens is empty/,
    )
    assert.ok(!r.logs.some((l) => l['msg'] === 'gateway serving' || l['msg'] === 'admin listening'))
  })

  test('an admin token that cannot be read: ADMIN_TOKEN_INVALID naming the field', () => {
    const r = runConfig(
      'admin-token.yaml',
      'version: 1\nlisteners: [{ name: public, port: 0 }]\nadmin: { enabled: true, tokens: [{ id: ops, role: read, secret: { fromEnv: ADMIN_TEST_UNSET_TOKEN } }] }\nupstreams: [{ id: u, backends: [{ url: "http://127.0.0.1:1" }] }]\nroutes: [{ id: r, match: {}, upstream: u }]\n',
    )
    assertOneLine(
      r,
      'ADMIN_TOKEN_INVALID',
      /admin\.tokens\[0\]\.secret: environment variable ADMIN_TEST_UNSET_TOKEN is unset or empty/,
    )
  })

  test('a listen address not on this host: LISTEN_ADDRESS_UNAVAILABLE', () => {
    const r = runConfig(
      'noaddr.yaml',
      'version: 1\nlisteners: [{ name: public, host: 192.0.2.1, port: 0 }]\nupstreams: [{ id: u, backends: [{ url: "http://127.0.0.1:1" }] }]\nroutes: [{ id: r, match: {}, upstream: u }]\n',
    )
    assertOneLine(r, 'LISTEN_ADDRESS_UNAVAILABLE', /listener public: cannot bind 192\.0\.2\.1:0/)
  })

  const tls = (certFile: string, keyFile: string): string =>
    `version: 1\nlisteners: [{ name: secure, port: 0, tls: { certFile: "${certFile}", keyFile: "${keyFile}" } }]\n` +
    'upstreams: [{ id: u, backends: [{ url: "http://127.0.0.1:1" }] }]\nroutes: [{ id: r, match: {}, upstream: u }]\n'

  test('a missing certificate: TLS_FILE_UNREADABLE', () => {
    const r = runConfig('missing.yaml', tls(join(dir, 'gone.pem'), a.keyFile))
    assertOneLine(
      r,
      'TLS_FILE_UNREADABLE',
      /listener secure: tls\.certFile .*gone\.pem: cannot read \(ENOENT\)/,
    )
  })

  test("an upstream's missing tls.caFile: TLS_FILE_UNREADABLE naming the upstream", () => {
    const r = runConfig(
      'ca.yaml',
      'version: 1\nlisteners: [{ name: public, port: 0 }]\n' +
        `upstreams: [{ id: billing, tls: { caFile: "${join(dir, 'ca.pem')}" }, backends: [{ url: "https://127.0.0.1:1" }] }]\n` +
        'routes: [{ id: r, match: {}, upstream: billing }]\n',
    )
    assertOneLine(r, 'TLS_FILE_UNREADABLE', /upstream billing: tls\.caFile .*ca\.pem: cannot read \(ENOENT\)/)
  })

  test("a key that is not the certificate's: TLS_KEY_MISMATCH", () => {
    const r = runConfig('mismatch.yaml', tls(a.certFile, b.keyFile))
    assertOneLine(r, 'TLS_KEY_MISMATCH', /listener secure: tls\.keyFile .* is not the private key/)
  })
})

describe('litgate --version', () => {
  test('prints the package version and the commit of this checkout', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version: string
    }
    // The expected commit, asked of git the same way; a copy without git metadata must say "unknown".
    const git = spawnSync('git', ['rev-parse', '--show-toplevel', '--short=12', 'HEAD'], {
      cwd: ROOT,
      encoding: 'utf8',
    })
    const [top, commit] = git.status === 0 ? git.stdout.trim().split('\n') : []
    const head =
      top !== undefined && realpathSync(top) === realpathSync(ROOT) ? (commit ?? 'unknown') : 'unknown'
    const r = cli('--version')
    assert.equal(r.code, 0, r.stderr)
    assert.match(
      r.stdout,
      new RegExp(`^litgate ${pkg.version.replaceAll('.', '\\.')} \\(commit ${head}(-dirty)?\\)\\n$`),
    )
  })

  test('outside a git checkout the commit is "unknown" and the command still succeeds', () => {
    const dir = mkdtempSync(join(tmpdir(), 'litgate-nogit-'))
    try {
      // A copy of the package, as an install from a tarball would be: no .git anywhere above it.
      cpSync(join(ROOT, 'bin'), join(dir, 'bin'), { recursive: true })
      cpSync(join(ROOT, 'src'), join(dir, 'src'), { recursive: true })
      cpSync(join(ROOT, 'package.json'), join(dir, 'package.json'))
      symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'))
      const r = spawnSync(process.execPath, [join(dir, 'bin/litgate.js'), '--version'], {
        cwd: dir,
        encoding: 'utf8',
        timeout: 20_000,
        env: { ...process.env, GIT_CEILING_DIRECTORIES: tmpdir() },
      })
      assert.equal(r.status, 0, r.stderr)
      assert.match(r.stdout, /^litgate \d+\.\d+\.\d+\S* \(commit unknown\)\n$/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
