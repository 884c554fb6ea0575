import { type Kysely, sql } from 'kysely'

// App updates (src/indexer/updates): query tables for app.carrel.update.release and
// app.carrel.update.install records, written in each commit's transaction by a commit hook and
// rebuilt from the repos by reindex, plus one private key. update_index_state starts empty: the
// server then builds the tables from the records already in the repos at its next start.
export async function up(db: Kysely<unknown>): Promise<void> {
  // One row per valid release (did = the publisher). version_key sorts as the semver package orders
  // versions (src/indexer/updates/semver.ts), so that "newer than the device's version" is one index range.
  await sql`CREATE TABLE update_release (
    did TEXT NOT NULL,
    rkey TEXT NOT NULL,
    cid TEXT NOT NULL,
    product TEXT NOT NULL,
    version TEXT NOT NULL,
    version_key TEXT NOT NULL,
    prerelease INTEGER NOT NULL,
    channel TEXT NOT NULL,
    update_type TEXT NOT NULL,
    priority INTEGER NOT NULL,
    rollout_percent INTEGER NOT NULL,
    rollback_supported INTEGER NOT NULL,
    yanked INTEGER NOT NULL,
    yank_reason TEXT,
    published_at TEXT NOT NULL,
    changelog TEXT,
    PRIMARY KEY (did, rkey)
  )`.execute(db)
  await sql`CREATE UNIQUE INDEX update_release_version_idx ON update_release (did, product, version_key)`.execute(db)

  // A release's artifacts and deltas; cid is the blob's
  await sql`CREATE TABLE update_artifact (
    did TEXT NOT NULL,
    rkey TEXT NOT NULL,
    platform TEXT NOT NULL,
    arch TEXT NOT NULL,
    cid TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    file_name TEXT NOT NULL,
    min_os_version TEXT,
    PRIMARY KEY (did, rkey, platform, arch)
  ) WITHOUT ROWID`.execute(db)
  await sql`CREATE TABLE update_delta (
    did TEXT NOT NULL,
    rkey TEXT NOT NULL,
    from_version TEXT NOT NULL,
    platform TEXT NOT NULL,
    arch TEXT NOT NULL,
    format TEXT NOT NULL,
    cid TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    PRIMARY KEY (did, rkey, from_version, platform, arch)
  ) WITHOUT ROWID`.execute(db)

  // One row per valid install record (did = the device's owner); release_rkey is the release's
  // '<product>:<version>' and product its first part. getAdoption reads a release's rows by the
  // first index (latest row per device: max(rkey)), getInstallStatus an account's by the second.
  await sql`CREATE TABLE update_install (
    did TEXT NOT NULL,
    rkey TEXT NOT NULL,
    cid TEXT NOT NULL,
    release_did TEXT NOT NULL,
    release_rkey TEXT NOT NULL,
    release_cid TEXT NOT NULL,
    product TEXT NOT NULL,
    device TEXT NOT NULL,
    from_version TEXT,
    to_version TEXT NOT NULL,
    method TEXT NOT NULL,
    status TEXT NOT NULL,
    error_code TEXT,
    started_at TEXT,
    completed_at TEXT,
    updated_at TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (did, rkey)
  ) WITHOUT ROWID`.execute(db)
  await sql`CREATE INDEX update_install_release_idx ON update_install (release_did, release_rkey, did, device, rkey)`.execute(db)
  await sql`CREATE INDEX update_install_device_idx ON update_install (did, device, rkey)`.execute(db)

  await sql`CREATE TABLE update_index_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
  )`.execute(db)

  // Not derived: the secret that places a device in a staged rollout (src/indexer/updates/rollout.ts).
  // Made once by the server; a rebuild never touches it, so no device's place ever moves.
  await sql`CREATE TABLE update_rollout_key (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    key BLOB NOT NULL
  )`.execute(db)
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of ['update_rollout_key', 'update_index_state', 'update_install', 'update_delta', 'update_artifact', 'update_release']) {
    await db.schema.dropTable(t).execute()
  }
}
