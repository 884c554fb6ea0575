import type { AppContext } from '../../../../context.js'
import { RateLimitedError } from '../../../../auth/rate-limiter.js'
import { clientIp } from '../../../client-ip.js'
import { clientKey } from '../../../rate-limit/client-key.js'
import { answerRateLimited } from '../../../rate-limit/headers.js'
import type { RateLimitCall } from '../../../rate-limit/spec.js'
import type { XrpcRouter } from '../../../router.js'
import { inputBody, json } from '../../../util.js'

const MINUTE = 60_000

/** Attempts are counted per identifier and client address, successes too (as the reference counts). */
const attemptKey = ({ input, req }: RateLimitCall) =>
  `${inputBody<{ identifier: string }>(input).identifier.trim().toLowerCase()} ${clientKey(req)}`

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('com.atproto.server.createSession', {
    // failed logins have their own limits besides, always on (src/auth/rate-limiter.ts)
    rateLimit: [
      { points: 30, durationMs: 5 * MINUTE, key: attemptKey },
      { points: 300, durationMs: 24 * 60 * MINUTE, key: attemptKey },
    ],
    handler: async ({ input, req, res }) => {
      const { identifier, password, allowTakendown } = inputBody<{ identifier: string; password: string; allowTakendown?: boolean }>(input)
      try {
        return json(await ctx.sessionManager.createSession(identifier, password, clientIp(req), { allowTakendown: allowTakendown === true }))
      } catch (err) {
        if (err instanceof RateLimitedError) answerRateLimited(res, err)
        throw err
      }
    },
  })
}
