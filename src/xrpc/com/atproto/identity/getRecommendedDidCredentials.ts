import type { AppContext } from '../../../../context.js'
import type { XrpcRouter } from '../../../router.js'
import { plainJson } from '../../../util.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  const flow = ctx.plcOperations
  server.method('com.atproto.identity.getRecommendedDidCredentials', {
    auth: ctx.auth.accessStandard,
    handler: async ({ auth }) => plainJson(await flow.recommendedCredentials(auth.credentials.did)),
  })
}
