import type { Server } from '@atproto/xrpc-server'
import type { RefreshOutput } from '../../../../auth/verifier.js'
import type { AppContext } from '../../../../context.js'

export default function (server: Server, ctx: AppContext): void {
  server.method<RefreshOutput>('com.atproto.server.deleteSession', {
    auth: ctx.auth.refresh,
    handler: ({ auth }) => {
      ctx.accountManager.deleteSession(auth.credentials.tokenId)
    },
  })
}
