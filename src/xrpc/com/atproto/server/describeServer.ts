import { json } from '../../../util.js'
import type { AppContext } from '../../../../context.js'
import type { XrpcRouter } from '../../../router.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('com.atproto.server.describeServer', {
    handler: () => {
      const { cfg } = ctx
      const body: Record<string, unknown> = {
        did: cfg.serviceDid,
        availableUserDomains: cfg.serviceHandleDomains,
        inviteCodeRequired: cfg.inviteRequired,
      }
      const links: Record<string, string> = {}
      if (cfg.privacyPolicyUrl) links.privacyPolicy = cfg.privacyPolicyUrl
      if (cfg.termsOfServiceUrl) links.termsOfService = cfg.termsOfServiceUrl
      if (Object.keys(links).length > 0) body.links = links
      if (cfg.contactEmail) body.contact = { email: cfg.contactEmail }
      return json(body)
    },
  })
}
