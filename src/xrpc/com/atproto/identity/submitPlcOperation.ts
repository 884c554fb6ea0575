import type { AppContext } from '../../../../context.js'
import type { XrpcRouter } from '../../../router.js'
import { inputBody } from '../../../util.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  const flow = ctx.plcOperations
  server.method('com.atproto.identity.submitPlcOperation', {
    auth: ctx.auth.accessFull,
    handler: async ({ auth, input }) => {
      await flow.submit(auth.credentials.did, inputBody<{ operation: unknown }>(input).operation)
    },
  })
}
