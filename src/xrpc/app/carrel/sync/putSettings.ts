import type { AppContext } from '../../../../context.js'
import type { XrpcRouter } from '../../../router.js'
import { inputBody, plainJson } from '../../../util.js'
import { callerAccount } from './owner.js'

type Input = { version: number; settings: Record<string, unknown> }

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('app.carrel.sync.putSettings', {
    auth: ctx.auth.accessStandard,
    handler: ({ auth, input }) => {
      const { did } = callerAccount(ctx, auth)
      const body = inputBody<Input>(input)
      return plainJson(ctx.sync.settings.put(did, body.version, body.settings))
    },
  })
}
