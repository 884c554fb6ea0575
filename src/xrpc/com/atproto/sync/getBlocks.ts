import { BlockMap, blocksToCarFile } from '@atproto/repo'
import { InvalidRequestError } from '@atproto/xrpc-server'
import type { AppContext } from '../../../../context.js'
import type { XrpcRouter } from '../../../router.js'
import { assertRepoServed } from '../../../../accounts/status.js'
import { optionalCid } from '../../../util.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('com.atproto.sync.getBlocks', {
    handler: async ({ params }) => {
      const p = params as { did: string; cids: string[] }
      assertRepoServed(ctx.accounts, p.did)
      const blocks = new BlockMap()
      const missing: string[] = []
      // one synchronous pass over the main connection: a consistent view
      for (const s of p.cids) {
        const cid = optionalCid(s, 'cids')!
        const bytes = ctx.repo.blocks.get(p.did, cid.toString())
        if (bytes) blocks.set(cid, bytes)
        else missing.push(s)
      }
      if (missing.length > 0) {
        throw new InvalidRequestError(`Could not find blocks: ${missing.join(', ')}`, 'BlockNotFound')
      }
      const car = await blocksToCarFile(null, blocks)
      return { encoding: 'application/vnd.ipld.car', buffer: Buffer.from(car.buffer, car.byteOffset, car.byteLength) }
    },
  })
}
