import { InvalidRequestError } from '@atproto/xrpc-server'
import type { AppContext } from '../../../../context.js'
import type { XrpcRouter } from '../../../router.js'
import { inputBody } from '../../../util.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('com.atproto.admin.disableInviteCodes', {
    auth: ctx.auth.adminToken,
    handler: ({ input }) => {
      const { codes = [], accounts = [] } = inputBody<{ codes?: string[]; accounts?: string[] }>(input)
      // "admin" owns every code the admin made for no account in particular (the reference refuses it too)
      if (accounts.includes('admin')) throw new InvalidRequestError('cannot disable admin invite codes')
      ctx.invites.disable({ codes, accounts })
    },
  })
}
