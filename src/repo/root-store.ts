import type { Db } from '../db/index.js'

export type RepoRoot = { did: string; cid: string; rev: string; data_cid: string; updated_at: string }

/** The repo_root table: each repository's current signed commit. */
export class RootStore {
  private getStmt
  private upsertStmt
  private listStmt
  private deleteStmt

  constructor(db: Db) {
    this.getStmt = db.sqlite.prepare<[string], RepoRoot>('SELECT * FROM repo_root WHERE did = ?')
    this.upsertStmt = db.sqlite.prepare(
      `INSERT INTO repo_root (did, cid, rev, data_cid, updated_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (did) DO UPDATE SET cid = excluded.cid, rev = excluded.rev, data_cid = excluded.data_cid,
         updated_at = excluded.updated_at`,
    )
    this.listStmt = db.sqlite.prepare<[string, number], RepoRoot>(
      'SELECT * FROM repo_root WHERE did > ? ORDER BY did ASC LIMIT ?',
    )
    this.deleteStmt = db.sqlite.prepare<[string]>('DELETE FROM repo_root WHERE did = ?')
  }

  /** inside a write transaction */
  delete(did: string): void {
    this.deleteStmt.run(did)
  }

  get(did: string): RepoRoot | undefined {
    return this.getStmt.get(did)
  }

  /** inside a write transaction */
  set(did: string, cid: string, rev: string, dataCid: string, now: string): void {
    this.upsertStmt.run(did, cid, rev, dataCid, now)
  }

  /** repos in DID order after `cursor` */
  list(limit: number, cursor = ''): RepoRoot[] {
    return this.listStmt.all(cursor, limit)
  }
}
