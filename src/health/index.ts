export {
  HealthTracker,
  type BackendState,
  type PassiveOutcome,
  type HealthPolicy,
  type OutlierPolicy,
  type HealthTransition,
} from './health-tracker.ts'
export {
  ActiveChecker,
  parseStatusRanges,
  type ActiveCheckOptions,
  type CheckTarget,
  type ActiveCheckerDeps,
} from './active-checker.ts'
