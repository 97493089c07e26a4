export {
  HealthTracker,
  type BackendState,
  type PassiveOutcome,
  type HealthPolicy,
  type OutlierPolicy,
  type HealthTransition,
} from './health-tracker.ts'
