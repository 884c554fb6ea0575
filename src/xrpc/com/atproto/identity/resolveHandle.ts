import { InvalidRequestError } from '@atproto/xrpc-server'
import { json } from '../../../util.js'
import type { AppContext } from '../../../../context.js'
import type { XrpcRouter } from '../../../router.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('com.atproto.identity.resolveHandle', {
    handler: async ({ params }) => {
      const { handle } = params as { handle: string }
      const did = await ctx.identity.resolveHandle(handle)
      if (!did) throw new InvalidRequestError('Unable to resolve handle', 'HandleNotFound')
      return json({ did })
    },
  })
}
