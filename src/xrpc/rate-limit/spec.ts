import type { IncomingMessage } from 'node:http'
import type { XrpcInput } from '../types.js'

/** What a method's limit may key and cost a call by: the request, its parsed input, its auth. */
export type RateLimitCall<A = unknown> = {
  req: IncomingMessage
  params: Record<string, unknown>
  input: XrpcInput | undefined
  auth: A
}

/** Budgets that several methods draw on (the repo write points), sized by configuration. */
export type SharedLimitName = 'repo-write-hour' | 'repo-write-day'

type Keyed<A> = {
  /** what the budget is per; default: the client's address. null: this call is not limited */
  key?: (call: RateLimitCall<A>) => string | null
  /** points this call costs; default 1 */
  cost?: (call: RateLimitCall<A>) => number
}

/**
 * A limit declared with a method (`rateLimit: [...]` on `server.method`): its own budget of
 * `points` per `durationMs`, or a shared one by name. The call is charged after auth and input
 * parsing and before the handler runs, all of its limits or none: a refused call costs nothing
 * and the handler never runs. Limits apply while PDS_RATE_LIMITS_ENABLED is on, except those
 * marked `always`.
 */
export type RateLimitSpec<A = unknown> =
  | (Keyed<A> & {
      points: number
      durationMs: number
      /** kept when PDS_RATE_LIMITS_ENABLED is off: protections that predate the switch */
      always?: boolean
    })
  | (Keyed<A> & { shared: SharedLimitName })

export type { RateLimitStatus as LimitStatus } from '../../auth/rate-limiter.js'
