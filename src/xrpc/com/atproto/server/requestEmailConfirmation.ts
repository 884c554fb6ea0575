import type { AppContext } from '../../../../context.js'
import type { XrpcRouter } from '../../../router.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('com.atproto.server.requestEmailConfirmation', {
    auth: ctx.auth.accessStandard,
    handler: async ({ auth }) => {
      await ctx.accountEmail.requestConfirmation(auth.credentials.did)
    },
  })
}
