import type { AppContext } from '../../../../context.js'
import { resolveIdentity } from '../../../../identity/identity-resolver.js'
import type { XrpcRouter } from '../../../router.js'
import { plainJson } from '../../../util.js'
import { retryAfterWhenBusy } from './retry-when-busy.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('com.atproto.identity.resolveIdentity', {
    handler: async ({ params, res }) => {
      return plainJson(await retryAfterWhenBusy(res, () => resolveIdentity(ctx.identity, String(params.identifier))))
    },
  })
}
