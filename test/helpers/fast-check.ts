// The one entry point for fast-check in tests: every property test imports `fc` from here, never from
// 'fast-check' directly (test/property-seed.test.ts checks), so one seed drives every property of a run.
//
// The seed comes from LITGATE_FC_SEED when set (replay a failure), otherwise it is random per run, so the
// suite keeps exploring new inputs. A failing property names the seed, the path of the shrunk
// counterexample and the command that replays it; docs/testing.md explains replaying.
import { basename, relative } from 'node:path'
import fc from 'fast-check'

export const FC_SEED_ENV = 'LITGATE_FC_SEED'

/** Parses LITGATE_FC_SEED: a 32-bit signed integer, or a clear error naming the variable and value. */
export function parseFcSeed(raw: string | undefined, random: () => number = Math.random): number {
  if (raw === undefined || raw.trim() === '') return (random() * 0x1_0000_0000) | 0
  const seed = Number(raw.trim())
  if (!Number.isInteger(seed) || seed < -0x8000_0000 || seed > 0xffff_ffff) {
    throw new Error(`${FC_SEED_ENV} must be an integer in [-2^31, 2^32); got ${JSON.stringify(raw)}`)
  }
  return seed | 0
}

/** The seed of this test process (one per test file under `node --test`). */
export const fcSeed = parseFcSeed(process.env[FC_SEED_ENV])

function testFile(): string {
  const file = process.argv[1]
  if (file === undefined) return '<test file>'
  const rel = relative(process.cwd(), file)
  return rel.startsWith('..') ? basename(file) : rel
}

/** The failure message: fast-check's own report (seed, path, counterexample, cause) plus how to replay. */
export function replayMessage(report: string, seed: number, file: string): string {
  return `${report}\n\nReplay: ${FC_SEED_ENV}=${seed} npm test -- ${file}   (see docs/testing.md)`
}

function reporter(details: fc.RunDetails<unknown>): void {
  if (!details.failed) return
  const report = fc.defaultReportMessage(details) ?? `Property failed (seed ${details.seed})`
  throw new Error(replayMessage(report, fcSeed, testFile()), { cause: details.errorInstance })
}

fc.configureGlobal({ seed: fcSeed, reporter })

export default fc
