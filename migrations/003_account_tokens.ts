import { type Kysely, sql } from 'kysely'

// Single-use tokens an account holder presents to confirm an action (a PLC operation, account
// deletion): one live token per account and purpose, kept only as a hash, with its expiry (ms
// since the epoch). The token itself reaches the holder by mail, or until mail is configured
// through the outbox the operator reads (src/lifecycle/outbox.ts).
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE TABLE account_token (
    did TEXT NOT NULL,
    purpose TEXT NOT NULL,
    token_hash TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (did, purpose)
  ) WITHOUT ROWID`.execute(db)
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE account_token`.execute(db)
}
