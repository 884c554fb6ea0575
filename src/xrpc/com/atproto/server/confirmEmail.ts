import type { AppContext } from '../../../../context.js'
import type { ConfirmEmailInput } from '../../../../lifecycle/account-email.js'
import type { XrpcRouter } from '../../../router.js'
import { inputBody } from '../../../util.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('com.atproto.server.confirmEmail', {
    auth: ctx.auth.accessStandard,
    handler: ({ auth, input }) => {
      ctx.accountEmail.confirm(auth.credentials.did, inputBody<ConfirmEmailInput>(input))
    },
  })
}
