import type { AppContext } from '../../../../context.js'
import type { XrpcRouter } from '../../../router.js'
import { plcOperationFlow } from './use-cases.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  const flow = plcOperationFlow(ctx)
  server.method('com.atproto.identity.requestPlcOperationSignature', {
    auth: ctx.auth.accessStandard,
    handler: ({ auth }) => {
      flow.requestSignature(auth.credentials.did)
    },
  })
}
