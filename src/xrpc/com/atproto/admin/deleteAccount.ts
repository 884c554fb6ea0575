import type { AppContext } from '../../../../context.js'
import type { XrpcRouter } from '../../../router.js'
import { inputBody } from '../../../util.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('com.atproto.admin.deleteAccount', {
    auth: ctx.auth.adminToken,
    handler: async ({ input }) => {
      await ctx.accountDeleter.deleteByAdmin(inputBody<{ did: string }>(input).did)
    },
  })
}
