import type { AppContext } from '../../../../context.js'
import type { XrpcRouter } from '../../../router.js'
import { assertRecordServed, assertRepoServed } from '../../../../accounts/status.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('com.atproto.sync.getRecord', {
    handler: async ({ params }) => {
      const p = params as { did: string; collection: string; rkey: string }
      assertRepoServed(ctx.accounts, p.did)
      // no proof for a record taken down: a proof of absence would not be true
      assertRecordServed(ctx.takedownStore, p.did, p.collection, p.rkey)
      // proves presence (record block included) or absence (path to where the key would be)
      const { car } = await ctx.exporter.proveRecord(p.did, p.collection, p.rkey)
      return { encoding: 'application/vnd.ipld.car', buffer: Buffer.from(car.buffer, car.byteOffset, car.byteLength) }
    },
  })
}
