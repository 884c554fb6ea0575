import type { AppContext } from '../../../../context.js'
import type { XrpcRouter } from '../../../router.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  const flow = ctx.plcOperations
  server.method('com.atproto.identity.requestPlcOperationSignature', {
    // a taken-down account may still sign the operation that moves it away (as in the reference)
    auth: ctx.auth.accessFullOrTakendown,
    handler: async ({ auth }) => {
      await flow.requestSignature(auth.credentials.did)
    },
  })
}
