import type { AppContext } from '../../../../context.js'
import { HandleResolutionBusyError } from '../../../../identity/handle-resolver.js'
import { didDocOrThrow } from '../../../../identity/identity-resolver.js'
import type { XrpcRouter } from '../../../router.js'
import { plainJson } from '../../../util.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('com.atproto.identity.resolveDid', {
    handler: async ({ params, res }) => {
      try {
        return plainJson({ didDoc: await didDocOrThrow(ctx.identity, String(params.did)) })
      } catch (err) {
        if (err instanceof HandleResolutionBusyError) res.setHeader('Retry-After', '1')
        throw err
      }
    },
  })
}
