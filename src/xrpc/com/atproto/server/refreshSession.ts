import type { AppContext } from '../../../../context.js'
import type { XrpcRouter } from '../../../router.js'
import { json } from '../../../util.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('com.atproto.server.refreshSession', {
    auth: ctx.auth.refresh,
    handler: async ({ auth }) => {
      const { did, tokenId } = auth.credentials
      return json(await ctx.sessionManager.refreshSession(did, tokenId))
    },
  })
}
