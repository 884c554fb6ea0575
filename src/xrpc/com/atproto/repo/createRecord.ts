import type { Server } from '@atproto/xrpc-server'
import type { AppContext } from '../../../../context.js'
import { newRecordKey, prepareRecordWrite } from '../../../../repo/prepare.js'
import { assertWritableRepo, recordWriteOutput, swapCommit, validateFlag, type AccessCredentials } from '../../../util.js'
import { rawJsonBody } from '../../../body.js'

export default function (server: Server, ctx: AppContext): void {
  server.method('com.atproto.repo.createRecord', {
    auth: ctx.auth.accessStandard,
    handler: async ({ auth, req }) => {
      const body = rawJsonBody(req)
      const account = assertWritableRepo(ctx, String(body.repo), auth as AccessCredentials)
      const collection = String(body.collection)
      const write = prepareRecordWrite(ctx.lexicons, {
        did: account.did,
        action: 'create',
        collection,
        rkey: typeof body.rkey === 'string' ? body.rkey : newRecordKey(ctx.lexicons, collection),
        record: body.record,
        validate: validateFlag(body.validate),
      })
      const commit = await ctx.repo.commit(account.did, [write], { swapCommit: swapCommit(body) })
      return recordWriteOutput(write, commit)
    },
  })
}
