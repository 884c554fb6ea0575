import type { AppContext } from '../../../../context.js'
import type { XrpcRouter } from '../../../router.js'
import { assertRepoReadable } from '../../../../accounts/status.js'
import { isOwnerOrAdmin, json } from '../../../util.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('com.atproto.sync.listBlobs', {
    // the account itself and the admin may export a repo that is not served (taken down, deactivated)
    auth: ctx.auth.accountOrAdminOptional,
    handler: ({ auth, params }) => {
      const p = params as { did: string; since?: string; limit?: number; cursor?: string }
      assertRepoReadable(ctx.accounts, p.did, isOwnerOrAdmin(auth, p.did))
      const limit = p.limit ?? 500
      const cids = ctx.blobs.list(p.did, { since: p.since, cursor: p.cursor, limit })
      const cursor = cids.length === limit ? cids[cids.length - 1] : undefined
      return json({ cids, ...(cursor ? { cursor } : {}) })
    },
  })
}
