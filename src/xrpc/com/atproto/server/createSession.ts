import type { Server } from '@atproto/xrpc-server'
import { RateLimitedError } from '../../../../auth/account-manager.js'
import { json } from '../../../util.js'
import { clientIp } from '../../../client-ip.js'
import type { AppContext } from '../../../../context.js'

export default function (server: Server, ctx: AppContext): void {
  server.method('com.atproto.server.createSession', {
    handler: async ({ input, req, res }) => {
      const { identifier, password } = (input as { body: { identifier: string; password: string } }).body
      try {
        const out = await ctx.accountManager.createSession(identifier, password, clientIp(req))
        return json(out)
      } catch (err) {
        if (err instanceof RateLimitedError) res.setHeader('Retry-After', String(err.retryAfterSec))
        throw err
      }
    },
  })
}
