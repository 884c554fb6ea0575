import type { AppContext } from '../../../../context.js'
import type { XrpcRouter } from '../../../router.js'
import { inputBody, plainJson } from '../../../util.js'
import { callerAccount } from './owner.js'

type Input = { device: string; rev?: string; appVersion?: string }

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('app.carrel.sync.heartbeat', {
    auth: ctx.auth.accessStandard,
    handler: ({ auth, input }) => {
      const { did } = callerAccount(ctx, auth)
      return plainJson(ctx.sync.devices.heartbeat(did, inputBody<Input>(input)))
    },
  })
}
