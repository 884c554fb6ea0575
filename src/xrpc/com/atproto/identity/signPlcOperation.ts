import type { AppContext } from '../../../../context.js'
import type { SignPlcOperationInput } from '../../../../lifecycle/plc-operations.js'
import type { XrpcRouter } from '../../../router.js'
import { inputBody, plainJson } from '../../../util.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  const flow = ctx.plcOperations
  server.method('com.atproto.identity.signPlcOperation', {
    // a taken-down account may still sign the operation that moves it away (as in the reference)
    auth: ctx.auth.accessFullOrTakendown,
    handler: async ({ auth, input }) => {
      const operation = await flow.sign(auth.credentials.did, inputBody<SignPlcOperationInput>(input))
      return plainJson({ operation })
    },
  })
}
