import type { AppContext } from '../../../../context.js'
import type { XrpcRouter } from '../../../router.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('com.atproto.server.activateAccount', {
    auth: ctx.auth.accessFull,
    handler: async ({ auth }) => {
      await ctx.accountActivator.activate(auth.credentials.did)
    },
  })
}
