// Fails unless every listed source file has 100 % line and branch coverage in an lcov report (forge coverage
// --report lcov). Used by `npm run contracts:coverage:check` for the contracts that hold money.
//   node scripts/check-coverage.ts contracts/lcov.info src/PaymentProcessor.sol src/PaymentProcessorAdmin.sol
import { readFileSync } from 'node:fs'

interface FileCoverage {
  linesFound: number
  linesHit: number
  branchesFound: number
  branchesHit: number
  missing: string[]
}

/** Parses the records of an lcov report (SF, DA, BRDA, end_of_record). */
export function parseLcov(text: string): Map<string, FileCoverage> {
  const files = new Map<string, FileCoverage>()
  let current: FileCoverage | undefined
  for (const line of text.split('\n')) {
    const [tag, rest = ''] = line.split(':', 2) as [string, string | undefined]
    if (tag === 'SF') {
      current = { linesFound: 0, linesHit: 0, branchesFound: 0, branchesHit: 0, missing: [] }
      files.set(rest.trim(), current)
    } else if (current !== undefined && tag === 'DA') {
      const [lineNo, hits] = rest.split(',')
      current.linesFound += 1
      if (Number(hits) > 0) current.linesHit += 1
      else current.missing.push(`line ${lineNo}`)
    } else if (current !== undefined && tag === 'BRDA') {
      const [lineNo, , branch, taken] = rest.split(',')
      current.branchesFound += 1
      if (taken !== undefined && taken !== '-' && Number(taken) > 0) current.branchesHit += 1
      else current.missing.push(`branch ${branch} at line ${lineNo}`)
    }
  }
  return files
}

if (import.meta.main) {
  const [report, ...required] = process.argv.slice(2)
  if (report === undefined || required.length === 0) {
    process.stderr.write('usage: node scripts/check-coverage.ts <lcov.info> <source file>...\n')
    process.exit(2)
  }
  const files = parseLcov(readFileSync(report, 'utf8'))
  let ok = true
  for (const file of required) {
    const c = files.get(file)
    if (c === undefined) {
      process.stderr.write(`${file}: not in ${report}\n`)
      ok = false
      continue
    }
    const full = c.linesHit === c.linesFound && c.branchesHit === c.branchesFound
    process.stdout.write(
      `${full ? 'ok  ' : 'FAIL'} ${file}: lines ${c.linesHit}/${c.linesFound}, branches ${c.branchesHit}/${c.branchesFound}\n`,
    )
    if (!full) {
      ok = false
      for (const m of c.missing) process.stderr.write(`  uncovered: ${file} ${m}\n`)
    }
  }
  process.exit(ok ? 0 : 1)
}
