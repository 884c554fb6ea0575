import type { AccountRow } from '../../../../accounts/account-store.js'
import type { InviteCodeView } from '../../../../auth/invite-store.js'
import type { AppContext } from '../../../../context.js'

/** `com.atproto.admin.defs#accountView` */
export type AccountView = {
  did: string
  handle: string
  email: string
  indexedAt: string
  invitedBy?: InviteCodeView
  invites: InviteCodeView[]
  invitesDisabled: boolean
  deactivatedAt?: string
}

/** The admin's view of accounts: their invite codes, the code they were invited with. */
export function accountViews(ctx: AppContext, accounts: AccountRow[]): AccountView[] {
  const dids = accounts.map((a) => a.did)
  const invites = ctx.invites.ofAccounts(dids)
  const invitedBy = ctx.invites.invitedBy(dids)
  return accounts.map((a) => {
    const by = invitedBy.get(a.did)
    return {
      did: a.did,
      handle: a.handle,
      email: a.email,
      indexedAt: a.created_at,
      ...(by ? { invitedBy: by } : {}),
      invites: invites.get(a.did) ?? [],
      invitesDisabled: a.invites_disabled === 1,
      ...(a.deactivated_at ? { deactivatedAt: a.deactivated_at } : {}),
    }
  })
}
