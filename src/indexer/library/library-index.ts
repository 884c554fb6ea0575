import type { Lexicons } from '@atproto/lexicon'
import { InternalServerError, InvalidRequestError } from '@atproto/xrpc-server'
import type { Db } from '../../db/index.js'
import type { Logger } from '../../logger.js'
import type { CommitHook, CommitResult, RecordOp } from '../../repo/types.js'
import { IndexVersionRow, rebuildIfOutOfDate, type DerivedIndex, type StoredRecord } from '../rebuild.js'
import { BOOK_COLLECTION, bookEntry, type BookEntry } from './book-entry.js'
import { bookRuleViolation } from './book-rules.js'
import { LibraryTables } from './library-tables.js'

/**
 * The version of what the index keeps of a book. When the code's version differs from the one
 * recorded in library_index_state (or none is, as after migration 005), the server rebuilds the
 * index at start-up. Raise it whenever a change to book-entry.ts, text.ts or the tables would
 * index a book differently.
 */
export const LIBRARY_INDEX_VERSION = 1

/**
 * The library index: query tables for app.carrel.library.book records, changed inside each
 * commit's transaction by a commit hook, never by a later pass.
 * - `check` (before the transaction) refuses books whose ISBNs or publication date break the
 *   rules (400 InvalidRecord naming the field) and works out each book's index entry, so that
 *   the transaction only writes rows;
 * - `inTx` removes the old rows of updated and deleted books and adds the new ones; a failure
 *   fails the commit (500, nothing written);
 * - `deleteRepoInTx` removes a DID's rows.
 */
export class LibraryIndex implements DerivedIndex {
  readonly name = 'library'
  readonly collections = [BOOK_COLLECTION]
  readonly hook: CommitHook
  private readonly tables: LibraryTables
  private readonly entries = new WeakMap<RecordOp, BookEntry | null>()
  private readonly version: IndexVersionRow

  constructor(
    private readonly opts: {
      db: Db
      lexicons: Lexicons
      logger?: Logger
      /** false: the hook does nothing and the index is marked out of date (PDS_LIBRARY_INDEX) */
      enabled: boolean
    },
  ) {
    this.tables = new LibraryTables(opts.db)
    this.version = new IndexVersionRow(opts.db, 'library_index_state', LIBRARY_INDEX_VERSION)
    this.hook = opts.enabled
      ? {
          check: (did, ops) => this.check(did, ops),
          inTx: (commit) => this.apply(commit),
          deleteRepoInTx: (did) => this.tables.removeRepo(did),
        }
      : {}
  }

  get enabled(): boolean {
    return this.opts.enabled
  }

  /** How many books are indexed, of every account. */
  bookCount(): number {
    return this.tables.bookCount()
  }

  private entryOf(did: string, op: RecordOp): BookEntry | null {
    return bookEntry(this.opts.lexicons, did, op.rkey, op.record!, { validated: op.validated === true })
  }

  private check(did: string, ops: readonly RecordOp[]): void {
    for (const op of ops) {
      if (op.collection !== BOOK_COLLECTION || op.record === null) continue
      const violation = bookRuleViolation(op.record)
      if (violation) {
        throw new InvalidRequestError(`Invalid ${BOOK_COLLECTION} record: Record/${violation.path} ${violation.problem}`, 'InvalidRecord')
      }
      this.entries.set(op, this.entryOf(did, op))
    }
  }

  private apply(commit: CommitResult): void {
    for (const op of commit.ops) {
      if (op.collection !== BOOK_COLLECTION) continue
      try {
        if (op.prev !== null) this.tables.remove(commit.did, op.rkey)
        if (op.record !== null) {
          const entry = this.entries.has(op) ? this.entries.get(op)! : this.entryOf(commit.did, op)
          if (entry) this.tables.add(entry)
        }
      } catch (err) {
        this.opts.logger?.error({ uri: op.uri, err: { message: (err as Error)?.message } }, 'library index update failed')
        throw new InternalServerError(`The library index could not be updated for ${op.uri}, so nothing was written`)
      }
    }
  }

  clearInTx(): void {
    this.tables.clear()
  }

  addInTx(record: StoredRecord): void {
    const entry = bookEntry(this.opts.lexicons, record.did, record.rkey, record.value)
    if (entry) this.tables.add(entry)
  }

  rebuiltInTx(): void {
    this.version.markCurrent()
  }

  /** Whether the tables were built by this version of the code and kept since. */
  isCurrent(): boolean {
    return this.version.isCurrent()
  }

  /** While the index is off, commits do not reach it: the next start with it on rebuilds it. */
  markOutOfDate(): void {
    this.version.markOutOfDate()
  }
}

/**
 * The library index for the server: rebuilt first when it is out of date (a new database, a new
 * index version, or a start after running with the index turned off). A rebuild that fails (a
 * repo with a missing block) is logged and leaves the index as it was and out of date, so the next
 * start tries again: the server still starts, as hosting the repos does not depend on it.
 */
export function openLibraryIndex(opts: { db: Db; lexicons: Lexicons; logger?: Logger; enabled: boolean }): LibraryIndex {
  const index = new LibraryIndex(opts)
  if (opts.enabled) rebuildIfOutOfDate(opts.db, index, 'library index', opts.logger)
  else index.markOutOfDate()
  return index
}
