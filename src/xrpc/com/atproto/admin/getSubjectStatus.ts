import { InvalidRequestError } from '@atproto/xrpc-server'
import type { AppContext } from '../../../../context.js'
import type { XrpcRouter } from '../../../router.js'
import { plainJson } from '../../../util.js'
import { recordPath, recordUri, REPO_BLOB_REF, REPO_REF, STRONG_REF } from './subject.js'

type Params = { did?: string; uri?: string; blob?: string }

/** NotFound (the reference's name): no such account, record or blob, nor a takedown of it. */
function notFound(): never {
  throw new InvalidRequestError('Subject not found', 'NotFound')
}

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('com.atproto.admin.getSubjectStatus', {
    auth: ctx.auth.adminToken,
    handler: ({ params }) => {
      const { did, uri, blob } = params as Params
      if (blob !== undefined) {
        if (did === undefined) throw new InvalidRequestError('Must provide a did to request blob state')
        const status = ctx.takedowns.blobStatus(did, blob) ?? notFound()
        return plainJson({ subject: { $type: REPO_BLOB_REF, did, cid: blob }, takedown: status.takedown })
      }
      if (uri !== undefined) {
        const path = recordPath(ctx, uri) ?? notFound()
        const status = ctx.takedowns.recordStatus(path) ?? notFound()
        return plainJson({ subject: { $type: STRONG_REF, uri: recordUri(path), cid: status.cid }, takedown: status.takedown })
      }
      if (did !== undefined) {
        const status = ctx.takedowns.accountStatus(did) ?? notFound()
        return plainJson({ subject: { $type: REPO_REF, did }, ...status })
      }
      throw new InvalidRequestError('No provided subject')
    },
  })
}
