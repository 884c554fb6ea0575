import { InvalidRequestError } from '@atproto/xrpc-server'
import type { AccountStore } from '../accounts/account-store.js'
import { accountStatus } from '../accounts/status.js'
import { isServiceAudience, signServiceJwt } from '../auth/service-auth.js'
import { isPrivilegedMethod, isProtectedMethod } from '../auth/service-methods.js'
import { ACCESS_SCOPE, APP_PASS_PRIVILEGED_SCOPE, type AccessScope } from '../auth/tokens.js'
import type { RepoService } from '../repo/service.js'

const MINUTE_SEC = 60
const HOUR_SEC = 60 * MINUTE_SEC
const CREATE_ACCOUNT = 'com.atproto.server.createAccount'

export type ServiceAuthRequest = { aud: string; exp?: number; lxm?: string }

/**
 * com.atproto.server.getServiceAuth: a service-auth token for the caller's account, signed with
 * its repo signing key, under the reference's rules: `aud` an atproto DID or `did#serviceId`;
 * `exp` (seconds since the epoch) not past and at most an hour ahead, at most a minute for a
 * token good for any method (no `lxm`); never for an account-management method; for a privileged
 * method (createAccount, chat) only from a session of the password or a privileged app password;
 * a taken-down account only for createAccount (to move elsewhere).
 */
export async function issueServiceAuthToken(
  d: { accounts: AccountStore; repo: RepoService },
  caller: { did: string; scope: AccessScope },
  req: ServiceAuthRequest,
): Promise<string> {
  const { aud, exp, lxm } = req
  if (!isServiceAudience(aud)) throw new InvalidRequestError('aud must be a valid atproto DID or did#serviceId reference')
  const account = d.accounts.getByDid(caller.did)
  if (account && accountStatus(account).status === 'takendown' && lxm !== CREATE_ACCOUNT) {
    throw new InvalidRequestError('Bad token scope', 'InvalidToken')
  }
  if (lxm !== undefined && isPrivilegedMethod(lxm) && caller.scope !== ACCESS_SCOPE && caller.scope !== APP_PASS_PRIVILEGED_SCOPE) {
    throw new InvalidRequestError(`insufficient access to request a service auth token for the following method: ${lxm}`)
  }
  if (exp !== undefined) {
    const ahead = exp - Date.now() / 1000
    if (ahead < 0) throw new InvalidRequestError('expiration is in past', 'BadExpiration')
    if (ahead > HOUR_SEC) {
      throw new InvalidRequestError('cannot request a token with an expiration more than an hour in the future', 'BadExpiration')
    }
    if (lxm === undefined && ahead > MINUTE_SEC) {
      throw new InvalidRequestError('cannot request a method-less token with an expiration more than a minute in the future', 'BadExpiration')
    }
  }
  if (lxm !== undefined && isProtectedMethod(lxm)) {
    throw new InvalidRequestError(`cannot request a service auth token for the following protected method: ${lxm}`)
  }
  const key = await d.repo.signingKey(caller.did)
  return signServiceJwt({ iss: caller.did, aud, lxm: lxm ?? null, exp, key })
}
