/**
 * The sender's journal across restarts, against a real anvil: a sender stopped mid-flight and a new one
 * started on the same journal file neither loses nor repeats a transaction (a refund keyed by an
 * idempotency key is sent at most once), a broadcast with an unknown outcome keeps its nonce across the
 * restart, and the spend limits refuse before signing.
 */
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { parseGwei } from 'viem'
import {
  ANVIL_LOCAL,
  createChain,
  createMemoryTxJournal,
  loadSigner,
  secretFromEnv,
  type Chain,
  type GasConfig,
  type TxJournal,
} from '../../src/blockchain/index.ts'
import { GatewayError, isGatewayError } from '../../src/errors/index.ts'
import { ANVIL_MNEMONIC, startAnvil, type AnvilInstance } from '../helpers/anvil.ts'
import { startLyingRpc, type LyingRpc } from './lying-rpc.ts'
import { FAST_RPC, FAST_TX, testDeps } from './support.ts'

let anvil: AnvilInstance
let proxy: LyingRpc
let dir: string
const chains: Chain[] = []
const RECIPIENT = '0x00000000000000000000000000000000000c0c0c'

before(async () => {
  ;[anvil, dir] = await Promise.all([
    startAnvil({ chainId: 31337, args: ['--accounts', '6'] }),
    mkdtemp(join(tmpdir(), 'litgate-restart-')),
  ])
  proxy = await startLyingRpc(anvil.url)
})
after(async () => {
  await Promise.all(chains.map((c) => c.close()))
  await proxy.close()
  await anvil.stop()
  await rm(dir, { recursive: true, force: true })
})

/** A gateway process: a chain with a signer (dev account `index`) and its journal file. */
async function gateway(
  journalPath: string,
  index: number,
  options: { url?: string; gas?: Partial<GasConfig>; journal?: TxJournal } = {},
) {
  const signer = await loadSigner({
    kind: 'mnemonic',
    phrase: secretFromEnv('TEST_MNEMONIC', ANVIL_MNEMONIC),
    index,
  })
  const deps = testDeps()
  const chain = createChain(
    {
      chain: {
        ...ANVIL_LOCAL,
        rpc: [{ name: 'anvil', http: options.url ?? anvil.url }],
        gas: { ...ANVIL_LOCAL.gas, ...options.gas },
      },
      rpc: FAST_RPC,
      tx: { ...FAST_TX, journalPath },
    },
    { ...deps, signer, ...(options.journal === undefined ? {} : { journal: options.journal }) },
  )
  chains.push(chain)
  await chain.start()
  return { chain, sender: chain.sender!, signer, ...deps }
}

const balanceOf = async (address: string): Promise<bigint> =>
  BigInt(await anvil.rpc<string>('eth_getBalance', [address, 'latest']))
const countOf = async (address: string): Promise<number> =>
  Number(await anvil.rpc<string>('eth_getTransactionCount', [address, 'latest']))

async function codeOf(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  assert.ok(isGatewayError(err), `expected a GatewayError, got ${String(err)}`)
  return err.code
}

void test('a refund in flight when its sender stops is sent exactly once by the next sender on the same journal', async () => {
  const journal = join(dir, 'refunds.json')
  const refund = { to: RECIPIENT, value: 777n, gas: 21_000n } as const
  const before = await balanceOf(RECIPIENT)
  await anvil.rpc('evm_setAutomine', [false])
  try {
    const first = await gateway(journal, 1)
    const sent = await first.sender.send(refund, { idempotencyKey: 'refund-42', purpose: 'refund' })
    assert.equal(sent.isNew, true)
    await first.chain.close() // stopped mid-flight: broadcast, not mined
    const recorded = JSON.parse(await readFile(journal, 'utf8')) as {
      txs: { key: string; state: string; nonce: number }[]
    }
    assert.deepEqual(
      recorded.txs.map((t) => [t.key, t.state, t.nonce]),
      [['refund-42', 'pending', 0]],
    )
    // The node lost it meanwhile (a restart of its own): only our journal still knows the transaction.
    await anvil.rpc('anvil_dropTransaction', [sent.hash])
    assert.equal(await anvil.rpc('eth_getTransactionByHash', [sent.hash]), null)

    const second = await gateway(journal, 1)
    assert.notEqual(await anvil.rpc('eth_getTransactionByHash', [sent.hash]), null, 're-broadcast on start')
    // The caller retries the refund (it does not know whether the first attempt went out): same transaction.
    const retried = await second.sender.send(refund, { idempotencyKey: 'refund-42', purpose: 'refund' })
    assert.equal(retried.isNew, false)
    assert.equal(retried.hash, sent.hash)
    await anvil.rpc('evm_mine')
    const confirmed = await retried.wait({ timeoutMs: 5_000 })
    assert.equal(confirmed.status, 'success')
    assert.equal(confirmed.hash, sent.hash)
    await second.chain.close()

    // A third start after confirmation: the key answers from the record, nothing is sent.
    const third = await gateway(journal, 1)
    const again = await third.sender.send(refund, { idempotencyKey: 'refund-42', purpose: 'refund' })
    assert.equal(again.isNew, false)
    assert.equal((await again.wait({ timeoutMs: 1_000 })).hash, sent.hash)
    await anvil.rpc('evm_mine')
    assert.equal(await balanceOf(RECIPIENT), before + 777n, 'paid exactly once')
    assert.equal(await countOf(first.signer.address), 1, 'one transaction from the account')
    // A new intent gets the next nonce.
    const next = await third.sender.send(
      { to: RECIPIENT, value: 1n, gas: 21_000n },
      { idempotencyKey: 'refund-43' },
    )
    assert.equal(next.nonce, 1)
    await anvil.rpc('evm_mine')
    assert.equal((await next.wait({ timeoutMs: 5_000 })).status, 'success')
  } finally {
    await anvil.rpc('evm_setAutomine', [true])
  }
})

void test('a broadcast with an unknown outcome keeps its nonce across a restart and is re-sent, not replaced', async () => {
  const journal = join(dir, 'unknown.json')
  proxy.setDrop((c) => c.method === 'eth_sendRawTransaction')
  let lost
  let from
  try {
    const first = await gateway(journal, 2, { url: proxy.url })
    from = first.signer.address
    lost = await first.sender.send({ to: RECIPIENT, value: 5n, gas: 21_000n }, { idempotencyKey: 'k1' })
    assert.equal(await anvil.rpc('eth_getTransactionByHash', [lost.hash]), null, 'the node never got it')
    await first.chain.close()
  } finally {
    proxy.setDrop(undefined)
  }
  // The restarted sender's re-broadcast is lost too, so no node knows nonce N: only the journal does.
  const raw = (JSON.parse(await readFile(journal, 'utf8')) as { txs: { raws: string[] }[] }).txs[0]!.raws[0]!
  proxy.setDrop((c) => c.method === 'eth_sendRawTransaction' && c.params[0] === raw)
  const second = await gateway(journal, 2, { url: proxy.url })
  assert.equal(await anvil.rpc('eth_getTransactionByHash', [lost.hash]), null)
  const next = await second.sender.send({ to: RECIPIENT, value: 6n, gas: 21_000n }, { idempotencyKey: 'k2' })
  assert.equal(
    next.nonce,
    lost.nonce + 1,
    'the unknown broadcast kept its nonce (the chain alone would say N)',
  )
  proxy.setDrop(undefined)
  // The monitor re-broadcasts nonce N (same bytes); then N+1 can be mined behind it.
  assert.equal((await next.wait({ timeoutMs: 5_000 })).status, 'success')
  const firstAgain = await second.sender.send(
    { to: RECIPIENT, value: 5n, gas: 21_000n },
    { idempotencyKey: 'k1' },
  )
  assert.equal(firstAgain.isNew, false)
  assert.equal(firstAgain.hash, lost.hash)
  assert.equal((await firstAgain.wait({ timeoutMs: 5_000 })).status, 'success')
  assert.equal(await countOf(from), 2)
})

void test('spend limits refuse before signing: gas ceiling, per-transaction fee ceiling, rolling budget', async () => {
  const journal = join(dir, 'limits.json')
  const ceiling = await gateway(journal, 3, { gas: { maxGasPerTx: 30_000n } })
  assert.equal(
    await codeOf(ceiling.sender.send({ to: RECIPIENT, value: 1n, gas: 50_000n })),
    'CHAIN_GAS_LIMIT_EXCEEDED',
  )
  // An estimate above the ceiling (a contract creation with 200 bytes of init code) is refused too.
  assert.equal(
    await codeOf(ceiling.sender.send({ to: RECIPIENT, data: `0x${'5b'.repeat(200)}` })),
    'CHAIN_GAS_LIMIT_EXCEEDED',
  )
  assert.equal(await countOf(ceiling.signer.address), 0)
  assert.equal(ceiling.sender.snapshot().nextNonce, 0, 'no nonce consumed')
  await ceiling.chain.close()

  // 21,000 gas × a max fee of at least the 1 gwei base fee is above a 20,000 gwei ceiling.
  const perTx = await gateway(join(dir, 'per-tx.json'), 3, { gas: { maxFeePerTxWei: parseGwei('20000') } })
  assert.equal(
    await codeOf(perTx.sender.send({ to: RECIPIENT, value: 1n, gas: 21_000n })),
    'CHAIN_GAS_LIMIT_EXCEEDED',
  )
  await perTx.chain.close()

  const capWei = parseGwei('10')
  const budgetWei = 3n * 21_000n * capWei // at least three transfers at the cap
  const budget = await gateway(join(dir, 'budget.json'), 3, {
    gas: { maxFeePerGasWei: capWei, feeBudgetWei: budgetWei },
  })
  let sent = 0
  let refused: string | undefined
  for (let i = 0; i < 30 && refused === undefined; i++) {
    const spentBefore = BigInt(budget.sender.snapshot().feeBudgetSpentWei)
    try {
      await (await budget.sender.send({ to: RECIPIENT, value: 1n, gas: 21_000n })).wait({ timeoutMs: 5_000 })
      sent++
    } catch (err) {
      assert.ok(isGatewayError(err), String(err))
      refused = err.code
      assert.ok(
        spentBefore + 21_000n * 1n > budgetWei - 21_000n * capWei,
        'refused only once the budget is nearly spent',
      )
    }
  }
  assert.equal(refused, 'CHAIN_FEE_BUDGET_EXCEEDED')
  assert.ok(sent >= 3, `${sent} transfers fit the budget`)
  assert.ok(BigInt(budget.sender.snapshot().feeBudgetSpentWei) <= budgetWei)
  assert.equal(await countOf(budget.signer.address), sent, 'the refused send signed nothing')
  assert.equal(budget.sender.snapshot().nextNonce, sent)
  await budget.chain.close()
  // The budget survives a restart: it is rebuilt from the journal.
  const restarted = await gateway(join(dir, 'budget.json'), 3, {
    gas: { maxFeePerGasWei: capWei, feeBudgetWei: budgetWei },
  })
  assert.equal(
    await codeOf(restarted.sender.send({ to: RECIPIENT, value: 1n, gas: 21_000n })),
    'CHAIN_FEE_BUDGET_EXCEEDED',
  )
})

void test('two concurrent sends of one intent get one transaction', async () => {
  const { sender, signer } = await gateway(join(dir, 'concurrent.json'), 4)
  const intent = { to: RECIPIENT, value: 3n, gas: 21_000n } as const
  const [a, b] = await Promise.all([
    sender.send(intent, { idempotencyKey: 'refund-7' }),
    sender.send(intent, { idempotencyKey: 'refund-7' }),
  ])
  assert.equal(a.hash, b.hash)
  assert.deepEqual([a.isNew, b.isNew].sort(), [false, true])
  assert.equal((await a.wait({ timeoutMs: 5_000 })).status, 'success')
  const later = await sender.send(intent, { idempotencyKey: 'refund-7' })
  assert.equal(later.hash, a.hash)
  assert.equal(await countOf(signer.address), 1)
})

void test('a send whose journal write fails is not broadcast, and its nonce goes to the next send', async () => {
  const inner = createMemoryTxJournal()
  let isBroken = true
  const journal: TxJournal = {
    ...inner,
    putTx: (tx) =>
      isBroken
        ? Promise.reject(new GatewayError('CHAIN_JOURNAL_INVALID', 'disk full (test)'))
        : inner.putTx(tx),
  }
  const { sender, signer } = await gateway(join(dir, 'unused.json'), 5, { journal })
  assert.equal(await codeOf(sender.send({ to: RECIPIENT, value: 1n, gas: 21_000n })), 'CHAIN_JOURNAL_INVALID')
  assert.equal(
    Number(await anvil.rpc<string>('eth_getTransactionCount', [signer.address, 'pending'])),
    0,
    'nothing broadcast',
  )
  isBroken = false
  const sent = await sender.send({ to: RECIPIENT, value: 1n, gas: 21_000n })
  assert.equal(sent.nonce, 0, 'no gap')
  assert.equal((await sent.wait({ timeoutMs: 5_000 })).status, 'success')
})
