import type { AppContext } from '../../../../context.js'
import { prepareDelete } from '../../../../repo/prepare.js'
import { repoWriteLimits, WRITE_POINTS } from '../../../rate-limit/write-points.js'
import type { XrpcRouter } from '../../../router.js'
import { assertWritableRepo, commitMeta, inputBody, json, swapCid, swapCommit } from '../../../util.js'

type Input = { repo: string; collection: string; rkey: string; swapRecord?: string | null; swapCommit?: string }

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('com.atproto.repo.deleteRecord', {
    auth: ctx.auth.accessStandard,
    rateLimit: repoWriteLimits(() => WRITE_POINTS.delete),
    handler: async ({ auth, input }) => {
      const body = inputBody<Input>(input)
      const account = assertWritableRepo(ctx, body.repo, auth)
      const write = prepareDelete({
        did: account.did,
        collection: body.collection,
        rkey: body.rkey,
        swapCid: swapCid(body.swapRecord),
      })
      const expectedCommit = swapCommit(body.swapCommit)
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
