import { type Kysely, sql } from 'kysely'

// Staging for com.atproto.repo.importRepo (src/repo/import-staging.ts). A CAR is streamed into
// `import_block` as it arrives (never held in memory), then checked from there: the commit, its
// signature, the MST walked from the root (`import_node` collects its nodes, `import_leaf` the
// records it names, in key order, with how many blobs each references) and every record. Only
// then does one transaction copy what the tree reaches into repo_block and record. Rows are keyed
// by an import's own id and removed when it ends; a crash leaves rows that the next start-up
// removes (an import does not survive a restart).
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE TABLE import_block (
    import_id INTEGER NOT NULL,
    cid TEXT NOT NULL,
    content BLOB NOT NULL,
    PRIMARY KEY (import_id, cid)
  ) WITHOUT ROWID`.execute(db)
  await sql`CREATE TABLE import_node (
    import_id INTEGER NOT NULL,
    cid TEXT NOT NULL,
    PRIMARY KEY (import_id, cid)
  ) WITHOUT ROWID`.execute(db)
  await sql`CREATE TABLE import_leaf (
    import_id INTEGER NOT NULL,
    collection TEXT NOT NULL,
    rkey TEXT NOT NULL,
    cid TEXT NOT NULL,
    blobs INTEGER NOT NULL,
    PRIMARY KEY (import_id, collection, rkey)
  ) WITHOUT ROWID`.execute(db)
  // the copy into repo_block reads import_block in CID order and looks each block up here
  await sql`CREATE INDEX import_leaf_cid_idx ON import_leaf (import_id, cid)`.execute(db)
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE import_leaf`.execute(db)
  await sql`DROP TABLE import_node`.execute(db)
  await sql`DROP TABLE import_block`.execute(db)
}
