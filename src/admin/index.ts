export {
  adminRouteTable,
  startAdminServer,
  type AdminAnswer,
  type AdminAuditFacts,
  type AdminDeps,
  type AdminOptions,
  type AdminRequest,
  type AdminRoute,
  type AdminRouteEntry,
  type AdminServer,
} from './admin-server.ts'
export {
  ANONYMOUS,
  MIN_TOKEN_LENGTH,
  assertAdminExposure,
  createAdminCredentials,
  isLoopbackHost,
  loadAdminCredentials,
  roleAllows,
  type AdminActor,
  type AdminCredentials,
  type AdminRole,
} from './admin-auth.ts'
export {
  MAX_AUDIT_PAGE,
  createAdminAudit,
  encodeAuditCursor,
  parseAuditQuery,
  type AdminAudit,
  type AdminAuditDeps,
  type AdminAuditEntry,
  type AuditQuery,
} from './admin-audit.ts'
export {
  MAX_SUBSCRIPTION_PAGE,
  parseSubscriptionQuery,
  type AdminSubscriptionStore,
} from './admin-subscriptions.ts'
