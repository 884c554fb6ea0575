import { RateLimitedError } from '../../../../auth/rate-limiter.js'
import type { AppContext } from '../../../../context.js'
import type { DeleteAccountInput } from '../../../../lifecycle/delete-account.js'
import { clientIp } from '../../../client-ip.js'
import { answerRateLimited } from '../../../rate-limit/headers.js'
import type { XrpcRouter } from '../../../router.js'
import { inputBody } from '../../../util.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  // no session: the account's password and the token from requestAccountDelete
  server.method('com.atproto.server.deleteAccount', {
    handler: async ({ input, req, res }) => {
      try {
        await ctx.accountDeleter.deleteAccount(inputBody<DeleteAccountInput>(input), clientIp(req))
      } catch (err) {
        if (err instanceof RateLimitedError) answerRateLimited(res, err)
        throw err
      }
    },
  })
}
