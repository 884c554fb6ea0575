import { InvalidRequestError, type Server } from '@atproto/xrpc-server'
import { json } from '../../../util.js'
import type { AppContext } from '../../../../context.js'

export default function (server: Server, ctx: AppContext): void {
  server.method('com.atproto.identity.resolveHandle', {
    handler: async ({ params }) => {
      const { handle } = params as { handle: string }
      const did = await ctx.identity.resolveHandle(handle)
      if (!did) throw new InvalidRequestError('Unable to resolve handle', 'HandleNotFound')
      return json({ did })
    },
  })
}
