import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const BIN = new URL('../bin/litgate.js', import.meta.url).pathname

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
