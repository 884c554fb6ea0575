import { type Kysely, sql } from 'kysely'

// app.bsky.actor.getPreferences / putPreferences (src/accounts/preferences.ts): each account's
// Bluesky preferences, private and never in the repo, as one JSON array in the order they were
// put. Small (a few kB) and always read and written whole.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE TABLE account_preferences (
    did TEXT PRIMARY KEY,
    preferences TEXT NOT NULL,
    updated_at TEXT NOT NULL
  ) WITHOUT ROWID`.execute(db)
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('account_preferences').execute()
}
