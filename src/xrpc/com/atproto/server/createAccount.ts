import { InvalidRequestError } from '@atproto/xrpc-server'
import type { AppContext } from '../../../../context.js'
import type { CreateAccountInput } from '../../../../lifecycle/create-account.js'
import type { XrpcRouter } from '../../../router.js'
import { inputBody, json } from '../../../util.js'

const CREATE_ACCOUNT = 'com.atproto.server.createAccount'

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method(CREATE_ACCOUNT, {
    // an account moving here with its DID sends a service-auth token from that DID's key
    auth: ctx.auth.optionalBearer,
    // per client address, before anything is checked or resolved; kept with the layer switched off
    rateLimit: [{ points: ctx.cfg.createAccountRateLimit.perIp, durationMs: ctx.cfg.createAccountRateLimit.windowMs, always: true }],
    handler: async ({ auth, input }) => {
      const { credentials } = auth
      const requester = async () =>
        credentials.type === 'bearer' ? (await ctx.auth.verifyServiceToken(credentials.token, CREATE_ACCOUNT)).credentials.iss : null
      return json(await ctx.accountCreator.createAccount(inputBody<CreateAccountInput>(input), requester))
    },
    // The lexicon check runs before the handler and answers a malformed handle with a generic
    // InvalidRequest; clients expect InvalidHandle, so rename that one error on this route.
    mapError: (err) => {
      if (err instanceof InvalidRequestError && !err.customErrorName && /^Input\/handle\b/.test(err.errorMessage ?? '')) {
        return new InvalidRequestError(err.errorMessage, 'InvalidHandle')
      }
      return err
    },
  })
}
