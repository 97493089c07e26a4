/**
 * Sends the gateway's own transactions (refunds, relayed gasless payments) safely:
 * - one nonce lock per account (nonce-manager.ts): no gaps, no duplicates under concurrent sends;
 * - EIP-1559 fees under a hard cap (fee-policy.ts): refuse or queue while the base fee is above it;
 * - gas estimation with a margin; in-process signing; broadcast with failover (rpc-client.ts);
 * - a monitor that follows every transaction to confirmation under the chain's block-tag policy, detects
 *   reorgs (a receipt whose block hash changed or vanished is re-awaited), re-broadcasts dropped
 *   transactions (the same signed bytes: it cannot execute twice) and replaces stuck ones with higher fees.
 * A send never signs a second transaction for the same intent with a new nonce: that is what makes it
 * safe to retry and to lose track of a broadcast (timeouts): we always know the hash and keep watching.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { formatGwei, keccak256, numberToHex } from 'viem'
import { GatewayError, isGatewayError } from '../errors/index.ts'
import type { ChainConfig, TxTuning } from './chain-config.ts'
import type { ChainMetrics } from './chain-metrics.ts'
import { decideTxProgress, type SeenReceipt, type TxObservation, type TxProgress } from './confirmation.ts'
import { bumpFees, decideFees, withGasMargin, type Eip1559Fees, type FeePolicyOptions } from './fee-policy.ts'
import { createNonceManager, type NonceUse } from './nonce-manager.ts'
import type { RpcClient } from './rpc-client.ts'
import { classifySendRejection } from './rpc-failure.ts'
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
}

export interface TxSenderOptions {
  readonly chain: ChainConfig
  readonly tuning: TxTuning
}

export interface TxSenderDeps extends ChainDeps {
  readonly rpc: RpcClient
  readonly signer: ChainSigner
  readonly metrics: ChainMetrics
  /** Lifecycle hook (tests, audit log); must not throw. */
  readonly onEvent?: (event: TxEvent) => void
}

export interface TxSender {
  send(tx: TxRequest, options?: SendOptions): Promise<SentTx>
  /** One monitoring round (the timer calls it every pollIntervalMs while transactions are pending). */
  poll(): Promise<void>
  snapshot(): TxSenderSnapshot
  close(): void
}

interface Tracked {
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

interface RawReceipt {
  transactionHash: Hex
  blockNumber: Hex
  blockHash: Hex
  status: Hex
}

const toNumber = (hex: unknown): number => Number(BigInt(hex as string))

export function createTxSender(options: TxSenderOptions, deps: TxSenderDeps): TxSender {
  const { chain, tuning } = options
  const { rpc, signer, metrics, clock } = deps
  const log = deps.log.child({ component: 'chain-tx', from: signer.address })
  const from = signer.address
  const feeOptions: FeePolicyOptions = chain.gas
  const policy = chain.confirmation
  const tracked = new Map<number, Tracked>()
  const nonces = createNonceManager(
    { maxWaiting: tuning.maxWaitingSends, maxResyncs: 2 },
    { fetchPendingNonce: async (address) => toNumber(await rpc.request('eth_getTransactionCount', [address, 'pending'])) },
  )
  let feeCap: FeeCapStatus = { isExceeded: false, baseFeePerGasWei: null, capWei: chain.gas.maxFeePerGasWei.toString(), observedAt: null }
  let timer: NodeJS.Timeout | undefined
  let polling: Promise<void> | undefined
  let isClosed = false
  let isMonitorFailing = false

  function emit(type: TxEventType, tx: Tracked, hash: Hex, receipt?: SeenReceipt): void {
    metrics.txEvents.inc({ event: type })
    const event: TxEvent = receipt === undefined ? { type, nonce: tx.nonce, hash } : { type, nonce: tx.nonce, hash, blockNumber: receipt.blockNumber, blockHash: receipt.blockHash }
    try {
      deps.onEvent?.(event)
    } catch (err) {
      log.error({ err }, 'tx event hook threw')
    }
  }

  async function latestBaseFee(deadline: number): Promise<bigint> {
    const block = await rpc.request<{ baseFeePerGas?: Hex } | null>('eth_getBlockByNumber', ['latest', false], { deadlineMs: Math.max(1, deadline - clock.now()) })
    if (block?.baseFeePerGas === undefined) throw new GatewayError('CHAIN_RPC_ERROR', 'latest block has no baseFeePerGas: the chain is not EIP-1559')
    const baseFee = BigInt(block.baseFeePerGas)
    metrics.baseFee.set(Number(baseFee))
    return baseFee
  }

  async function suggestedTip(deadline: number): Promise<bigint> {
    try {
      return BigInt(await rpc.request<Hex>('eth_maxPriorityFeePerGas', [], { deadlineMs: Math.max(1, deadline - clock.now()) }))
    } catch (err) {
      // Not every node implements it; Nitro ignores tips anyway.
      if (isGatewayError(err) && err.code === 'CHAIN_RPC_ERROR') return 0n
      throw err
    }
  }

  function observeFeeCap(baseFee: bigint, isExceeded: boolean): void {
    if (isExceeded !== feeCap.isExceeded) {
      if (isExceeded) log.warn({ baseFeeGwei: formatGwei(baseFee), capGwei: formatGwei(chain.gas.maxFeePerGasWei) }, 'base fee above the configured cap; sends refused or queued')
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

  function track(nonce: number, request: Tracked['request'], fees: Eip1559Fees, raw: Hex, hash: Hex): Tracked {
    let settle!: Tracked['settle']
    const done = new Promise<ConfirmedTx>((resolve, reject) => {
      settle = (r) => (r instanceof GatewayError ? reject(r) : resolve(r))
    })
    done.catch(() => undefined) // rejections surface through wait()
    const tx: Tracked = {
      nonce,
      request,
      hashes: [hash],
      raws: new Map([[hash, raw]]),
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
    tx.settle(result)
  }

  async function send(request: TxRequest, opts: SendOptions = {}): Promise<SentTx> {
    if (isClosed) throw new GatewayError('CHAIN_UNAVAILABLE', 'transaction sender closed')
    if (tracked.size >= tuning.maxPendingTxs) {
      throw new GatewayError('CHAIN_SEND_QUEUE_FULL', `${tracked.size} transactions already pending`)
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

    const tx = await nonces.withNonce(from, async (nonce): Promise<NonceUse<Tracked>> => {
      const raw = await sign(full, nonce, fees)
      const hash = keccak256(raw)
      const r = await rpc.broadcast(raw, { deadlineMs: remaining() })
      if (r.outcome === 'accepted') return { kind: 'used', value: track(nonce, full, fees, raw, hash) }
      if (r.outcome === 'unknown') {
        // It may be in a mempool: keep the nonce, watch the hash; a drop is re-broadcast with the same bytes.
        log.warn({ nonce, hash, err: r.error.message }, 'broadcast outcome unknown; tracking by hash')
        return { kind: 'used', value: track(nonce, full, fees, raw, hash) }
      }
      if (r.outcome === 'not-sent') return { kind: 'unused', error: r.error }
      const why = classifySendRejection(r.error.message)
      if (why === 'nonce-too-low' && r.wasMaybeDelivered) {
        // Our own earlier attempt may have landed: watch the hash rather than sign a second transaction.
        return { kind: 'used', value: track(nonce, full, fees, raw, hash) }
      }
      if (why === 'nonce-too-low' || why === 'nonce-too-high' || why === 'underpriced') {
        metrics.txEvents.inc({ event: 'nonce_resync' })
        log.warn({ nonce, reason: why }, 'node rejected the nonce; resyncing from the chain')
        return { kind: 'stale', error: new GatewayError('CHAIN_NONCE_CONFLICT', `nonce ${nonce} rejected: ${why}`, { cause: r.error }) }
      }
      if (why === 'insufficient-funds') {
        return { kind: 'unused', error: new GatewayError('CHAIN_INSUFFICIENT_FUNDS', `wallet ${from} cannot pay for the transaction`, { cause: r.error }) }
      }
      return { kind: 'unused', error: new GatewayError('CHAIN_RPC_ERROR', `broadcast rejected: ${r.error.message.slice(0, 200)}`, { cause: r.error }) }
    })

    const hash = tx.hashes[0]!
    emit('sent', tx, hash)
    log.info({ nonce: tx.nonce, hash, gas: gas.toString(), maxFeeGwei: formatGwei(fees.maxFeePerGas) }, 'transaction sent')
    return {
      hash,
      nonce: tx.nonce,
      from,
      wait(waitOptions = {}): Promise<ConfirmedTx> {
        const timeoutMs = waitOptions.timeoutMs ?? tuning.confirmTimeoutMs
        let timeout: NodeJS.Timeout | undefined
        const expiry = new Promise<never>((_, reject) => {
          timeout = setTimeout(
            () => reject(new GatewayError('CHAIN_TX_TIMEOUT', `transaction ${hash} not confirmed within ${timeoutMs} ms; still tracked`)),
            timeoutMs,
          )
        })
        return Promise.race([tx.done, expiry]).finally(() => clearTimeout(timeout))
      },
    }
  }

  function ensureTimer(): void {
    if (timer !== undefined || isClosed) return
    timer = setInterval(() => {
      poll().catch((err: unknown) => log.error({ err }, 'transaction monitor round failed'))
    }, tuning.pollIntervalMs)
    timer.unref()
  }

  async function observe(tx: Tracked, head: number, tagBlock: number | null, minedNonce: number): Promise<TxObservation> {
    let receipt: SeenReceipt | null = null
    for (const hash of [...tx.hashes].reverse()) {
      const r = await rpc.request<RawReceipt | null>('eth_getTransactionReceipt', [hash])
      if (r !== null) {
        receipt = {
          transactionHash: r.transactionHash,
          blockNumber: toNumber(r.blockNumber),
          blockHash: r.blockHash,
          status: r.status === '0x1' ? 'success' : 'reverted',
        }
        break
      }
    }
    let canonicalBlockHash: Hex | null = null
    let isKnown = receipt !== null
    if (receipt !== null) {
      const block = await rpc.request<{ hash: Hex } | null>('eth_getBlockByNumber', [numberToHex(receipt.blockNumber), false])
      canonicalBlockHash = block?.hash ?? null
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
        log.info({ nonce: tx.nonce, hash: r.transactionHash, blockNumber: r.blockNumber, status: r.status, reorgs: tx.reorgs }, 'transaction confirmed')
        finish(tx, { hash: r.transactionHash, nonce: tx.nonce, blockNumber: r.blockNumber, blockHash: r.blockHash, status: r.status, reorgs: tx.reorgs, bumps: tx.bumps })
        return
      }
      case 'reorged':
        tx.reorgs++
        tx.included = progress.receipt
        emit('reorged', tx, progress.previous.transactionHash, progress.previous)
        log.warn(
          { nonce: tx.nonce, hash: progress.previous.transactionHash, blockNumber: progress.previous.blockNumber, blockHash: progress.previous.blockHash },
          'transaction block reorged away; re-awaiting',
        )
        return
      case 'dropped': {
        if (tx.rebroadcasts >= tuning.maxRebroadcasts) {
          emit('dropped', tx, tx.hashes.at(-1)!)
          nonces.invalidate(from)
          log.error({ nonce: tx.nonce, hash: tx.hashes.at(-1), rebroadcasts: tx.rebroadcasts }, 'transaction dropped')
          finish(tx, new GatewayError('CHAIN_TX_DROPPED', `transaction nonce ${tx.nonce} dropped after ${tx.rebroadcasts} re-broadcasts`))
          return
        }
        tx.rebroadcasts++
        const r = await rpc.broadcast(tx.currentRaw)
        const hash = keccak256(tx.currentRaw)
        if (r.outcome === 'accepted') {
          tx.lastBroadcastAt = now
          emit('rebroadcast', tx, hash)
          log.warn({ nonce: tx.nonce, hash, attempt: tx.rebroadcasts }, 'transaction missing from the node; re-broadcast')
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
        log.error({ nonce: tx.nonce, hashes: tx.hashes }, 'nonce consumed by a transaction this gateway did not send')
        finish(tx, new GatewayError('CHAIN_NONCE_CONFLICT', `nonce ${tx.nonce} was consumed by a foreign transaction`))
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
      log.warn({ nonce: tx.nonce, requiredMaxFeeGwei: formatGwei(decision.requiredMaxFeePerGas), capGwei: formatGwei(decision.capWei) }, 'stuck transaction cannot be bumped under the fee cap')
      return
    }
    const raw = await sign(tx.request, tx.nonce, decision.fees)
    const hash = keccak256(raw)
    const r = await rpc.broadcast(raw)
    if (r.outcome === 'accepted' || r.outcome === 'unknown') {
      tx.hashes.push(hash)
      tx.raws.set(hash, raw)
      tx.currentRaw = raw
      tx.fees = decision.fees
      tx.bumps++
      emit('bumped', tx, hash)
      log.warn({ nonce: tx.nonce, hash, maxFeeGwei: formatGwei(decision.fees.maxFeePerGas), bumps: tx.bumps }, 'stuck transaction replaced with higher fees')
    } else {
      log.warn({ nonce: tx.nonce, outcome: r.outcome }, 'fee bump not accepted')
    }
  }

  function poll(): Promise<void> {
    polling ??= (async () => {
      try {
        if (tracked.size === 0) return
        // Order matters (see TxObservation): the mined nonce before any receipt.
        const minedNonce = toNumber(await rpc.request('eth_getTransactionCount', [from, 'latest']))
        const head = toNumber(await rpc.request('eth_blockNumber'))
        let tagBlock: number | null = null
        if (policy.tag !== 'latest') {
          const b = await rpc.request<{ number: Hex } | null>('eth_getBlockByNumber', [policy.tag, false])
          tagBlock = b === null ? null : toNumber(b.number)
        }
        const now = clock.now()
        for (const tx of [...tracked.values()].sort((a, b) => a.nonce - b.nonce)) {
          const obs = await observe(tx, head, tagBlock, minedNonce)
          await act(tx, decideTxProgress(tx, obs, policy, now, { stuckAfterMs: tuning.stuckAfterMs }))
        }
        isMonitorFailing = false
      } catch (err) {
        // Chain unavailable: monitoring resumes on the next round. Warn once per outage, not every round.
        const fields = { code: isGatewayError(err) ? err.code : undefined, err: isGatewayError(err) ? undefined : err, pendingTxs: tracked.size }
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
    send,
    poll,
    snapshot(): TxSenderSnapshot {
      return {
        address: from,
        pendingTxs: tracked.size,
        nextNonce: nonces.snapshot()[from.toLowerCase()] ?? null,
        feeCap,
      }
    },
    close(): void {
      isClosed = true
      if (timer !== undefined) clearInterval(timer)
      timer = undefined
      // Waiters learn that nobody watches their transaction any more; it may still confirm on chain.
      for (const tx of [...tracked.values()]) {
        finish(tx, new GatewayError('CHAIN_UNAVAILABLE', `sender closed while transaction nonce ${tx.nonce} was pending`))
      }
    },
  }
}
