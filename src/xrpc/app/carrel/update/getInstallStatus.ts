import type { AppContext } from '../../../../context.js'
import type { XrpcRouter } from '../../../router.js'
import { findRepo, plainJson } from '../../../util.js'

type Params = { repo: string; release?: string; limit?: number }

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('app.carrel.update.getInstallStatus', {
    handler: ({ params }) => {
      const p = params as Params
      const { did } = findRepo(ctx, p.repo)
      return plainJson(ctx.updates.reports.installStatus(did, { release: p.release, limit: p.limit ?? 10 }))
    },
  })
}
