import type { AppContext } from '../../../../context.js'
import type { XrpcRouter } from '../../../router.js'
import { inputBody } from '../../../util.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('com.atproto.admin.updateAccountEmail', {
    auth: ctx.auth.adminToken,
    handler: ({ input }) => {
      const { account, email } = inputBody<{ account: string; email: string }>(input)
      ctx.accountAdmin.updateEmail(account, email)
    },
  })
}
