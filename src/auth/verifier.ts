import { createHash, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { AuthRequiredError, ForbiddenError, InvalidRequestError } from '@atproto/xrpc-server'
import type { AccountStore } from '../accounts/account-store.js'
import type { AppPasswordStore } from './app-password-store.js'
import { verifyServiceJwt } from './service-auth.js'
import type { SessionStore } from './session-store.js'
import { ACCESS_SCOPE, APP_PASS_PRIVILEGED_SCOPE, APP_PASS_SCOPE, TAKENDOWN_SCOPE, TokenError, type AccessScope, type TokenService } from './tokens.js'

/**
 * An access token's holder. `scope` is `com.atproto.access` for a session made with the account's
 * own password, `com.atproto.appPassPrivileged` / `com.atproto.appPass` for one made with an app
 * password (`appPasswordId`).
 */
export type AccessOutput = { credentials: { type: 'access'; did: string; scope: AccessScope; appPasswordId?: string } }
export type NoneOutput = { credentials: { type: 'none' } }
export type RefreshOutput = { credentials: { type: 'refresh'; did: string; tokenId: string } }
export type AdminOutput = { credentials: { type: 'admin' } }
/** A Bearer token as sent, not verified yet. */
export type BearerOutput = { credentials: { type: 'bearer'; token: string } }
/** A verified service-auth token: `iss` (an account's DID) made it for this server and one method. */
export type ServiceOutput = { credentials: { type: 'service'; iss: string; aud: string; lxm: string } }

/** What xrpc-server hands an `auth:` function (only req/res are used here). */
type ReqCtx = { req: IncomingMessage; res?: ServerResponse }

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest()
}

function authMissing(ctx: ReqCtx, scheme: string): never {
  ctx.res?.setHeader('WWW-Authenticate', scheme)
  throw new AuthRequiredError('Authentication Required', 'AuthMissing')
}

function tokenError(err: unknown): never {
  if (err instanceof TokenError) {
    if (err.reason === 'expired') throw new InvalidRequestError(err.message, 'ExpiredToken')
    throw new InvalidRequestError(err.message, 'InvalidToken')
  }
  throw err
}

/** Access levels, as the reference names them: which scopes each one lets in. */
const FULL: readonly AccessScope[] = [ACCESS_SCOPE]
const PRIVILEGED: readonly AccessScope[] = [ACCESS_SCOPE, APP_PASS_PRIVILEGED_SCOPE]
const STANDARD: readonly AccessScope[] = [ACCESS_SCOPE, APP_PASS_PRIVILEGED_SCOPE, APP_PASS_SCOPE]
const STANDARD_OR_TAKENDOWN: readonly AccessScope[] = [...STANDARD, TAKENDOWN_SCOPE]
const FULL_OR_TAKENDOWN: readonly AccessScope[] = [ACCESS_SCOPE, TAKENDOWN_SCOPE]

/**
 * The auth functions XRPC methods use as `auth:`. Each is a bound arrow property, so
 * `auth: ctx.auth.accessStandard` works as is. Access tokens come in three levels:
 * - `accessStandard`: any session, including one made with an app password (records, blobs...);
 * - `accessPrivileged`: the account's own password or a privileged app password (methods that
 *   touch sensitive account state, e.g. service auth for privileged methods);
 * - `accessFull`: the account's own password only (app passwords, handle, email, PLC operations,
 *   deactivation, deletion).
 *
 * Errors: no credentials -> 401 AuthMissing; expired or revoked token (a revoked app password's
 * sessions included) -> 400 ExpiredToken; anything else wrong with a token (garbage, forged,
 * wrong typ/aud, or a scope below the method's level, as the reference answers) -> 400
 * InvalidToken; a token of an account that no longer exists -> 403 AccountNotFound.
 */
export class AuthVerifier {
  private adminSecretHash: Buffer

  constructor(
    private opts: {
      tokens: TokenService
      sessions: SessionStore
      accounts: AccountStore
      appPasswords: AppPasswordStore
      adminPassword: string
      refreshGraceMs: number
      /** this server's DID: the audience service-auth tokens made for it name */
      serviceDid: string
      /** the `#atproto` key (did:key) of a DID's document, for service-auth tokens it issued */
      signingKeyOf: (did: string) => Promise<string>
    },
  ) {
    this.adminSecretHash = sha256(`admin:${opts.adminPassword}`)
  }

  /** Any access JWT (legacy session), an app password's included. */
  accessStandard = (ctx: ReqCtx): Promise<AccessOutput> => this.access(ctx, STANDARD)

  /** An access JWT of the account's own password or of a privileged app password. */
  accessPrivileged = (ctx: ReqCtx): Promise<AccessOutput> => this.access(ctx, PRIVILEGED)

  /** An access JWT of the account's own password: no app password. */
  accessFull = (ctx: ReqCtx): Promise<AccessOutput> => this.access(ctx, FULL)

  /**
   * Any access JWT, or the narrow one of a taken-down account's session (`com.atproto.takendown`,
   * which every other level refuses as the reference does): for what such an account may still
   * do: appeal (createReport), read its preferences, export its repo (`accountOrAdminOptional`)
   * and sign the PLC operation that moves it away (`accessFullOrTakendown`).
   */
  accessStandardOrTakendown = (ctx: ReqCtx): Promise<AccessOutput> => this.access(ctx, STANDARD_OR_TAKENDOWN)

  /** The account's own password, or a taken-down account's narrow session: the PLC signing a move away needs. */
  accessFullOrTakendown = (ctx: ReqCtx): Promise<AccessOutput> => this.access(ctx, FULL_OR_TAKENDOWN)

  /**
   * The token's HMAC is checked once per token text (TokenService caches it); then a cached
   * account lookup, and for an app password's token one primary-key lookup, so that revoking the
   * app password or deleting the account ends its sessions at once.
   */
  private async access(ctx: ReqCtx, level: readonly AccessScope[]): Promise<AccessOutput> {
    const token = this.bearer(ctx)
    const verified = await this.opts.tokens.verify(token, 'access').catch(tokenError)
    const scope = verified.scope as AccessScope
    const { appPasswordId, did } = verified
    if (appPasswordId !== undefined && !this.opts.appPasswords.isLive(appPasswordId, did)) {
      throw new InvalidRequestError('Token has been revoked', 'ExpiredToken')
    }
    if (!level.includes(scope)) throw new InvalidRequestError('Bad token scope', 'InvalidToken')
    const account = this.opts.accounts.getByDid(did)
    if (!account) throw new ForbiddenError('Account not found', 'AccountNotFound')
    // a password change ends the access tokens issued before it, not only the sessions
    if (account.access_valid_from !== null && verified.iat < account.access_valid_from) {
      throw new InvalidRequestError('Token has been revoked', 'ExpiredToken')
    }
    return { credentials: appPasswordId === undefined ? { type: 'access', did, scope } : { type: 'access', did, scope, appPasswordId } }
  }

  /**
   * For the exports of a repo (getRepo, getBlob, listBlobs): nothing (anyone), an access JWT of
   * any scope, the narrow one of a taken-down account's session included, or the admin's Basic
   * credentials. What is sent must be valid; the handler decides what the caller may read.
   */
  accountOrAdminOptional = async (ctx: ReqCtx): Promise<AccessOutput | AdminOutput | NoneOutput> => {
    const header = ctx.req.headers.authorization
    if (!header) return { credentials: { type: 'none' } }
    if (/^basic\s/i.test(header)) return this.adminToken(ctx)
    return this.access(ctx, STANDARD_OR_TAKENDOWN)
  }

  /** An access JWT if one is sent (and then it must be valid), else `{type: 'none'}`. */
  optionalAccess = async (ctx: ReqCtx): Promise<AccessOutput | NoneOutput> => {
    if (!ctx.req.headers.authorization) return { credentials: { type: 'none' } }
    return this.accessStandard(ctx)
  }

  /**
   * The Bearer token sent, unverified, or `{type: 'none'}`: for createAccount, which verifies it
   * as a service-auth token (`verifyServiceToken`) only when it needs one (an account arriving
   * with its DID), after its per-IP limit, so that a token cannot make us resolve DIDs unlimited.
   */
  optionalBearer = (ctx: ReqCtx): BearerOutput | NoneOutput => {
    const header = ctx.req.headers.authorization
    const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null
    return match ? { credentials: { type: 'bearer', token: match[1]! } } : { credentials: { type: 'none' } }
  }

  /**
   * A service-auth JWT made for this server and method `lxm` (verifyServiceJwt: 401 BadJwt...,
   * JwtExpired...). Its issuer must be an account DID, not a `did#service` reference; its key is
   * the one that DID's document names now.
   */
  verifyServiceToken = async (token: string, lxm: string): Promise<ServiceOutput> => {
    const claims = await verifyServiceJwt(token, {
      aud: this.opts.serviceDid,
      lxm,
      signingKeyOf: (iss) => {
        if (iss.includes('#')) throw new AuthRequiredError('jwt iss must be an account DID', 'BadJwtIss')
        return this.opts.signingKeyOf(iss)
      },
    })
    return { credentials: { type: 'service', iss: claims.iss, aud: claims.aud, lxm } }
  }

  /** A refresh JWT that has not been revoked, nor rotated longer ago than the grace period. */
  refresh = async (ctx: ReqCtx): Promise<RefreshOutput> => {
    const token = this.bearer(ctx)
    const verified = await this.opts.tokens.verify(token, 'refresh').catch(tokenError)
    const tokenId = verified.jti!
    const row = this.opts.sessions.get(tokenId)
    const now = Date.now()
    if (!row) throw new InvalidRequestError('Token has been revoked', 'ExpiredToken')
    if (row.did !== verified.did) throw new InvalidRequestError('Token could not be verified', 'InvalidToken')
    if (row.expires_at <= now) throw new InvalidRequestError('Token has expired', 'ExpiredToken')
    if (row.rotated_at !== null && now - row.rotated_at > this.opts.refreshGraceMs) {
      throw new InvalidRequestError('Token has been revoked', 'ExpiredToken')
    }
    return { credentials: { type: 'refresh', did: verified.did, tokenId } }
  }

  /** HTTP Basic `admin:<PDS_ADMIN_PASSWORD>`. */
  adminToken = async (ctx: ReqCtx): Promise<AdminOutput> => {
    const header = ctx.req.headers.authorization
    if (!header) authMissing(ctx, 'Basic realm="admin"')
    const [scheme, value] = header.split(' ', 2)
    if (scheme.toLowerCase() !== 'basic' || !value) authMissing(ctx, 'Basic realm="admin"')
    const decoded = Buffer.from(value.trim(), 'base64').toString('utf8')
    if (!timingSafeEqual(sha256(decoded), this.adminSecretHash)) {
      ctx.res?.setHeader('WWW-Authenticate', 'Basic realm="admin"')
      throw new AuthRequiredError('Invalid admin credentials', 'AuthenticationRequired')
    }
    return { credentials: { type: 'admin' } }
  }

  private bearer(ctx: ReqCtx): string {
    const header = ctx.req.headers.authorization
    if (!header) authMissing(ctx, 'Bearer')
    const match = /^Bearer\s+(.*)$/i.exec(header)
    if (!match) authMissing(ctx, 'Bearer')
    const token = match[1].trim()
    if (!token) throw new InvalidRequestError('Token could not be verified', 'InvalidToken')
    return token
  }
}
