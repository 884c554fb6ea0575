import type { AppContext } from '../../../../context.js'
import type { XrpcRouter } from '../../../router.js'
import { inputBody } from '../../../util.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  // no session: the account holder has lost the password
  server.method('com.atproto.server.requestPasswordReset', {
    handler: async ({ input }) => {
      await ctx.passwordReset.request(inputBody<{ email: string }>(input).email)
    },
  })
}
