import type { AppContext } from '../../context.js'
import type { XrpcRouter } from '../router.js'

const HOUR = 60 * 60_000

/** Sets the router's rate-limit layer from the server's configuration (a registration in xrpc/index.ts). */
export default function configureRateLimits(server: XrpcRouter, ctx: AppContext): void {
  const cfg = ctx.cfg.rateLimits
  server.rateLimits.configure({
    enabled: cfg.enabled,
    bypassKey: cfg.bypassKey,
    bypassIps: cfg.bypassIps,
    globalPerIp: cfg.globalPerIp,
    shared: {
      'repo-write-hour': { points: cfg.writePointsPerHour, windowMs: HOUR },
      'repo-write-day': { points: cfg.writePointsPerDay, windowMs: 24 * HOUR },
    },
    maxKeys: cfg.maxKeys,
  })
}
