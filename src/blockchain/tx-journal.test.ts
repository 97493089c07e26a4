import assert from 'node:assert/strict'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { isGatewayError } from '../errors/index.ts'
import { createFileTxJournal, createMemoryTxJournal, type JournalTx, type TxJournal } from './tx-journal.ts'

let dir: string
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'litgate-journal-'))
})
after(async () => {
  await rm(dir, { recursive: true, force: true })
})

const FROM = '0x00000000000000000000000000000000000000aa'
function entry(key: string, patch: Partial<JournalTx> = {}): JournalTx {
  return {
    key,
    purpose: 'refund',
    from: FROM,
    nonce: 0,
    to: '0x00000000000000000000000000000000000000bb',
    data: null,
    value: '1000',
    gas: '21000',
    maxFeePerGas: '2000000000',
    maxPriorityFeePerGas: '0',
    raws: ['0x02f86c'],
    worstCaseWei: '42000000000000',
    createdAt: 1,
    state: 'pending',
    result: null,
    errorCode: null,
    ...patch,
  }
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  assert.ok(isGatewayError(err), String(err))
  return err.code
}

for (const [kind, make] of [
  ['memory', () => createMemoryTxJournal({ maxSettled: 2 })],
  ['file', () => createFileTxJournal(join(dir, `j-${Math.random()}.json`), { maxSettled: 2 })],
] as const) {
  void test(`${kind} journal: records, replaces and deletes entries and nonces`, async () => {
    const j: TxJournal = make()
    assert.deepEqual(await j.load(), { nonces: {}, txs: [] })
    await j.putTx(entry('a'))
    await j.putTx(entry('b', { nonce: 1 }))
    await j.putTx(
      entry('a', { state: 'confirmed', result: { hash: '0x01', blockNumber: 3, blockHash: '0x02' } }),
    )
    await j.deleteTx('b')
    await j.putNonce('0x00000000000000000000000000000000000000AA', 7)
    const c = await j.load()
    assert.deepEqual(c.nonces, { [FROM]: 7 })
    assert.deepEqual(
      c.txs.map((t) => [t.key, t.state]),
      [['a', 'confirmed']],
    )
  })

  void test(`${kind} journal: keeps every pending entry and only the newest settled ones`, async () => {
    const j = make()
    await j.load()
    await j.putTx(entry('p', { createdAt: 0 }))
    for (let i = 1; i <= 4; i++) await j.putTx(entry(`s${i}`, { createdAt: i, nonce: i, state: 'confirmed' }))
    const keys = (await j.load()).txs.map((t) => t.key).sort()
    assert.deepEqual(keys, ['p', 's3', 's4'])
  })
}

void test('file journal: survives a new instance (a restart), written atomically, no temporary file left', async () => {
  const path = join(dir, 'restart.json')
  const first = createFileTxJournal(path)
  await first.load()
  await Promise.all([first.putTx(entry('x')), first.putNonce(FROM, 1), first.putTx(entry('y', { nonce: 1 }))])
  const again = await createFileTxJournal(path).load()
  assert.deepEqual(again.txs.map((t) => t.key).sort(), ['x', 'y'])
  assert.equal(again.nonces[FROM], 1)
  const doc = JSON.parse(await readFile(path, 'utf8')) as { version: number }
  assert.equal(doc.version, 1)
  assert.deepEqual(
    (await readdir(dir)).filter((f) => f.startsWith('restart.json.')),
    [],
  )
})

void test('file journal: a corrupt, foreign-version or malformed file is refused by path, never parsed loosely', async () => {
  const cases: [string, string, RegExp][] = [
    ['torn.json', '{"version":1,"nonces":{', /is not valid JSON/],
    [
      'v2.json',
      JSON.stringify({ version: 2, nonces: {}, txs: [] }),
      /has version 2; this gateway reads version 1/,
    ],
    [
      'bad.json',
      JSON.stringify({ version: 1, nonces: {}, txs: [{ ...entry('z'), nonce: -1 }] }),
      /is malformed at txs\.0\.nonce/,
    ],
  ]
  for (const [name, text, message] of cases) {
    const path = join(dir, name)
    await writeFile(path, text)
    const j = createFileTxJournal(path)
    assert.equal(await codeOf(j.load()), 'CHAIN_JOURNAL_INVALID')
    const err = await j.load().catch((e: unknown) => e as Error)
    assert.match((err as Error).message, message)
    assert.ok((err as Error).message.includes(path))
    // Nothing is written over a journal that could not be read.
    assert.equal(await codeOf(j.putTx(entry('w'))), 'CHAIN_JOURNAL_INVALID')
    assert.equal(await readFile(path, 'utf8'), text)
  }
})
