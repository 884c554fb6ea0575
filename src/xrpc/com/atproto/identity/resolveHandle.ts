import { InvalidRequestError } from '@atproto/xrpc-server'
import { HandleResolutionBusyError } from '../../../../identity/handle-resolver.js'
import { json } from '../../../util.js'
import type { AppContext } from '../../../../context.js'
import type { XrpcRouter } from '../../../router.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('com.atproto.identity.resolveHandle', {
    handler: async ({ params, res }) => {
      const { handle } = params as { handle: string }
      try {
        const did = await ctx.identity.resolveHandle(handle)
        if (!did) throw new InvalidRequestError('Unable to resolve handle', 'HandleNotFound')
        return json({ did })
      } catch (err) {
        if (err instanceof HandleResolutionBusyError) res.setHeader('Retry-After', '1')
        throw err
      }
    },
  })
}
