import { type Kysely, sql } from 'kysely'

// Access tokens end with a password change: an account's access tokens issued (iat, seconds)
// before `access_valid_from` are refused. Null: no password change yet.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE account ADD COLUMN access_valid_from INTEGER`.execute(db)
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE account DROP COLUMN access_valid_from`.execute(db)
}
