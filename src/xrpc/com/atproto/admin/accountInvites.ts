import { InvalidRequestError } from '@atproto/xrpc-server'
import type { AppContext } from '../../../../context.js'
import type { XrpcRouter } from '../../../router.js'
import { inputBody } from '../../../util.js'

/**
 * disableAccountInvites / enableAccountInvites: whether the account earns usable invite codes
 * (getAccountInviteCodes' createAvailable). Codes it already has are not changed.
 */
export default function (server: XrpcRouter, ctx: AppContext): void {
  for (const [nsid, disabled] of [
    ['com.atproto.admin.disableAccountInvites', true],
    ['com.atproto.admin.enableAccountInvites', false],
  ] as const) {
    server.method(nsid, {
      auth: ctx.auth.adminToken,
      handler: ({ input }) => {
        const { account } = inputBody<{ account: string }>(input)
        if (!ctx.accounts.setInvitesDisabled(account, disabled)) {
          throw new InvalidRequestError(`Account not found: ${account}`, 'AccountNotFound')
        }
      },
    })
  }
}
