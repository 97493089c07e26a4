/**
 * Storage: kysely over PostgreSQL (pg) or embedded PGlite, forward-only migrations and the typed
 * repositories every other subsystem uses (never a raw connection). See docs/storage.md.
 */
export {
  createStorage,
  openStorage,
  describePostgresUrl,
  type Storage,
  type StorageOptions,
  type StorageDeps,
} from './storage.ts'
export {
  MIGRATIONS,
  migrationChecksum,
  planMigrations,
  type Migration,
  type MigrationReport,
  type AppliedMigration,
} from './migrations.ts'
export {
  paymentAuditId,
  type Hex,
  type QuoteState,
  type PaymentState,
  type SubscriptionState,
  type AuditEntity,
  type QuoteRecord,
  type NewQuote,
  type OpenQuotes,
  type PaymentKey,
  type PaymentFlags,
  type PaymentRecord,
  type NewPayment,
  type SubscriptionRecord,
  type NewSubscription,
  type SubscriptionChanges,
  type SubscriptionPage,
  type Cause,
  type AuditEntry,
  type NewAuditEntry,
  type BlockRef,
  type ProcessedBlock,
  type QuoteRepository,
  type PaymentRepository,
  type SubscriptionRepository,
  type AuditRepository,
  type CursorRepository,
  type BlockRepository,
  type Repositories,
  type MonitorBlock,
  type MonitorStateRecord,
  type MonitorEffectEntry,
  type MonitorRepository,
  type LedgerRow,
  type LedgerRepository,
} from './repositories.ts'
export { storageOptionsFromConfig, type StorageConfigDeps } from './config.ts'
