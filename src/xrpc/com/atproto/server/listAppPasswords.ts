import type { AppContext } from '../../../../context.js'
import type { XrpcRouter } from '../../../router.js'
import { json } from '../../../util.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('com.atproto.server.listAppPasswords', {
    // not from an app password's session (the reference lets one list them; the issue does not)
    auth: ctx.auth.accessFull,
    handler: ({ auth }) => json({ passwords: ctx.appPasswords.list(auth.credentials.did) }),
  })
}
