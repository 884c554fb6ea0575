import { createHash, randomBytes } from 'node:crypto'
import type { Db } from '../db/index.js'

export type AppPasswordRow = {
  id: string
  did: string
  name: string
  password_hash: string
  privileged: number
  created_at: string
}

/** An app password as a session sees it. */
export type AppPasswordGrant = { id: string; name: string; privileged: boolean }

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567'

/**
 * A new secret in the reference's shape, `xxxx-xxxx-xxxx-xxxx` (clients recognise it): 16
 * base32 characters, 80 random bits.
 */
export function newAppPasswordSecret(): string {
  const chars = Array.from(randomBytes(16), (b) => BASE32[b & 31]).join('')
  return `${chars.slice(0, 4)}-${chars.slice(4, 8)}-${chars.slice(8, 12)}-${chars.slice(12, 16)}`
}

/**
 * The stored form of an app password: SHA-256 salted with the DID. The secret is 80 random bits
 * chosen by the server, so a slow hash would add nothing against a stolen database (2^80
 * guesses) and would cost every app-password login a second scrypt; a deterministic hash also
 * lets a login find its password with one indexed lookup.
 */
export function hashAppPassword(did: string, secret: string): string {
  return createHash('sha256').update(did).update('\u0000').update(secret).digest('base64url')
}

/** The app_password table, and the sessions that belong to an app password. */
export class AppPasswordStore {
  private insertStmt
  private byNameStmt
  private byHashStmt
  private byIdStmt
  private listStmt
  private deleteStmt
  private deleteSessionsStmt
  private deleteAllStmt

  constructor(private db: Db) {
    const s = db.sqlite
    this.insertStmt = s.prepare(
      `INSERT INTO app_password (id, did, name, password_hash, privileged, created_at)
       VALUES (@id, @did, @name, @password_hash, @privileged, @created_at)`,
    )
    this.byNameStmt = s.prepare<[string, string], AppPasswordRow>('SELECT * FROM app_password WHERE did = ? AND name = ?')
    this.byHashStmt = s.prepare<[string, string], AppPasswordRow>('SELECT * FROM app_password WHERE did = ? AND password_hash = ?')
    this.byIdStmt = s.prepare<[string], { did: string; privileged: number }>('SELECT did, privileged FROM app_password WHERE id = ?')
    this.listStmt = s.prepare<[string], AppPasswordRow>('SELECT * FROM app_password WHERE did = ? ORDER BY created_at DESC, name ASC')
    this.deleteStmt = s.prepare<[string]>('DELETE FROM app_password WHERE id = ?')
    this.deleteSessionsStmt = s.prepare<[string]>('DELETE FROM refresh_token WHERE app_password_id = ?')
    this.deleteAllStmt = s.prepare<[string]>('DELETE FROM app_password WHERE did = ?')
  }

  /** Stores a new app password; false when the account already has one of that name. */
  insert(row: AppPasswordRow): boolean {
    if (this.byNameStmt.get(row.did, row.name)) return false
    try {
      this.insertStmt.run(row)
      return true
    } catch (err) {
      // a concurrent create of the same name
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') return false
      throw err
    }
  }

  list(did: string): AppPasswordRow[] {
    return this.listStmt.all(did)
  }

  /** The app password whose secret this is, or undefined. */
  find(did: string, secret: string): AppPasswordGrant | undefined {
    const row = this.byHashStmt.get(did, hashAppPassword(did, secret))
    return row ? { id: row.id, name: row.name, privileged: row.privileged === 1 } : undefined
  }

  /** Whether app password `id` of `did` still exists (one primary-key lookup). */
  isLive(id: string, did: string): boolean {
    return this.byIdStmt.get(id)?.did === did
  }

  get(id: string): { did: string; privileged: boolean } | undefined {
    const row = this.byIdStmt.get(id)
    return row ? { did: row.did, privileged: row.privileged === 1 } : undefined
  }

  /** The app password and every refresh token made with it, together; false if there was none. */
  revoke(did: string, name: string): boolean {
    return this.db.sqlite.transaction(() => {
      const row = this.byNameStmt.get(did, name)
      if (!row) return false
      this.deleteSessionsStmt.run(row.id)
      this.deleteStmt.run(row.id)
      return true
    }).immediate()
  }

  /** call inside the account deletion's write transaction */
  deleteAllForDid(did: string): void {
    this.deleteAllStmt.run(did)
  }
}
