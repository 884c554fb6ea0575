import { type Kysely, sql } from 'kysely'

// The admin API: takedowns of single records and blobs, an account's invite switch, and the
// indexes the invite listings read by. (An account's own takedown is account.takedown_ref.)
export async function up(db: Kysely<unknown>): Promise<void> {
  // Keyed by the record's path, not its CID: a record taken down stays hidden when its owner
  // updates it, or deletes and writes it again. `cid` is the version the action was taken on.
  await sql`CREATE TABLE record_takedown (
    did TEXT NOT NULL,
    collection TEXT NOT NULL,
    rkey TEXT NOT NULL,
    cid TEXT NOT NULL,
    ref TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (did, collection, rkey)
  ) WITHOUT ROWID`.execute(db)
  // Kept whether or not the blob is stored: an upload of the same bytes later stays hidden.
  await sql`CREATE TABLE blob_takedown (
    did TEXT NOT NULL,
    cid TEXT NOT NULL,
    ref TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (did, cid)
  ) WITHOUT ROWID`.execute(db)

  // disableAccountInvites: the account earns no more usable codes (its codes stay as they are)
  await sql`ALTER TABLE account ADD COLUMN invites_disabled INTEGER NOT NULL DEFAULT 0`.execute(db)

  // getInviteCodes (newest first), an account's codes, and who was invited by which code
  await sql`CREATE INDEX invite_code_created_idx ON invite_code (created_at, code)`.execute(db)
  await sql`CREATE INDEX invite_code_for_account_idx ON invite_code (for_account)`.execute(db)
  await sql`CREATE INDEX invite_code_use_used_by_idx ON invite_code_use (used_by)`.execute(db)
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP INDEX invite_code_use_used_by_idx`.execute(db)
  await sql`DROP INDEX invite_code_for_account_idx`.execute(db)
  await sql`DROP INDEX invite_code_created_idx`.execute(db)
  await sql`ALTER TABLE account DROP COLUMN invites_disabled`.execute(db)
  await sql`DROP TABLE blob_takedown`.execute(db)
  await sql`DROP TABLE record_takedown`.execute(db)
}
