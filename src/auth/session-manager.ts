import { AuthRequiredError, InvalidRequestError } from '@atproto/xrpc-server'
import type { AccountRow, AccountStore } from '../accounts/account-store.js'
import { accountStatus, assertNotTakenDown } from '../accounts/status.js'
import type { Logger } from '../logger.js'
import type { AppPasswordGrant, AppPasswordStore } from './app-password-store.js'
import { burnPasswordCheck, verifyPassword } from './password.js'
import { LoginLimiter, RateLimitedError, type LoginLimits } from './rate-limiter.js'
import type { SessionStore } from './session-store.js'
import { APP_PASS_PRIVILEGED_SCOPE, APP_PASS_SCOPE, FULL_ACCESS, TAKENDOWN_ACCESS, TokenService, type AccessGrant } from './tokens.js'

export type SessionOutput = {
  did: string
  handle: string
  email: string
  emailConfirmed: boolean
  accessJwt: string
  refreshJwt: string
  active: boolean
  status?: 'takendown' | 'suspended' | 'deactivated'
}

const INVALID_LOGIN = 'Invalid identifier or password'
const PURGE_INTERVAL_MS = 60 * 60 * 1000

function grantOf(appPassword: Pick<AppPasswordGrant, 'id' | 'privileged'> | undefined): AccessGrant {
  if (!appPassword) return FULL_ACCESS
  return { scope: appPassword.privileged ? APP_PASS_PRIVILEGED_SCOPE : APP_PASS_SCOPE, appPasswordId: appPassword.id }
}

/**
 * Sessions: login with the account's password or one of its app passwords (rate-limited),
 * refresh-token rotation (a session keeps the scope it was made with), logout.
 */
export class SessionManager {
  private limiter: LoginLimiter
  private lastPurge = 0

  constructor(
    private d: {
      accounts: AccountStore
      sessions: SessionStore
      appPasswords: AppPasswordStore
      tokens: TokenService
      logger: Logger
      loginLimits: LoginLimits
      refreshTokenLifetimeMs: number
      refreshTokenGraceMs: number
    },
  ) {
    this.limiter = new LoginLimiter(d.loginLimits)
  }

  /**
   * Login with a handle, email or DID, from client address `ip`: the account's password gives a
   * full session, one of its app passwords a session scoped to it. A taken-down account: 401
   * AccountTakedown, or with `allowTakendown` a session of the takendown scope (the Bluesky app
   * always asks for it, and shows such an account its appeal).
   */
  async createSession(identifier: string, password: string, ip: string, opts: { allowTakendown?: boolean } = {}): Promise<SessionOutput> {
    const account = this.d.accounts.getByIdentifier(identifier)
    const { ok, appPassword } = await this.checkPassword(account, identifier, password, ip, true)
    if (!account || !ok) throw new AuthRequiredError(INVALID_LOGIN, 'AuthenticationRequired')
    const takenDown = accountStatus(account).status === 'takendown'
    if (!opts.allowTakendown) assertNotTakenDown(account)

    const now = Date.now()
    this.maybePurge(now)
    // a taken-down account (its own password only: app passwords do not open it) gets the narrow
    // scope, and its refresh token is not kept, so the session cannot be refreshed (as in the reference)
    const accessJwt = await this.d.tokens.createAccessToken(account.did, now, takenDown ? TAKENDOWN_ACCESS : grantOf(appPassword))
    const refresh = await this.d.tokens.createRefreshToken(account.did, { now })
    if (!takenDown) this.d.sessions.insert(refresh.id, account.did, refresh.expiresAt, appPassword?.id ?? null)
    return sessionOutput(account, accessJwt, refresh.jwt)
  }

  /**
   * The account's own password (never an app password), through the same failed-login limits as
   * createSession: for methods that take a password themselves (deleteAccount), so that they are
   * no way around those limits. Throws RateLimitExceeded; returns whether it matched.
   */
  async verifyAccountPassword(did: string, password: string, ip: string): Promise<boolean> {
    const account = this.d.accounts.getByDid(did)
    return (await this.checkPassword(account, did, password, ip, false)).ok
  }

  private async checkPassword(
    account: AccountRow | undefined,
    identifier: string,
    password: string,
    ip: string,
    allowAppPassword: boolean,
  ): Promise<{ ok: boolean; appPassword?: AppPasswordGrant }> {
    // one counter per account, however it is named; unknown names count on their own
    const accountKey = account ? account.did : `id:${identifier.trim().toLowerCase()}`
    const attempt = this.limiter.begin(accountKey, ip)
    if ('retryAfterMs' in attempt) throw new RateLimitedError(Math.ceil(attempt.retryAfterMs / 1000), 'Too many failed login attempts; try again later', attempt.status)
    if (!account) {
      await burnPasswordCheck(password)
      return { ok: false }
    }
    if (await verifyPassword(password, account.password_hash)) {
      attempt.succeeded()
      return { ok: true }
    }
    // app passwords do not open a taken-down account (as in the reference)
    if (!allowAppPassword || accountStatus(account).status === 'takendown') return { ok: false }
    const appPassword = this.d.appPasswords.find(account.did, password)
    if (!appPassword) return { ok: false }
    attempt.succeeded()
    return { ok: true, appPassword }
  }

  /** Rotate the refresh token `tokenId` (already verified by AuthVerifier.refresh). */
  async refreshSession(did: string, tokenId: string): Promise<SessionOutput> {
    const account = this.d.accounts.getByDid(did)
    if (!account) throw new InvalidRequestError(`Could not find user info for account: ${did}`)
    assertNotTakenDown(account)
    const now = Date.now()
    const newExpiresAt = now + this.d.refreshTokenLifetimeMs
    const nextId = this.d.sessions.rotate(tokenId, TokenService.newRefreshId(), newExpiresAt, now)
    if (!nextId) throw new InvalidRequestError('Token has been revoked', 'ExpiredToken')
    const stored = this.d.sessions.get(nextId)
    // revoked in between (logout, a revoked app password, a deleted account)
    if (!stored) throw new InvalidRequestError('Token has been revoked', 'ExpiredToken')
    // an app password's session stays one: same scope, and it ends with the password
    let appPassword: { id: string; privileged: boolean } | undefined
    if (stored.app_password_id) {
      const found = this.d.appPasswords.get(stored.app_password_id)
      if (!found || found.did !== did) throw new InvalidRequestError('Token has been revoked', 'ExpiredToken')
      appPassword = { id: stored.app_password_id, privileged: found.privileged }
    }
    const refresh = await this.d.tokens.createRefreshToken(did, {
      id: nextId,
      expiresAt: stored.expires_at,
      now,
    })
    const accessJwt = await this.d.tokens.createAccessToken(did, now, grantOf(appPassword))
    return sessionOutput(account, accessJwt, refresh.jwt)
  }

  /** Logout: the refresh token stops working at once (access tokens run out on their own). */
  deleteSession(tokenId: string): void {
    this.d.sessions.revoke(tokenId)
  }

  getSession(did: string): Omit<SessionOutput, 'accessJwt' | 'refreshJwt'> {
    const account = this.d.accounts.getByDid(did)
    if (!account) throw new InvalidRequestError(`Could not find user info for account: ${did}`)
    const { accessJwt: _a, refreshJwt: _r, ...rest } = sessionOutput(account, '', '')
    return rest
  }

  private maybePurge(now: number): void {
    if (now - this.lastPurge < PURGE_INTERVAL_MS) return
    this.lastPurge = now
    const n = this.d.sessions.purgeExpired(now, this.d.refreshTokenGraceMs)
    if (n > 0) this.d.logger.debug({ purged: n }, 'expired refresh tokens purged')
  }
}

export function sessionOutput(account: AccountRow, accessJwt: string, refreshJwt: string): SessionOutput {
  const status = accountStatus(account)
  const out: SessionOutput = {
    did: account.did,
    handle: account.handle,
    email: account.email,
    emailConfirmed: account.email_confirmed_at !== null,
    accessJwt,
    refreshJwt,
    active: status.active,
  }
  if (status.status === 'takendown' || status.status === 'suspended' || status.status === 'deactivated') {
    out.status = status.status
  }
  return out
}
