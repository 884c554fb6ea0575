import { InvalidRequestError } from '@atproto/xrpc-server'
import type { AppContext } from '../../../../context.js'
import type { XrpcRouter } from '../../../router.js'
import { assertRepoServed } from '../../../../accounts/status.js'
import { json } from '../../../util.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('com.atproto.sync.getLatestCommit', {
    handler: ({ params }) => {
      const { did } = params as { did: string }
      assertRepoServed(ctx.accounts, did)
      const root = ctx.repo.roots.get(did)
      if (!root) throw new InvalidRequestError(`Could not find root for DID: ${did}`, 'RepoNotFound')
      return json({ cid: root.cid, rev: root.rev })
    },
  })
}
