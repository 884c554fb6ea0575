import { InvalidRequestError } from '@atproto/xrpc-server'
import type { AppContext } from '../../../../context.js'
import { changeAccountStatus } from '../../../../lifecycle/admin-account-status.js'
import type { StatusAttr } from '../../../../lifecycle/takedown.js'
import type { XrpcRouter } from '../../../router.js'
import { inputBody, plainJson } from '../../../util.js'
import { recordPath, REPO_BLOB_REF, REPO_REF, STRONG_REF } from './subject.js'

type Subject = { $type?: string; did?: string; uri?: string; cid?: string }
type Input = { subject: Subject; takedown?: StatusAttr; deactivated?: StatusAttr }

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('com.atproto.admin.updateSubjectStatus', {
    auth: ctx.auth.adminToken,
    handler: async ({ input }) => {
      const { subject, takedown, deactivated } = inputBody<Input>(input)
      switch (subject.$type) {
        case REPO_REF:
          await changeAccountStatus(ctx, subject.did!, { takedown, deactivated })
          break
        case STRONG_REF: {
          const path = recordPath(ctx, subject.uri!)
          if (!path) throw new InvalidRequestError(`Account not found: ${subject.uri}`, 'AccountNotFound')
          if (takedown?.applied) ctx.takedowns.takeDownRecord(path, subject.cid!, takedown.ref)
          else if (takedown) ctx.takedowns.liftRecordTakedown(path)
          break
        }
        case REPO_BLOB_REF:
          if (takedown?.applied) ctx.takedowns.takeDownBlob(subject.did!, subject.cid!, takedown.ref)
          else if (takedown) ctx.takedowns.liftBlobTakedown(subject.did!, subject.cid!)
          break
        default:
          throw new InvalidRequestError(`Invalid subject (${subject.$type})`)
      }
      return plainJson({ subject, ...(takedown ? { takedown } : {}) })
    },
  })
}
