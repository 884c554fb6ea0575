import type { AppContext } from '../../../../context.js'
import type { XrpcRouter } from '../../../router.js'
import { inputBody } from '../../../util.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('com.atproto.admin.updateAccountPassword', {
    auth: ctx.auth.adminToken,
    handler: async ({ input }) => {
      const { did, password } = inputBody<{ did: string; password: string }>(input)
      await ctx.accountAdmin.updatePassword(did, password)
    },
  })
}
