import type { Server } from '@atproto/xrpc-server'
import type { AppContext } from '../../../../context.js'
import { prepareRecordWrite } from '../../../../repo/prepare.js'
import { assertWritableRepo, recordWriteOutput, swapCid, swapCommit, validateFlag, type AccessCredentials } from '../../../util.js'
import { rawJsonBody } from '../../../body.js'

export default function (server: Server, ctx: AppContext): void {
  server.method('com.atproto.repo.putRecord', {
    auth: ctx.auth.accessStandard,
    handler: async ({ auth, req }) => {
      const body = rawJsonBody(req)
      const account = assertWritableRepo(ctx, String(body.repo), auth as AccessCredentials)
      const write = prepareRecordWrite(ctx.lexicons, {
        did: account.did,
        action: 'update',
        collection: String(body.collection),
        rkey: String(body.rkey),
        record: body.record,
        validate: validateFlag(body.validate),
        swapCid: swapCid(body.swapRecord),
      })
      const commit = await ctx.repo.commit(account.did, [write], { swapCommit: swapCommit(body) })
      return recordWriteOutput(write, commit)
    },
  })
}
