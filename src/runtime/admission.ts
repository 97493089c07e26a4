import type { IncomingHttpHeaders } from 'node:http'
import type { ErrorCode } from '../errors/index.ts'

/** What an admission stage may look at: the routed request, never its body. */
export interface AdmissionRequest {
  readonly requestId: string
  readonly routeId: string
  readonly method: string
  readonly path: string
  readonly clientAddress: string
  readonly headers: IncomingHttpHeaders
  readonly isUpgrade: boolean
}

/** A refusal: the edge renders it as problem+json with the code's status and these extra headers. */
export interface AdmissionRefusal {
  readonly code: ErrorCode
  readonly headers?: Readonly<Record<string, string>>
  /**
   * Extra RFC 9457 members appended to the problem body, pre-serialised as the inside of a JSON object
   * (`"plans":[…],"quote":{…}`), so a stage can precompute them at config load. Must not repeat a standard
   * member (`type`, `title`, `status`, `code`, `requestId`).
   */
  readonly problemMembers?: string
}

/**
 * A stage of the admission pipeline (per-IP limit, access token check, subscription quota…). Runs
 * after routing and before a backend is chosen, in order; the first refusal wins. Returns undefined
 * to admit. May be async (one Redis round trip at most, by house rule).
 */
export type AdmissionStage = (
  request: AdmissionRequest,
) => AdmissionRefusal | undefined | Promise<AdmissionRefusal | undefined>
