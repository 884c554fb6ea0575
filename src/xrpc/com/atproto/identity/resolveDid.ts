import type { AppContext } from '../../../../context.js'
import { didDocOrThrow } from '../../../../identity/identity-resolver.js'
import type { XrpcRouter } from '../../../router.js'
import { plainJson } from '../../../util.js'
import { retryAfterWhenBusy } from './retry-when-busy.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('com.atproto.identity.resolveDid', {
    handler: async ({ params, res }) => {
      return plainJson({ didDoc: await retryAfterWhenBusy(res, () => didDocOrThrow(ctx.identity, String(params.did))) })
    },
  })
}
