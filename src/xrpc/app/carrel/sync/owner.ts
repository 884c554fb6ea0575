import { ForbiddenError, InvalidRequestError } from '@atproto/xrpc-server'
import type { AccountRow } from '../../../../accounts/account-store.js'
import { assertAccountWritable } from '../../../../accounts/status.js'
import type { AppContext } from '../../../../context.js'
import type { AccessCredentials } from '../../../util.js'

/**
 * The caller's own account, for the methods that read or write its private sync state:
 * it must be active (AccountDeactivated, AccountTakedown otherwise).
 */
export function callerAccount(ctx: AppContext, auth: AccessCredentials): AccountRow {
  const account = ctx.accounts.getByDid(auth.credentials.did)
  if (!account) throw new InvalidRequestError(`Could not find repo: ${auth.credentials.did}`, 'RepoNotFound')
  assertAccountWritable(account)
  return account
}

/** A `repo` parameter that must name the caller's own account: another account's private state is never shown. */
export function callerRepo(ctx: AppContext, repo: string, auth: AccessCredentials): AccountRow {
  const account = ctx.accounts.resolveRepo(repo)
  if (!account) throw new InvalidRequestError(`Could not find repo: ${repo}`, 'RepoNotFound')
  if (account.did !== auth.credentials.did) throw new ForbiddenError("Only the account itself may see its devices' private state")
  assertAccountWritable(account)
  return account
}
