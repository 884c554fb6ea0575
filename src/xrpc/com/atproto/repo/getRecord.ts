import { InvalidRequestError } from '@atproto/xrpc-server'
import type { AppContext } from '../../../../context.js'
import type { XrpcRouter } from '../../../router.js'
import { recordBytesToJson } from '../../../../repo/record-json.js'
import { findRepo, plainJson } from '../../../util.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('com.atproto.repo.getRecord', {
    handler: ({ params }) => {
      const { repo, collection, rkey, cid } = params as { repo: string; collection: string; rkey: string; cid?: string }
      const account = findRepo(ctx, repo)
      const found = ctx.repo.getRecordBytes(account.did, collection, rkey)
      if (!found || (cid !== undefined && cid !== found.cid)) {
        throw new InvalidRequestError(`Could not locate record: at://${account.did}/${collection}/${rkey}`, 'RecordNotFound')
      }
      return plainJson({ uri: `at://${account.did}/${collection}/${rkey}`, cid: found.cid, value: recordBytesToJson(found.bytes) })
    },
  })
}
