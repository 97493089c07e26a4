import type { ColumnType, Generated } from 'kysely'

/**
 * The kysely view of schemas v1–v6 (migrations.ts is the truth; this mirrors it). Values as the drivers
 * return them: `numeric` and `int8` as decimal strings on both backends (pg's default; the PGlite dialect
 * is told the same), `timestamptz` as Date, `jsonb` as parsed JSON. Byte strings (ids, hashes,
 * addresses, signatures) are lowercase 0x-hex text, checked by the database.
 */
export interface Tables {
  schema_migrations: MigrationRow
  quotes: QuoteRow
  payments: PaymentRow
  subscriptions: SubscriptionRow
  audit_log: AuditRow
  monitor_cursor: CursorRow
  processed_blocks: BlockRow
  monitor_state: MonitorStateRow
  monitor_blocks: MonitorBlockRow
  monitor_records: MonitorRecordRow
  monitor_effects: MonitorEffectRow
  payment_activations: PaymentActivationRow
  token_nonces: TokenNonceRow
  token_families: TokenFamilyRow
  refresh_tokens: RefreshTokenRow
  subscription_usage: SubscriptionUsageRow
}

/** v6: a subscription's QoS totals of one plan period. */
export interface SubscriptionUsageRow {
  subscription_id: string
  period_start: Decimal
  period_end: Decimal
  plan: string
  requests: Decimal
  bytes_in: Decimal
  bytes_out: Decimal
  updated_at: Decimal
}

/** int8/numeric: written as a decimal string, read back as one. */
type Decimal = string
type CreatedAt = ColumnType<Date, Date | undefined, never>

export interface MigrationRow {
  version: number
  name: string
  checksum: string
  applied_at: ColumnType<Date, Date | undefined, never>
}

export interface QuoteRow {
  id: string
  payer: string
  beneficiary: string
  subscription_id: string
  token: string
  amount: Decimal
  plan_id: number
  periods: Decimal
  valid_until: Decimal
  digest: string
  signature: string
  created_at: CreatedAt
  state: string
  /** v3: the plan name and the served answer (JSON text); NULL on rows written before v3. */
  plan: ColumnType<string | null, string | null | undefined, string | null>
  answer: ColumnType<string | null, string | null | undefined, string | null>
}

export interface PaymentRow {
  chain_id: Decimal
  tx_hash: string
  log_index: number
  digest: string
  subscription_id: string
  payer: string
  beneficiary: string
  token: string
  amount: Decimal
  plan_id: number
  period_start: Decimal
  period_end: Decimal
  block_number: Decimal
  block_hash: string
  state: string
  is_underpaid: boolean
  is_unknown_quote: boolean
  is_wrong_payer: boolean
  activated_at: Date | null
  created_at: CreatedAt
  updated_at: Date
}

export interface SubscriptionRow {
  id: string
  owner: string
  beneficiary: string
  plan_id: number
  token: string
  start_at: Decimal
  end_at: Decimal
  state: string
  version: number
  created_at: CreatedAt
  updated_at: Date
  /** v2: the subscription ledger's facts. */
  chain_status: string | null
  chain_block: Decimal | null
  updated_at_sec: ColumnType<Decimal, Decimal | undefined, Decimal>
  ledger: ColumnType<Record<string, unknown>, Record<string, unknown> | undefined, Record<string, unknown>>
}

export interface AuditRow {
  id: Generated<Decimal>
  entity: string
  entity_id: string
  from_state: string | null
  to_state: string
  cause: string
  detail: ColumnType<Record<string, unknown>, Record<string, unknown>, never>
  chain_time: Decimal | null
  at: CreatedAt
}

export interface CursorRow {
  name: string
  block_number: Decimal
  block_hash: string
  updated_at: Date
}

export interface BlockRow {
  number: Decimal
  hash: string
  parent_hash: string
  timestamp: Decimal
}

/** v2: the payment monitor's versioned state per chain. */
export interface MonitorStateRow {
  chain_id: Decimal
  version: Decimal
  cursor_number: Decimal | null
  cursor_hash: string | null
  updated_at: ColumnType<Date, Date | undefined, Date>
}

export interface MonitorBlockRow {
  chain_id: Decimal
  number: Decimal
  hash: string
  parent_hash: string
  timestamp: Decimal
}

export interface MonitorRecordRow {
  chain_id: Decimal
  key: string
  settled: boolean
  record: Record<string, unknown>
  updated_at: ColumnType<Date, Date | undefined, Date>
}

export interface MonitorEffectRow {
  seq: Generated<Decimal>
  key: string
  chain_id: Decimal
  type: string
  record_key: string
  block_number: Decimal
  block_hash: string
  chain_time: Decimal
  detail: ColumnType<Record<string, unknown>, Record<string, unknown>, never>
  at: CreatedAt
}

export interface PaymentActivationRow {
  chain_id: Decimal
  tx_hash: string
  log_index: number
  block_hash: string
  at: CreatedAt
}

/** v4: a SIWE nonce (unix ms expiry). */
export interface TokenNonceRow {
  nonce: string
  expires_at: Decimal
}

/** v4: one token family (unix ms times). */
export interface TokenFamilyRow {
  id: string
  subscription_id: string
  signer: string
  created_at: Decimal
  expires_at: Decimal
  revoked_at: Decimal | null
  revoke_reason: string | null
}

/** v4: a refresh token's SHA-256 (hex) and whether it was spent (unix ms). */
export interface RefreshTokenRow {
  hash: string
  family_id: string
  expires_at: Decimal
  spent_at: Decimal | null
}
