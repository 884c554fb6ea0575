import { type Kysely, sql } from 'kysely'

// Accounts, sessions, repositories, records and the embedded PLC directory.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('account')
    .addColumn('did', 'text', (c) => c.primaryKey())
    .addColumn('handle', 'text', (c) => c.notNull().unique())
    .addColumn('email', 'text', (c) => c.notNull().unique())
    .addColumn('password_hash', 'text', (c) => c.notNull())
    .addColumn('signing_key', 'blob', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('deactivated_at', 'text')
    .addColumn('takedown_ref', 'text')
    .execute()

  await db.schema
    .createTable('invite_code')
    .addColumn('code', 'text', (c) => c.primaryKey())
    .addColumn('available_uses', 'integer', (c) => c.notNull())
    .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('for_account', 'text', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute()

  await db.schema
    .createTable('invite_code_use')
    .addColumn('code', 'text', (c) => c.notNull())
    .addColumn('used_by', 'text', (c) => c.notNull())
    .addColumn('used_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('invite_code_use_pk', ['code', 'used_by'])
    .execute()

  await db.schema
    .createTable('refresh_token')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('did', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'integer', (c) => c.notNull())
    .addColumn('next_id', 'text')
    .addColumn('rotated_at', 'integer')
    .execute()
  await db.schema.createIndex('refresh_token_did_idx').on('refresh_token').column('did').execute()

  await db.schema
    .createTable('repo_root')
    .addColumn('did', 'text', (c) => c.primaryKey())
    .addColumn('cid', 'text', (c) => c.notNull())
    .addColumn('rev', 'text', (c) => c.notNull())
    .addColumn('data_cid', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute()

  // Every block of every repo; `rev` is the revision that first wrote it (for getRepo?since=).
  await sql`CREATE TABLE repo_block (
    did TEXT NOT NULL,
    cid TEXT NOT NULL,
    rev TEXT NOT NULL,
    size INTEGER NOT NULL,
    content BLOB NOT NULL,
    PRIMARY KEY (did, cid)
  ) WITHOUT ROWID`.execute(db)
  await sql`CREATE INDEX repo_block_rev_idx ON repo_block (did, rev, cid)`.execute(db)

  await sql`CREATE TABLE record (
    did TEXT NOT NULL,
    collection TEXT NOT NULL,
    rkey TEXT NOT NULL,
    cid TEXT NOT NULL,
    rev TEXT NOT NULL,
    indexed_at TEXT NOT NULL,
    PRIMARY KEY (did, collection, rkey)
  ) WITHOUT ROWID`.execute(db)
  await sql`CREATE INDEX record_cid_idx ON record (did, cid)`.execute(db)

  // The firehose event log. `frame` holds the encoded subscribeRepos frame (header + body,
  // seq included), so replay and live delivery send the same bytes without re-encoding.
  await sql`CREATE TABLE repo_seq (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    did TEXT NOT NULL,
    event_type TEXT NOT NULL,
    frame BLOB NOT NULL,
    sequenced_at TEXT NOT NULL
  )`.execute(db)
  await sql`CREATE INDEX repo_seq_sequenced_at_idx ON repo_seq (sequenced_at)`.execute(db)

  await sql`CREATE TABLE plc_operation (
    did TEXT NOT NULL,
    cid TEXT NOT NULL,
    operation TEXT NOT NULL,
    nullified INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    PRIMARY KEY (did, cid)
  )`.execute(db)
  await sql`CREATE INDEX plc_operation_did_idx ON plc_operation (did, created_at)`.execute(db)
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of [
    'plc_operation',
    'repo_seq',
    'record',
    'repo_block',
    'repo_root',
    'refresh_token',
    'invite_code_use',
    'invite_code',
    'account',
  ]) {
    await db.schema.dropTable(t).execute()
  }
}
