import { InvalidRequestError } from '@atproto/xrpc-server'
import { accountStatus } from '../../../../accounts/status.js'
import type { AppContext } from '../../../../context.js'
import type { XrpcRouter } from '../../../router.js'
import { json } from '../../../util.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('com.atproto.sync.getRepoStatus', {
    handler: ({ params }) => {
      const { did } = params as { did: string }
      const account = ctx.accounts.getByDid(did)
      if (!account) throw new InvalidRequestError(`Could not find repo for DID: ${did}`, 'RepoNotFound')
      const status = accountStatus(account)
      const rev = status.active ? ctx.repo.roots.get(did)?.rev : undefined
      return json({
        did,
        active: status.active,
        ...(status.status ? { status: status.status } : {}),
        ...(rev ? { rev } : {}),
      })
    },
  })
}
