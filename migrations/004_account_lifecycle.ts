import { type Kysely, sql } from 'kysely'

// The account lifecycle: app passwords, the sessions made with them, deactivation's deleteAfter.
export async function up(db: Kysely<unknown>): Promise<void> {
  // `password_hash`: SHA-256 of a random 80-bit secret salted with the DID, looked up by (did, hash)
  await sql`CREATE TABLE app_password (
    id TEXT PRIMARY KEY,
    did TEXT NOT NULL,
    name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    privileged INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (did, name)
  )`.execute(db)
  await sql`CREATE UNIQUE INDEX app_password_hash_idx ON app_password (did, password_hash)`.execute(db)

  // a session made with an app password carries it, so that revoking the password ends it
  await sql`ALTER TABLE refresh_token ADD COLUMN app_password_id TEXT`.execute(db)
  await sql`CREATE INDEX refresh_token_app_password_idx ON refresh_token (app_password_id) WHERE app_password_id IS NOT NULL`.execute(
    db,
  )

  // deactivateAccount's deleteAfter: a recommendation kept with the account, acted on by no one yet
  await sql`ALTER TABLE account ADD COLUMN delete_after TEXT`.execute(db)
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE account DROP COLUMN delete_after`.execute(db)
  await sql`DROP INDEX refresh_token_app_password_idx`.execute(db)
  await sql`ALTER TABLE refresh_token DROP COLUMN app_password_id`.execute(db)
  await sql`DROP TABLE app_password`.execute(db)
}
