import type { AppContext } from '../../../../context.js'
import { HandleResolutionBusyError } from '../../../../identity/handle-resolver.js'
import { resolveIdentity } from '../../../../identity/identity-resolver.js'
import type { XrpcRouter } from '../../../router.js'
import { inputBody, plainJson } from '../../../util.js'

/** resolveIdentity without the handle cache: what is found replaces what was cached. */
export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('com.atproto.identity.refreshIdentity', {
    handler: async ({ input, res }) => {
      const { identifier } = inputBody<{ identifier: string }>(input)
      try {
        return plainJson(await resolveIdentity(ctx.identity, identifier, { fresh: true }))
      } catch (err) {
        if (err instanceof HandleResolutionBusyError) res.setHeader('Retry-After', '1')
        throw err
      }
    },
  })
}
