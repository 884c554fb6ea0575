import type { AppContext } from '../../../../context.js'
import type { XrpcRouter } from '../../../router.js'
import { plainJson } from '../../../util.js'
import { callerRepo } from './owner.js'

type Params = { repo: string; limit?: number; cursor?: string }

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('app.carrel.sync.listDevices', {
    auth: ctx.auth.accessStandard,
    handler: ({ auth, params }) => {
      const p = params as Params
      const { did } = callerRepo(ctx, p.repo, auth)
      return plainJson(ctx.sync.devices.list(did, { limit: p.limit ?? 50, cursor: p.cursor }))
    },
  })
}
