import { InvalidRequestError } from '@atproto/xrpc-server'
import type { InviteSort } from '../../../../auth/invite-store.js'
import type { AppContext } from '../../../../context.js'
import type { XrpcRouter } from '../../../router.js'
import { plainJson } from '../../../util.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('com.atproto.admin.getInviteCodes', {
    auth: ctx.auth.adminToken,
    handler: ({ params }) => {
      const { sort = 'recent', limit = 100, cursor } = params as { sort?: string; limit?: number; cursor?: string }
      if (sort !== 'recent' && sort !== 'usage') throw new InvalidRequestError(`unknown sort method: ${sort}`)
      return plainJson(ctx.invites.page(sort as InviteSort, limit, cursor))
    },
  })
}
