import type { Server } from '@atproto/xrpc-server'
import type { AccessOutput } from '../../../../auth/verifier.js'
import { json } from '../../../util.js'
import type { AppContext } from '../../../../context.js'

export default function (server: Server, ctx: AppContext): void {
  server.method<AccessOutput>('com.atproto.server.getSession', {
    auth: ctx.auth.accessStandard,
    handler: ({ auth }) => {
      return json(ctx.accountManager.getSession(auth.credentials.did))
    },
  })
}
