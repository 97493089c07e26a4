export { EXIT, type CliIo } from './io.ts'
export {
  validateCommand,
  checkStartupFiles,
  type ValidateOptions,
  type StartupFileProblem,
} from './validate.ts'
export { reloadCommand, isSameFile } from './reload.ts'
export { parseAdminAddress, type AdminAddress } from './admin-address.ts'
export { describeVersion, formatVersion, runGit, type RunGit, type VersionInfo } from './version.ts'
export { checkPidFile, writePidFile, removePidFile, readPidFile, isProcessAlive } from './pid-file.ts'
export { findNpmWrapper, watchWrapper, readProc, type ProcInfo, type ReadProc } from './wrapper-watch.ts'
export { migrateCommand, type MigrateDeps } from './migrate.ts'
