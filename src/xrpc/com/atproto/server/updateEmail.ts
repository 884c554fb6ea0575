import type { AppContext } from '../../../../context.js'
import type { UpdateEmailInput } from '../../../../lifecycle/account-email.js'
import type { XrpcRouter } from '../../../router.js'
import { inputBody } from '../../../util.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('com.atproto.server.updateEmail', {
    auth: ctx.auth.accessFull,
    handler: ({ auth, input }) => {
      ctx.accountEmail.update(auth.credentials.did, inputBody<UpdateEmailInput>(input))
    },
  })
}
