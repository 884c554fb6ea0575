import type { AppContext } from '../../../../context.js'
import { checkAccountStatus } from '../../../../lifecycle/check-account-status.js'
import type { XrpcRouter } from '../../../router.js'
import { json } from '../../../util.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('com.atproto.server.checkAccountStatus', {
    auth: ctx.auth.accessStandard,
    handler: async ({ auth }) => json(await checkAccountStatus(ctx, auth.credentials.did)),
  })
}
