import { servedRecordFilter } from '../../../../accounts/status.js'
import type { AppContext } from '../../../../context.js'
import type { XrpcRouter } from '../../../router.js'
import { JsonBytes } from '../../../../repo/record-json-text.js'
import { findRepo, jsonBytes } from '../../../util.js'
import { writeRecordView } from './record-view.js'

/**
 * Most record bytes (DAG-CBOR) in one page. Records are up to 1 MB, so `limit=100` could
 * otherwise make a 130 MB JSON answer; past this a page holds fewer than `limit` records and a
 * cursor, which clients follow as they follow any cursor (the reference, too, returns a cursor
 * with a short page). A first record bigger than this comes alone.
 */
export const LIST_RECORDS_MAX_BYTES = 4 * 1024 * 1024

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('com.atproto.repo.listRecords', {
    handler: ({ params }) => {
      const p = params as { repo: string; collection: string; limit?: number; cursor?: string; reverse?: boolean }
      const account = findRepo(ctx, p.repo)
      const limit = p.limit ?? 50
      const rows = ctx.repo.records.list(account.did, p.collection, { limit, cursor: p.cursor, reverse: p.reverse })
      const storage = ctx.repo.storage(account.did)
      const served = servedRecordFilter(ctx.takedownStore, account.did)
      // records as JSON straight from their stored bytes, every character kept
      const out = new JsonBytes()
      out.ascii('{"records":[')
      let bytes = 0
      let taken = 0
      let written = 0
      for (const row of rows) {
        // a record taken down is left out; the cursor still moves past it
        if (!served(row.collection, row.rkey)) {
          taken++
          continue
        }
        const cbor = storage.getBytesSync(row.cid)
        if (cbor && taken > 0 && bytes + cbor.length > LIST_RECORDS_MAX_BYTES) break
        taken++
        if (!cbor) continue
        bytes += cbor.length
        if (written++ > 0) out.byte(0x2c)
        writeRecordView(out, `at://${account.did}/${row.collection}/${row.rkey}`, row.cid, cbor)
      }
      out.byte(0x5d)
      const cursor = taken === limit || taken < rows.length ? rows[taken - 1]!.rkey : undefined
      if (cursor !== undefined) {
        out.ascii(',"cursor":')
        out.string(cursor)
      }
      out.byte(0x7d)
      return jsonBytes(out.toBuffer())
    },
  })
}
