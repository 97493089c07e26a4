export {
  startAdminServer,
  type AdminDeps,
  type AdminOptions,
  type AdminRoute,
  type AdminServer,
} from './admin-server.ts'
