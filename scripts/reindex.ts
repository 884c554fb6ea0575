// npm run reindex: rebuilds the indexer's query tables (src/indexer) from the repositories of a
// data directory (PDS_DATA_DIRECTORY, default ./data), with the server stopped. One transaction:
// interrupted, it leaves the tables as they were. Exit code 1, and nothing changed, when the
// database is missing or in use (a running server holds it).
import Database from 'better-sqlite3'
import { existsSync } from 'node:fs'
import { dataPaths } from '../src/config.ts'
import { migrateToLatest } from '../src/db/index.ts'
import { derivedIndexes } from '../src/indexer/derived-indexes.ts'
import { LibraryIndex } from '../src/indexer/library/library-index.ts'
import { rebuildIndexes } from '../src/indexer/rebuild.ts'
import { loadLexicons } from '../src/lexicons.ts'

function fail(message: string): never {
  process.stderr.write(`reindex: ${message}\n`)
  process.exit(1)
}

const { dbPath } = dataPaths(process.env)
if (!existsSync(dbPath)) fail(`no database at ${dbPath} (set PDS_DATA_DIRECTORY)`)
const sqlite = new Database(dbPath, { fileMustExist: true, timeout: 0 })
try {
  // held until the end: a server cannot start meanwhile, and one that runs makes this fail
  sqlite.pragma('locking_mode = EXCLUSIVE')
  sqlite.exec('BEGIN EXCLUSIVE; COMMIT')
} catch (err) {
  sqlite.close()
  if ((err as { code?: string }).code === 'SQLITE_BUSY') fail(`${dbPath} is in use: stop the server first`)
  throw err
}
const db = {
  sqlite,
  async close() {
    sqlite.close()
  },
}
try {
  await migrateToLatest(db)
  const { lexicons } = await loadLexicons()
  const started = performance.now()
  let counts: Record<string, number>
  let library: LibraryIndex | undefined
  try {
    const indexes = derivedIndexes(db, lexicons)
    library = indexes.find((i) => i instanceof LibraryIndex)
    counts = rebuildIndexes(db, indexes)
  } catch (err) {
    fail(`nothing changed: ${(err as Error).message}`)
  }
  const books = library?.bookCount() ?? 0
  const ms = Math.round(performance.now() - started)
  console.log(`reindex: library: ${books} books indexed from ${counts.library} records in ${ms} ms`)
  const releases = sqlite.prepare('SELECT count(*) FROM update_release').pluck().get()
  const installs = sqlite.prepare('SELECT count(*) FROM update_install').pluck().get()
  console.log(`reindex: updates: ${releases} releases and ${installs} installs indexed from ${counts.updates} records`)
} finally {
  await db.close()
}
