import type { Server } from '@atproto/xrpc-server'
import type { AppContext } from '../../../../context.js'
import { assertRepoAvailable } from '../../../../repo/sync-access.js'

export default function (server: Server, ctx: AppContext): void {
  server.method('com.atproto.sync.getRepo', {
    handler: ({ params }) => {
      const p = params as { did: string; since?: string }
      assertRepoAvailable(ctx.accounts, p.did)
      const exp = ctx.exporter.exportRepo(p.did, p.since)
      return { encoding: 'application/vnd.ipld.car', stream: exp.stream, headers: { 'Atproto-Repo-Rev': exp.rev } }
    },
  })
}
