import Database from 'better-sqlite3'
import { Kysely, SqliteDialect } from 'kysely'
import { Migrator, type Migration, type MigrationProvider } from 'kysely/migration'
import { readdir } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

export type SqliteDb = Database.Database

export type Db = {
  /** the raw connection: stores prepare their statements on it and run write transactions with it */
  sqlite: SqliteDb
  /** a kysely instance over the same connection (migrations, occasional queries) */
  kysely: Kysely<any>
  close(): Promise<void>
}

const migrationsDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'migrations')

class DirectoryMigrationProvider implements MigrationProvider {
  async getMigrations(): Promise<Record<string, Migration>> {
    const files = (await readdir(migrationsDir))
      .filter((f) => /^\d{3}_.*\.(ts|js)$/.test(f) && !f.endsWith('.d.ts'))
      .sort()
    const out: Record<string, Migration> = {}
    for (const file of files) {
      const mod = await import(pathToFileURL(join(migrationsDir, file)).href)
      out[file.replace(/\.(ts|js)$/, '')] = mod as Migration
    }
    return out
  }
}

export function openDatabase(path: string): Db {
  const sqlite = new Database(path)
  sqlite.pragma('journal_mode = WAL')
  // NORMAL is durable across process crashes (kill -9) in WAL mode; only an OS crash
  // can lose the last transactions.
  sqlite.pragma('synchronous = NORMAL')
  sqlite.pragma('foreign_keys = ON')
  sqlite.pragma('busy_timeout = 5000')
  // a modest page cache: the OS caches the file too, and RSS is a figure users watch
  sqlite.pragma('cache_size = -8000')
  sqlite.pragma('temp_store = MEMORY')
  // checkpoints run in a worker thread (see checkpointer.ts), never inside a request
  sqlite.pragma('wal_autocheckpoint = 0')
  // the WAL file is reused from its start rather than truncated: a commit that truncated it
  // (what a size limit does) waited for the filesystem to release the blocks (measured: stalls
  // of several ms on a `discard` mount). The checkpointer bounds it and truncates it when idle.
  sqlite.pragma('journal_size_limit = -1')
  const kysely = new Kysely<any>({ dialect: new SqliteDialect({ database: sqlite }) })
  return {
    sqlite,
    kysely,
    async close() {
      await kysely.destroy()
      if (sqlite.open) sqlite.close()
    },
  }
}

export async function migrateToLatest(db: Db): Promise<void> {
  const migrator = new Migrator({ db: db.kysely, provider: new DirectoryMigrationProvider() })
  const { error, results } = await migrator.migrateToLatest()
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')
    throw new Error(`migration ${failed?.migrationName ?? '?'} failed: ${String(error)}`)
  }
}
