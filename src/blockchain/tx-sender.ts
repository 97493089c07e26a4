/**
 * Sends the gateway's own transactions (refunds, relayed gasless payments) safely:
 * - one nonce lock per account (nonce-manager.ts): no gaps, no duplicates under concurrent sends;
 * - EIP-1559 fees under a hard cap (fee-policy.ts): refuse or queue while the base fee is above it;
 * - gas estimation with a margin; in-process signing; broadcast with failover (rpc-client.ts);
 * - a monitor that follows every transaction to confirmation under the chain's block-tag policy, detects
 *   reorgs (a receipt whose block hash changed or vanished is re-awaited), re-broadcasts dropped
 *   transactions (the same signed bytes: it cannot execute twice) and replaces stuck ones with higher fees.
 * - spend limits before signing (fee-budget.ts): a gas ceiling, a ceiling on gasLimit × maxFeePerGas and a
 *   rolling budget of that worst case per period;
 * - a journal (tx-journal.ts): every signed transaction is recorded before its broadcast, under an
 *   idempotency key; on start the sender reloads it, reconciles the nonce with a quorum of endpoints and
 *   re-broadcasts what is still pending, so a restart neither loses nor repeats a transaction.
 * A send never signs a second transaction for the same intent with a new nonce: that is what makes it
 * safe to retry and to lose track of a broadcast (timeouts): we always know the hash and keep watching.
 */
import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { formatGwei, keccak256, numberToHex } from 'viem'
import { GatewayError, isGatewayError } from '../errors/index.ts'
import type { ChainConfig, TxTuning } from './chain-config.ts'
import type { ChainMetrics } from './chain-metrics.ts'
import { decideTxProgress, type SeenReceipt, type TxObservation, type TxProgress } from './confirmation.ts'
import {
  decideSpend,
  pruneCharges,
  spentWithin,
  worstCaseFee,
  type SpendCharge,
  type SpendLimits,
} from './fee-budget.ts'
import { bumpFees, decideFees, withGasMargin, type Eip1559Fees, type FeePolicyOptions } from './fee-policy.ts'
import { createNonceManager, type NonceUse } from './nonce-manager.ts'
import type { RpcClient } from './rpc-client.ts'
import { classifySendRejection } from './rpc-failure.ts'
import { createMemoryTxJournal, type JournalTx, type TxJournal } from './tx-journal.ts'
import type { ChainDeps, Address, Hex } from './types.ts'
import type { ChainSigner } from './wallet.ts'

export interface TxRequest {
  readonly to: Address
  readonly data?: Hex
  readonly value?: bigint
  /** Gas limit; estimated with the configured margin when absent. */
  readonly gas?: bigint
}

export interface SendOptions {
  /** Budget for fee checks (including queueing behind the fee cap), estimation, signing and broadcast. */
  readonly deadlineMs?: number
  /**
   * One intent, at most one transaction, across retries and restarts: a send with a key already in the
   * journal returns that transaction (pending, confirmed or failed) instead of signing another.
   */
  readonly idempotencyKey?: string
  /** Recorded in the journal for operators (e.g. `refund`). */
  readonly purpose?: string
}

export interface ConfirmedTx {
  /** The hash that was mined (a fee-bumped replacement's hash when the original was replaced). */
  readonly hash: Hex
  readonly nonce: number
  readonly blockNumber: number
  readonly blockHash: Hex
  readonly status: 'success' | 'reverted'
  /** Reorgs this transaction went through before confirming. */
  readonly reorgs: number
  /** Fee bumps sent. */
  readonly bumps: number
}

export interface SentTx {
  /** Hash of the first broadcast. */
  readonly hash: Hex
  readonly nonce: number
  readonly from: Address
  readonly idempotencyKey: string
  /** False when an earlier send (possibly before a restart) with the same key is returned. */
  readonly isNew: boolean
  /**
   * Resolves once confirmed under the chain's policy (`status` may be `reverted`). Rejects with
   * CHAIN_TX_DROPPED or CHAIN_NONCE_CONFLICT, or CHAIN_TX_TIMEOUT after `timeoutMs` (monitoring goes on).
   */
  wait(options?: { readonly timeoutMs?: number }): Promise<ConfirmedTx>
}

export type TxEventType =
  | 'sent'
  | 'included'
  | 'confirmed'
  | 'reverted'
  | 'reorged'
  | 'rebroadcast'
  | 'bumped'
  | 'bump-refused'
  | 'dropped'
  | 'replaced'

export interface TxEvent {
  readonly type: TxEventType
  readonly nonce: number
  readonly hash: Hex
  readonly blockNumber?: number
  readonly blockHash?: Hex
}

export interface FeeCapStatus {
  /** Whether the last base fee seen was above the cap. */
  readonly isExceeded: boolean
  readonly baseFeePerGasWei: string | null
  readonly capWei: string
  readonly observedAt: number | null
}

export interface TxSenderSnapshot {
  readonly address: Address
  readonly pendingTxs: number
  readonly nextNonce: number | null
  readonly feeCap: FeeCapStatus
  /** Worst-case fees committed within the current budget period, in wei (decimal). */
  readonly feeBudgetSpentWei: string
}

export interface TxSenderOptions {
  readonly chain: ChainConfig
  readonly tuning: TxTuning
}

export interface TxSenderDeps extends ChainDeps {
  readonly rpc: RpcClient
  readonly signer: ChainSigner
  readonly metrics: ChainMetrics
  /** The persisted record of nonces and signed transactions; in memory when absent (lost on restart). */
  readonly journal?: TxJournal
  /** Lifecycle hook (tests, audit log); must not throw. */
  readonly onEvent?: (event: TxEvent) => void
}

export interface TxSender {
  /**
   * Loads the journal, reconciles the nonce with a quorum of endpoints and re-broadcasts pending
   * transactions (idempotent; `send` calls it too). Rejects with CHAIN_JOURNAL_INVALID for a bad journal.
   */
  start(): Promise<void>
  send(tx: TxRequest, options?: SendOptions): Promise<SentTx>
  /** One monitoring round (the timer calls it every pollIntervalMs while transactions are pending). */
  poll(): Promise<void>
  snapshot(): TxSenderSnapshot
  close(): void
}

interface Tracked {
  entry: JournalTx
  readonly nonce: number
  readonly request: TxRequest & { readonly gas: bigint }
  readonly hashes: Hex[]
  readonly raws: Map<Hex, Hex>
  fees: Eip1559Fees
  currentRaw: Hex
  lastBroadcastAt: number
  included: SeenReceipt | null
  rebroadcasts: number
  reorgs: number
  bumps: number
  replacedSightings: number
  isBumpRefused: boolean
  settle: (result: ConfirmedTx | GatewayError) => void
  readonly done: Promise<ConfirmedTx>
}

export function createTxSender(options: TxSenderOptions, deps: TxSenderDeps): TxSender {
  const { chain, tuning } = options
  const { rpc, signer, metrics, clock } = deps
  const log = deps.log.child({ component: 'chain-tx', from: signer.address })
  const from = signer.address
  const feeOptions: FeePolicyOptions = chain.gas
  const policy = chain.confirmation
  const tracked = new Map<number, Tracked>()
  const journal = deps.journal ?? createMemoryTxJournal()
  const limits: SpendLimits = chain.gas
  /** Every journal entry of this account by idempotency key (settled ones answer repeated sends). */
  const entries = new Map<string, JournalTx>()
  /** Sends in progress by key, so two concurrent sends of one intent get one transaction. */
  const sending = new Map<string, Promise<SentTx>>()
  let charges: SpendCharge[] = []
  let journalNonce: number | undefined
  let starting: Promise<void> | undefined
  const nonces = createNonceManager(
    { maxWaiting: tuning.maxWaitingSends, maxResyncs: 2 },
    { fetchPendingNonce: reconcileNonce },
  )
  let feeCap: FeeCapStatus = {
    isExceeded: false,
    baseFeePerGasWei: null,
    capWei: chain.gas.maxFeePerGasWei.toString(),
    observedAt: null,
  }
  let timer: NodeJS.Timeout | undefined
  let polling: Promise<void> | undefined
  let isClosed = false
  let isMonitorFailing = false

  /**
   * The next nonce: our own record, reconciled with the chain. The chain's `pending` count comes from a
   * quorum of endpoints (one endpoint cannot push it up). Our pending journal entries hold their nonces
   * (they are re-broadcast), so the next nonce is above the highest of them even if no node has them now;
   * a recorded nonce with no pending transaction behind it yields to the chain (no gap is ever created).
   */
  async function reconcileNonce(address: string): Promise<number> {
    const chainPending = await rpc.agreedTransactionCount(address as Address, 'pending')
    let next = chainPending
    for (const t of entries.values()) if (t.state === 'pending' && t.nonce + 1 > next) next = t.nonce + 1
    if (journalNonce !== undefined && journalNonce !== next) {
      log.info(
        { journalNonce, chainPending, next },
        journalNonce > next
          ? 'journal nonce ahead of the chain with nothing pending; using the chain'
          : 'chain nonce ahead of the journal; key used elsewhere',
      )
    }
    journalNonce = next
    return next
  }

  async function record(entry: JournalTx): Promise<void> {
    entries.set(entry.key, entry)
    await journal.putTx(entry)
  }

  function charge(wei: bigint): SpendCharge {
    const now = clock.now()
    const c = { atMs: now, wei }
    charges = pruneCharges(charges, now, limits.feeBudgetPeriodMs)
    charges.push(c)
    return c
  }

  function budgetSpent(): bigint {
    return spentWithin(charges, clock.now(), limits.feeBudgetPeriodMs)
  }

  function emit(type: TxEventType, tx: Tracked, hash: Hex, receipt?: SeenReceipt): void {
    metrics.txEvents.inc({ event: type })
    const event: TxEvent =
      receipt === undefined
        ? { type, nonce: tx.nonce, hash }
        : { type, nonce: tx.nonce, hash, blockNumber: receipt.blockNumber, blockHash: receipt.blockHash }
    try {
      deps.onEvent?.(event)
    } catch (err) {
      log.error({ err }, 'tx event hook threw')
    }
  }

  async function latestBaseFee(deadline: number): Promise<bigint> {
    const block = await rpc.request<{ baseFeePerGas?: Hex } | null>(
      'eth_getBlockByNumber',
      ['latest', false],
      { deadlineMs: Math.max(1, deadline - clock.now()) },
    )
    if (block?.baseFeePerGas === undefined)
      throw new GatewayError(
        'CHAIN_RPC_ERROR',
        'latest block has no baseFeePerGas: the chain is not EIP-1559',
      )
    const baseFee = BigInt(block.baseFeePerGas)
    metrics.baseFee.set(Number(baseFee))
    return baseFee
  }

  async function suggestedTip(deadline: number): Promise<bigint> {
    try {
      return BigInt(
        await rpc.request<Hex>('eth_maxPriorityFeePerGas', [], {
          deadlineMs: Math.max(1, deadline - clock.now()),
        }),
      )
    } catch (err) {
      // Not every node implements it; Nitro ignores tips anyway.
      if (isGatewayError(err) && err.code === 'CHAIN_RPC_ERROR') return 0n
      throw err
    }
  }

  function observeFeeCap(baseFee: bigint, isExceeded: boolean): void {
    if (isExceeded !== feeCap.isExceeded) {
      if (isExceeded)
        log.warn(
          { baseFeeGwei: formatGwei(baseFee), capGwei: formatGwei(chain.gas.maxFeePerGasWei) },
          'base fee above the configured cap; sends refused or queued',
        )
      else log.info({ baseFeeGwei: formatGwei(baseFee) }, 'base fee back under the cap')
    }
    feeCap = { ...feeCap, isExceeded, baseFeePerGasWei: baseFee.toString(), observedAt: clock.now() }
  }

  /** Fees for a new send, honouring the cap policy: refuse at once, or wait until the deadline. */
  async function feesWithinCap(deadline: number): Promise<Eip1559Fees> {
    let hasQueued = false
    for (;;) {
      const [baseFee, tip] = await Promise.all([latestBaseFee(deadline), suggestedTip(deadline)])
      const decision = decideFees(baseFee, tip, feeOptions)
      observeFeeCap(baseFee, !decision.ok)
      if (decision.ok) return decision.fees
      const detail = `base fee ${formatGwei(decision.baseFeePerGas)} gwei is above the cap of ${formatGwei(decision.capWei)} gwei`
      if (chain.gas.feeCapPolicy === 'refuse') {
        metrics.feeCapExceeded.inc({ action: 'refused' })
        throw new GatewayError('CHAIN_FEE_CAP_EXCEEDED', `send refused: ${detail}`)
      }
      if (!hasQueued) {
        metrics.feeCapExceeded.inc({ action: 'queued' })
        hasQueued = true
      }
      if (clock.now() + tuning.feeRecheckMs >= deadline) {
        metrics.feeCapExceeded.inc({ action: 'expired' })
        throw new GatewayError('CHAIN_FEE_CAP_EXCEEDED', `send queued until its deadline: ${detail}`)
      }
      await sleep(tuning.feeRecheckMs)
    }
  }

  async function sign(request: Tracked['request'], nonce: number, fees: Eip1559Fees): Promise<Hex> {
    return signer.account.signTransaction!({
      chainId: chain.id,
      type: 'eip1559',
      nonce,
      to: request.to,
      ...(request.data === undefined ? {} : { data: request.data }),
      value: request.value ?? 0n,
      gas: request.gas,
      maxFeePerGas: fees.maxFeePerGas,
      maxPriorityFeePerGas: fees.maxPriorityFeePerGas,
    })
  }

  function track(entry: JournalTx): Tracked {
    const nonce = entry.nonce
    const request: Tracked['request'] = {
      to: entry.to,
      ...(entry.data === null ? {} : { data: entry.data }),
      value: BigInt(entry.value),
      gas: BigInt(entry.gas),
    }
    const fees: Eip1559Fees = {
      maxFeePerGas: BigInt(entry.maxFeePerGas),
      maxPriorityFeePerGas: BigInt(entry.maxPriorityFeePerGas),
    }
    const raw = entry.raws.at(-1)!
    let settle!: Tracked['settle']
    const done = new Promise<ConfirmedTx>((resolve, reject) => {
      settle = (r) => (r instanceof GatewayError ? reject(r) : resolve(r))
    })
    done.catch(() => undefined) // rejections surface through wait()
    const tx: Tracked = {
      entry,
      nonce,
      request,
      hashes: entry.raws.map((r) => keccak256(r)),
      raws: new Map(entry.raws.map((r) => [keccak256(r), r])),
      fees,
      currentRaw: raw,
      lastBroadcastAt: clock.now(),
      included: null,
      rebroadcasts: 0,
      reorgs: 0,
      bumps: 0,
      replacedSightings: 0,
      isBumpRefused: false,
      settle,
      done,
    }
    tracked.set(nonce, tx)
    metrics.txPending.set(tracked.size)
    ensureTimer()
    return tx
  }

  function finish(tx: Tracked, result: ConfirmedTx | GatewayError): void {
    tracked.delete(tx.nonce)
    metrics.txPending.set(tracked.size)
    const settled: JournalTx =
      result instanceof GatewayError
        ? { ...tx.entry, state: 'failed', errorCode: result.code }
        : {
            ...tx.entry,
            state: result.status === 'success' ? 'confirmed' : 'reverted',
            result: { hash: result.hash, blockNumber: result.blockNumber, blockHash: result.blockHash },
          }
    // A closing sender leaves its transactions pending in the journal: the next process re-awaits them.
    if (!isClosed) {
      tx.entry = settled
      record(settled).catch((err: unknown) =>
        log.error({ err, nonce: tx.nonce, key: settled.key }, 'transaction journal write failed'),
      )
    }
    tx.settle(result)
  }

  function handleOf(tx: Tracked, isNew: boolean): SentTx {
    const hash = tx.hashes[0]!
    return {
      hash,
      nonce: tx.nonce,
      from,
      idempotencyKey: tx.entry.key,
      isNew,
      wait(waitOptions = {}): Promise<ConfirmedTx> {
        const timeoutMs = waitOptions.timeoutMs ?? tuning.confirmTimeoutMs
        let timeout: NodeJS.Timeout | undefined
        const expiry = new Promise<never>((_, reject) => {
          timeout = setTimeout(
            () =>
              reject(
                new GatewayError(
                  'CHAIN_TX_TIMEOUT',
                  `transaction ${hash} not confirmed within ${timeoutMs} ms; still tracked`,
                ),
              ),
            timeoutMs,
          )
        })
        return Promise.race([tx.done, expiry]).finally(() => clearTimeout(timeout))
      },
    }
  }

  /** The handle of a settled journal entry: `wait()` answers from the record, nothing is sent. */
  function settledHandle(entry: JournalTx): SentTx {
    const hash = keccak256(entry.raws[0]!)
    return {
      hash,
      nonce: entry.nonce,
      from,
      idempotencyKey: entry.key,
      isNew: false,
      wait(): Promise<ConfirmedTx> {
        if (entry.state === 'failed' || entry.result === null) {
          return Promise.reject(
            new GatewayError(
              (entry.errorCode as 'CHAIN_TX_DROPPED' | null) ?? 'CHAIN_TX_DROPPED',
              `transaction ${entry.key} (nonce ${entry.nonce}) failed earlier; not sent again`,
            ),
          )
        }
        return Promise.resolve({
          hash: entry.result.hash,
          nonce: entry.nonce,
          blockNumber: entry.result.blockNumber,
          blockHash: entry.result.blockHash,
          status: entry.state === 'confirmed' ? 'success' : 'reverted',
          reorgs: 0,
          bumps: entry.raws.length - 1,
        })
      },
    }
  }

  /** The existing transaction for a key, if any (pending: tracked; settled: from the record). */
  function existing(key: string): SentTx | undefined {
    const entry = entries.get(key)
    if (entry === undefined) return undefined
    const tx = tracked.get(entry.nonce)
    if (entry.state === 'pending' && tx !== undefined && tx.entry.key === key) return handleOf(tx, false)
    return settledHandle(entry)
  }

  function send(request: TxRequest, opts: SendOptions = {}): Promise<SentTx> {
    const key = opts.idempotencyKey ?? randomUUID()
    const inFlight = sending.get(key)
    if (inFlight !== undefined) return inFlight.then((sent) => ({ ...sent, isNew: false }))
    const run = sendOnce(request, key, opts).finally(() => sending.delete(key))
    sending.set(key, run)
    return run
  }

  async function sendOnce(request: TxRequest, key: string, opts: SendOptions): Promise<SentTx> {
    if (isClosed) throw new GatewayError('CHAIN_UNAVAILABLE', 'transaction sender closed')
    await start()
    const known = existing(key)
    if (known !== undefined) {
      log.info(
        { key, nonce: known.nonce, hash: known.hash },
        'send with a known idempotency key; returning the recorded transaction',
      )
      return known
    }
    if (tracked.size >= tuning.maxPendingTxs) {
      throw new GatewayError('CHAIN_SEND_QUEUE_FULL', `${tracked.size} transactions already pending`)
    }
    if (request.gas !== undefined && request.gas > limits.maxGasPerTx) {
      throw new GatewayError(
        'CHAIN_GAS_LIMIT_EXCEEDED',
        `send refused: gas limit ${request.gas} is above the ceiling of ${limits.maxGasPerTx}`,
      )
    }
    const deadline = clock.now() + (opts.deadlineMs ?? tuning.sendTimeoutMs)
    const remaining = (): number => Math.max(1, deadline - clock.now())
    const fees = await feesWithinCap(deadline)
    const gas =
      request.gas ??
      withGasMargin(
        BigInt(
          await rpc.request<Hex>(
            'eth_estimateGas',
            [
              {
                from,
                to: request.to,
                ...(request.data === undefined ? {} : { data: request.data }),
                ...(request.value === undefined ? {} : { value: numberToHex(request.value) }),
              },
            ],
            { deadlineMs: remaining() },
          ),
        ),
        chain.gas.gasLimitMarginPct,
      )
    const full = { ...request, gas }
    const purpose = (opts.purpose ?? 'send').slice(0, 64)

    const tx = await nonces.withNonce(from, async (nonce): Promise<NonceUse<Tracked>> => {
      // Before signing: the gas ceiling, the per-transaction fee ceiling and the rolling budget.
      const spend = decideSpend(gas, fees.maxFeePerGas, limits, budgetSpent())
      if (!spend.ok) {
        metrics.txEvents.inc({
          event: spend.code === 'CHAIN_GAS_LIMIT_EXCEEDED' ? 'gas_limit_refused' : 'fee_budget_refused',
        })
        log.warn(
          { nonce, gas: gas.toString(), maxFeeGwei: formatGwei(fees.maxFeePerGas), reason: spend.reason },
          'send refused by the spend limits',
        )
        return { kind: 'unused', error: new GatewayError(spend.code, `send refused: ${spend.reason}`) }
      }
      const raw = await sign(full, nonce, fees)
      const hash = keccak256(raw)
      const entry: JournalTx = {
        key,
        purpose,
        from,
        nonce,
        to: full.to,
        data: full.data ?? null,
        value: (full.value ?? 0n).toString(),
        gas: gas.toString(),
        maxFeePerGas: fees.maxFeePerGas.toString(),
        maxPriorityFeePerGas: fees.maxPriorityFeePerGas.toString(),
        raws: [raw],
        worstCaseWei: spend.worstCaseWei.toString(),
        createdAt: clock.now(),
        state: 'pending',
        result: null,
        errorCode: null,
      }
      // Recorded before the broadcast: a crash right after it leaves a transaction the next start re-sends.
      // The nonce first: if recording the transaction then fails, nothing is broadcast and the advanced
      // nonce record yields to the chain on reconciliation (no gap).
      await journal.putNonce(from, nonce + 1)
      await journal.putTx(entry)
      entries.set(key, entry)
      const charged = charge(spend.worstCaseWei)
      // Provably not sent: forget it entirely (the key may be used again, the nonce goes to the next send).
      const unsend = async (): Promise<void> => {
        entries.delete(key)
        charges = charges.filter((c) => c !== charged)
        await journal.deleteTx(key)
        await journal.putNonce(from, nonce)
      }
      const r = await rpc.broadcast(raw, { deadlineMs: remaining() })
      if (r.outcome === 'accepted') return { kind: 'used', value: track(entry) }
      if (r.outcome === 'unknown') {
        // It may be in a mempool: keep the nonce, watch the hash; a drop is re-broadcast with the same bytes.
        log.warn({ nonce, hash, err: r.error.message }, 'broadcast outcome unknown; tracking by hash')
        return { kind: 'used', value: track(entry) }
      }
      if (r.outcome === 'not-sent') {
        await unsend()
        return { kind: 'unused', error: r.error }
      }
      const why = classifySendRejection(r.error.message)
      if (why === 'nonce-too-low' && r.wasMaybeDelivered) {
        // Our own earlier attempt may have landed: watch the hash rather than sign a second transaction.
        return { kind: 'used', value: track(entry) }
      }
      await unsend()
      if (why === 'nonce-too-low' || why === 'nonce-too-high' || why === 'underpriced') {
        metrics.txEvents.inc({ event: 'nonce_resync' })
        log.warn({ nonce, reason: why }, 'node rejected the nonce; resyncing from the chain')
        return {
          kind: 'stale',
          error: new GatewayError('CHAIN_NONCE_CONFLICT', `nonce ${nonce} rejected: ${why}`, {
            cause: r.error,
          }),
        }
      }
      if (why === 'insufficient-funds') {
        return {
          kind: 'unused',
          error: new GatewayError(
            'CHAIN_INSUFFICIENT_FUNDS',
            `wallet ${from} cannot pay for the transaction`,
            { cause: r.error },
          ),
        }
      }
      return {
        kind: 'unused',
        error: new GatewayError('CHAIN_RPC_ERROR', `broadcast rejected: ${r.error.message.slice(0, 200)}`, {
          cause: r.error,
        }),
      }
    })

    const hash = tx.hashes[0]!
    emit('sent', tx, hash)
    log.info(
      { nonce: tx.nonce, hash, key, purpose, gas: gas.toString(), maxFeeGwei: formatGwei(fees.maxFeePerGas) },
      'transaction sent',
    )
    return handleOf(tx, true)
  }

  /** Loads the journal once: settled entries answer repeated keys, pending ones are tracked and re-sent. */
  function start(): Promise<void> {
    starting ??= (async () => {
      const contents = await journal.load()
      const mine = contents.txs.filter((t) => t.from.toLowerCase() === from.toLowerCase())
      journalNonce = contents.nonces[from.toLowerCase()]
      const now = clock.now()
      for (const t of mine) {
        entries.set(t.key, t)
        if (now - t.createdAt < limits.feeBudgetPeriodMs)
          charges.push({ atMs: t.createdAt, wei: BigInt(t.worstCaseWei) })
      }
      const pending = mine.filter((t) => t.state === 'pending').sort((a, b) => a.nonce - b.nonce)
      for (const t of pending) {
        const tx = track(t)
        // Re-broadcast the last signed bytes: a node that has it says "already known", one that mined it
        // "nonce too low"; either way the monitor then follows it by hash. Nothing new is signed.
        const r = await rpc.broadcast(tx.currentRaw)
        log.warn(
          { nonce: t.nonce, key: t.key, hash: keccak256(tx.currentRaw), outcome: r.outcome },
          'pending transaction from the journal re-broadcast',
        )
      }
      log.info(
        { pending: pending.length, recorded: mine.length, journalNonce: journalNonce ?? null },
        'transaction journal loaded',
      )
    })()
    starting.catch(() => {
      starting = undefined
    })
    return starting
  }

  function ensureTimer(): void {
    if (timer !== undefined || isClosed) return
    timer = setInterval(() => {
      poll().catch((err: unknown) => log.error({ err }, 'transaction monitor round failed'))
    }, tuning.pollIntervalMs)
    timer.unref()
  }

  async function observe(
    tx: Tracked,
    head: number,
    tagBlock: number | null,
    minedNonce: number,
  ): Promise<TxObservation> {
    let receipt: SeenReceipt | null = null
    for (const hash of [...tx.hashes].reverse()) {
      const r = await rpc.verifiedReceipt(hash)
      if (r !== null) {
        receipt = {
          transactionHash: r.transactionHash,
          blockNumber: r.blockNumber,
          blockHash: r.blockHash,
          status: r.status,
        }
        break
      }
    }
    let canonicalBlockHash: Hex | null = null
    let isKnown = receipt !== null
    if (receipt !== null) {
      const block = await rpc.request<{ hash: Hex } | null>('eth_getBlockByNumber', [
        numberToHex(receipt.blockNumber),
        false,
      ])
      canonicalBlockHash = (block?.hash.toLowerCase() as Hex | undefined) ?? null
    } else {
      for (const hash of tx.hashes) {
        if ((await rpc.request<unknown>('eth_getTransactionByHash', [hash])) !== null) {
          isKnown = true
          break
        }
      }
    }
    return { receipt, canonicalBlockHash, headBlock: head, tagBlock, isKnown, minedNonce }
  }

  async function act(tx: Tracked, progress: TxProgress): Promise<void> {
    const now = clock.now()
    switch (progress.kind) {
      case 'pending':
        return
      case 'included':
        if (tx.included?.blockHash !== progress.receipt.blockHash) {
          tx.included = progress.receipt
          emit('included', tx, progress.receipt.transactionHash, progress.receipt)
        }
        return
      case 'confirmed': {
        const r = progress.receipt
        emit(r.status === 'success' ? 'confirmed' : 'reverted', tx, r.transactionHash, r)
        log.info(
          {
            nonce: tx.nonce,
            hash: r.transactionHash,
            blockNumber: r.blockNumber,
            status: r.status,
            reorgs: tx.reorgs,
          },
          'transaction confirmed',
        )
        finish(tx, {
          hash: r.transactionHash,
          nonce: tx.nonce,
          blockNumber: r.blockNumber,
          blockHash: r.blockHash,
          status: r.status,
          reorgs: tx.reorgs,
          bumps: tx.bumps,
        })
        return
      }
      case 'reorged':
        tx.reorgs++
        tx.included = progress.receipt
        emit('reorged', tx, progress.previous.transactionHash, progress.previous)
        log.warn(
          {
            nonce: tx.nonce,
            hash: progress.previous.transactionHash,
            blockNumber: progress.previous.blockNumber,
            blockHash: progress.previous.blockHash,
          },
          'transaction block reorged away; re-awaiting',
        )
        return
      case 'dropped': {
        if (tx.rebroadcasts >= tuning.maxRebroadcasts) {
          emit('dropped', tx, tx.hashes.at(-1)!)
          nonces.invalidate(from)
          log.error(
            { nonce: tx.nonce, hash: tx.hashes.at(-1), rebroadcasts: tx.rebroadcasts },
            'transaction dropped',
          )
          finish(
            tx,
            new GatewayError(
              'CHAIN_TX_DROPPED',
              `transaction nonce ${tx.nonce} dropped after ${tx.rebroadcasts} re-broadcasts`,
            ),
          )
          return
        }
        tx.rebroadcasts++
        const r = await rpc.broadcast(tx.currentRaw)
        const hash = keccak256(tx.currentRaw)
        if (r.outcome === 'accepted') {
          tx.lastBroadcastAt = now
          emit('rebroadcast', tx, hash)
          log.warn(
            { nonce: tx.nonce, hash, attempt: tx.rebroadcasts },
            'transaction missing from the node; re-broadcast',
          )
        } else {
          log.warn({ nonce: tx.nonce, hash, outcome: r.outcome }, 're-broadcast not accepted')
        }
        return
      }
      case 'replaced':
        // Two sightings in a row: one could be a provider whose receipt index lags its state.
        if (++tx.replacedSightings < 2) return
        emit('replaced', tx, tx.hashes.at(-1)!)
        nonces.invalidate(from)
        log.error(
          { nonce: tx.nonce, hashes: tx.hashes },
          'nonce consumed by a transaction this gateway did not send',
        )
        finish(
          tx,
          new GatewayError('CHAIN_NONCE_CONFLICT', `nonce ${tx.nonce} was consumed by a foreign transaction`),
        )
        return
      case 'stuck':
        await bump(tx, now)
        return
    }
  }

  async function bump(tx: Tracked, now: number): Promise<void> {
    const deadline = now + tuning.sendTimeoutMs
    const [baseFee, tip] = await Promise.all([latestBaseFee(deadline), suggestedTip(deadline)])
    const fresh = decideFees(baseFee, tip, feeOptions)
    observeFeeCap(baseFee, !fresh.ok)
    const decision = bumpFees(tx.fees, fresh.ok ? fresh.fees : undefined, feeOptions)
    tx.lastBroadcastAt = now // whatever happens, wait another stuckAfterMs before the next attempt
    if (!decision.ok) {
      metrics.feeCapExceeded.inc({ action: 'bump_refused' })
      if (!tx.isBumpRefused) emit('bump-refused', tx, tx.hashes.at(-1)!)
      tx.isBumpRefused = true
      log.warn(
        {
          nonce: tx.nonce,
          requiredMaxFeeGwei: formatGwei(decision.requiredMaxFeePerGas),
          capGwei: formatGwei(decision.capWei),
        },
        'stuck transaction cannot be bumped under the fee cap',
      )
      return
    }
    const worst = worstCaseFee(tx.request.gas, decision.fees.maxFeePerGas)
    const previousWorst = BigInt(tx.entry.worstCaseWei)
    const spend = decideSpend(
      tx.request.gas,
      decision.fees.maxFeePerGas,
      limits,
      budgetSpent(),
      worst > previousWorst ? worst - previousWorst : 0n,
    )
    if (!spend.ok) {
      metrics.txEvents.inc({
        event: spend.code === 'CHAIN_GAS_LIMIT_EXCEEDED' ? 'gas_limit_refused' : 'fee_budget_refused',
      })
      if (!tx.isBumpRefused) emit('bump-refused', tx, tx.hashes.at(-1)!)
      tx.isBumpRefused = true
      log.warn(
        { nonce: tx.nonce, reason: spend.reason },
        'stuck transaction cannot be bumped within the spend limits',
      )
      return
    }
    const raw = await sign(tx.request, tx.nonce, decision.fees)
    const hash = keccak256(raw)
    // Recorded before the broadcast: after a restart any of the signed versions may be the one mined.
    const bumped: JournalTx = {
      ...tx.entry,
      raws: [...tx.entry.raws, raw],
      maxFeePerGas: decision.fees.maxFeePerGas.toString(),
      maxPriorityFeePerGas: decision.fees.maxPriorityFeePerGas.toString(),
      worstCaseWei: (worst > previousWorst ? worst : previousWorst).toString(),
    }
    await record(bumped)
    tx.entry = bumped
    if (worst > previousWorst) charge(worst - previousWorst)
    tx.hashes.push(hash)
    tx.raws.set(hash, raw)
    const r = await rpc.broadcast(raw)
    if (r.outcome === 'accepted' || r.outcome === 'unknown') {
      tx.currentRaw = raw
      tx.fees = decision.fees
      tx.bumps++
      emit('bumped', tx, hash)
      log.warn(
        { nonce: tx.nonce, hash, maxFeeGwei: formatGwei(decision.fees.maxFeePerGas), bumps: tx.bumps },
        'stuck transaction replaced with higher fees',
      )
    } else {
      log.warn({ nonce: tx.nonce, outcome: r.outcome }, 'fee bump not accepted')
    }
  }

  function poll(): Promise<void> {
    polling ??= (async () => {
      try {
        if (tracked.size === 0) return
        // Order matters (see TxObservation): the mined nonce before any receipt.
        // Counts, head and tag come from a quorum / two endpoints: one lying node cannot confirm or drop ours.
        const minedNonce = await rpc.agreedTransactionCount(from, 'latest')
        const head = (await rpc.verifiedBlockTag('latest')).number
        const tagBlock = policy.tag === 'latest' ? null : (await rpc.verifiedBlockTag(policy.tag)).number
        const now = clock.now()
        for (const tx of [...tracked.values()].sort((a, b) => a.nonce - b.nonce)) {
          const obs = await observe(tx, head, tagBlock, minedNonce)
          await act(tx, decideTxProgress(tx, obs, policy, now, { stuckAfterMs: tuning.stuckAfterMs }))
        }
        isMonitorFailing = false
      } catch (err) {
        // Chain unavailable: monitoring resumes on the next round. Warn once per outage, not every round.
        const fields = {
          code: isGatewayError(err) ? err.code : undefined,
          err: isGatewayError(err) ? undefined : err,
          pendingTxs: tracked.size,
        }
        if (isMonitorFailing) log.debug(fields, 'transaction monitor round skipped')
        else log.warn(fields, 'transaction monitor round skipped')
        isMonitorFailing = true
      } finally {
        if (tracked.size === 0 && timer !== undefined) {
          clearInterval(timer)
          timer = undefined
        }
      }
    })().finally(() => {
      polling = undefined
    })
    return polling
  }

  return {
    start,
    send,
    poll,
    snapshot(): TxSenderSnapshot {
      return {
        address: from,
        pendingTxs: tracked.size,
        nextNonce: nonces.snapshot()[from.toLowerCase()] ?? null,
        feeCap,
        feeBudgetSpentWei: budgetSpent().toString(),
      }
    },
    close(): void {
      isClosed = true
      if (timer !== undefined) clearInterval(timer)
      timer = undefined
      // Waiters learn that nobody watches their transaction any more; it may still confirm on chain.
      for (const tx of [...tracked.values()]) {
        finish(
          tx,
          new GatewayError(
            'CHAIN_UNAVAILABLE',
            `sender closed while transaction nonce ${tx.nonce} was pending`,
          ),
        )
      }
    },
  }
}
