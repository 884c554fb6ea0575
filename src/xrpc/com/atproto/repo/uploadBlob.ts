import type { Readable } from 'node:stream'
import { BlobRef } from '@atproto/lexicon'
import { parseCid } from '@atproto/lex-data'
import { InvalidRequestError, ResponseType, XRPCError } from '@atproto/xrpc-server'
import type { AppContext } from '../../../../context.js'
import type { XrpcRouter } from '../../../router.js'
import { accountStatus } from '../../../../accounts/status.js'
import { BlobNotReferencedError } from '../../../../repo/blob-service.js'
import { BlobTooLargeError } from '../../../../repo/blobstore.js'
import { assertWritableRepo, json } from '../../../util.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('com.atproto.repo.uploadBlob', {
    auth: ctx.auth.accessStandard,
    // the body arrives as a stream (lexicon encoding */*); a declared length over the limit is
    // refused by the dispatcher, the bytes actually sent while streaming to the blobstore
    handler: async ({ auth, input, res }) => {
      const did = auth.credentials.did
      // a deactivated account that imported its repo (arriving by migration) may upload the blobs
      // its records reference and this server lacks (listMissingBlobs), and nothing else
      const arriving = accountStatus(ctx.accounts.getByDid(did)).status === 'deactivated' && ctx.blobs.hasMissing(did)
      if (!arriving) assertWritableRepo(ctx, did, auth)
      const { body, encoding } = input as { body: Readable; encoding: string }
      try {
        const blob = await ctx.blobs.upload(did, body, encoding, ctx.cfg.blobUploadLimit, { onlyReferenced: arriving })
        return json({ blob: new BlobRef(parseCid(blob.cid) as never, blob.mimeType, blob.size) })
      } catch (err) {
        if (err instanceof BlobNotReferencedError) {
          throw new InvalidRequestError('Account is deactivated: only the blobs its records reference can be uploaded', 'AccountDeactivated')
        }
        if (err instanceof BlobTooLargeError) {
          // the rest of the body is not read: the connection cannot be reused
          res.setHeader('Connection', 'close')
          throw new XRPCError(ResponseType.PayloadTooLarge, `Blob is larger than ${err.limit} bytes`, 'BlobTooLarge')
        }
        throw err
      }
    },
  })
}
