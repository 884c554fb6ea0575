import type { AppContext } from '../../../../context.js'
import { prepareRecordWrite } from '../../../../repo/prepare.js'
import { repoWriteLimits, WRITE_POINTS } from '../../../rate-limit/write-points.js'
import type { XrpcRouter } from '../../../router.js'
import { assertWritableRepo, inputBody, recordDataErrors, recordWriteOutput, swapCommit, validateFlag } from '../../../util.js'

type Input = { repo: string; collection: string; rkey?: string; validate?: boolean; record: unknown; swapCommit?: string }

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('com.atproto.repo.createRecord', {
    auth: ctx.auth.accessStandard,
    rateLimit: repoWriteLimits(() => WRITE_POINTS.create),
    handler: async ({ auth, input }) => {
      const body = inputBody<Input>(input)
      const account = assertWritableRepo(ctx, body.repo, auth)
      const write = prepareRecordWrite(ctx.lexicons, {
        did: account.did,
        action: 'create',
        collection: body.collection,
        rkey: body.rkey,
        record: body.record,
        validate: validateFlag(body.validate),
      })
      const commit = await ctx.repo.commit(account.did, [write], { swapCommit: swapCommit(body.swapCommit) })
      return recordWriteOutput(write, commit.ops[0]!, commit)
    },
    mapError: recordDataErrors('record'),
  })
}
