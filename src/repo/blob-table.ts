import type { Db } from '../db/index.js'

export type BlobRow = {
  did: string
  cid: string
  mime_type: string
  size: number
  status: 'temp' | 'permanent'
  created_at: string
}

/** The blob and record_blob tables. */
export class BlobTable {
  private getStmt
  private upsertTempStmt
  private markPermanentStmt
  private deleteStmt
  private refsOfRecordStmt
  private deleteRefsOfRecordStmt
  private insertRefStmt
  private isReferencedStmt
  private listAllStmt
  private listSinceStmt
  private listMissingStmt
  private expiredTempStmt
  private deleteTempStmt
  private deleteRepoBlobsStmt
  private deleteRepoRefsStmt
  private countReferencedStmt
  private countReferencedStoredStmt
  private totalBytesStmt

  constructor(private db: Db) {
    const s = db.sqlite
    this.getStmt = s.prepare<[string, string], BlobRow>('SELECT * FROM blob WHERE did = ? AND cid = ?')
    this.totalBytesStmt = s.prepare<[], number | null>('SELECT SUM(size) FROM blob').pluck()
    // a re-upload refreshes a temporary blob's clock (and its type); a permanent one stays as it is
    this.upsertTempStmt = s.prepare(
      `INSERT INTO blob (did, cid, mime_type, size, status, created_at) VALUES (?, ?, ?, ?, 'temp', ?)
       ON CONFLICT (did, cid) DO UPDATE SET mime_type = excluded.mime_type, created_at = excluded.created_at
       WHERE blob.status = 'temp'`,
    )
    this.markPermanentStmt = s.prepare(`UPDATE blob SET status = 'permanent' WHERE did = ? AND cid = ?`)
    this.deleteStmt = s.prepare('DELETE FROM blob WHERE did = ? AND cid = ?')
    this.refsOfRecordStmt = s.prepare<[string, string], { blob_cid: string }>(
      'SELECT blob_cid FROM record_blob WHERE did = ? AND record_uri = ?',
    )
    this.deleteRefsOfRecordStmt = s.prepare('DELETE FROM record_blob WHERE did = ? AND record_uri = ?')
    this.insertRefStmt = s.prepare(
      'INSERT OR IGNORE INTO record_blob (did, record_uri, blob_cid, rev) VALUES (?, ?, ?, ?)',
    )
    this.isReferencedStmt = s.prepare<[string, string], { one: number }>(
      'SELECT 1 AS one FROM record_blob WHERE did = ? AND blob_cid = ? LIMIT 1',
    )
    this.listAllStmt = s.prepare<[string, string, number], { cid: string }>(
      `SELECT cid FROM blob WHERE did = ? AND status = 'permanent' AND cid > ? ORDER BY cid ASC LIMIT ?`,
    )
    this.listSinceStmt = s.prepare<[string, string, string, number], { cid: string }>(
      `SELECT DISTINCT rb.blob_cid AS cid FROM record_blob rb
       JOIN blob b ON b.did = rb.did AND b.cid = rb.blob_cid AND b.status = 'permanent'
       WHERE rb.did = ? AND rb.rev > ? AND rb.blob_cid > ? ORDER BY rb.blob_cid ASC LIMIT ?`,
    )
    this.listMissingStmt = s.prepare<[string, string, number], { cid: string; record_uri: string }>(
      `SELECT rb.blob_cid AS cid, MIN(rb.record_uri) AS record_uri FROM record_blob rb
       LEFT JOIN blob b ON b.did = rb.did AND b.cid = rb.blob_cid AND b.status = 'permanent'
       WHERE rb.did = ? AND b.cid IS NULL AND rb.blob_cid > ?
       GROUP BY rb.blob_cid ORDER BY rb.blob_cid ASC LIMIT ?`,
    )
    this.expiredTempStmt = s.prepare<[string, number], { did: string; cid: string }>(
      `SELECT did, cid FROM blob WHERE status = 'temp' AND created_at < ? LIMIT ?`,
    )
    this.deleteTempStmt = s.prepare(`DELETE FROM blob WHERE did = ? AND cid = ? AND status = 'temp'`)
    this.deleteRepoBlobsStmt = s.prepare<[string]>('DELETE FROM blob WHERE did = ?')
    this.deleteRepoRefsStmt = s.prepare<[string]>('DELETE FROM record_blob WHERE did = ?')
    this.countReferencedStmt = s.prepare<[string], number>('SELECT count(DISTINCT blob_cid) FROM record_blob WHERE did = ?').pluck()
    this.countReferencedStoredStmt = s.prepare<[string], number>(
      `SELECT count(*) FROM blob b WHERE b.did = ? AND b.status = 'permanent' AND EXISTS
         (SELECT 1 FROM record_blob rb WHERE rb.did = b.did AND rb.blob_cid = b.cid)`,
    ).pluck()
  }

  /** inside a write transaction: every blob row and blob reference of the repo */
  deleteRepo(did: string): void {
    this.deleteRepoRefsStmt.run(did)
    this.deleteRepoBlobsStmt.run(did)
  }

  /** distinct blobs the repo's records reference */
  countReferenced(did: string): number {
    return this.countReferencedStmt.get(did) ?? 0
  }

  /** of those, how many are stored (what listMissing does not list) */
  countReferencedStored(did: string): number {
    return this.countReferencedStoredStmt.get(did) ?? 0
  }

  get(did: string, cid: string): BlobRow | undefined {
    return this.getStmt.get(did, cid)
  }

  /** Record a finished upload (temporary unless the blob is already permanent); returns the row. */
  upsertTemp(did: string, cid: string, mimeType: string, size: number, now: string): BlobRow {
    this.upsertTempStmt.run(did, cid, mimeType, size, now)
    return this.get(did, cid)!
  }

  /** inside a write transaction; false if the row is gone (swept meanwhile) */
  markPermanent(did: string, cid: string): boolean {
    return this.markPermanentStmt.run(did, cid).changes === 1
  }

  /** inside a write transaction */
  delete(did: string, cid: string): void {
    this.deleteStmt.run(did, cid)
  }

  /** inside a write transaction: forget what a record referenced, returning it */
  takeRefsOfRecord(did: string, recordUri: string): string[] {
    const cids = this.refsOfRecordStmt.all(did, recordUri).map((r) => r.blob_cid)
    if (cids.length > 0) this.deleteRefsOfRecordStmt.run(did, recordUri)
    return cids
  }

  /** inside a write transaction */
  addRef(did: string, recordUri: string, cid: string, rev: string): void {
    this.insertRefStmt.run(did, recordUri, cid, rev)
  }

  isReferenced(did: string, cid: string): boolean {
    return this.isReferencedStmt.get(did, cid) !== undefined
  }

  /** permanent blobs in CID order after `cursor`; with `since`, only those referenced by records written after that rev */
  listPermanent(did: string, opts: { since?: string; cursor?: string; limit: number }): string[] {
    const rows = opts.since
      ? this.listSinceStmt.all(did, opts.since, opts.cursor ?? '', opts.limit)
      : this.listAllStmt.all(did, opts.cursor ?? '', opts.limit)
    return rows.map((r) => r.cid)
  }

  /** blobs referenced by the repo's records that are not stored, in CID order after `cursor` */
  listMissing(did: string, opts: { cursor?: string; limit: number }): { cid: string; recordUri: string }[] {
    return this.listMissingStmt.all(did, opts.cursor ?? '', opts.limit).map((r) => ({ cid: r.cid, recordUri: r.record_uri }))
  }

  /**
   * Delete up to `limit` temporary rows created before `cutoff`, in one transaction; returns them.
   * IMMEDIATE: it reads before it writes (see repo/transaction.ts).
   */
  takeExpiredTemp(cutoff: string, limit: number): { did: string; cid: string }[] {
    return this.db.sqlite
      .transaction(() => {
        const rows = this.expiredTempStmt.all(cutoff, limit)
        for (const r of rows) this.deleteTempStmt.run(r.did, r.cid)
        return rows
      })
      .immediate()
  }

  /**
   * Bytes of every blob stored (a row per stored file: temporary uploads and permanent blobs),
   * for the metrics. One scan of the blob table's rows.
   */
  totalBytes(): number {
    return this.totalBytesStmt.get() ?? 0
  }
}
