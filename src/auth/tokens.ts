import { randomBytes, webcrypto } from 'node:crypto'
import { errors as joseErrors, jwtVerify, SignJWT, type JWTPayload } from 'jose'

export const ACCESS_TYP = 'at+jwt'
export const REFRESH_TYP = 'refresh+jwt'
export const ACCESS_SCOPE = 'com.atproto.access'
export const REFRESH_SCOPE = 'com.atproto.refresh'
/** access tokens of sessions made with an app password (the reference's scopes) */
export const APP_PASS_SCOPE = 'com.atproto.appPass'
export const APP_PASS_PRIVILEGED_SCOPE = 'com.atproto.appPassPrivileged'

/**
 * the narrow access token of a taken-down account's session (createSession with
 * `allowTakendown`): only the few methods that accept it (an appeal through createReport...)
 */
export const TAKENDOWN_SCOPE = 'com.atproto.takendown'

export type AccessScope = typeof ACCESS_SCOPE | typeof APP_PASS_SCOPE | typeof APP_PASS_PRIVILEGED_SCOPE | typeof TAKENDOWN_SCOPE
const ACCESS_SCOPES: readonly string[] = [ACCESS_SCOPE, APP_PASS_PRIVILEGED_SCOPE, APP_PASS_SCOPE, TAKENDOWN_SCOPE]

/**
 * What an access token grants: the account's own password (`com.atproto.access`), the app
 * password `appPasswordId` (its scope says whether it is privileged), or a taken-down account's
 * narrow session (`com.atproto.takendown`).
 */
export type AccessGrant =
  | { scope: typeof ACCESS_SCOPE | typeof TAKENDOWN_SCOPE }
  | { scope: typeof APP_PASS_SCOPE | typeof APP_PASS_PRIVILEGED_SCOPE; appPasswordId: string }

export const FULL_ACCESS: AccessGrant = { scope: ACCESS_SCOPE }
export const TAKENDOWN_ACCESS: AccessGrant = { scope: TAKENDOWN_SCOPE }

/** Claim naming the app password an access token was issued for (Carrel's own). */
const APP_PASSWORD_CLAIM = 'app_password_id'

export type TokenKind = 'access' | 'refresh'

export type VerifiedToken = { did: string; scope: string; jti?: string; iat: number; exp: number; appPasswordId?: string }

/** Why a token was refused: the verifier maps these to XRPC errors. */
export class TokenError extends Error {
  constructor(
    readonly reason: 'expired' | 'invalid',
    message: string,
  ) {
    super(message)
  }
}

export type IssuedRefresh = { jwt: string; id: string; expiresAt: number }

/**
 * Session JWTs: HS256 with the server secret. The HMAC key is imported once; verifying an
 * access token touches no database.
 */
export class TokenService {
  private key: Promise<webcrypto.CryptoKey>
  /**
   * Tokens already verified, by their exact text: a client sends the same access token on
   * every request, and re-checking its HMAC through WebCrypto cost ~0.3 ms a request.
   * Expiry is still checked on every use.
   */
  private verified = new Map<string, VerifiedToken & { kind: TokenKind }>()
  private static MAX_VERIFIED = 10_000

  constructor(
    secret: string,
    private opts: { serviceDid: string; accessLifetimeMs: number; refreshLifetimeMs: number },
  ) {
    this.key = webcrypto.subtle.importKey(
      'raw',
      new TextEncoder().encode(secret),
      { name: 'HMAC', hash: 'SHA-256' },
      false,
      ['sign', 'verify'],
    )
  }

  static newRefreshId(): string {
    return randomBytes(32).toString('base64url')
  }

  async createAccessToken(did: string, now = Date.now(), grant: AccessGrant = FULL_ACCESS): Promise<string> {
    const claims = 'appPasswordId' in grant ? { scope: grant.scope, [APP_PASSWORD_CLAIM]: grant.appPasswordId } : { scope: grant.scope }
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', typ: ACCESS_TYP })
      .setSubject(did)
      .setAudience(this.opts.serviceDid)
      .setIssuedAt(Math.floor(now / 1000))
      .setExpirationTime(Math.floor((now + this.opts.accessLifetimeMs) / 1000))
      .sign(await this.key)
  }

  /** A new refresh token; pass `id`/`expiresAt` to re-issue one that is already stored. */
  async createRefreshToken(
    did: string,
    opts: { id?: string; expiresAt?: number; now?: number } = {},
  ): Promise<IssuedRefresh> {
    const now = opts.now ?? Date.now()
    const id = opts.id ?? TokenService.newRefreshId()
    const expiresAt = opts.expiresAt ?? now + this.opts.refreshLifetimeMs
    const jwt = await new SignJWT({ scope: REFRESH_SCOPE })
      .setProtectedHeader({ alg: 'HS256', typ: REFRESH_TYP })
      .setSubject(did)
      .setAudience(this.opts.serviceDid)
      .setJti(id)
      .setIssuedAt(Math.floor(now / 1000))
      .setExpirationTime(Math.floor(expiresAt / 1000))
      .sign(await this.key)
    return { jwt, id, expiresAt }
  }

  /** Throws TokenError('expired' | 'invalid'). */
  async verify(jwt: string, kind: TokenKind): Promise<VerifiedToken> {
    const known = this.verified.get(jwt)
    if (known && known.kind === kind) {
      if (known.exp * 1000 <= Date.now()) {
        this.verified.delete(jwt)
        throw new TokenError('expired', 'Token has expired')
      }
      return { did: known.did, scope: known.scope, jti: known.jti, iat: known.iat, exp: known.exp, appPasswordId: known.appPasswordId }
    }
    const result = await this.verifyUncached(jwt, kind)
    if (this.verified.size >= TokenService.MAX_VERIFIED) {
      this.verified.delete(this.verified.keys().next().value!)
    }
    this.verified.set(jwt, { ...result, kind })
    return result
  }

  private async verifyUncached(jwt: string, kind: TokenKind): Promise<VerifiedToken> {
    let payload: JWTPayload
    try {
      const res = await jwtVerify(jwt, await this.key, {
        algorithms: ['HS256'],
        typ: kind === 'access' ? ACCESS_TYP : REFRESH_TYP,
        audience: this.opts.serviceDid,
        requiredClaims: ['sub', 'exp', 'iat'],
      })
      payload = res.payload
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) throw new TokenError('expired', 'Token has expired')
      throw new TokenError('invalid', 'Token could not be verified')
    }
    const scope = payload.scope
    if (typeof scope !== 'string' || !(kind === 'access' ? ACCESS_SCOPES.includes(scope) : scope === REFRESH_SCOPE)) {
      throw new TokenError('invalid', 'Bad token scope')
    }
    const did = payload.sub
    if (typeof did !== 'string' || !did.startsWith('did:')) throw new TokenError('invalid', 'Malformed token')
    if (kind === 'refresh' && (typeof payload.jti !== 'string' || payload.jti.length === 0)) {
      throw new TokenError('invalid', 'Malformed token')
    }
    // an app-password scope names its app password, and only such a scope does
    const appPasswordId = payload[APP_PASSWORD_CLAIM]
    const isAppPass = scope === APP_PASS_SCOPE || scope === APP_PASS_PRIVILEGED_SCOPE
    if (isAppPass ? typeof appPasswordId !== 'string' || appPasswordId === '' : appPasswordId !== undefined) {
      throw new TokenError('invalid', 'Malformed token')
    }
    return { did, scope, jti: payload.jti, iat: payload.iat as number, exp: payload.exp as number, ...(isAppPass ? { appPasswordId: appPasswordId as string } : {}) }
  }
}
