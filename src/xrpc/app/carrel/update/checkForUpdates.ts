import type { AppContext } from '../../../../context.js'
import type { UpdateQuery } from '../../../../indexer/updates/update-offers.js'
import type { XrpcRouter } from '../../../router.js'
import { findRepo, plainJson } from '../../../util.js'

type Params = Omit<UpdateQuery, 'channel'> & { channel?: string }

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('app.carrel.update.checkForUpdates', {
    handler: ({ params }) => {
      const p = params as Params
      const { did } = findRepo(ctx, p.publisher)
      return plainJson(ctx.updates.offers.check({ ...p, publisher: did, channel: p.channel ?? 'stable' }))
    },
  })
}
