import type { Server } from '@atproto/xrpc-server'
import type { RefreshOutput } from '../../../../auth/verifier.js'
import { json } from '../../../util.js'
import type { AppContext } from '../../../../context.js'

export default function (server: Server, ctx: AppContext): void {
  server.method<RefreshOutput>('com.atproto.server.refreshSession', {
    auth: ctx.auth.refresh,
    handler: async ({ auth }) => {
      const { did, tokenId } = auth.credentials
      return json(await ctx.accountManager.refreshSession(did, tokenId))
    },
  })
}
