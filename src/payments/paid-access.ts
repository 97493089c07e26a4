/**
 * The wiring factory of the paid layer: from a validated config, the chain client's RPC port and the secret
 * reader, it resolves the contract, loads the quote-signer key, reads each token's EIP-712 domain and the
 * plans' on-chain facts, checks them (PLAN_CHAIN_MISMATCH naming each plan), and returns the 402 admission
 * stage and the quote endpoints. The lead calls it from main.ts (see docs/payments.md "Wiring").
 */
import { getAddress, isHex, type Address, type Hex } from 'viem'
import type { Config, PaidAccessConfig, RouteConfig } from '../config/index.ts'
import { CHAIN_PRESETS } from '../blockchain/index.ts'
import { readDeployment } from '../contracts/index.ts'
import { GatewayError } from '../errors/index.ts'
import {
  readChainTime,
  readPermitNonce,
  readPlanFacts,
  readPreviewDue,
  readSubscription,
  readTokenInfo,
  type PaymentChainPort,
} from './chain-facts.ts'
import { compileChallenge, type ChallengeStage, type CredentialCheck } from './challenge.ts'
import { checkPlansAgainstChain, compilePlans, type PlanCatalog } from './plans.ts'
import { createQuoteSigner, type TokenInfo } from './quote.ts'
import { createQuoteEndpoints, type QuoteEndpoints } from './quote-http.ts'
import { createMemoryQuoteStore, type QuoteStore } from './quote-store.ts'

/** A secret reference from config: `{ fromEnv }` or `{ file }`. */
export type SecretRef = PaidAccessConfig['quoteSigner']

export interface PaidAccessDeps {
  readonly rpc: PaymentChainPort
  readonly chainId: number
  /** Reveals a secret reference (env variable or file); the value never reaches logs or errors. */
  readonly readSecret: (ref: SecretRef) => Promise<string>
  readonly randomBytes: (n: number) => Uint8Array
  /** Wall clock, ms. */
  readonly nowMs: () => number
  readonly requestIdHeader: string
  readonly nextRequestId: () => string
  /** Default: the in-memory store (single instance). */
  readonly store?: QuoteStore
  /** Default: no credential is valid (the paid layer passes the access tokens' check with `paidAccess.tokens`). */
  readonly credential?: CredentialCheck
  /**
   * The serving config's routes, e.g. `() => gateway.runtime.config.routes` (default: the routes of
   * `config`). Pass the getter so that routes renamed or added by a reload are challenged too.
   */
  readonly routes?: () => readonly RouteConfig[]
}

export interface PaidAccess {
  readonly contract: Address
  readonly signerAddress: Address
  readonly catalog: PlanCatalog
  /** Period length (seconds) of each plan id, as the contract says (QoS byte windows). */
  readonly planPeriods: ReadonlyMap<number, number>
  readonly tokens: ReadonlyMap<string, TokenInfo>
  /** Install in GatewayDeps.admission. */
  readonly challenge: ChallengeStage
  /** Pass `quotes.handle` as GatewayDeps.localEndpoints (tried before routing on the client listeners). */
  readonly quotes: QuoteEndpoints
}

const refName = (ref: SecretRef): string =>
  ref.fromEnv !== undefined ? `env:${ref.fromEnv}` : `file:${String(ref.file)}`

async function loadKey(deps: PaidAccessDeps, ref: SecretRef, what: string): Promise<string> {
  try {
    return (await deps.readSecret(ref)).trim()
  } catch {
    throw new GatewayError('CHAIN_KEY_INVALID', `${what} (${refName(ref)}) could not be read`)
  }
}

/** Builds the paid layer; throws PLAN_CHAIN_MISMATCH, CHAIN_KEY_INVALID or a chain error (CHAIN_*). */
export async function createPaidAccess(
  config: Config,
  deps: PaidAccessDeps,
): Promise<PaidAccess | undefined> {
  const paid = config.paidAccess
  if (paid === undefined) return undefined
  const configuredChainId =
    paid.chain.id ?? (paid.chain.preset === undefined ? undefined : CHAIN_PRESETS[paid.chain.preset].id)
  if (configuredChainId !== deps.chainId)
    throw new GatewayError(
      'CHAIN_CONFIG_INVALID',
      `paidAccess.chain names chain id ${String(configuredChainId)}, but the chain client serves chain id ${deps.chainId}`,
    )
  const contract = getAddress(
    paid.contract.paymentProcessor ??
      (await readDeployment(paid.contract.deploymentsDir as string, deps.chainId)).paymentProcessor,
  )
  const key = await loadKey(deps, paid.quoteSigner, 'paidAccess.quoteSigner')
  const normalized = key.startsWith('0x') ? key : `0x${key}`
  if (!isHex(normalized) || normalized.length !== 66)
    throw new GatewayError(
      'CHAIN_KEY_INVALID',
      `paidAccess.quoteSigner (${refName(paid.quoteSigner)}) is not a 32-byte hex private key`,
    )
  const signer = createQuoteSigner(normalized as Hex)
  let paymentAuthSecret: Uint8Array | undefined
  const authRef = paid.challenge.paymentAuth.secret
  if (paid.challenge.paymentAuth.enabled && authRef !== undefined) {
    paymentAuthSecret = Buffer.from(
      await loadKey(deps, authRef, 'paidAccess.challenge.paymentAuth.secret'),
      'utf8',
    )
    if (paymentAuthSecret.length < 32)
      throw new GatewayError(
        'CHAIN_KEY_INVALID',
        `paidAccess.challenge.paymentAuth.secret (${refName(authRef)}) is shorter than 32 bytes`,
      )
  }

  const catalog = compilePlans(paid)
  const facts = await readPlanFacts(deps.rpc, contract, catalog)
  const problems = checkPlansAgainstChain(catalog, facts, signer.address)
  if (problems.length > 0) throw new GatewayError('PLAN_CHAIN_MISMATCH', problems.join('; '))
  const tokens = new Map<string, TokenInfo>()
  for (const [lower, token] of catalog.tokens) tokens.set(lower, await readTokenInfo(deps.rpc, token))

  const challenge = compileChallenge({
    paid,
    routes: deps.routes ?? config.routes,
    catalog,
    chainId: deps.chainId,
    contract,
    tokens,
    ...(paymentAuthSecret === undefined ? {} : { paymentAuthSecret }),
    ...(deps.credential === undefined ? {} : { credential: deps.credential }),
    nowMs: deps.nowMs,
  })
  const quotes = createQuoteEndpoints({
    basePath: paid.basePath,
    quotes: paid.quotes,
    catalog,
    chainId: deps.chainId,
    contract,
    signer,
    tokens,
    store: deps.store ?? createMemoryQuoteStore(),
    chain: {
      chainTime: () => readChainTime(deps.rpc, deps.nowMs() / 1000),
      permitNonce: (token, owner) => readPermitNonce(deps.rpc, token, owner),
      subscription: (id) => readSubscription(deps.rpc, contract, id),
      previewDue: (quote, at) => readPreviewDue(deps.rpc, contract, quote, at),
    },
    randomBytes: deps.randomBytes,
    nowMs: deps.nowMs,
    requestIdHeader: deps.requestIdHeader,
    nextRequestId: deps.nextRequestId,
  })
  return Object.freeze({
    contract,
    signerAddress: signer.address,
    catalog,
    planPeriods: facts.planPeriods,
    tokens,
    challenge,
    quotes,
  })
}
