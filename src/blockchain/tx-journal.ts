/**
 * The transaction journal: the sender's own persisted record of its nonces and of every transaction it
 * signed (the signed bytes, so a restarted process can re-broadcast exactly the same transaction), keyed
 * by an idempotency key so one intent (a refund) is sent at most once across restarts.
 *
 * The interface is storage-agnostic (a database-backed one comes with the storage subsystem): values are
 * JSON-safe (bigints as decimal strings), every write is durable when its promise resolves. Two
 * implementations here: in memory (tests, or a gateway that accepts losing track on restart) and a JSON
 * file replaced atomically (write to a temporary file, fsync, rename, fsync the directory).
 */
import { randomUUID } from 'node:crypto'
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises'
import { dirname } from 'node:path'
import { z } from 'zod'
import { GatewayError } from '../errors/index.ts'
import type { Address, Hex } from './types.ts'

/**
 * - `pending`: signed and recorded before its broadcast; may or may not be on chain;
 * - `confirmed` / `reverted`: mined under the confirmation policy;
 * - `failed`: given up (dropped after re-broadcasts, nonce taken by a foreign transaction). Never re-sent
 *   under the same key: whether to try again is the caller's decision, with a new key.
 */
export type JournalTxState = 'pending' | 'confirmed' | 'reverted' | 'failed'

export interface JournalTx {
  /** Idempotency key: one intent, at most one transaction on chain. */
  readonly key: string
  /** Free text for operators (e.g. `refund`), bounded. */
  readonly purpose: string
  readonly from: Address
  readonly nonce: number
  readonly to: Address
  readonly data: Hex | null
  /** Wei, decimal. */
  readonly value: string
  readonly gas: string
  readonly maxFeePerGas: string
  readonly maxPriorityFeePerGas: string
  /** Every signed version (original, then fee bumps): any of them may be the one mined. */
  readonly raws: readonly Hex[]
  /** Worst-case fee charged to the budget for this nonce so far (gas × the highest maxFeePerGas). */
  readonly worstCaseWei: string
  readonly createdAt: number
  readonly state: JournalTxState
  readonly result: { readonly hash: Hex; readonly blockNumber: number; readonly blockHash: Hex } | null
  /** Error code of a `failed` entry. */
  readonly errorCode: string | null
}

export interface JournalContents {
  /** Next nonce per sending account (lower-case address) as this gateway last used it. */
  readonly nonces: Readonly<Record<string, number>>
  readonly txs: readonly JournalTx[]
}

export interface TxJournal {
  /** Everything recorded (read once at start). */
  load(): Promise<JournalContents>
  /** Inserts or replaces the entry with this key. */
  putTx(tx: JournalTx): Promise<void>
  /** Removes an entry that provably never left the process (not sent to any node). */
  deleteTx(key: string): Promise<void>
  putNonce(address: Address, nextNonce: number): Promise<void>
}

export interface TxJournalOptions {
  /** Settled entries kept (oldest dropped first): keys older than that could be sent again. */
  readonly maxSettled?: number
}

const DEFAULT_MAX_SETTLED = 10_000

const hex = z.string().regex(/^0x[0-9a-fA-F]*$/)
const decimal = z.string().regex(/^\d{1,78}$/)
const journalTx = z.strictObject({
  key: z.string().min(1).max(200),
  purpose: z.string().max(64),
  from: hex,
  nonce: z.number().int().min(0),
  to: hex,
  data: hex.nullable(),
  value: decimal,
  gas: decimal,
  maxFeePerGas: decimal,
  maxPriorityFeePerGas: decimal,
  raws: z.array(hex).min(1),
  worstCaseWei: decimal,
  createdAt: z.number().int().min(0),
  state: z.enum(['pending', 'confirmed', 'reverted', 'failed']),
  result: z.strictObject({ hash: hex, blockNumber: z.number().int().min(0), blockHash: hex }).nullable(),
  errorCode: z.string().max(64).nullable(),
})
const JOURNAL_VERSION = 1
const journalFile = z.strictObject({
  version: z.literal(JOURNAL_VERSION),
  nonces: z.record(z.string(), z.number().int().min(0)),
  txs: z.array(journalTx),
})

interface State {
  nonces: Record<string, number>
  txs: Map<string, JournalTx>
}

function contentsOf(state: State): JournalContents {
  return { nonces: { ...state.nonces }, txs: [...state.txs.values()] }
}

/** Drops the oldest settled entries beyond `maxSettled` (pending ones are never dropped). */
function prune(state: State, maxSettled: number): void {
  const settled = [...state.txs.values()].filter((t) => t.state !== 'pending')
  if (settled.length <= maxSettled) return
  settled.sort((a, b) => a.createdAt - b.createdAt)
  for (const t of settled.slice(0, settled.length - maxSettled)) state.txs.delete(t.key)
}

function applyPut(state: State, tx: JournalTx, maxSettled: number): void {
  state.txs.set(tx.key, tx)
  prune(state, maxSettled)
}

/** A journal in memory. Two senders given the same instance behave like one process restarted. */
export function createMemoryTxJournal(options: TxJournalOptions = {}): TxJournal {
  const maxSettled = options.maxSettled ?? DEFAULT_MAX_SETTLED
  const state: State = { nonces: {}, txs: new Map() }
  return {
    load: () => Promise.resolve(contentsOf(state)),
    putTx(tx) {
      applyPut(state, tx, maxSettled)
      return Promise.resolve()
    },
    deleteTx(key) {
      state.txs.delete(key)
      return Promise.resolve()
    },
    putNonce(address, next) {
      state.nonces[address.toLowerCase()] = next
      return Promise.resolve()
    },
  }
}

/**
 * A journal in one JSON file (`{ version, nonces, txs }`), rewritten atomically on every change: a crash
 * leaves either the old or the new file, never a torn one. Writes are serialised. Errors name the path,
 * never the content (it holds signed transactions, which are public once broadcast but not before).
 */
export function createFileTxJournal(path: string, options: TxJournalOptions = {}): TxJournal {
  const maxSettled = options.maxSettled ?? DEFAULT_MAX_SETTLED
  let state: State | undefined
  let tail: Promise<unknown> = Promise.resolve()

  async function read(): Promise<State> {
    let text: string
    try {
      text = await readFile(path, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { nonces: {}, txs: new Map() }
      throw new GatewayError(
        'CHAIN_JOURNAL_INVALID',
        `transaction journal ${path} is unreadable (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
      )
    }
    let doc: unknown
    try {
      doc = JSON.parse(text)
    } catch {
      throw new GatewayError('CHAIN_JOURNAL_INVALID', `transaction journal ${path} is not valid JSON`)
    }
    const version = (doc as { version?: unknown } | null)?.version
    if (version !== JOURNAL_VERSION) {
      throw new GatewayError(
        'CHAIN_JOURNAL_INVALID',
        `transaction journal ${path} has version ${String(version)}; this gateway reads version ${JOURNAL_VERSION}`,
      )
    }
    const parsed = journalFile.safeParse(doc)
    if (!parsed.success) {
      const where = parsed.error.issues[0]?.path.join('.') ?? ''
      throw new GatewayError(
        'CHAIN_JOURNAL_INVALID',
        `transaction journal ${path} is malformed at ${where || 'top level'}`,
      )
    }
    return {
      nonces: { ...parsed.data.nonces },
      txs: new Map(parsed.data.txs.map((t) => [t.key, t as JournalTx])),
    }
  }

  async function write(s: State): Promise<void> {
    const body = JSON.stringify({ version: JOURNAL_VERSION, nonces: s.nonces, txs: [...s.txs.values()] })
    const tmp = `${path}.${randomUUID()}.tmp`
    try {
      const fh = await open(tmp, 'wx', 0o600)
      try {
        await fh.writeFile(body, 'utf8')
        await fh.sync()
      } finally {
        await fh.close()
      }
      await rename(tmp, path)
      // The rename is durable only once the directory entry is.
      const dir = await open(dirname(path), 'r')
      try {
        await dir.sync()
      } finally {
        await dir.close()
      }
    } catch (err) {
      await rm(tmp, { force: true }).catch(() => undefined)
      if (err instanceof GatewayError) throw err
      throw new GatewayError(
        'CHAIN_JOURNAL_INVALID',
        `transaction journal ${path} could not be written (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
      )
    }
  }

  /** Runs `change` on the loaded state and persists it; serialised so writes never interleave. */
  function mutate(change: (s: State) => void): Promise<void> {
    const run = async (): Promise<void> => {
      state ??= await read()
      change(state)
      await write(state)
    }
    const result = tail.then(run, run)
    tail = result.catch(() => undefined)
    return result
  }

  return {
    async load() {
      await mkdir(dirname(path), { recursive: true })
      const run = async (): Promise<JournalContents> => {
        state = await read()
        return contentsOf(state)
      }
      const result = tail.then(run, run)
      tail = result.catch(() => undefined)
      return result
    },
    putTx: (tx) => mutate((s) => applyPut(s, tx, maxSettled)),
    deleteTx: (key) =>
      mutate((s) => {
        s.txs.delete(key)
      }),
    putNonce: (address, next) =>
      mutate((s) => {
        s.nonces[address.toLowerCase()] = next
      }),
  }
}
