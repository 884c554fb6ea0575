import type { AppContext } from '../../../../context.js'
import type { XrpcRouter } from '../../../router.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('com.atproto.server.deleteSession', {
    auth: ctx.auth.refresh,
    handler: ({ auth }) => {
      ctx.sessionManager.deleteSession(auth.credentials.tokenId)
    },
  })
}
