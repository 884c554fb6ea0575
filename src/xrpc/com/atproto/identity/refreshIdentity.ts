import type { AppContext } from '../../../../context.js'
import { resolveIdentity } from '../../../../identity/identity-resolver.js'
import type { XrpcRouter } from '../../../router.js'
import { inputBody, plainJson } from '../../../util.js'
import { retryAfterWhenBusy } from './retry-when-busy.js'

/** resolveIdentity without the handle cache: what is found replaces what was cached. */
export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('com.atproto.identity.refreshIdentity', {
    handler: async ({ input, res }) => {
      const { identifier } = inputBody<{ identifier: string }>(input)
      return plainJson(await retryAfterWhenBusy(res, () => resolveIdentity(ctx.identity, identifier, { fresh: true })))
    },
  })
}
