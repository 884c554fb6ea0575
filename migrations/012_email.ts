import { type Kysely, sql } from 'kysely'

// Mail (src/mail/): when an account's email address was confirmed (null: not confirmed, or
// changed since), and a lookup of account tokens by their hash, for the one token a holder
// presents without naming the account (a password reset's, hashed without the DID).
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE account ADD COLUMN email_confirmed_at TEXT`.execute(db)
  await sql`CREATE INDEX account_token_by_hash ON account_token (purpose, token_hash)`.execute(db)
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP INDEX account_token_by_hash`.execute(db)
  await sql`ALTER TABLE account DROP COLUMN email_confirmed_at`.execute(db)
}
