import type { Lexicons } from '@atproto/lexicon'
import type { Db } from '../../db/index.js'
import type { Logger } from '../../logger.js'
import { IndexVersionRow, rebuildIfOutOfDate } from '../rebuild.js'
import { RecordIndex, type IndexedCollection, type IsTakenDown } from '../record-index.js'
import { BOOK_COLLECTION, bookEntry, type BookEntry } from './book-entry.js'
import { bookRuleViolation } from './book-rules.js'
import { LibraryTables } from './library-tables.js'

/**
 * The version of what the index keeps of a book. When the code's version differs from the one
 * recorded in library_index_state (or none is, as after migration 005), the server rebuilds the
 * index at start-up. Raise it whenever a change to book-entry.ts, text.ts or the tables would
 * index a book differently. 2: books whose path the host took down are left out (a database
 * indexed before keeps them until this rebuild).
 */
const LIBRARY_INDEX_VERSION = 2

/**
 * The library index: query tables for app.carrel.library.book records (record-index.ts says how
 * commits, takedowns and rebuilds change them). The write path refuses books whose ISBNs or
 * publication date break book-rules.ts.
 */
export class LibraryIndex extends RecordIndex {
  private readonly tables: LibraryTables

  constructor(opts: { db: Db; lexicons: Lexicons; isTakenDown: IsTakenDown; logger?: Logger; enabled: boolean }) {
    const tables = new LibraryTables(opts.db)
    const books: IndexedCollection<BookEntry> = {
      collection: BOOK_COLLECTION,
      violation: (_rkey, record) => bookRuleViolation(record),
      entry: (did, rkey, _cid, record, entryOpts) => bookEntry(opts.lexicons, did, rkey, record, entryOpts),
      add: (entry) => tables.add(entry),
      remove: (did, rkey) => tables.remove(did, rkey),
    }
    super('library', [books], {
      what: 'library index',
      isTakenDown: opts.isTakenDown,
      removeRepo: (did) => tables.removeRepo(did),
      clear: () => tables.clear(),
      version: new IndexVersionRow(opts.db, 'library_index_state', LIBRARY_INDEX_VERSION),
      enabled: opts.enabled,
      logger: opts.logger,
    })
    this.tables = tables
  }

  /** How many books are indexed, of every account. */
  bookCount(): number {
    return this.tables.bookCount()
  }
}

/**
 * The library index for the server: rebuilt first when it is out of date (a new database, a new
 * index version, or a start after running with the index turned off). A rebuild that fails (a
 * repo with a missing block) is logged and leaves the index as it was and out of date, so the next
 * start tries again: the server still starts, as hosting the repos does not depend on it.
 */
export function openLibraryIndex(opts: { db: Db; lexicons: Lexicons; isTakenDown: IsTakenDown; logger?: Logger; enabled: boolean }): LibraryIndex {
  const index = new LibraryIndex(opts)
  if (opts.enabled) rebuildIfOutOfDate(opts.db, index, opts.logger)
  else index.markOutOfDate()
  return index
}
