import type { AppContext } from '../../../../context.js'
import type { XrpcRouter } from '../../../router.js'
import { json } from '../../../util.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('com.atproto.server.requestEmailUpdate', {
    auth: ctx.auth.accessFull,
    handler: async ({ auth }) => json(await ctx.accountEmail.requestUpdate(auth.credentials.did)),
  })
}
