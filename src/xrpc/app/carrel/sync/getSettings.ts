import type { AppContext } from '../../../../context.js'
import type { XrpcRouter } from '../../../router.js'
import { plainJson } from '../../../util.js'
import { callerAccount } from './owner.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('app.carrel.sync.getSettings', {
    auth: ctx.auth.accessStandard,
    handler: ({ auth }) => plainJson(ctx.sync.settings.get(callerAccount(ctx, auth).did)),
  })
}
