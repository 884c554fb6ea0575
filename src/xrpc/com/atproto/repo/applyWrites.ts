import { InvalidRequestError, type Server } from '@atproto/xrpc-server'
import type { AppContext } from '../../../../context.js'
import { newRecordKey, prepareDelete, prepareRecordWrite } from '../../../../repo/prepare.js'
import type { PreparedWrite } from '../../../../repo/types.js'
import { assertWritableRepo, commitMeta, json, swapCommit, validateFlag, type AccessCredentials } from '../../../util.js'
import { rawJsonBody } from '../../../body.js'

const CREATE = 'com.atproto.repo.applyWrites#create'
const UPDATE = 'com.atproto.repo.applyWrites#update'
const DELETE = 'com.atproto.repo.applyWrites#delete'

export default function (server: Server, ctx: AppContext): void {
  server.method('com.atproto.repo.applyWrites', {
    auth: ctx.auth.accessStandard,
    handler: async ({ auth, req }) => {
      const body = rawJsonBody(req)
      const account = assertWritableRepo(ctx, String(body.repo), auth as AccessCredentials)
      const items = body.writes as Record<string, unknown>[]
      if (items.length > ctx.cfg.maxApplyWrites) {
        throw new InvalidRequestError(`Too many writes: at most ${ctx.cfg.maxApplyWrites} per request`)
      }
      const validate = validateFlag(body.validate)
      const writes: PreparedWrite[] = items.map((w) => {
        const collection = String(w.collection)
        if (w.$type === CREATE || w.$type === UPDATE) {
          const rkey =
            typeof w.rkey === 'string' ? w.rkey : w.$type === CREATE ? newRecordKey(ctx.lexicons, collection) : undefined
          if (rkey === undefined) throw new InvalidRequestError('An update needs an rkey')
          return prepareRecordWrite(ctx.lexicons, {
            did: account.did,
            action: w.$type === CREATE ? 'create' : 'update',
            collection,
            rkey,
            record: w.value,
            validate,
          })
        }
        if (w.$type === DELETE) return prepareDelete({ did: account.did, collection, rkey: String(w.rkey) })
        throw new InvalidRequestError(`Unknown write type: ${String(w.$type)}`)
      })
      const commit = await ctx.repo.commit(account.did, writes, {
        swapCommit: swapCommit(body),
      })
      const results = writes.map((w) =>
        w.action === 'delete'
          ? { $type: 'com.atproto.repo.applyWrites#deleteResult' }
          : {
              $type: w.action === 'create' ? 'com.atproto.repo.applyWrites#createResult' : 'com.atproto.repo.applyWrites#updateResult',
              uri: w.uri,
              cid: w.cid.toString(),
              validationStatus: w.validationStatus,
            },
      )
      return json({ commit: commitMeta(commit), results }, { 'Atproto-Repo-Rev': commit.rev })
    },
  })
}
