import type { AppContext } from '../../../../context.js'
import type { XrpcRouter } from '../../../router.js'
import { json } from '../../../util.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('com.atproto.server.getSession', {
    auth: ctx.auth.accessStandard,
    handler: ({ auth }) => json(ctx.sessionManager.getSession(auth.credentials.did)),
  })
}
