import type { AppContext } from '../../../../context.js'
import type { XrpcRouter } from '../../../router.js'
import { json, type AccessCredentials } from '../../../util.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('com.atproto.repo.listMissingBlobs', {
    auth: ctx.auth.accessStandard,
    handler: ({ auth, params }) => {
      const did = (auth as AccessCredentials).credentials.did
      const p = params as { limit?: number; cursor?: string }
      const limit = p.limit ?? 500
      const blobs = ctx.blobs.listMissing(did, { cursor: p.cursor, limit })
      const cursor = blobs.length === limit ? blobs[blobs.length - 1]!.cid : undefined
      return json({ blobs, ...(cursor ? { cursor } : {}) })
    },
  })
}
