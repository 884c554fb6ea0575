import type { Db } from '../db/index.js'

export type RefreshTokenRow = {
  id: string
  did: string
  expires_at: number
  next_id: string | null
  rotated_at: number | null
  /** the app password the session was made with; null = the account's own password */
  app_password_id: string | null
}

/** The refresh_token table. Times are ms since the epoch. */
export class SessionStore {
  private getStmt
  private insertStmt
  private insertIgnoreStmt
  private markRotatedStmt
  private deleteStmt
  private deleteForDidStmt
  private deleteExpiredStmt

  constructor(private db: Db) {
    const s = db.sqlite
    this.getStmt = s.prepare<[string], RefreshTokenRow>('SELECT * FROM refresh_token WHERE id = ?')
    this.insertStmt = s.prepare<[string, string, number, string | null]>(
      'INSERT INTO refresh_token (id, did, expires_at, app_password_id) VALUES (?, ?, ?, ?)',
    )
    this.insertIgnoreStmt = s.prepare<[string, string, number, string | null]>(
      'INSERT OR IGNORE INTO refresh_token (id, did, expires_at, app_password_id) VALUES (?, ?, ?, ?)',
    )
    this.markRotatedStmt = s.prepare<[string, number, string]>(
      'UPDATE refresh_token SET next_id = ?, rotated_at = ? WHERE id = ? AND next_id IS NULL',
    )
    this.deleteStmt = s.prepare<[string]>('DELETE FROM refresh_token WHERE id = ?')
    this.deleteForDidStmt = s.prepare<[string]>('DELETE FROM refresh_token WHERE did = ?')
    this.deleteExpiredStmt = s.prepare<[number, number]>(
      'DELETE FROM refresh_token WHERE expires_at < ? OR (rotated_at IS NOT NULL AND rotated_at < ?)',
    )
  }

  get(id: string): RefreshTokenRow | undefined {
    return this.getStmt.get(id)
  }

  /** call inside a write transaction, or alone; `appPasswordId` = a session made with that app password */
  insert(id: string, did: string, expiresAt: number, appPasswordId: string | null = null): void {
    this.insertStmt.run(id, did, expiresAt, appPasswordId)
  }

  /**
   * Rotate `id` to a successor, atomically. A token that was already rotated keeps its
   * successor (so a client retrying within the grace period gets the same session back). The
   * successor belongs to the same app password, if any. Returns the successor id, or undefined
   * when `id` is unknown.
   */
  rotate(id: string, newId: string, newExpiresAt: number, now: number): string | undefined {
    return this.db.sqlite.transaction(() => {
      const row = this.getStmt.get(id)
      if (!row) return undefined
      // the successor was revoked (logout): do not bring it back through the old token
      if (row.next_id && !this.getStmt.get(row.next_id)) return undefined
      const nextId = row.next_id ?? newId
      if (!row.next_id) this.markRotatedStmt.run(nextId, now, id)
      this.insertIgnoreStmt.run(nextId, row.did, newExpiresAt, row.app_password_id)
      return nextId
    }).immediate()
  }

  revoke(id: string): boolean {
    return this.deleteStmt.run(id).changes > 0
  }

  revokeAllForDid(did: string): void {
    this.deleteForDidStmt.run(did)
  }

  /** drop expired tokens and rotated ones past their grace period */
  purgeExpired(now: number, graceMs: number): number {
    return this.deleteExpiredStmt.run(now, now - graceMs).changes
  }
}
