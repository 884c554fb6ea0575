import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { Db } from '../db/index.js'

/** What an account token authorises; one live token per account and purpose. */
export type AccountTokenPurpose = 'delete_account' | 'plc_operation' | 'confirm_email' | 'update_email' | 'reset_password'

/**
 * Purposes whose token is presented without the account (resetPassword takes only the token):
 * hashed without the DID, so that `findDid` can look it up by its hash.
 */
const FOUND_BY_TOKEN: ReadonlySet<AccountTokenPurpose> = new Set(['reset_password'])

/** How long a token works after it was requested (the reference's 15 minutes). */
export const ACCOUNT_TOKEN_LIFETIME_MS = 15 * 60 * 1000

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'

/** `XXXXX-XXXXX`, 50 random bits, the shape of the reference's emailed tokens. */
function newToken(): string {
  const chars = Array.from(randomBytes(10), (b) => BASE32[b & 31]).join('')
  return `${chars.slice(0, 5)}-${chars.slice(5)}`
}

function hashToken(did: string, purpose: AccountTokenPurpose, token: string): Buffer {
  const key = FOUND_BY_TOKEN.has(purpose) ? '' : did
  return createHash('sha256').update(`${key}\u0000${purpose}\u0000${token.trim().toUpperCase()}`).digest()
}

export type TokenCheck = 'valid' | 'invalid' | 'expired'

/**
 * The account_token table: single-use tokens a user must present to confirm an action, sent
 * out of band (mail, once there is mail; until then the operator's outbox). Only a hash is
 * stored, so the database alone never lets anyone act on an account.
 */
export class AccountTokenStore {
  private upsertStmt
  private getStmt
  private deleteAllStmt
  private consumeStmt
  private byHashStmt

  constructor(db: Db) {
    const s = db.sqlite
    this.upsertStmt = s.prepare<[string, string, string, number]>(
      `INSERT INTO account_token (did, purpose, token_hash, expires_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (did, purpose) DO UPDATE SET token_hash = excluded.token_hash, expires_at = excluded.expires_at`,
    )
    this.getStmt = s.prepare<[string, string], { token_hash: string; expires_at: number }>(
      'SELECT token_hash, expires_at FROM account_token WHERE did = ? AND purpose = ?',
    )
    this.deleteAllStmt = s.prepare<[string]>('DELETE FROM account_token WHERE did = ?')
    this.byHashStmt = s.prepare<[string, string], { did: string; expires_at: number }>(
      'SELECT did, expires_at FROM account_token WHERE purpose = ? AND token_hash = ?',
    )
    this.consumeStmt = s.prepare<[string, string, string]>(
      'DELETE FROM account_token WHERE did = ? AND purpose = ? AND token_hash = ?',
    )
  }

  /** A new token and its expiry, not stored yet: `save` it once it has reached its holder. */
  static mint(now = Date.now()): { token: string; expiresAt: number } {
    return { token: newToken(), expiresAt: now + ACCOUNT_TOKEN_LIFETIME_MS }
  }

  /** Stores a minted token for `purpose`, replacing any earlier one. */
  save(did: string, purpose: AccountTokenPurpose, minted: { token: string; expiresAt: number }): void {
    this.upsertStmt.run(did, purpose, hashToken(did, purpose, minted.token).toString('base64url'), minted.expiresAt)
  }

  /**
   * The account a token of a FOUND_BY_TOKEN purpose belongs to, and whether it is still good;
   * undefined: no such token.
   */
  findDid(purpose: AccountTokenPurpose, token: string, now = Date.now()): { did: string; check: 'valid' | 'expired' } | undefined {
    if (!FOUND_BY_TOKEN.has(purpose)) throw new Error(`${purpose} tokens are checked with their account`)
    const row = this.byHashStmt.get(purpose, hashToken('', purpose, token).toString('base64url'))
    if (!row) return undefined
    return { did: row.did, check: row.expires_at > now ? 'valid' : 'expired' }
  }

  /** Consumes nothing; an expired token stays expired until a new one replaces it. */
  check(did: string, purpose: AccountTokenPurpose, token: string, now = Date.now()): TokenCheck {
    const row = this.getStmt.get(did, purpose)
    if (!row) return 'invalid'
    const stored = Buffer.from(row.token_hash, 'base64url')
    const given = hashToken(did, purpose, token)
    if (stored.length !== given.length || !timingSafeEqual(stored, given)) return 'invalid'
    return row.expires_at > now ? 'valid' : 'expired'
  }

  /** Uses `token` up; false when it was already used or replaced meanwhile. */
  consume(did: string, purpose: AccountTokenPurpose, token: string): boolean {
    return this.consumeStmt.run(did, purpose, hashToken(did, purpose, token).toString('base64url')).changes === 1
  }

  /** call inside the account deletion's write transaction */
  deleteAllForDid(did: string): void {
    this.deleteAllStmt.run(did)
  }
}
