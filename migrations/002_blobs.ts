import { type Kysely, sql } from 'kysely'

// Blobs (uploaded files) and which records reference them.
//
// A blob row is created by uploadBlob with status 'temp'. The bytes are stored under their
// content address at upload time; the commit that first references the blob flips the row to
// 'permanent' in the commit's own transaction. Temporary rows older than the grace period are
// swept (row, then file). When the last record referencing a blob goes away, its row is deleted
// in the commit's transaction and the file after COMMIT.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE TABLE blob (
    did TEXT NOT NULL,
    cid TEXT NOT NULL,
    mime_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('temp', 'permanent')),
    created_at TEXT NOT NULL,
    PRIMARY KEY (did, cid)
  ) WITHOUT ROWID`.execute(db)
  await sql`CREATE INDEX blob_temp_idx ON blob (status, created_at)`.execute(db)

  // `rev` = the commit that wrote this reference (listBlobs?since=)
  await sql`CREATE TABLE record_blob (
    did TEXT NOT NULL,
    record_uri TEXT NOT NULL,
    blob_cid TEXT NOT NULL,
    rev TEXT NOT NULL,
    PRIMARY KEY (did, record_uri, blob_cid)
  ) WITHOUT ROWID`.execute(db)
  await sql`CREATE INDEX record_blob_cid_idx ON record_blob (did, blob_cid)`.execute(db)
  await sql`CREATE INDEX record_blob_rev_idx ON record_blob (did, rev)`.execute(db)
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('record_blob').execute()
  await db.schema.dropTable('blob').execute()
}
