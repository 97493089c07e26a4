export { fullJitterBackoff } from './backoff.ts'
export { SlidingCounter } from './sliding-counter.ts'
export { RetryBudget, type RetryBudgetOptions } from './retry-budget.ts'
export { CircuitBreaker, type BreakerState, type CircuitBreakerOptions } from './circuit-breaker.ts'
export {
  shouldRetry,
  phaseOf,
  parseRetryAfter,
  type RetryPolicy,
  type RetryQuestion,
  type RetryVerdict,
  type AttemptPhase,
} from './retry-policy.ts'
