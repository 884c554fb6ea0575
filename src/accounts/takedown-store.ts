import type { Db } from '../db/index.js'

export type RecordTakedown = { cid: string; ref: string; created_at: string }
export type BlobTakedown = { ref: string; created_at: string }

/**
 * The record_takedown and blob_takedown tables: single records and blobs the host took down
 * (an account's own takedown is `account.takedown_ref`). Whether something is served is decided
 * in status.ts; this store only knows the rows.
 *
 * Every getRecord, listRecords and getBlob asks, and almost no repo has a takedown: the DIDs
 * that have any are kept in memory, so that the others cost a set lookup rather than a query
 * (bench/takedowns.ts: 0.01 µs against 10-13 µs for the query). The sets may name a DID whose takedowns are gone (a transaction that
 * rolled back, an account deleted), never miss one: a DID is added as soon as a row is written,
 * and dropped only when a lift outside any transaction leaves it none.
 */
export class TakedownStore {
  private didsWithRecords: Set<string>
  private didsWithBlobs: Set<string>
  private recordCountStmt
  private blobCountStmt
  private recordStmt
  private recordPathsStmt
  private putRecordStmt
  private liftRecordStmt
  private blobStmt
  private putBlobStmt
  private liftBlobStmt
  private deleteRecordsOfDidStmt
  private deleteBlobsOfDidStmt

  constructor(private db: Db) {
    const s = db.sqlite
    this.didsWithRecords = new Set(s.prepare<[], string>('SELECT DISTINCT did FROM record_takedown').pluck().all())
    this.didsWithBlobs = new Set(s.prepare<[], string>('SELECT DISTINCT did FROM blob_takedown').pluck().all())
    this.recordCountStmt = s.prepare<[string], number>('SELECT count(*) FROM record_takedown WHERE did = ?').pluck()
    this.blobCountStmt = s.prepare<[string], number>('SELECT count(*) FROM blob_takedown WHERE did = ?').pluck()
    this.recordStmt = s.prepare<[string, string, string], RecordTakedown>(
      'SELECT cid, ref, created_at FROM record_takedown WHERE did = ? AND collection = ? AND rkey = ?',
    )
    this.recordPathsStmt = s.prepare<[string], string>(`SELECT collection || '/' || rkey FROM record_takedown WHERE did = ?`).pluck()
    this.putRecordStmt = s.prepare<[string, string, string, string, string, string]>(
      `INSERT INTO record_takedown (did, collection, rkey, cid, ref, created_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (did, collection, rkey) DO UPDATE SET cid = excluded.cid, ref = excluded.ref`,
    )
    this.liftRecordStmt = s.prepare<[string, string, string]>('DELETE FROM record_takedown WHERE did = ? AND collection = ? AND rkey = ?')
    this.blobStmt = s.prepare<[string, string], BlobTakedown>('SELECT ref, created_at FROM blob_takedown WHERE did = ? AND cid = ?')
    this.putBlobStmt = s.prepare<[string, string, string, string]>(
      `INSERT INTO blob_takedown (did, cid, ref, created_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (did, cid) DO UPDATE SET ref = excluded.ref`,
    )
    this.liftBlobStmt = s.prepare<[string, string]>('DELETE FROM blob_takedown WHERE did = ? AND cid = ?')
    this.deleteRecordsOfDidStmt = s.prepare<[string]>('DELETE FROM record_takedown WHERE did = ?')
    this.deleteBlobsOfDidStmt = s.prepare<[string]>('DELETE FROM blob_takedown WHERE did = ?')
  }

  record(did: string, collection: string, rkey: string): RecordTakedown | undefined {
    if (!this.didsWithRecords.has(did)) return undefined
    return this.recordStmt.get(did, collection, rkey)
  }

  /** Whether the host took the record's path down (an in-memory set lookup for most repos). */
  isRecordTakenDown = (did: string, collection: string, rkey: string): boolean => this.record(did, collection, rkey) !== undefined

  /** `collection/rkey` of every record of the repo taken down (almost always none). */
  recordPathsOf(did: string): string[] {
    if (!this.didsWithRecords.has(did)) return []
    return this.recordPathsStmt.all(did)
  }

  takeDownRecord(did: string, collection: string, rkey: string, cid: string, ref: string): void {
    this.didsWithRecords.add(did)
    this.putRecordStmt.run(did, collection, rkey, cid, ref, new Date().toISOString())
  }

  /** call inside a transaction that also changes the indexes; forgetDidIfNone once it committed */
  liftRecord(did: string, collection: string, rkey: string): boolean {
    return this.liftRecordStmt.run(did, collection, rkey).changes > 0
  }

  /** Outside a transaction (one that may still roll back): the DID leaves the set once it has no record takedown. */
  forgetDidIfNone(did: string): void {
    if (!this.db.sqlite.inTransaction && this.recordCountStmt.get(did) === 0) this.didsWithRecords.delete(did)
  }

  blob(did: string, cid: string): BlobTakedown | undefined {
    if (!this.didsWithBlobs.has(did)) return undefined
    return this.blobStmt.get(did, cid)
  }

  takeDownBlob(did: string, cid: string, ref: string): void {
    this.didsWithBlobs.add(did)
    this.putBlobStmt.run(did, cid, ref, new Date().toISOString())
  }

  liftBlob(did: string, cid: string): boolean {
    const lifted = this.liftBlobStmt.run(did, cid).changes > 0
    if (!this.db.sqlite.inTransaction && this.blobCountStmt.get(did) === 0) this.didsWithBlobs.delete(did)
    return lifted
  }

  /** Inside the account deletion's transaction (an import keeps them: the records stay hidden). */
  deleteAccountInTx(did: string): void {
    this.deleteRecordsOfDidStmt.run(did)
    this.deleteBlobsOfDidStmt.run(did)
  }
}
