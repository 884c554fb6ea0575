import type { AppContext } from '../../../../context.js'
import type { XrpcRouter } from '../../../router.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  const flow = ctx.plcOperations
  server.method('com.atproto.identity.requestPlcOperationSignature', {
    auth: ctx.auth.accessFull,
    handler: async ({ auth }) => {
      await flow.requestSignature(auth.credentials.did)
    },
  })
}
