import type { AppContext } from '../../../../context.js'
import type { XrpcRouter } from '../../../router.js'
import { inputBody } from '../../../util.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('com.atproto.server.deactivateAccount', {
    auth: ctx.auth.accessFull,
    handler: ({ auth, input }) => {
      const { deleteAfter } = inputBody<{ deleteAfter?: string }>(input)
      ctx.accountDeactivator.deactivate(auth.credentials.did, deleteAfter ?? null)
    },
  })
}
