import type { AppContext } from '../../../../context.js'
import type { XrpcRouter } from '../../../router.js'
import { recordBytesToJson } from '../../../../repo/record-json.js'
import { findRepo, plainJson } from '../../../util.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('com.atproto.repo.listRecords', {
    handler: ({ params }) => {
      const p = params as { repo: string; collection: string; limit?: number; cursor?: string; reverse?: boolean }
      const account = findRepo(ctx, p.repo)
      const limit = p.limit ?? 50
      const rows = ctx.repo.records.list(account.did, p.collection, { limit, cursor: p.cursor, reverse: p.reverse })
      const storage = ctx.repo.storage(account.did)
      const records = rows.flatMap((row) => {
        const bytes = storage.getBytesSync(row.cid)
        return bytes ? [{ uri: `at://${account.did}/${row.collection}/${row.rkey}`, cid: row.cid, value: recordBytesToJson(bytes) }] : []
      })
      const cursor = rows.length === limit ? rows[rows.length - 1].rkey : undefined
      return plainJson({ records, cursor })
    },
  })
}
