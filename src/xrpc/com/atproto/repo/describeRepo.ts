import { UpstreamFailureError } from '@atproto/xrpc-server'
import type { AppContext } from '../../../../context.js'
import type { XrpcRouter } from '../../../router.js'
import { findRepo, json } from '../../../util.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('com.atproto.repo.describeRepo', {
    handler: async ({ params }) => {
      const account = findRepo(ctx, String(params.repo))
      let didDoc: Record<string, unknown> | null
      try {
        didDoc = (await ctx.identity.didResolver.resolve(account.did)) as Record<string, unknown> | null
      } catch {
        throw new UpstreamFailureError('Could not resolve the DID document')
      }
      const aka = Array.isArray(didDoc?.alsoKnownAs) ? (didDoc.alsoKnownAs as string[]) : []
      const claimed = aka.find((a) => a.startsWith('at://'))?.slice('at://'.length).toLowerCase()
      return json({
        handle: account.handle,
        did: account.did,
        didDoc: didDoc ?? {},
        collections: ctx.repo.records.collections(account.did),
        handleIsCorrect: claimed === account.handle,
      })
    },
  })
}
