import { InvalidRequestError } from '@atproto/xrpc-server'
import { json } from '../../../util.js'
import type { AppContext } from '../../../../context.js'
import type { XrpcRouter } from '../../../router.js'
import { retryAfterWhenBusy } from './retry-when-busy.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('com.atproto.identity.resolveHandle', {
    handler: async ({ params, res }) => {
      const { handle } = params as { handle: string }
      const did = await retryAfterWhenBusy(res, () => ctx.identity.resolveHandle(handle))
      if (!did) throw new InvalidRequestError('Unable to resolve handle', 'HandleNotFound')
      return json({ did })
    },
  })
}
