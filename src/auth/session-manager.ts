import { AuthRequiredError, InvalidRequestError } from '@atproto/xrpc-server'
import type { AccountRow, AccountStore } from '../accounts/account-store.js'
import { accountStatus } from '../accounts/status.js'
import type { Logger } from '../logger.js'
import { burnPasswordCheck, verifyPassword } from './password.js'
import { LoginLimiter, RateLimitedError, type LoginLimits } from './rate-limiter.js'
import type { SessionStore } from './session-store.js'
import { TokenService } from './tokens.js'

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

/** Sessions: password login (rate-limited), refresh-token rotation, logout. */
export class SessionManager {
  private limiter: LoginLimiter
  private lastPurge = 0

  constructor(
    private d: {
      accounts: AccountStore
      sessions: SessionStore
      tokens: TokenService
      logger: Logger
      loginLimits: LoginLimits
      refreshTokenLifetimeMs: number
      refreshTokenGraceMs: number
    },
  ) {
    this.limiter = new LoginLimiter(d.loginLimits)
  }

  /** Password login with a handle, email or DID, from client address `ip`. */
  async createSession(identifier: string, password: string, ip: string): Promise<SessionOutput> {
    const account = this.d.accounts.getByIdentifier(identifier)
    // one counter per account, however it is named; unknown names count on their own
    const accountKey = account ? account.did : `id:${identifier.trim().toLowerCase()}`
    const attempt = this.limiter.begin(accountKey, ip)
    if ('retryAfterMs' in attempt) throw new RateLimitedError(Math.ceil(attempt.retryAfterMs / 1000), 'Too many failed login attempts; try again later')

    const ok = account ? await verifyPassword(password, account.password_hash) : (await burnPasswordCheck(password), false)
    if (!account || !ok) throw new AuthRequiredError(INVALID_LOGIN, 'AuthenticationRequired')
    attempt.succeeded()
    if (accountStatus(account).status === 'takendown') throw new AuthRequiredError('Account has been taken down', 'AccountTakedown')

    const now = Date.now()
    this.maybePurge(now)
    const accessJwt = await this.d.tokens.createAccessToken(account.did, now)
    const refresh = await this.d.tokens.createRefreshToken(account.did, { now })
    this.d.sessions.insert(refresh.id, account.did, refresh.expiresAt)
    return sessionOutput(account, accessJwt, refresh.jwt)
  }

  /** Rotate the refresh token `tokenId` (already verified by AuthVerifier.refresh). */
  async refreshSession(did: string, tokenId: string): Promise<SessionOutput> {
    const account = this.d.accounts.getByDid(did)
    if (!account) throw new InvalidRequestError(`Could not find user info for account: ${did}`)
    if (accountStatus(account).status === 'takendown') {
      throw new AuthRequiredError('Account has been taken down', 'AccountTakedown')
    }
    const now = Date.now()
    const newExpiresAt = now + this.d.refreshTokenLifetimeMs
    const nextId = this.d.sessions.rotate(tokenId, TokenService.newRefreshId(), newExpiresAt, now)
    if (!nextId) throw new InvalidRequestError('Token has been revoked', 'ExpiredToken')
    const stored = this.d.sessions.get(nextId)
    const refresh = await this.d.tokens.createRefreshToken(did, {
      id: nextId,
      expiresAt: stored?.expires_at ?? newExpiresAt,
      now,
    })
    const accessJwt = await this.d.tokens.createAccessToken(did, now)
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
    emailConfirmed: false,
    accessJwt,
    refreshJwt,
    active: status.active,
  }
  if (status.status === 'takendown' || status.status === 'suspended' || status.status === 'deactivated') {
    out.status = status.status
  }
  return out
}
