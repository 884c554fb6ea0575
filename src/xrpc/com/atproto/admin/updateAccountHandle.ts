import type { AppContext } from '../../../../context.js'
import type { XrpcRouter } from '../../../router.js'
import { inputBody } from '../../../util.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('com.atproto.admin.updateAccountHandle', {
    auth: ctx.auth.adminToken,
    handler: async ({ input }) => {
      const { did, handle } = inputBody<{ did: string; handle: string }>(input)
      await ctx.handleUpdater.updateHandle(did, handle, { byAdmin: true })
    },
  })
}
