export { startAdminServer, type AdminServer, type AdminOptions, type AdminDeps } from './admin-server.ts'
