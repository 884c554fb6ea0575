import { InvalidRequestError, type Server } from '@atproto/xrpc-server'
import type { AppContext } from '../../../../context.js'
import { assertRepoAvailable } from '../../../../repo/sync-access.js'
import { json } from '../../../util.js'

export default function (server: Server, ctx: AppContext): void {
  server.method('com.atproto.sync.getLatestCommit', {
    handler: ({ params }) => {
      const { did } = params as { did: string }
      assertRepoAvailable(ctx.accounts, did)
      const root = ctx.repo.roots.get(did)
      if (!root) throw new InvalidRequestError(`Could not find root for DID: ${did}`, 'RepoNotFound')
      return json({ cid: root.cid, rev: root.rev })
    },
  })
}
