import type { AppContext } from '../../../../context.js'
import type { XrpcRouter } from '../../../router.js'
import { inputBody } from '../../../util.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('com.atproto.server.revokeAppPassword', {
    // not from an app password's session (the reference lets one revoke them; the issue does not)
    auth: ctx.auth.accessFull,
    handler: ({ auth, input }) => {
      ctx.appPasswords.revoke(auth.credentials.did, inputBody<{ name: string }>(input).name)
    },
  })
}
