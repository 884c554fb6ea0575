import type { Server } from '@atproto/xrpc-server'
import type { AdminOutput } from '../../../../auth/verifier.js'
import { json } from '../../../util.js'
import type { AppContext } from '../../../../context.js'

export default function (server: Server, ctx: AppContext): void {
  server.method<AdminOutput>('com.atproto.server.createInviteCode', {
    auth: ctx.auth.adminToken,
    handler: ({ input }) => {
      const { useCount, forAccount } = (input as { body: { useCount: number; forAccount?: string } }).body
      return json({ code: ctx.accountManager.createInviteCode(useCount, forAccount) })
    },
  })
}
