import { type Kysely, sql } from 'kysely'

// The PLC operation flow: a token from requestPlcOperationSignature is needed to have the server
// sign a PLC operation (signPlcOperation). One live token per account; only its SHA-256 is kept,
// with its expiry (ms since the epoch). The token itself reaches the account holder by mail, or
// until mail is configured through the outbox the operator reads (src/lifecycle/outbox.ts).
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE TABLE plc_operation_token (
    did TEXT PRIMARY KEY,
    token_hash BLOB NOT NULL,
    expires_at INTEGER NOT NULL
  ) WITHOUT ROWID`.execute(db)
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('plc_operation_token').execute()
}
