import Database from 'better-sqlite3'
import type { Migration, MigrationProvider } from 'kysely/migration'
import { closeSync, openSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { packageRoot } from '../paths.js'

export type SqliteDb = Database.Database

export type Db = {
  /** the connection: stores prepare their statements on it and run write transactions with it */
  sqlite: SqliteDb
  close(): Promise<void>
}

// the TypeScript files when running from src/ (tsx); the compiled server in dist/ runs their
// compiled copies in dist/migrations/ (scripts/build.mjs)
const migrationsDir = join(packageRoot, ...(import.meta.url.endsWith('.ts') ? [] : ['dist']), 'migrations')

/** Migration files, in the order they apply: `NNN_name.ts` (from src/) or `.js` (from dist/). */
function migrationFiles(): string[] {
  return readdirSync(migrationsDir)
    .filter((f) => /^\d{3}_.*\.(ts|js)$/.test(f) && !f.endsWith('.d.ts'))
    .sort()
}

const migrationName = (file: string) => file.replace(/\.(ts|js)$/, '')

class DirectoryMigrationProvider implements MigrationProvider {
  constructor(private readonly files: string[]) {}

  async getMigrations(): Promise<Record<string, Migration>> {
    const out: Record<string, Migration> = {}
    for (const file of this.files) {
      out[migrationName(file)] = (await import(pathToFileURL(join(migrationsDir, file)).href)) as Migration
    }
    return out
  }
}

/** A new database file is created here first, owner-only: SQLite gives its -wal and -shm files the same mode. */
function createOwnerOnlyFile(path: string): void {
  try {
    closeSync(openSync(path, 'wx', 0o600))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
  }
}

export function openDatabase(path: string): Db {
  createOwnerOnlyFile(path)
  const sqlite = new Database(path)
  sqlite.pragma('journal_mode = WAL')
  // NORMAL is durable across process crashes (kill -9) in WAL mode; only an OS crash
  // can lose the last transactions.
  sqlite.pragma('synchronous = NORMAL')
  sqlite.pragma('foreign_keys = ON')
  sqlite.pragma('busy_timeout = 5000')
  // a modest page cache: the OS caches the file too, and RSS is a figure users watch
  sqlite.pragma('cache_size = -8000')
  // pages read through a mapping of the file rather than copied in by read() calls: a query that
  // reads pages its cache has not kept (a library search's book rows, a cold repo's tree) costs a
  // page fault instead of a system call and a copy each (library search p99 9.8-13 -> 7.6-8 ms
  // for word + filter searches, bench/library.ts). Writes still go through the WAL.
  sqlite.pragma('mmap_size = 1073741824')
  sqlite.pragma('temp_store = MEMORY')
  // checkpoints run in a worker thread (see checkpointer.ts), never inside a request
  sqlite.pragma('wal_autocheckpoint = 0')
  // the WAL file is reused from its start rather than truncated: a commit that truncated it
  // (what a size limit does) waited for the filesystem to release the blocks (measured: stalls
  // of several ms on a `discard` mount). The checkpointer bounds it and truncates it when idle.
  sqlite.pragma('journal_size_limit = -1')
  return {
    sqlite,
    async close() {
      if (sqlite.open) sqlite.close()
    },
  }
}

/** The names kysely's migrator has recorded as applied (none on a new database). */
function appliedMigrations(sqlite: SqliteDb): string[] {
  const table = sqlite.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'kysely_migration'`).get()
  if (!table) return []
  return (sqlite.prepare('SELECT name FROM kysely_migration').pluck().all() as string[]).sort()
}

/**
 * Applies pending migrations with kysely's migrator. When every migration file is already
 * recorded as applied (every restart), kysely is not loaded at all: its ~250 modules were a
 * quarter of the start-up time.
 */
export async function migrateToLatest(db: Db): Promise<void> {
  const files = migrationFiles()
  const names = files.map(migrationName)
  const applied = appliedMigrations(db.sqlite)
  if (applied.length === names.length && applied.every((n, i) => n === names[i])) return

  const { Kysely, SqliteDialect } = await import('kysely')
  const { Migrator } = await import('kysely/migration')
  // not destroyed afterwards: that would close the connection the stores go on using
  const kysely = new Kysely<unknown>({ dialect: new SqliteDialect({ database: db.sqlite }) })
  const migrator = new Migrator({ db: kysely, provider: new DirectoryMigrationProvider(files) })
  const { error, results } = await migrator.migrateToLatest()
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')
    throw new Error(`migration ${failed?.migrationName ?? '?'} failed: ${String(error)}`)
  }
}
