import { RateLimitedError } from '../../../../auth/rate-limiter.js'
import type { AppContext } from '../../../../context.js'
import { answerRateLimited } from '../../../rate-limit/headers.js'
import type { XrpcRouter } from '../../../router.js'
import { inputBody } from '../../../util.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  const updater = ctx.handleUpdater
  server.method('com.atproto.identity.updateHandle', {
    auth: ctx.auth.accessFull,
    handler: async ({ auth, input, res }) => {
      try {
        await updater.updateHandle(auth.credentials.did, inputBody<{ handle: string }>(input).handle)
      } catch (err) {
        if (err instanceof RateLimitedError) answerRateLimited(res, err)
        throw err
      }
    },
  })
}
