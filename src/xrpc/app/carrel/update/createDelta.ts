import { parseCid } from '@atproto/lex-data'
import { BlobRef } from '@atproto/lexicon'
import type { AppContext } from '../../../../context.js'
import type { DeltaRequest } from '../../../../indexer/updates/create-delta.js'
import type { XrpcRouter } from '../../../router.js'
import { assertWritableRepo, inputBody, json } from '../../../util.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('app.carrel.update.createDelta', {
    auth: ctx.auth.accessStandard,
    handler: async ({ auth, input }) => {
      // the publisher stores a blob: an active account's own repo, as for uploadBlob
      const account = assertWritableRepo(ctx, auth.credentials.did, auth)
      const entry = await ctx.updates.deltas.create(account.did, inputBody<DeltaRequest>(input))
      return json({ ...entry, blob: new BlobRef(parseCid(entry.blob.cid) as never, entry.blob.mimeType, entry.blob.size) })
    },
  })
}
