import type { AppContext } from '../../../../context.js'
import { RateLimitedError } from '../../../../auth/rate-limiter.js'
import { clientIp } from '../../../client-ip.js'
import type { XrpcRouter } from '../../../router.js'
import { inputBody, json } from '../../../util.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('com.atproto.server.createSession', {
    handler: async ({ input, req, res }) => {
      const { identifier, password } = inputBody<{ identifier: string; password: string }>(input)
      try {
        return json(await ctx.sessionManager.createSession(identifier, password, clientIp(req)))
      } catch (err) {
        if (err instanceof RateLimitedError) res.setHeader('Retry-After', String(err.retryAfterSec))
        throw err
      }
    },
  })
}
