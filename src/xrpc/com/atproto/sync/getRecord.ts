import type { Server } from '@atproto/xrpc-server'
import type { AppContext } from '../../../../context.js'
import { assertRepoAvailable } from '../../../../repo/sync-access.js'

export default function (server: Server, ctx: AppContext): void {
  server.method('com.atproto.sync.getRecord', {
    handler: async ({ params }) => {
      const p = params as { did: string; collection: string; rkey: string }
      assertRepoAvailable(ctx.accounts, p.did)
      // proves presence (record block included) or absence (path to where the key would be)
      const { car } = await ctx.exporter.proveRecord(p.did, p.collection, p.rkey)
      return { encoding: 'application/vnd.ipld.car', buffer: Buffer.from(car.buffer, car.byteOffset, car.byteLength) }
    },
  })
}
