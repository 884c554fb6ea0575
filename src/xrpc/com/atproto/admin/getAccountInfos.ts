import type { AccountRow } from '../../../../accounts/account-store.js'
import type { AppContext } from '../../../../context.js'
import type { XrpcRouter } from '../../../router.js'
import { plainJson } from '../../../util.js'
import { accountViews } from './account-view.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('com.atproto.admin.getAccountInfos', {
    auth: ctx.auth.adminToken,
    handler: ({ params }) => {
      const { dids } = params as { dids: string[] }
      // DIDs with no account here are left out, as the reference leaves them out
      const accounts = [...new Set(dids)].map((did) => ctx.accounts.getByDid(did)).filter((a): a is AccountRow => a !== undefined)
      return plainJson({ infos: accountViews(ctx, accounts) })
    },
  })
}
