import type { AppContext } from '../../../../context.js'
import type { ResetPasswordInput } from '../../../../lifecycle/password-reset.js'
import type { XrpcRouter } from '../../../router.js'
import { inputBody } from '../../../util.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  // no session: the token from requestPasswordReset names the account
  server.method('com.atproto.server.resetPassword', {
    handler: async ({ input }) => {
      await ctx.passwordReset.reset(inputBody<ResetPasswordInput>(input))
    },
  })
}
