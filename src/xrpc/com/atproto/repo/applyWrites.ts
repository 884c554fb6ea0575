import { InvalidRequestError } from '@atproto/xrpc-server'
import type { AppContext } from '../../../../context.js'
import { prepareDelete, prepareRecordWrite } from '../../../../repo/prepare.js'
import type { PreparedWrite } from '../../../../repo/types.js'
import { applyWritesPoints, repoWriteLimits } from '../../../rate-limit/write-points.js'
import type { XrpcRouter } from '../../../router.js'
import { assertWritableRepo, commitMeta, inputBody, json, recordDataErrors, swapCommit, validateFlag } from '../../../util.js'

const CREATE = 'com.atproto.repo.applyWrites#create'
const UPDATE = 'com.atproto.repo.applyWrites#update'
const DELETE = 'com.atproto.repo.applyWrites#delete'

type Write = { $type: string; collection: string; rkey?: string; value?: unknown }
type Input = { repo: string; validate?: boolean; writes: Write[]; swapCommit?: string }

const RESULT_TYPE = {
  create: 'com.atproto.repo.applyWrites#createResult',
  update: 'com.atproto.repo.applyWrites#updateResult',
  delete: 'com.atproto.repo.applyWrites#deleteResult',
} as const

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('com.atproto.repo.applyWrites', {
    auth: ctx.auth.accessStandard,
    rateLimit: repoWriteLimits(applyWritesPoints),
    handler: async ({ auth, input }) => {
      const body = inputBody<Input>(input)
      const account = assertWritableRepo(ctx, body.repo, auth)
      if (body.writes.length > ctx.cfg.maxApplyWrites) {
        throw new InvalidRequestError(`Too many writes: at most ${ctx.cfg.maxApplyWrites} per request`)
      }
      const validate = validateFlag(body.validate)
      const writes: PreparedWrite[] = body.writes.map((w) => {
        if (w.$type === DELETE) return prepareDelete({ did: account.did, collection: w.collection, rkey: String(w.rkey) })
        if (w.$type !== CREATE && w.$type !== UPDATE) throw new InvalidRequestError(`Unknown write type: ${w.$type}`)
        return prepareRecordWrite(ctx.lexicons, {
          did: account.did,
          action: w.$type === CREATE ? 'create' : 'update',
          collection: w.collection,
          rkey: w.rkey,
          record: w.value,
          validate,
        })
      })
      const commit = await ctx.repo.commit(account.did, writes, { swapCommit: swapCommit(body.swapCommit) })
      const results = writes.map((w, i) => {
        const op = commit.ops[i]!
        if (w.action === 'delete') return { $type: RESULT_TYPE.delete }
        return { $type: RESULT_TYPE[op.action], uri: op.uri, cid: op.cid!.toString(), validationStatus: w.validationStatus }
      })
      return json({ commit: commitMeta(commit), results }, { 'Atproto-Repo-Rev': commit.rev })
    },
    mapError: recordDataErrors('writes'),
  })
}
