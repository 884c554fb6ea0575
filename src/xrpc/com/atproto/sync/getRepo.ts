import type { AppContext } from '../../../../context.js'
import type { XrpcRouter } from '../../../router.js'
import { assertRepoServed } from '../../../../accounts/status.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('com.atproto.sync.getRepo', {
    handler: ({ params }) => {
      const p = params as { did: string; since?: string }
      assertRepoServed(ctx.accounts, p.did)
      const exp = ctx.exporter.exportRepo(p.did, p.since)
      return { encoding: 'application/vnd.ipld.car', stream: exp.stream, headers: { 'Atproto-Repo-Rev': exp.rev } }
    },
  })
}
