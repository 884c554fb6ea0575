import type { AppContext } from '../../../../context.js'
import type { XrpcRouter } from '../../../router.js'
import { inputBody, plainJson } from '../../../util.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('com.atproto.server.createInviteCodes', {
    auth: ctx.auth.adminToken,
    handler: ({ input }) => {
      const { codeCount = 1, useCount, forAccounts } = inputBody<{ codeCount?: number; useCount: number; forAccounts?: string[] }>(input)
      const accounts = forAccounts && forAccounts.length > 0 ? forAccounts : ['admin']
      return plainJson({ codes: ctx.invites.issueMany(accounts, codeCount, useCount, ctx.cfg.hostname) })
    },
  })
}
