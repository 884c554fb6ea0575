import { createHash, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { AuthRequiredError, InvalidRequestError } from '@atproto/xrpc-server'
import type { SessionStore } from './session-store.js'
import { TokenError, type TokenService } from './tokens.js'

export type AccessOutput = { credentials: { type: 'access'; did: string } }
export type NoneOutput = { credentials: { type: 'none' } }
export type RefreshOutput = { credentials: { type: 'refresh'; did: string; tokenId: string } }
export type AdminOutput = { credentials: { type: 'admin' } }

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

/**
 * The auth functions XRPC methods use as `auth:`. Each is a bound arrow property, so
 * `auth: ctx.auth.accessStandard` works as is.
 *
 * Errors: no credentials -> 401 AuthMissing; expired or revoked token -> 400 ExpiredToken;
 * anything else wrong with a token (garbage, forged, wrong typ/scope/aud) -> 400 InvalidToken.
 */
export class AuthVerifier {
  private adminSecretHash: Buffer

  constructor(
    private opts: {
      tokens: TokenService
      sessions: SessionStore
      adminPassword: string
      refreshGraceMs: number
    },
  ) {
    this.adminSecretHash = sha256(`admin:${opts.adminPassword}`)
  }

  /** A required access JWT (legacy session). No database access. */
  accessStandard = async (ctx: ReqCtx): Promise<AccessOutput> => {
    const token = this.bearer(ctx)
    const verified = await this.opts.tokens.verify(token, 'access').catch(tokenError)
    return { credentials: { type: 'access', did: verified.did } }
  }

  /** An access JWT if one is sent (and then it must be valid), else `{type: 'none'}`. */
  optionalAccess = async (ctx: ReqCtx): Promise<AccessOutput | NoneOutput> => {
    if (!ctx.req.headers.authorization) return { credentials: { type: 'none' } }
    return this.accessStandard(ctx)
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
