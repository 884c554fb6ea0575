import { InvalidRequestError } from '@atproto/xrpc-server'
import type { XrpcServer } from '../../../dispatch.js'
import { json } from '../../../util.js'
import type { AppContext } from '../../../../context.js'

const NSID = 'com.atproto.server.createAccount'

type Input = { handle: string; email?: string; password?: string; inviteCode?: string; did?: string; plcOp?: unknown }

export default function (server: XrpcServer, ctx: AppContext): void {
  server.method(NSID, {
    handler: async ({ input }) => {
      const body = (input as { body: Input }).body
      const out = await ctx.accountManager.createAccount(body)
      return json(out)
    },
  })
  // The lexicon check runs before the handler and answers a malformed handle with a generic
  // InvalidRequest; clients expect InvalidHandle, so rename that one error on this route.
  server.mapErrors(NSID, (err) => {
    if (err instanceof InvalidRequestError && !err.customErrorName && /^Input\/handle\b/.test(err.errorMessage ?? '')) {
      return new InvalidRequestError(err.errorMessage, 'InvalidHandle')
    }
    return err
  })
}
