import assert from 'node:assert/strict'
import { test } from 'node:test'
import { canonicalKey, canonicalLogs, canonicalReceipt, lowerMedian, outvoted } from './cross-check.ts'

const log = (logIndex: string, data = '0x') => ({
  address: '0xAbC0000000000000000000000000000000000001',
  topics: ['0xDDF2'],
  data,
  blockNumber: '0x10',
  blockHash: '0xBEEF',
  transactionHash: '0xCAFE',
  logIndex,
  removed: false,
  extraField: 'ignored',
})

void test('canonical logs ignore order, case and unknown fields; differ on content', () => {
  const a = canonicalLogs([log('0x1'), log('0x0')])
  const b = canonicalLogs([
    { ...log('0x0'), address: '0xabc0000000000000000000000000000000000001' },
    log('0x1'),
  ])
  assert.equal(canonicalKey(a), canonicalKey(b))
  assert.deepEqual(
    a.map((l) => l.logIndex),
    [0, 1],
  )
  assert.notEqual(canonicalKey(a), canonicalKey(canonicalLogs([log('0x0'), log('0x1', '0x01')])))
  assert.notEqual(canonicalKey(a), canonicalKey(canonicalLogs([log('0x0')])), 'a missing log is a difference')
})

void test('canonical receipts compare block hash, status and logs; null is "unknown"', () => {
  const raw = {
    transactionHash: '0xCAFE',
    blockNumber: '0x10',
    blockHash: '0xBEEF',
    status: '0x1',
    from: '0xAA',
    to: '0xBB',
    contractAddress: null,
    gasUsed: '0x5208',
    logs: [log('0x0')],
    l1BlockNumber: '0x99', // provider-specific fields are not compared
  }
  const r = canonicalReceipt(raw)!
  assert.equal(r.status, 'success')
  assert.equal(r.gasUsed, 21_000n)
  assert.equal(canonicalKey(r), canonicalKey(canonicalReceipt({ ...raw, l1BlockNumber: '0x1' })))
  assert.notEqual(canonicalKey(r), canonicalKey(canonicalReceipt({ ...raw, status: '0x0' })))
  assert.notEqual(canonicalKey(r), canonicalKey(canonicalReceipt({ ...raw, blockHash: '0xBEEE' })))
  assert.notEqual(canonicalKey(r), canonicalKey(canonicalReceipt({ ...raw, logs: [] })))
  assert.equal(canonicalReceipt(null), null)
})

void test('the outvoted answer is the one a strict majority disagrees with; no blame without a majority', () => {
  // 0 disagrees with 1 and 2, which agree.
  assert.deepEqual(
    outvoted([
      [false, false, false],
      [false, false, true],
      [false, true, false],
    ]),
    [0],
  )
  assert.deepEqual(
    outvoted([
      [false, false],
      [false, false],
    ]),
    [],
    'two answers that differ: nobody can be blamed',
  )
  assert.deepEqual(
    outvoted([
      [false, false, false],
      [false, false, false],
      [false, false, false],
    ]),
    [],
    'three different answers: no majority',
  )
  // Five endpoints, two liars agreeing with each other.
  const five = [
    [false, true, true, false, false],
    [true, false, true, false, false],
    [true, true, false, false, false],
    [false, false, false, false, true],
    [false, false, false, true, false],
  ]
  assert.deepEqual(outvoted(five), [3, 4])
})

void test('lower median: a lone high value never wins', () => {
  assert.equal(lowerMedian([5, 1_000_000]), 5)
  assert.equal(lowerMedian([7, 5, 1_000_000]), 7)
  assert.equal(lowerMedian([3]), 3)
  assert.equal(lowerMedian([]), undefined)
})
