import type { AppContext } from '../../../../context.js'
import type { XrpcRouter } from '../../../router.js'
import { findRepo, plainJson } from '../../../util.js'

type Params = { publisher: string; product: string; limit?: number; cursor?: string }

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('app.carrel.update.getAdoption', {
    handler: ({ params }) => {
      const p = params as Params
      const { did } = findRepo(ctx, p.publisher)
      const page = ctx.updates.reports.adoption(did, p.product, { limit: p.limit ?? 25, cursor: p.cursor }, (owner) => ctx.updates.isServed(owner))
      return plainJson(page)
    },
  })
}
