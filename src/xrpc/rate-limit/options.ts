import type { Config } from '../../config.js'
import type { RateLimitOptions } from './layer.js'

const HOUR = 60 * 60_000

/** The rate-limit layer's options, from the server's configuration. */
export function rateLimitOptions(cfg: Config['rateLimits']): RateLimitOptions {
  return {
    enabled: cfg.enabled,
    bypassKey: cfg.bypassKey,
    bypassIps: cfg.bypassIps,
    globalPerIp: cfg.globalPerIp,
    shared: {
      'repo-write-hour': { points: cfg.writePointsPerHour, windowMs: HOUR },
      'repo-write-day': { points: cfg.writePointsPerDay, windowMs: 24 * HOUR },
    },
    maxKeys: cfg.maxKeys,
  }
}
