import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { mutantsOf, type Target } from '../scripts/mutate.ts'

const target: Target = { name: 't', file: 'x.ts', tests: [] }
const ops = (source: string) =>
  mutantsOf(target, source).map((m) => `${m.line}: ${m.operator} → ${m.mutated.trim() || '∅'}`)

describe('scripts/mutate.ts mutant generation', () => {
  test('flips comparisons, logic, equality and boolean literals, one occurrence per mutant', () => {
    assert.deepEqual(ops('  if (a < b && c === d) return true'), [
      "0: '<' → '<=' → if (a <= b && c === d) return true",
      "0: '===' → '!==' → if (a < b && c !== d) return true",
      "0: '&&' → '||' → if (a < b || c === d) return true",
      '0: true → false → if (a < b && c === d) return false',
      '0: guard line removed → ∅',
    ])
  })

  test('bumps numeric constants, removes negations and state updates', () => {
    assert.deepEqual(ops('  r.count = limit - 1'), [
      "0: '- 1' → '+ 1' → r.count = limit + 1",
      '0: 1 → 2 → r.count = limit - 2',
      '0: assignment removed → ∅',
    ])
    assert.deepEqual(ops('  if (!ok) x++'), ["0: '++' → '--' → if (!ok) x--", "0: '!' removed → if (ok) x++"])
  })

  test('leaves comments, imports, type declarations and generics alone', () => {
    const source = [
      '// a < b && c',
      ' * x === y',
      "import { a } from './a.ts'",
      'export interface X {',
      '  readonly tries: number',
      '}',
      'const p: Promise<Array<number>> = f()',
      'const s = `${a}` // 1 < 2',
    ].join('\n')
    assert.deepEqual(ops(source), [])
  })
})
