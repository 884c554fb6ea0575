import { lexToJson, type LexValue } from '@atproto/lexicon'
import type { Preference } from '../../../../accounts/preferences.js'
import { usableAccount } from '../../../../accounts/status.js'
import { ACCESS_SCOPE } from '../../../../auth/tokens.js'
import type { AppContext } from '../../../../context.js'
import { writePreferences } from '../../../../lifecycle/preferences.js'
import type { XrpcRouter } from '../../../router.js'
import { inputBody } from '../../../util.js'

/** Replaces the account's Bluesky preferences (validated against the lexicon by the dispatcher). */
export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('app.bsky.actor.putPreferences', {
    auth: ctx.auth.accessStandard,
    handler: ({ auth, input }) => {
      const { did, scope } = auth.credentials
      usableAccount(ctx.accounts, did)
      const { preferences } = inputBody<{ preferences: LexValue[] }>(input)
      writePreferences(ctx.preferences, did, preferences.map((p) => lexToJson(p) as Preference), { full: scope === ACCESS_SCOPE })
    },
  })
}
