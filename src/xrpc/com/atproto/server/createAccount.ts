import { InvalidRequestError, type Server } from '@atproto/xrpc-server'
import type { ErrorRequestHandler } from 'express'
import { json } from '../../../util.js'
import type { AppContext } from '../../../../context.js'

const NSID = 'com.atproto.server.createAccount'

type Input = { handle: string; email?: string; password?: string; inviteCode?: string; did?: string; plcOp?: unknown }

export default function (server: Server, ctx: AppContext): void {
  server.method(NSID, {
    handler: async ({ input }) => {
      const body = (input as { body: Input }).body
      const out = await ctx.accountManager.createAccount(body)
      return json(out)
    },
  })
  // The lexicon check runs before the handler and answers a malformed handle with a generic
  // InvalidRequest; clients expect InvalidHandle, so rename that one error on this route.
  const renameHandleError: ErrorRequestHandler = (err, _req, _res, next) => {
    if (err instanceof InvalidRequestError && !err.customErrorName && /^Input\/handle\b/.test(err.errorMessage ?? '')) {
      return next(new InvalidRequestError(err.errorMessage, 'InvalidHandle'))
    }
    next(err)
  }
  server.routes.use(`/xrpc/${NSID}`, renameHandleError)
}
