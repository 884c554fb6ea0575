import type { AppContext } from '../../../../context.js'
import type { AdminEmailInput } from '../../../../lifecycle/admin-email.js'
import type { XrpcRouter } from '../../../router.js'
import { inputBody, json } from '../../../util.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('com.atproto.admin.sendEmail', {
    auth: ctx.auth.adminToken,
    handler: async ({ input }) => json(await ctx.adminEmail.send(inputBody<AdminEmailInput>(input))),
  })
}
