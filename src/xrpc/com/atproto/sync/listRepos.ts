import { accountStatus } from '../../../../accounts/status.js'
import type { AppContext } from '../../../../context.js'
import type { XrpcRouter } from '../../../router.js'
import { json } from '../../../util.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('com.atproto.sync.listRepos', {
    handler: ({ params }) => {
      const p = params as { limit?: number; cursor?: string }
      const limit = p.limit ?? 500
      const roots = ctx.repo.roots.list(limit, p.cursor)
      const repos = roots.map((root) => {
        const status = accountStatus(ctx.accounts.getByDid(root.did))
        return {
          did: root.did,
          head: root.cid,
          rev: root.rev,
          active: status.active,
          ...(status.status ? { status: status.status } : {}),
        }
      })
      const cursor = roots.length === limit ? roots[roots.length - 1]!.did : undefined
      return json({ repos, ...(cursor ? { cursor } : {}) })
    },
  })
}
