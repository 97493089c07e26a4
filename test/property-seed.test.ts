import assert from 'node:assert/strict'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { describe, it } from 'node:test'
import fc, { fcSeed, parseFcSeed, replayMessage } from './helpers/fast-check.ts'

const ROOT = new URL('..', import.meta.url).pathname

function tsFiles(dir: string): string[] {
  const out: string[] = []
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) out.push(...tsFiles(path))
    else if (name.endsWith('.ts')) out.push(path)
  }
  return out
}

describe('property-test seed (test/helpers/fast-check.ts)', () => {
  it('every test file takes fast-check from the seed helper, never directly', () => {
    const direct = [...tsFiles(join(ROOT, 'src')), ...tsFiles(join(ROOT, 'test'))]
      .filter((file) => file.endsWith('.test.ts'))
      .filter((file) => /^import [^\n]*from 'fast-check'/m.test(readFileSync(file, 'utf8')))
      .map((file) => relative(ROOT, file))
    assert.deepEqual(direct, [])
  })

  it('configures fast-check globally with the process seed', () => {
    assert.equal(fc.readConfigureGlobal().seed, fcSeed)
    assert.ok(Number.isInteger(fcSeed))
  })

  it('reads LITGATE_FC_SEED as a 32-bit integer and is random without it', () => {
    assert.equal(parseFcSeed('1234'), 1234)
    assert.equal(parseFcSeed(' -7 '), -7)
    assert.equal(parseFcSeed('4294967295'), -1)
    assert.equal(
      parseFcSeed(undefined, () => 0.5),
      -0x8000_0000,
    )
    assert.equal(
      parseFcSeed('', () => 0.25),
      0x4000_0000,
    )
    assert.notEqual(
      parseFcSeed(undefined, () => 0.1),
      parseFcSeed(undefined, () => 0.9),
    )
  })

  it('rejects a malformed LITGATE_FC_SEED naming the variable and the value', () => {
    for (const bad of ['abc', '1.5', '1e20', '-2147483649']) {
      assert.throws(
        () => parseFcSeed(bad),
        (err: Error) => {
          assert.match(err.message, /LITGATE_FC_SEED/)
          assert.ok(err.message.includes(JSON.stringify(bad)), err.message)
          return true
        },
      )
    }
  })

  it('a failing property reports its seed, path and the command that replays it', () => {
    const property = fc.property(fc.integer(), (n) => n < 10)
    assert.throws(
      () => fc.assert(property),
      (err: Error) => {
        assert.match(err.message, new RegExp(`seed: ${fcSeed}, path: "[0-9:]+"`))
        assert.match(err.message, /Counterexample: \[10\]/)
        assert.ok(err.message.includes(`LITGATE_FC_SEED=${fcSeed} npm test -- `), err.message)
        return true
      },
    )
    assert.match(
      replayMessage('report', 42, 'src/x.test.ts'),
      /^report\n\nReplay: LITGATE_FC_SEED=42 npm test -- src\/x\.test\.ts/,
    )
  })
})
