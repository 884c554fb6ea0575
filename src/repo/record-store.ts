import type { Db } from '../db/index.js'

export type RecordRow = { did: string; collection: string; rkey: string; cid: string; rev: string; indexed_at: string }

/** The record table: the current (collection, rkey) -> CID index of every repo. */
export class RecordStore {
  private getStmt
  private upsertStmt
  private deleteStmt
  private collectionsStmt
  private cidInUseStmt
  private listAsc
  private listDesc
  private countStmt
  private deleteRepoStmt

  constructor(db: Db) {
    const s = db.sqlite
    this.getStmt = s.prepare<[string, string, string], RecordRow>(
      'SELECT * FROM record WHERE did = ? AND collection = ? AND rkey = ?',
    )
    this.upsertStmt = s.prepare(
      `INSERT INTO record (did, collection, rkey, cid, rev, indexed_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (did, collection, rkey) DO UPDATE SET cid = excluded.cid, rev = excluded.rev, indexed_at = excluded.indexed_at`,
    )
    this.deleteStmt = s.prepare('DELETE FROM record WHERE did = ? AND collection = ? AND rkey = ?')
    this.collectionsStmt = s.prepare<[{ did: string }], { collection: string }>(
      // skip-scan over the primary key: one probe per distinct collection
      `WITH RECURSIVE c(name) AS (
         SELECT MIN(collection) FROM record WHERE did = @did
         UNION ALL
         SELECT (SELECT MIN(collection) FROM record WHERE did = @did AND collection > c.name) FROM c WHERE c.name IS NOT NULL
       ) SELECT name AS collection FROM c WHERE name IS NOT NULL`,
    )
    this.cidInUseStmt = s.prepare<[string, string], { one: number }>(
      'SELECT 1 AS one FROM record WHERE did = ? AND cid = ? LIMIT 1',
    )
    this.listAsc = s.prepare<[string, string, string, number], RecordRow>(
      'SELECT * FROM record WHERE did = ? AND collection = ? AND rkey > ? ORDER BY rkey ASC LIMIT ?',
    )
    this.listDesc = s.prepare<[string, string, string, number], RecordRow>(
      'SELECT * FROM record WHERE did = ? AND collection = ? AND rkey < ? ORDER BY rkey DESC LIMIT ?',
    )
    this.countStmt = s.prepare<[string], number>('SELECT count(*) FROM record WHERE did = ?').pluck()
    this.deleteRepoStmt = s.prepare<[string]>('DELETE FROM record WHERE did = ?')
  }

  count(did: string): number {
    return this.countStmt.get(did) ?? 0
  }

  /** inside a write transaction: every record row of the repo */
  deleteRepo(did: string): void {
    this.deleteRepoStmt.run(did)
  }

  get(did: string, collection: string, rkey: string): RecordRow | undefined {
    return this.getStmt.get(did, collection, rkey)
  }

  /**
   * Newest first by default (rkeys are TIDs, so descending rkey order is newest first, as the
   * reference answers); `reverse` gives oldest first. The cursor is the last rkey returned.
   */
  list(did: string, collection: string, opts: { limit: number; cursor?: string; reverse?: boolean }): RecordRow[] {
    if (opts.reverse) return this.listAsc.all(did, collection, opts.cursor ?? '', opts.limit)
    return this.listDesc.all(did, collection, opts.cursor ?? '\u{10FFFF}', opts.limit)
  }

  collections(did: string): string[] {
    return this.collectionsStmt.all({ did }).map((r) => r.collection)
  }

  /** inside a write transaction */
  put(did: string, collection: string, rkey: string, cid: string, rev: string, now: string): void {
    this.upsertStmt.run(did, collection, rkey, cid, rev, now)
  }

  /** inside a write transaction */
  delete(did: string, collection: string, rkey: string): void {
    this.deleteStmt.run(did, collection, rkey)
  }

  isCidInUse(did: string, cid: string): boolean {
    return this.cidInUseStmt.get(did, cid) !== undefined
  }
}
