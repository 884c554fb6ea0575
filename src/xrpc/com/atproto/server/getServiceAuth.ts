import type { AppContext } from '../../../../context.js'
import { issueServiceAuthToken, type ServiceAuthRequest } from '../../../../lifecycle/service-auth-token.js'
import type { XrpcRouter } from '../../../router.js'
import { plainJson } from '../../../util.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('com.atproto.server.getServiceAuth', {
    auth: ctx.auth.accessStandard,
    handler: async ({ auth, params }) => {
      const token = await issueServiceAuthToken(ctx, auth.credentials, params as ServiceAuthRequest)
      return plainJson({ token })
    },
  })
}
