import { type Kysely, sql } from 'kysely'

// The Library Manager's sync state (src/indexer/sync/).
//
// sync_change: the changes feed (app.carrel.sync.getChanges). One row per record path that
// exists or was deleted: the latest operation on it, at (rev, idx) = its commit's rev and the
// op's position in that commit. A write moves the row forward, so a page read in (rev, idx)
// order never skips a change that lands while a device pages. `cid` is null for a deletion (a
// tombstone); `created_rev` is the rev that created the record, so that a record created after
// a device's `since` is reported as a create. Tombstones older than the retention are pruned.
//
// sync_change_floor: per repo, the rev after which the feed holds every change (pruning raises
// it). Without a row, the feed has not seen the repo since its rows were last removed.
//
// sync_device_state, sync_settings: private per-account state, never in the public repo.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE TABLE sync_change (
    did TEXT NOT NULL,
    collection TEXT NOT NULL,
    rkey TEXT NOT NULL,
    rev TEXT NOT NULL,
    idx INTEGER NOT NULL,
    cid TEXT,
    created_rev TEXT NOT NULL,
    changed_at INTEGER NOT NULL,
    PRIMARY KEY (did, collection, rkey)
  ) WITHOUT ROWID`.execute(db)
  await sql`CREATE UNIQUE INDEX sync_change_order_idx ON sync_change (did, rev, idx)`.execute(db)
  await sql`CREATE INDEX sync_change_tombstone_idx ON sync_change (did, changed_at) WHERE cid IS NULL`.execute(db)

  await sql`CREATE TABLE sync_change_floor (
    did TEXT PRIMARY KEY,
    rev TEXT NOT NULL
  ) WITHOUT ROWID`.execute(db)

  await sql`CREATE TABLE sync_device_state (
    did TEXT NOT NULL,
    device TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    rev TEXT,
    app_version TEXT,
    PRIMARY KEY (did, device)
  ) WITHOUT ROWID`.execute(db)

  await sql`CREATE TABLE sync_settings (
    did TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    settings TEXT NOT NULL,
    updated_at TEXT NOT NULL
  ) WITHOUT ROWID`.execute(db)

  // repos that exist already: every current record, as created at its own rev; the feed
  // reaches back to the repo's current rev (deletions before it were never logged)
  await sql`INSERT INTO sync_change (did, collection, rkey, rev, idx, cid, created_rev, changed_at)
    SELECT did, collection, rkey, rev, row_number() OVER (PARTITION BY did, rev ORDER BY collection, rkey), cid, rev, ${Date.now()}
    FROM record`.execute(db)
  await sql`INSERT INTO sync_change_floor (did, rev) SELECT did, rev FROM repo_root`.execute(db)
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of ['sync_settings', 'sync_device_state', 'sync_change_floor', 'sync_change']) {
    await db.schema.dropTable(t).execute()
  }
}
