import { ACCESS_SCOPE } from '../../../../auth/tokens.js'
import type { AppContext } from '../../../../context.js'
import { readPreferences } from '../../../../lifecycle/preferences.js'
import type { XrpcRouter } from '../../../router.js'
import { plainJson } from '../../../util.js'

/**
 * The account's Bluesky preferences, kept here (src/lifecycle/preferences.ts), whatever service
 * an atproto-proxy header names: preferences belong to the account, and answering a read from
 * another service while writes stay here would split them.
 */
export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('app.bsky.actor.getPreferences', {
    auth: ctx.auth.accessStandardOrTakendown,
    handler: ({ auth }) => {
      const { did, scope } = auth.credentials
      return plainJson({ preferences: readPreferences(ctx.preferences, did, { full: scope === ACCESS_SCOPE }) })
    },
  })
}
