import type { Db } from '../db/index.js'

/** One preference: an object of a `$type` (app.bsky.actor.defs#...). */
export type Preference = Record<string, unknown> & { $type: string }

/**
 * Each account's Bluesky preferences, private (never in the repo): one JSON array per account in
 * `account_preferences`, in the order they were put. Which of them a session sees and changes is
 * src/lifecycle/preferences.ts's business.
 */
export class PreferencesStore {
  private getStmt
  private putStmt
  private deleteStmt

  constructor(private db: Db) {
    const s = db.sqlite
    this.getStmt = s.prepare<[string], string>('SELECT preferences FROM account_preferences WHERE did = ?').pluck()
    this.putStmt = s.prepare(
      `INSERT INTO account_preferences (did, preferences, updated_at) VALUES (?, ?, ?)
       ON CONFLICT (did) DO UPDATE SET preferences = excluded.preferences, updated_at = excluded.updated_at`,
    )
    this.deleteStmt = s.prepare<[string]>('DELETE FROM account_preferences WHERE did = ?')
  }

  stored(did: string): Preference[] {
    const json = this.getStmt.get(did)
    return json === undefined ? [] : (JSON.parse(json) as Preference[])
  }

  /** Replaces the account's preferences with `change(stored)`, read and written in one transaction. */
  update(did: string, change: (stored: Preference[]) => Preference[]): void {
    // IMMEDIATE: it reads the stored preferences before it writes (see repo/transaction.ts)
    this.db.sqlite
      .transaction(() => {
        this.putStmt.run(did, JSON.stringify(change(this.stored(did))), new Date().toISOString())
      })
      .immediate()
  }

  /** How many preferences the account keeps here (checkAccountStatus's privateStateValues). */
  count(did: string): number {
    return this.stored(did).length
  }

  /** The account is deleted (AccountDeleter's private state). */
  deleteAccountInTx(did: string): void {
    this.deleteStmt.run(did)
  }
}
