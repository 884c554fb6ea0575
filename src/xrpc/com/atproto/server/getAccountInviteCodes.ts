import { usableAccount } from '../../../../accounts/status.js'
import { accountInviteCodes } from '../../../../auth/account-invites.js'
import type { AppContext } from '../../../../context.js'
import type { XrpcRouter } from '../../../router.js'
import { plainJson } from '../../../util.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  const { cfg } = ctx
  // accounts earn codes only where invites are required and an interval is set (the reference's rule)
  const earning = cfg.inviteRequired && cfg.inviteInterval !== null ? { intervalMs: cfg.inviteInterval, epochMs: cfg.inviteEpoch } : null
  server.method('com.atproto.server.getAccountInviteCodes', {
    // the account's own password, as the reference asks (ACCESS_FULL)
    auth: ctx.auth.accessFull,
    handler: ({ auth, params }) => {
      const { includeUsed = true, createAvailable = true } = params as { includeUsed?: boolean; createAvailable?: boolean }
      const account = usableAccount(ctx.accounts, auth.credentials.did)
      const codes = accountInviteCodes({ db: ctx.db, invites: ctx.invites, hostname: cfg.hostname, earning }, account, { includeUsed, createAvailable })
      return plainJson({ codes })
    },
  })
}
