import type { AppContext } from '../../../../context.js'
import type { XrpcRouter } from '../../../router.js'
import { assertRepoServed } from '../../../../accounts/status.js'
import { json } from '../../../util.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('com.atproto.sync.listBlobs', {
    handler: ({ params }) => {
      const p = params as { did: string; since?: string; limit?: number; cursor?: string }
      assertRepoServed(ctx.accounts, p.did)
      const limit = p.limit ?? 500
      const cids = ctx.blobs.list(p.did, { since: p.since, cursor: p.cursor, limit })
      const cursor = cids.length === limit ? cids[cids.length - 1] : undefined
      return json({ cids, ...(cursor ? { cursor } : {}) })
    },
  })
}
