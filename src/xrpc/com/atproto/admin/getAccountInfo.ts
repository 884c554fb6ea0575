import { InvalidRequestError } from '@atproto/xrpc-server'
import type { AppContext } from '../../../../context.js'
import type { XrpcRouter } from '../../../router.js'
import { plainJson } from '../../../util.js'
import { accountViews } from './account-view.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('com.atproto.admin.getAccountInfo', {
    auth: ctx.auth.adminToken,
    handler: ({ params }) => {
      const { did } = params as { did: string }
      const account = ctx.accounts.getByDid(did)
      // the reference's error name
      if (!account) throw new InvalidRequestError('Account not found', 'NotFound')
      return plainJson(accountViews(ctx, [account])[0])
    },
  })
}
