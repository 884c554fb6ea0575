import { InvalidRequestError } from '@atproto/xrpc-server'
import { assertRecordServed } from '../../../../accounts/status.js'
import type { AppContext } from '../../../../context.js'
import { JsonBytes } from '../../../../repo/record-json-text.js'
import type { XrpcRouter } from '../../../router.js'
import { findRepo, jsonBytes } from '../../../util.js'
import { writeRecordView } from './record-view.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('com.atproto.repo.getRecord', {
    handler: ({ params }) => {
      const { repo, collection, rkey, cid } = params as { repo: string; collection: string; rkey: string; cid?: string }
      const account = findRepo(ctx, repo)
      assertRecordServed(ctx.takedownStore, account.did, collection, rkey)
      const found = ctx.repo.getRecordBytes(account.did, collection, rkey)
      if (!found || (cid !== undefined && cid !== found.cid)) {
        throw new InvalidRequestError(`Could not locate record: at://${account.did}/${collection}/${rkey}`, 'RecordNotFound')
      }
      // the record as JSON straight from its stored bytes, every character kept
      const out = new JsonBytes()
      writeRecordView(out, `at://${account.did}/${collection}/${rkey}`, found.cid, found.bytes)
      return jsonBytes(out.toBuffer())
    },
  })
}
