import type { AppContext } from '../../../../context.js'
import { callService } from '../../../proxy/call.js'
import { configuredTarget, locateService } from '../../../proxy/index.js'
import type { XrpcRouter } from '../../../router.js'
import { inputBody } from '../../../util.js'

const LXM = 'app.bsky.notification.registerPush'

/**
 * Push registration goes to the notification service the body names (`serviceDid`), as the
 * reference sends it: to the configured AppView when that is the one named, else to the
 * `#bsky_notif` endpoint of that DID's document (the outbound SSRF rules apply), with the
 * account's service-auth token for that DID and this method.
 */
export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method(LXM, {
    auth: ctx.auth.accessStandard,
    handler: async ({ auth, input }) => {
      const body = inputBody<{ serviceDid: string }>(input)
      const appView = ctx.cfg.bskyAppView
      const target =
        appView && appView.did === body.serviceDid
          ? configuredTarget(ctx, appView)
          : await locateService(ctx, { did: body.serviceDid, serviceId: 'bsky_notif' })
      await callService(ctx, target, { iss: auth.credentials.did, lxm: LXM, body })
    },
  })
}
