import type { AppContext } from '../../../../context.js'
import type { XrpcRouter } from '../../../router.js'
import { inputBody, json } from '../../../util.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('com.atproto.server.createAppPassword', {
    // not from an app password's session
    auth: ctx.auth.accessFull,
    handler: ({ auth, input }) => {
      const { name, privileged } = inputBody<{ name: string; privileged?: boolean }>(input)
      return json(ctx.appPasswords.create(auth.credentials.did, name, privileged ?? false))
    },
  })
}
