/**
 * The chain client settings of the paid layer: `paidAccess.chain` names the chain (preset, or id and RPC
 * endpoints) and the LITGATE_CHAIN_* environment variables tune the client (timeouts, limits, the
 * optional hot-wallet signer) as documented in docs/blockchain.md. When the environment names a chain
 * itself (LITGATE_CHAIN or LITGATE_CHAIN_RPC_URLS), it wins, and createPaidAccess refuses a chain id other
 * than the one `paidAccess.chain` names (CHAIN_CONFIG_INVALID).
 */
import { loadChainEnv, type ChainEnv, type ConfirmationPolicy } from '../blockchain/index.ts'
import type { PaidAccessConfig } from '../config/index.ts'

type Env = Readonly<Record<string, string | undefined>>

/** Pure: the chain settings for `paidAccess.chain` under the environment's tuning. */
export function paidChainSettings(chain: PaidAccessConfig['chain'], env: Env): ChainEnv {
  const isNamedByEnv = nonEmpty(env['LITGATE_CHAIN']) || nonEmpty(env['LITGATE_CHAIN_RPC_URLS'])
  if (isNamedByEnv) return loadChainEnv(env)
  const rpc = chain.rpc?.map((r) => `${r.name}=${r.http}`).join(',')
  const ws = chain.rpc
    ?.filter((r) => r.ws !== undefined)
    .map((r) => `${r.name}=${String(r.ws)}`)
    .join(',')
  const settings = loadChainEnv({
    ...env,
    LITGATE_CHAIN: chain.preset ?? 'custom',
    ...(chain.preset === undefined && chain.id !== undefined ? { LITGATE_CHAIN_ID: String(chain.id) } : {}),
    ...(rpc === undefined ? {} : { LITGATE_CHAIN_RPC_URLS: rpc }),
    ...(ws === undefined || ws === '' ? {} : { LITGATE_CHAIN_WS_URLS: ws }),
  })
  // A chain litgate has no preset for: wait for `finalized` unless told otherwise (config or environment).
  if (chain.preset === undefined && !nonEmpty(env['LITGATE_CHAIN_CONFIRMATION']))
    return { ...settings, chain: { ...settings.chain, confirmation: { tag: 'finalized' } } }
  return settings
}

const nonEmpty = (v: string | undefined): boolean => v !== undefined && v.trim() !== ''

/** `paidAccess.monitor.confirmation` as a policy; the chain's own policy when unset. */
export function confirmationFromConfig(
  value: PaidAccessConfig['monitor']['confirmation'],
  chainDefault: ConfirmationPolicy,
): ConfirmationPolicy {
  if (value === undefined) return chainDefault
  if (value === 'safe') return { tag: 'safe' }
  if (value === 'finalized') return { tag: 'finalized' }
  return { tag: 'latest', confirmations: value.latest }
}
