import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { Db } from '../db/index.js'

/** What an account token authorises; one live token per account and purpose. */
export type AccountTokenPurpose = 'delete_account' | 'plc_operation'

/** How long a token works after it was requested (the reference's 15 minutes). */
export const ACCOUNT_TOKEN_LIFETIME_MS = 15 * 60 * 1000

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'

/** `XXXXX-XXXXX`, 50 random bits, the shape of the reference's emailed tokens. */
function newToken(): string {
  const chars = Array.from(randomBytes(10), (b) => BASE32[b & 31]).join('')
  return `${chars.slice(0, 5)}-${chars.slice(5)}`
}

function hashToken(did: string, purpose: string, token: string): Buffer {
  return createHash('sha256').update(`${did}\u0000${purpose}\u0000${token.trim().toUpperCase()}`).digest()
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
    this.consumeStmt = s.prepare<[string, string, string]>(
      'DELETE FROM account_token WHERE did = ? AND purpose = ? AND token_hash = ?',
    )
  }

  /** A new token for `purpose`, replacing any earlier one; returns it and when it expires. */
  issue(did: string, purpose: AccountTokenPurpose, now = Date.now()): { token: string; expiresAt: number } {
    const token = newToken()
    const expiresAt = now + ACCOUNT_TOKEN_LIFETIME_MS
    this.upsertStmt.run(did, purpose, hashToken(did, purpose, token).toString('base64url'), expiresAt)
    return { token, expiresAt }
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
