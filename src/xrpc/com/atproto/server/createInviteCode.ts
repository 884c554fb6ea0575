import type { AppContext } from '../../../../context.js'
import type { XrpcRouter } from '../../../router.js'
import { inputBody, json } from '../../../util.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('com.atproto.server.createInviteCode', {
    auth: ctx.auth.adminToken,
    handler: ({ input }) => {
      const { useCount, forAccount } = inputBody<{ useCount: number; forAccount?: string }>(input)
      return json({ code: ctx.invites.issue(useCount, forAccount ?? 'admin', ctx.cfg.hostname) })
    },
  })
}
