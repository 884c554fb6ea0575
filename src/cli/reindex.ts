import { migrateToLatest, openDatabase } from '../db/index.js'
import { derivedIndexes } from '../indexer/derived-indexes.js'
import { LibraryIndex } from '../indexer/library/library-index.js'
import { rebuildIndexes } from '../indexer/rebuild.js'
import { loadLexicons } from '../lexicons.js'

export type ReindexReport = { records: Record<string, number>; books: number; ms: number }

/**
 * `carrel reindex`: rebuilds the indexer's query tables from the repositories, in one
 * transaction (interrupted, it leaves the tables as they were). The caller holds the data
 * directory, so no server writes meanwhile.
 */
export async function reindex(dbPath: string): Promise<ReindexReport> {
  const db = openDatabase(dbPath)
  try {
    await migrateToLatest(db)
    const { lexicons } = await loadLexicons()
    const started = performance.now()
    // every index, as `npm run reindex` rebuilds them (the library's and the app updates')
    const indexes = derivedIndexes(db, lexicons)
    const records = rebuildIndexes(db, indexes)
    const books = indexes.find((i) => i instanceof LibraryIndex)?.bookCount() ?? 0
    return { records, books, ms: Math.round(performance.now() - started) }
  } finally {
    await db.close()
  }
}
