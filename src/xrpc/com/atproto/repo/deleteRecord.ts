import type { Server } from '@atproto/xrpc-server'
import type { AppContext } from '../../../../context.js'
import { prepareDelete } from '../../../../repo/prepare.js'
import { assertWritableRepo, commitMeta, json, swapCid, swapCommit, type AccessCredentials } from '../../../util.js'
import { rawJsonBody } from '../../../body.js'

export default function (server: Server, ctx: AppContext): void {
  server.method('com.atproto.repo.deleteRecord', {
    auth: ctx.auth.accessStandard,
    handler: async ({ auth, req }) => {
      const body = rawJsonBody(req)
      const account = assertWritableRepo(ctx, String(body.repo), auth as AccessCredentials)
      const write = prepareDelete({
        did: account.did,
        collection: String(body.collection),
        rkey: String(body.rkey),
        swapCid: swapCid(body.swapRecord),
      })
      const expectedCommit = swapCommit(body)
      // deleting a record that does not exist is a no-op (as the reference answers), unless a
      // swap says otherwise: then the commit path reports the mismatch
      if (write.swapCid === undefined && expectedCommit === undefined && !ctx.repo.records.get(account.did, write.collection, write.rkey)) {
        return json({})
      }
      const commit = await ctx.repo.commit(account.did, [write], { swapCommit: expectedCommit })
      return json({ commit: commitMeta(commit) }, { 'Atproto-Repo-Rev': commit.rev })
    },
  })
}
