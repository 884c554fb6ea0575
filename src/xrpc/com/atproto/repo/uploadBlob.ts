import type { Readable } from 'node:stream'
import { BlobRef } from '@atproto/lexicon'
import { parseCid } from '@atproto/lex-data'
import { ResponseType, XRPCError, type Server } from '@atproto/xrpc-server'
import type { AppContext } from '../../../../context.js'
import { BlobTooLargeError } from '../../../../repo/blobstore.js'
import { assertWritableRepo, json, type AccessCredentials } from '../../../util.js'

export default function (server: Server, ctx: AppContext): void {
  server.method('com.atproto.repo.uploadBlob', {
    auth: ctx.auth.accessStandard,
    // the body arrives as a stream (lexicon encoding */*); the size limit is enforced while
    // streaming to the blobstore, so xrpc-server's own checker (which destroys the socket
    // before any answer can be sent) is kept out of the way
    opts: { blobLimit: Number.MAX_SAFE_INTEGER },
    handler: async ({ auth, input, res }) => {
      const creds = auth as AccessCredentials
      const account = assertWritableRepo(ctx, creds.credentials.did, creds)
      const { body, encoding } = input as { body: Readable; encoding: string }
      try {
        const blob = await ctx.blobs.upload(account.did, body, encoding, ctx.cfg.blobUploadLimit)
        return json({ blob: new BlobRef(parseCid(blob.cid) as never, blob.mimeType, blob.size) })
      } catch (err) {
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
