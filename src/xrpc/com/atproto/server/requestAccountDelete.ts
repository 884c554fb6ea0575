import type { AppContext } from '../../../../context.js'
import type { XrpcRouter } from '../../../router.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('com.atproto.server.requestAccountDelete', {
    auth: ctx.auth.accessFull,
    handler: async ({ auth }) => {
      await ctx.accountDeleter.requestDeletion(auth.credentials.did)
    },
  })
}
