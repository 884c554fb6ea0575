import { InvalidRequestError } from '@atproto/xrpc-server'
import { assertRepoServed } from '../../../../accounts/status.js'
import type { AppContext } from '../../../../context.js'
import { blocksCarStream } from '../../../../repo/car-export.js'
import type { XrpcRouter } from '../../../router.js'
import { optionalCid } from '../../../util.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('com.atproto.sync.getBlocks', {
    handler: ({ params }) => {
      const p = params as { did: string; cids: string[] }
      assertRepoServed(ctx.accounts, p.did)
      // every block is checked before the answer starts (BlockNotFound is still possible then),
      // and each is read only when the client takes more: records are up to 1 MB each, and a
      // request may name a few hundred of them
      const cids = new Set<string>()
      const missing: string[] = []
      for (const s of p.cids) {
        const cid = optionalCid(s, 'cids')!.toString()
        if (ctx.repo.blocks.has(p.did, cid)) cids.add(cid)
        else missing.push(s)
      }
      if (missing.length > 0) {
        throw new InvalidRequestError(`Could not find blocks: ${missing.join(', ')}`, 'BlockNotFound')
      }
      const stream = blocksCarStream([...cids], (cid) => ctx.repo.blocks.get(p.did, cid), {
        stallTimeoutMs: ctx.cfg.exportLimits.stallTimeoutMs,
      })
      return { encoding: 'application/vnd.ipld.car', stream }
    },
  })
}
