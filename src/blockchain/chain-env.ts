/**
 * The environment-variable schema of the chain subsystem (documented in .env.example and
 * docs/blockchain.md). `main.ts` passes `process.env`; we validate once with zod and return typed, frozen
 * settings, or throw `CHAIN_CONFIG_INVALID` naming every offending variable — never its value, since URLs
 * carry API keys and the signer variables carry keys.
 */
import { parseGwei } from 'viem'
import { z } from 'zod'
import { GatewayError } from '../errors/index.ts'
import {
  CHAIN_PRESETS,
  protectEndpoint,
  DEFAULT_RPC_TUNING,
  DEFAULT_TX_TUNING,
  type ChainConfig,
  type RpcEndpointConfig,
  type RpcTuning,
  type TokenConfig,
  type TxTuning,
} from './chain-config.ts'
import type { ConfirmationPolicy } from './confirmation.ts'
import { secretFromEnv, secretFromFile, type Secret } from './secret.ts'
import type { Address } from './types.ts'
import { isValidPrivateKeyHex, type SignerSpec } from './wallet.ts'

export interface ChainEnv {
  readonly chain: ChainConfig
  readonly rpc: RpcTuning
  readonly tx: TxTuning
  /** null when the gateway only reads the chain (`LITGATE_SIGNER=none`). */
  readonly signer: SignerSpec | null
}

type Env = Record<string, string | undefined>

const NAME = /^[a-z0-9][a-z0-9_-]{0,31}$/
const ADDRESS = /^0x[0-9a-fA-F]{40}$/
const GWEI = /^\d{1,9}(\.\d{1,9})?$/

const int = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, { message: 'must be a whole number' })
    .transform(Number)
    .refine((n) => n >= min && n <= max, { message: `must be between ${min} and ${max}` })

/** Gwei amounts that may exceed 1e9 gwei (budgets): up to 12 integer digits. */
const wideGwei = z
  .string()
  .regex(/^\d{1,12}(\.\d{1,9})?$/, { message: 'must be a decimal amount of gwei, e.g. 5000000' })
  .transform((s) => parseGwei(s))

const gwei = z
  .string()
  .regex(GWEI, { message: 'must be a decimal amount of gwei, e.g. 2.5' })
  .transform((s) => parseGwei(s))

function urlList(protocols: readonly string[], label: string) {
  return z.string().transform((raw, ctx): { name: string; url: string }[] => {
    const entries = raw
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '')
    if (entries.length === 0) ctx.addIssue({ code: 'custom', message: 'must list at least one URL' })
    const out: { name: string; url: string }[] = []
    entries.forEach((entry, i) => {
      // `name=url`; a URL's own `=` can only come after `://`.
      const eq = entry.indexOf('=')
      const hasName = eq > 0 && eq < entry.indexOf('://')
      const name = hasName ? entry.slice(0, eq) : `rpc${i}`
      const url = hasName ? entry.slice(eq + 1) : entry
      const ok = URL.canParse(url) && protocols.includes(new URL(url).protocol)
      // Never echo the entry: it may hold credentials.
      if (!ok) ctx.addIssue({ code: 'custom', message: `entry ${i + 1} is not a valid ${label} URL` })
      if (!NAME.test(name))
        ctx.addIssue({
          code: 'custom',
          message: `entry ${i + 1} has an invalid name (use [a-z0-9_-], at most 32)`,
        })
      if (out.some((o) => o.name === name))
        ctx.addIssue({ code: 'custom', message: `endpoint name "${name}" is used twice` })
      out.push({ name, url })
    })
    return out
  })
}

const confirmation = z.string().transform((s, ctx): ConfirmationPolicy => {
  if (s === 'safe' || s === 'finalized') return { tag: s }
  const m = /^latest\+(\d{1,3})$/.exec(s)
  if (m !== null && Number(m[1]) >= 1) return { tag: 'latest', confirmations: Number(m[1]) }
  ctx.addIssue({ code: 'custom', message: 'must be "safe", "finalized" or "latest+N" with N ≥ 1' })
  return z.NEVER
})

const tokens = z.string().transform((raw, ctx): TokenConfig[] =>
  raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((entry, i) => {
      const [symbol = '', address = '', decimals = ''] = entry.split(':')
      if (!/^[A-Za-z0-9.]{1,16}$/.test(symbol) || !ADDRESS.test(address) || !/^\d{1,2}$/.test(decimals)) {
        ctx.addIssue({ code: 'custom', message: `entry ${i + 1} must be SYMBOL:0xADDRESS:DECIMALS` })
      }
      return { symbol, address: address as Address, decimals: Number(decimals) }
    }),
)

const contracts = z.string().transform((raw, ctx): Record<string, Address> => {
  const out: Record<string, Address> = {}
  raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .forEach((entry, i) => {
      const [name = '', address = ''] = entry.split('=')
      if (!/^[A-Za-z][A-Za-z0-9]{0,63}$/.test(name) || !ADDRESS.test(address)) {
        ctx.addIssue({ code: 'custom', message: `entry ${i + 1} must be name=0xADDRESS` })
      }
      out[name] = address as Address
    })
  return out
})

const schema = z.object({
  LITGATE_CHAIN: z.enum(['litvm-liteforge', 'anvil', 'custom']).default('litvm-liteforge'),
  LITGATE_CHAIN_ID: int(1, 2 ** 53 - 1).optional(),
  LITGATE_CHAIN_NAME: z.string().min(1).max(64).optional(),
  LITGATE_CHAIN_CURRENCY_SYMBOL: z
    .string()
    .regex(/^[A-Za-z0-9]{1,11}$/, { message: 'must be 1-11 letters or digits' })
    .optional(),
  LITGATE_CHAIN_CURRENCY_DECIMALS: int(0, 36).optional(),
  LITGATE_CHAIN_RPC_URLS: urlList(['http:', 'https:'], 'http(s)').optional(),
  LITGATE_CHAIN_WS_URLS: urlList(['ws:', 'wss:'], 'ws(s)').optional(),
  LITGATE_CHAIN_CONFIRMATION: confirmation.optional(),
  LITGATE_CHAIN_MAX_FEE_GWEI: gwei.optional(),
  LITGATE_CHAIN_MAX_PRIORITY_FEE_GWEI: gwei.optional(),
  LITGATE_CHAIN_FEE_CAP_POLICY: z.enum(['refuse', 'queue']).optional(),
  LITGATE_CHAIN_GAS_MARGIN_PCT: int(0, 500).optional(),
  LITGATE_CHAIN_FEE_BUMP_PCT: int(10, 500).optional(),
  LITGATE_CHAIN_TOKENS: tokens.optional(),
  LITGATE_CHAIN_CONTRACTS: contracts.optional(),
  LITGATE_CHAIN_EXPLORER_URL: z.url({ protocol: /^https?$/ }).optional(),
  LITGATE_CHAIN_RPC_TIMEOUT_MS: int(50, 120_000).optional(),
  LITGATE_CHAIN_RPC_MAX_ATTEMPTS: int(1, 10).optional(),
  LITGATE_CHAIN_MAX_HEAD_LAG_BLOCKS: int(0, 1_000_000).optional(),
  LITGATE_CHAIN_PROBE_INTERVAL_MS: int(100, 3_600_000).optional(),
  LITGATE_CHAIN_GENESIS_HASH: z
    .string()
    .regex(/^0x[0-9a-fA-F]{64}$/, { message: 'must be a 32-byte 0x-prefixed hex block hash' })
    .transform((h) => h.toLowerCase() as `0x${string}`)
    .optional(),
  LITGATE_CHAIN_MAX_HEAD_SKEW_BLOCKS: int(0, 1_000_000).optional(),
  LITGATE_CHAIN_MAX_BLOCK_FUTURE_MS: int(0, 86_400_000).optional(),
  LITGATE_CHAIN_MAX_BLOCKS_PER_SEC: int(1, 100_000).optional(),
  LITGATE_CHAIN_ID_RECHECK_MS: int(1_000, 86_400_000).optional(),
  LITGATE_CHAIN_DEMOTE_MS: int(1_000, 86_400_000).optional(),
  LITGATE_CHAIN_MAX_GAS_PER_TX: int(21_000, 1_000_000_000).optional(),
  LITGATE_CHAIN_MAX_TX_FEE_GWEI: wideGwei.optional(),
  LITGATE_CHAIN_FEE_BUDGET_GWEI: wideGwei.optional(),
  LITGATE_CHAIN_FEE_BUDGET_PERIOD_MS: int(60_000, 31 * 86_400_000).optional(),
  LITGATE_CHAIN_TX_JOURNAL: z.string().min(1).max(4096).optional(),
  LITGATE_CHAIN_TX_POLL_MS: int(50, 600_000).optional(),
  LITGATE_CHAIN_STUCK_TX_MS: int(1_000, 86_400_000).optional(),
  LITGATE_CHAIN_SEND_TIMEOUT_MS: int(100, 3_600_000).optional(),
  LITGATE_CHAIN_CONFIRM_TIMEOUT_MS: int(1_000, 86_400_000).optional(),
  LITGATE_SIGNER: z.enum(['none', 'private-key', 'mnemonic', 'keystore']).default('none'),
  LITGATE_SIGNER_MNEMONIC_INDEX: int(0, 2 ** 31 - 1).optional(),
  LITGATE_SIGNER_KEYSTORE: z.string().min(1).optional(),
})

/** Variables that hold (or point at) secrets: only their presence is ever checked or reported here. */
const SECRET_VARS = [
  'LITGATE_SIGNER_PRIVATE_KEY',
  'LITGATE_SIGNER_MNEMONIC',
  'LITGATE_SIGNER_KEYSTORE_PASSWORD',
] as const

/** Every variable loadChainEnv reads (documented in .env.example; a test keeps the two in sync). */
export const CHAIN_ENV_VARIABLES: readonly string[] = Object.freeze([
  ...Object.keys(schema.shape),
  ...SECRET_VARS.flatMap((v) => [v, `${v}_FILE`]),
])

function fail(problems: readonly string[]): never {
  throw new GatewayError('CHAIN_CONFIG_INVALID', `invalid chain environment: ${problems.join('; ')}`)
}

/** A secret from `NAME` or `NAME_FILE` (exactly one of them). */
function secretOf(env: Env, name: (typeof SECRET_VARS)[number], problems: string[]): Secret | undefined {
  const value = env[name]
  const file = env[`${name}_FILE`]
  if (value !== undefined && value !== '' && file !== undefined && file !== '') {
    problems.push(`${name}: set either ${name} or ${name}_FILE, not both`)
    return undefined
  }
  if (file !== undefined && file !== '') return secretFromFile(file)
  if (value !== undefined && value.trim() !== '') return secretFromEnv(name, value)
  problems.push(`${name}: required (or ${name}_FILE)`)
  return undefined
}

/**
 * Validates the chain environment. Throws `GatewayError('CHAIN_CONFIG_INVALID')` whose message lists each
 * offending variable and why, without values.
 */
export function loadChainEnv(env: Env): ChainEnv {
  const problems: string[] = []
  // Treat empty strings as unset, as shells and compose files produce them for "no value".
  const present: Record<string, string> = {}
  for (const key of Object.keys(schema.shape)) {
    const v = env[key]
    if (v !== undefined && v.trim() !== '') present[key] = v.trim()
  }
  const parsed = schema.safeParse(present)
  if (!parsed.success) {
    for (const issue of parsed.error.issues)
      problems.push(`${String(issue.path[0] ?? '?')}: ${issue.message}`)
    fail(problems)
  }
  const e = parsed.data

  let base: ChainConfig
  if (e.LITGATE_CHAIN === 'custom') {
    if (e.LITGATE_CHAIN_ID === undefined)
      problems.push('LITGATE_CHAIN_ID: required when LITGATE_CHAIN=custom')
    if (e.LITGATE_CHAIN_RPC_URLS === undefined)
      problems.push('LITGATE_CHAIN_RPC_URLS: required when LITGATE_CHAIN=custom')
    const id = e.LITGATE_CHAIN_ID ?? 0
    base = {
      ...CHAIN_PRESETS.anvil,
      id,
      name: `Chain ${id}`,
      nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
      confirmation: { tag: 'safe' },
    }
  } else {
    base = CHAIN_PRESETS[e.LITGATE_CHAIN]
    if (e.LITGATE_CHAIN_ID !== undefined && e.LITGATE_CHAIN_ID !== base.id) {
      problems.push(
        `LITGATE_CHAIN_ID: ${e.LITGATE_CHAIN_ID} contradicts preset ${e.LITGATE_CHAIN} (${base.id}); use LITGATE_CHAIN=custom`,
      )
    }
  }

  const httpList = e.LITGATE_CHAIN_RPC_URLS
  let rpc: RpcEndpointConfig[] =
    httpList === undefined ? [...base.rpc] : httpList.map(({ name, url }) => ({ name, http: url }))
  // WebSocket entries pair with HTTP entries of the same name (unnamed entries pair by position: rpc0, rpc1…).
  const wsList = e.LITGATE_CHAIN_WS_URLS ?? []
  for (const w of wsList) {
    if (!rpc.some((r) => r.name === w.name))
      problems.push(`LITGATE_CHAIN_WS_URLS: endpoint "${w.name}" has no HTTP URL of the same name`)
  }
  if (httpList !== undefined || wsList.length > 0) {
    rpc = rpc.map((r) => {
      const ws = wsList.find((w) => w.name === r.name)
      return ws === undefined ? { name: r.name, http: r.http } : { name: r.name, http: r.http, ws: ws.url }
    })
  }

  const gas = {
    ...base.gas,
    ...(e.LITGATE_CHAIN_MAX_FEE_GWEI === undefined ? {} : { maxFeePerGasWei: e.LITGATE_CHAIN_MAX_FEE_GWEI }),
    ...(e.LITGATE_CHAIN_MAX_PRIORITY_FEE_GWEI === undefined
      ? {}
      : { maxPriorityFeePerGasWei: e.LITGATE_CHAIN_MAX_PRIORITY_FEE_GWEI }),
    ...(e.LITGATE_CHAIN_FEE_CAP_POLICY === undefined ? {} : { feeCapPolicy: e.LITGATE_CHAIN_FEE_CAP_POLICY }),
    ...(e.LITGATE_CHAIN_GAS_MARGIN_PCT === undefined
      ? {}
      : { gasLimitMarginPct: e.LITGATE_CHAIN_GAS_MARGIN_PCT }),
    ...(e.LITGATE_CHAIN_FEE_BUMP_PCT === undefined ? {} : { bumpPct: e.LITGATE_CHAIN_FEE_BUMP_PCT }),
    ...(e.LITGATE_CHAIN_MAX_GAS_PER_TX === undefined
      ? {}
      : { maxGasPerTx: BigInt(e.LITGATE_CHAIN_MAX_GAS_PER_TX) }),
    ...(e.LITGATE_CHAIN_MAX_TX_FEE_GWEI === undefined
      ? {}
      : { maxFeePerTxWei: e.LITGATE_CHAIN_MAX_TX_FEE_GWEI }),
    ...(e.LITGATE_CHAIN_FEE_BUDGET_GWEI === undefined
      ? {}
      : { feeBudgetWei: e.LITGATE_CHAIN_FEE_BUDGET_GWEI }),
    ...(e.LITGATE_CHAIN_FEE_BUDGET_PERIOD_MS === undefined
      ? {}
      : { feeBudgetPeriodMs: e.LITGATE_CHAIN_FEE_BUDGET_PERIOD_MS }),
  }
  if (gas.maxFeePerTxWei > gas.feeBudgetWei) {
    problems.push(
      'LITGATE_CHAIN_MAX_TX_FEE_GWEI: must not exceed LITGATE_CHAIN_FEE_BUDGET_GWEI (no transaction could fit the budget)',
    )
  }
  if (gas.maxPriorityFeePerGasWei > gas.maxFeePerGasWei) {
    problems.push('LITGATE_CHAIN_MAX_PRIORITY_FEE_GWEI: must not exceed LITGATE_CHAIN_MAX_FEE_GWEI')
  }

  const explorerUrl = e.LITGATE_CHAIN_EXPLORER_URL ?? base.explorerUrl
  const chain: ChainConfig = {
    id: e.LITGATE_CHAIN_ID ?? base.id,
    name: e.LITGATE_CHAIN_NAME ?? base.name,
    nativeCurrency: {
      ...base.nativeCurrency,
      ...(e.LITGATE_CHAIN_CURRENCY_SYMBOL === undefined
        ? {}
        : { name: e.LITGATE_CHAIN_CURRENCY_SYMBOL, symbol: e.LITGATE_CHAIN_CURRENCY_SYMBOL }),
      ...(e.LITGATE_CHAIN_CURRENCY_DECIMALS === undefined
        ? {}
        : { decimals: e.LITGATE_CHAIN_CURRENCY_DECIMALS }),
    },
    rpc: rpc.map(protectEndpoint),
    confirmation: e.LITGATE_CHAIN_CONFIRMATION ?? base.confirmation,
    gas,
    tokens: e.LITGATE_CHAIN_TOKENS ?? base.tokens,
    contracts: e.LITGATE_CHAIN_CONTRACTS ?? base.contracts,
    ...(explorerUrl === undefined ? {} : { explorerUrl }),
    ...(e.LITGATE_CHAIN_GENESIS_HASH === undefined ? {} : { genesisHash: e.LITGATE_CHAIN_GENESIS_HASH }),
  }

  const rpcTuning: RpcTuning = {
    ...DEFAULT_RPC_TUNING,
    ...(e.LITGATE_CHAIN_RPC_TIMEOUT_MS === undefined ? {} : { timeoutMs: e.LITGATE_CHAIN_RPC_TIMEOUT_MS }),
    ...(e.LITGATE_CHAIN_RPC_MAX_ATTEMPTS === undefined
      ? {}
      : { maxAttempts: e.LITGATE_CHAIN_RPC_MAX_ATTEMPTS }),
    ...(e.LITGATE_CHAIN_MAX_HEAD_LAG_BLOCKS === undefined
      ? {}
      : { maxHeadLagBlocks: e.LITGATE_CHAIN_MAX_HEAD_LAG_BLOCKS }),
    ...(e.LITGATE_CHAIN_PROBE_INTERVAL_MS === undefined
      ? {}
      : { probeIntervalMs: e.LITGATE_CHAIN_PROBE_INTERVAL_MS }),
    ...(e.LITGATE_CHAIN_MAX_HEAD_SKEW_BLOCKS === undefined
      ? {}
      : { maxHeadSkewBlocks: e.LITGATE_CHAIN_MAX_HEAD_SKEW_BLOCKS }),
    ...(e.LITGATE_CHAIN_MAX_BLOCK_FUTURE_MS === undefined
      ? {}
      : { maxBlockFutureMs: e.LITGATE_CHAIN_MAX_BLOCK_FUTURE_MS }),
    ...(e.LITGATE_CHAIN_MAX_BLOCKS_PER_SEC === undefined
      ? {}
      : { maxBlocksPerSecond: e.LITGATE_CHAIN_MAX_BLOCKS_PER_SEC }),
    ...(e.LITGATE_CHAIN_ID_RECHECK_MS === undefined
      ? {}
      : { identityRecheckMs: e.LITGATE_CHAIN_ID_RECHECK_MS }),
    ...(e.LITGATE_CHAIN_DEMOTE_MS === undefined ? {} : { demoteMs: e.LITGATE_CHAIN_DEMOTE_MS }),
  }
  const txTuning: TxTuning = {
    ...DEFAULT_TX_TUNING,
    ...(e.LITGATE_CHAIN_TX_POLL_MS === undefined ? {} : { pollIntervalMs: e.LITGATE_CHAIN_TX_POLL_MS }),
    ...(e.LITGATE_CHAIN_STUCK_TX_MS === undefined ? {} : { stuckAfterMs: e.LITGATE_CHAIN_STUCK_TX_MS }),
    ...(e.LITGATE_CHAIN_SEND_TIMEOUT_MS === undefined
      ? {}
      : { sendTimeoutMs: e.LITGATE_CHAIN_SEND_TIMEOUT_MS }),
    ...(e.LITGATE_CHAIN_TX_JOURNAL === undefined ? {} : { journalPath: e.LITGATE_CHAIN_TX_JOURNAL }),
    ...(e.LITGATE_CHAIN_CONFIRM_TIMEOUT_MS === undefined
      ? {}
      : { confirmTimeoutMs: e.LITGATE_CHAIN_CONFIRM_TIMEOUT_MS }),
  }

  let signer: SignerSpec | null = null
  const kind = e.LITGATE_SIGNER
  const isSet = (name: string): boolean =>
    (env[name] ?? '').trim() !== '' || (env[`${name}_FILE`] ?? '').trim() !== ''
  const wanted: Record<typeof kind, readonly string[]> = {
    none: [],
    'private-key': ['LITGATE_SIGNER_PRIVATE_KEY'],
    mnemonic: ['LITGATE_SIGNER_MNEMONIC'],
    keystore: ['LITGATE_SIGNER_KEYSTORE_PASSWORD'],
  }
  for (const name of SECRET_VARS) {
    if (isSet(name) && !wanted[kind].includes(name))
      problems.push(`${name}: set, but LITGATE_SIGNER is "${kind}"`)
  }
  if (kind === 'private-key') {
    const key = secretOf(env, 'LITGATE_SIGNER_PRIVATE_KEY', problems)
    const raw = env.LITGATE_SIGNER_PRIVATE_KEY?.trim()
    if (raw !== undefined && raw !== '' && !isValidPrivateKeyHex(raw)) {
      problems.push(
        'LITGATE_SIGNER_PRIVATE_KEY: must be 32 bytes of hex (64 hex digits, optional 0x) encoding a secp256k1 key (1 ≤ key < n)',
      )
    }
    if (key !== undefined) signer = { kind, key }
  } else if (kind === 'mnemonic') {
    const phrase = secretOf(env, 'LITGATE_SIGNER_MNEMONIC', problems)
    if (phrase !== undefined) signer = { kind, phrase, index: e.LITGATE_SIGNER_MNEMONIC_INDEX ?? 0 }
  } else if (kind === 'keystore') {
    if (e.LITGATE_SIGNER_KEYSTORE === undefined)
      problems.push(
        'LITGATE_SIGNER_KEYSTORE: required when LITGATE_SIGNER=keystore (path to the keystore file)',
      )
    const password = secretOf(env, 'LITGATE_SIGNER_KEYSTORE_PASSWORD', problems)
    if (password !== undefined && e.LITGATE_SIGNER_KEYSTORE !== undefined) {
      signer = { kind, path: e.LITGATE_SIGNER_KEYSTORE, password }
    }
  }

  if (problems.length > 0) fail(problems)
  return deepFreeze({ chain, rpc: rpcTuning, tx: txTuning, signer })
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const v of Object.values(value)) deepFreeze(v)
  }
  return value
}
