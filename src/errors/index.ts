export { ERROR_CODES, type ErrorCode, type ErrorCodeSpec, type ErrorSource } from './codes.ts'
export { GatewayError, isGatewayError, type GatewayErrorOptions } from './gateway-error.ts'
export { PROBLEM_CONTENT_TYPE, buildProblem, renderProblem, type ProblemDocument } from './problem.ts'
