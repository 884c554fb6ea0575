import { InvalidRequestError } from '@atproto/xrpc-server'
import type { AppContext } from '../../../../context.js'
import type { XrpcRouter } from '../../../router.js'
import { assertBlobServed, assertRepoReadable } from '../../../../accounts/status.js'
import { isOwnerOrAdmin, optionalCid } from '../../../util.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('com.atproto.sync.getBlob', {
    // the account itself and the admin may export a repo that is not served (taken down, deactivated)
    auth: ctx.auth.accountOrAdminOptional,
    handler: async ({ auth, params }) => {
      const p = params as { did: string; cid: string }
      assertRepoReadable(ctx.accounts, p.did, isOwnerOrAdmin(auth, p.did))
      const cid = optionalCid(p.cid, 'cid')!.toString()
      assertBlobServed(ctx.takedownStore, p.did, cid)
      const blob = await ctx.blobs.get(p.did, cid)
      if (!blob) throw new InvalidRequestError(`Blob not found: ${cid}`, 'BlobNotFound')
      return {
        encoding: blob.mimeType,
        stream: blob.stream,
        headers: {
          'Content-Length': String(blob.size),
          'X-Content-Type-Options': 'nosniff',
          'Content-Security-Policy': "default-src 'none'; sandbox",
          // content-addressed: the bytes behind this URL never change
          'Cache-Control': 'private, max-age=31536000, immutable',
        },
      }
    },
  })
}
