import { createHash, randomInt } from 'node:crypto'
import { InvalidRequestError } from '@atproto/xrpc-server'
import type { Db } from '../db/index.js'

/** How long a PLC operation token can be used (the reference's email tokens live as long). */
export const PLC_TOKEN_LIFETIME_MS = 15 * 60_000

// RFC 4648 base32 letters: no 0/1/8/9, nothing to misread when typing it from a mail
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'

/** `XXXXX-XXXXX`: 50 random bits, the reference's shape for tokens a person types. */
function newToken(): string {
  let out = ''
  for (let i = 0; i < 10; i++) {
    if (i === 5) out += '-'
    out += ALPHABET[randomInt(ALPHABET.length)]
  }
  return out
}

function hashOf(token: string): Buffer {
  return createHash('sha256').update(token.trim().toUpperCase()).digest()
}

type TokenRow = { token_hash: Buffer; expires_at: number }

/**
 * The tokens of the PLC operation flow: one live token per account, stored only as its hash.
 * A new request replaces the account's earlier token; a token is used once.
 */
export class PlcTokenStore {
  private putStmt
  private getStmt
  private consumeStmt
  private deleteStmt

  constructor(db: Db) {
    const s = db.sqlite
    this.putStmt = s.prepare<[string, Buffer, number]>(
      `INSERT INTO plc_operation_token (did, token_hash, expires_at) VALUES (?, ?, ?)
       ON CONFLICT (did) DO UPDATE SET token_hash = excluded.token_hash, expires_at = excluded.expires_at`,
    )
    this.getStmt = s.prepare<[string], TokenRow>('SELECT token_hash, expires_at FROM plc_operation_token WHERE did = ?')
    this.consumeStmt = s.prepare<[string, Buffer]>('DELETE FROM plc_operation_token WHERE did = ? AND token_hash = ?')
    this.deleteStmt = s.prepare<[string]>('DELETE FROM plc_operation_token WHERE did = ?')
  }

  /** A new token for `did` (its earlier one no longer works). */
  issue(did: string, now = Date.now()): { token: string; expiresAt: number } {
    const token = newToken()
    const expiresAt = now + PLC_TOKEN_LIFETIME_MS
    this.putStmt.run(did, hashOf(token), expiresAt)
    return { token, expiresAt }
  }

  /**
   * Throws InvalidToken (none, or another one); 'expired' for the account's token past its
   * expiry (then forgotten), 'valid' otherwise. Consumes nothing.
   */
  check(did: string, token: string, now = Date.now()): 'valid' | 'expired' {
    const row = this.getStmt.get(did)
    if (!row || !row.token_hash.equals(hashOf(token))) throw new InvalidRequestError('Token is invalid', 'InvalidToken')
    if (row.expires_at > now) return 'valid'
    this.deleteStmt.run(did)
    return 'expired'
  }

  /** Uses the token up; false when it was already used (or replaced) meanwhile. */
  consume(did: string, token: string): boolean {
    return this.consumeStmt.run(did, hashOf(token)).changes === 1
  }
}
