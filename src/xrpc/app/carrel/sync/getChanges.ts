import { servedRecordFilter } from '../../../../accounts/status.js'
import type { AppContext } from '../../../../context.js'
import type { XrpcRouter } from '../../../router.js'
import { changesPageJson } from '../../../../indexer/sync/changes-feed.js'
import { findRepo } from '../../../util.js'

type Params = { repo: string; since?: string; collections?: string[]; limit?: number; cursor?: string }

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('app.carrel.sync.getChanges', {
    handler: ({ params }) => {
      const p = params as Params
      const { did } = findRepo(ctx, p.repo)
      const page = ctx.sync.changes.page(did, { since: p.since, cursor: p.cursor, collections: p.collections, limit: p.limit ?? 100 })
      // a record taken down is left out (its deletion, when it comes, is not)
      const served = servedRecordFilter(ctx.takedownStore, did)
      page.changes = page.changes.filter((c) => c.action === 'delete' || served(c.collection, c.rkey))
      // records are written as JSON text straight from their blocks (src/repo/record-json-text.ts)
      return { encoding: 'application/json; charset=utf-8', buffer: changesPageJson(page) }
    },
  })
}
