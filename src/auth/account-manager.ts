import { AuthRequiredError, InvalidRequestError, UpstreamFailureError, XRPCError, ResponseType } from '@atproto/xrpc-server'
import type { Config } from '../config.js'
import type { Db } from '../db/index.js'
import type { Sequencer } from '../firehose/sequencer.js'
import { normalizeAndValidateHandle } from '../identity/handle.js'
import { IdentityService, PlcRequestError } from '../identity/service.js'
import type { Logger } from '../logger.js'
import { SigningKey } from '../repo/signing-key.js'
import { accountStatus, type AccountRow, type AccountStore } from './account-store.js'
import { InviteStore } from './invite-store.js'
import { burnPasswordCheck, hashPassword, MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, verifyPassword } from './password.js'
import { LoginLimiter } from './rate-limiter.js'
import type { SessionStore } from './session-store.js'
import { TokenService } from './tokens.js'

/** The part of the repo write path that account creation needs. */
export type RepoCreator = {
  createRepo(did: string, signingKey: SigningKey, inTx: () => void): Promise<unknown>
}

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

/** 429 with the seconds to wait; the handler copies it into Retry-After. */
export class RateLimitedError extends XRPCError {
  constructor(readonly retryAfterSec: number) {
    super(ResponseType.RateLimitExceeded, 'Too many failed login attempts; try again later', 'RateLimitExceeded')
  }
}

const EMAIL_RE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/
const INVALID_LOGIN = 'Invalid identifier or password'

function isUniqueViolation(err: unknown, column: string): boolean {
  const e = err as { code?: string; message?: string }
  return e?.code === 'SQLITE_CONSTRAINT_UNIQUE' && (e.message ?? '').includes(column)
}

/**
 * Accounts and sessions: account creation (PLC DID + empty repo + account row in one
 * transaction), password login, refresh-token rotation, logout, invite codes.
 */
export class AccountManager {
  private limiter: LoginLimiter
  private lastPurge = 0

  constructor(
    private d: {
      cfg: Config
      db: Db
      logger: Logger
      accounts: AccountStore
      sessions: SessionStore
      invites: InviteStore
      tokens: TokenService
      sequencer: Sequencer
      identity: IdentityService
      repo: RepoCreator
    },
  ) {
    this.limiter = new LoginLimiter(d.cfg.loginRateLimit)
  }

  async createAccount(input: {
    handle: string
    email?: string
    password?: string
    inviteCode?: string
    did?: string
    plcOp?: unknown
  }): Promise<{ did: string; handle: string; accessJwt: string; refreshJwt: string; didDoc: unknown }> {
    const { cfg, accounts } = this.d
    if (input.did !== undefined || input.plcOp !== undefined) {
      throw new InvalidRequestError('Importing an existing DID is not supported by this server')
    }
    const email = (input.email ?? '').trim().toLowerCase()
    if (!email) throw new InvalidRequestError('Email is required')
    if (email.length > 254 || !EMAIL_RE.test(email)) throw new InvalidRequestError('Email address is not valid')
    const password = input.password ?? ''
    if (!password) throw new InvalidRequestError('Password is required')
    if (password.length < MIN_PASSWORD_LENGTH) {
      throw new InvalidRequestError(`Password must be at least ${MIN_PASSWORD_LENGTH} characters`)
    }
    if (password.length > MAX_PASSWORD_LENGTH) throw new InvalidRequestError('Password is too long')
    const handle = normalizeAndValidateHandle(input.handle, cfg.serviceHandleDomains)

    const inviteCode = cfg.inviteRequired ? input.inviteCode?.trim() : undefined
    if (cfg.inviteRequired) {
      if (!inviteCode) throw new InvalidRequestError('No invite code provided', 'InvalidInviteCode')
      if (this.d.invites.check(inviteCode)) {
        throw new InvalidRequestError('Provided invite code not available', 'InvalidInviteCode')
      }
    }
    if (accounts.getByHandle(handle)) throw new InvalidRequestError('Handle already taken', 'HandleNotAvailable')
    if (accounts.getByEmail(email)) throw new InvalidRequestError('Email already taken')

    const passwordHash = await hashPassword(password)
    const signingKey = await SigningKey.generate()
    let did: string
    let didDoc: unknown
    try {
      const created = await this.d.identity.createPlcDid({ handle, signingKeyDid: signingKey.did() })
      did = created.did
      didDoc = IdentityService.didDocFor(did, created.op)
    } catch (err) {
      if (err instanceof PlcRequestError) {
        this.d.logger.warn({ status: err.status, message: err.message }, 'PLC genesis operation failed')
        throw new UpstreamFailureError('Could not create the DID with the PLC directory', 'UpstreamFailure')
      }
      throw err
    }

    const now = Date.now()
    const accessJwt = await this.d.tokens.createAccessToken(did, now)
    const refresh = await this.d.tokens.createRefreshToken(did, { now })

    await this.d.repo.createRepo(did, signingKey, () => {
      try {
        accounts.insert({
          did,
          handle,
          email,
          password_hash: passwordHash,
          signing_key: Buffer.from(signingKey.exportPrivateKey()),
          created_at: new Date(now).toISOString(),
        })
      } catch (err) {
        // lost a race with a concurrent createAccount
        if (isUniqueViolation(err, 'account.handle')) {
          throw new InvalidRequestError('Handle already taken', 'HandleNotAvailable')
        }
        if (isUniqueViolation(err, 'account.email')) throw new InvalidRequestError('Email already taken')
        throw err
      }
      if (inviteCode && this.d.invites.useInTx(inviteCode, did)) {
        throw new InvalidRequestError('Provided invite code not available', 'InvalidInviteCode')
      }
      this.d.sessions.insert(refresh.id, did, refresh.expiresAt)
      this.d.sequencer.appendIdentityInTx(did, handle)
      this.d.sequencer.appendAccountInTx(did, true)
    })
    this.d.logger.info({ did, handle }, 'account created')
    return { did, handle, accessJwt, refreshJwt: refresh.jwt, didDoc }
  }

  /** Password login with a handle, email or DID. `ip` feeds the per-IP failure limit. */
  async createSession(identifier: string, password: string, ip: string): Promise<SessionOutput> {
    const account = this.d.accounts.getByIdentifier(identifier)
    // one counter per account, however it is named; unknown names count on their own
    const limitKey = account ? account.did : `id:${identifier.trim().toLowerCase()}`
    const waitMs = this.limiter.retryAfterMs(limitKey, ip)
    if (waitMs > 0) throw new RateLimitedError(Math.ceil(waitMs / 1000))

    const ok = account ? await verifyPassword(password, account.password_hash) : (await burnPasswordCheck(password), false)
    if (!account || !ok) {
      this.limiter.recordFailure(limitKey, ip)
      throw new AuthRequiredError(INVALID_LOGIN, 'AuthenticationRequired')
    }
    this.limiter.recordSuccess(limitKey)
    const status = accountStatus(account)
    if (status.status === 'takendown') throw new AuthRequiredError('Account has been taken down', 'AccountTakedown')

    const now = Date.now()
    this.maybePurge(now)
    const accessJwt = await this.d.tokens.createAccessToken(account.did, now)
    const refresh = await this.d.tokens.createRefreshToken(account.did, { now })
    this.d.sessions.insert(refresh.id, account.did, refresh.expiresAt)
    return this.sessionOutput(account, accessJwt, refresh.jwt)
  }

  /** Rotate the refresh token `tokenId` (already verified by AuthVerifier.refresh). */
  async refreshSession(did: string, tokenId: string): Promise<SessionOutput> {
    const account = this.d.accounts.getByDid(did)
    if (!account) throw new InvalidRequestError(`Could not find user info for account: ${did}`)
    if (accountStatus(account).status === 'takendown') {
      throw new AuthRequiredError('Account has been taken down', 'AccountTakedown')
    }
    const now = Date.now()
    const newExpiresAt = now + this.d.cfg.refreshTokenLifetimeMs
    const nextId = this.d.sessions.rotate(tokenId, TokenService.newRefreshId(), newExpiresAt, now)
    if (!nextId) throw new InvalidRequestError('Token has been revoked', 'ExpiredToken')
    const stored = this.d.sessions.get(nextId)
    const refresh = await this.d.tokens.createRefreshToken(did, {
      id: nextId,
      expiresAt: stored?.expires_at ?? newExpiresAt,
      now,
    })
    const accessJwt = await this.d.tokens.createAccessToken(did, now)
    return this.sessionOutput(account, accessJwt, refresh.jwt)
  }

  /** Logout: the refresh token stops working at once (access tokens run out on their own). */
  deleteSession(tokenId: string): void {
    this.d.sessions.revoke(tokenId)
  }

  getSession(did: string): Omit<SessionOutput, 'accessJwt' | 'refreshJwt'> {
    const account = this.d.accounts.getByDid(did)
    if (!account) throw new InvalidRequestError(`Could not find user info for account: ${did}`)
    const { accessJwt: _a, refreshJwt: _r, ...rest } = this.sessionOutput(account, '', '')
    return rest
  }

  createInviteCode(useCount: number, forAccount = 'admin'): string {
    if (!Number.isSafeInteger(useCount) || useCount < 1) throw new InvalidRequestError('useCount must be at least 1')
    const code = InviteStore.generateCode(this.d.cfg.hostname)
    this.d.invites.create({ code, useCount, forAccount, createdBy: 'admin' })
    return code
  }

  private sessionOutput(account: AccountRow, accessJwt: string, refreshJwt: string): SessionOutput {
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

  private maybePurge(now: number): void {
    if (now - this.lastPurge < 60 * 60 * 1000) return
    this.lastPurge = now
    const n = this.d.sessions.purgeExpired(now, this.d.cfg.refreshTokenGraceMs)
    if (n > 0) this.d.logger.debug({ purged: n }, 'expired refresh tokens purged')
  }
}
