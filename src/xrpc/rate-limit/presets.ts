import type { RateLimitSpec } from './spec.js'

const MINUTE = 60_000
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR

/**
 * The reference PDS's limits for methods whose files do not declare their own (`rateLimit` on
 * the method wins): the router gives them to a method of that NSID when it is registered. Per
 * client address, while PDS_RATE_LIMITS_ENABLED is on.
 */
export const PRESET_LIMITS: Record<string, RateLimitSpec[]> = {
  'com.atproto.server.resetPassword': [{ points: 50, durationMs: 5 * MINUTE }],
  'com.atproto.server.requestPasswordReset': [
    { points: 15, durationMs: HOUR },
    { points: 50, durationMs: DAY },
  ],
}
