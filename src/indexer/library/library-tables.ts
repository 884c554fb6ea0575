import type { Statement } from 'better-sqlite3'
import type { Db, SqliteDb } from '../../db/index.js'
import type { BookEntry, NamedKey } from './book-entry.js'

/** The library index's tables (migrations/005_library_index.ts): all of them derived from the repos. */
const LIBRARY_TABLES = ['library_owner', 'library_book', 'library_stat'] as const

/** A library's books are the ids (and full-text rowids) owner * 2^40 + 1 .. + 2^40 - 1. */
const OWNER_SPAN = 2 ** 40

/** The first and last id a library's books can have. */
export function ownerIdRange(owner: number): { lo: number; hi: number } {
  return { lo: owner * OWNER_SPAN, hi: owner * OWNER_SPAN + OWNER_SPAN - 1 }
}

type StoredBook = {
  id: number
  status: string | null
  shelf_key: string | null
  shelf: string | null
  pages: number | null
  pages_read: number
  finished_year: number | null
  tags: string
  authors: string
}

type StatKind = 'total' | 'status' | 'shelf' | 'tag' | 'author' | 'year'
type StatKey = [kind: StatKind, key: string, name: string, pages: number]
type StatCount = { kind: StatKind; key: string; name: string; books: number }

/** The counts of library_stat one book adds to (or takes from). */
function statKeys(b: {
  status: string | null
  shelf: NamedKey | null
  pages: number | null
  pagesRead: number
  finishedYear: number | null
  tags: readonly NamedKey[]
  authors: readonly NamedKey[]
}): StatKey[] {
  const keys: StatKey[] = [['total', '', '', b.pagesRead]]
  if (b.status !== null) keys.push(['status', b.status, b.status, 0])
  if (b.shelf !== null) keys.push(['shelf', b.shelf.key, b.shelf.name, 0])
  for (const t of b.tags) keys.push(['tag', t.key, t.name, 0])
  for (const a of b.authors) keys.push(['author', a.key, a.name, 0])
  if (b.finishedYear !== null) keys.push(['year', String(b.finishedYear), '', b.pages ?? 0])
  return keys
}

const pairs = (named: readonly NamedKey[]) => JSON.stringify(named.map((n) => [n.key, n.name]))
const unpair = (json: string): NamedKey[] => (JSON.parse(json) as [string, string][]).map(([key, name]) => ({ key, name }))

/**
 * The SQL that changes the library index, one book at a time, inside the caller's transaction.
 * library_stat holds the counts getStats answers with (books per status, shelf, tag, author and
 * finishing year, pages read), kept up to date as books come and go, so that getStats reads a
 * few rows instead of grouping a whole library.
 */
export class LibraryTables {
  private ownerStmt
  private lastOwnerStmt
  private insertOwner
  private deleteOwner
  private lastIdStmt
  private insertBook
  private insertFts
  private findBook
  private deleteBookRow
  private deleteFts
  private readonly addStatStmts = new Map<number, Statement<unknown[], StatCount>>()
  private readonly sqlite: SqliteDb
  private dropEmptyStat
  private deleteOwnerStmts
  private clearStmts

  constructor(db: Db) {
    const s = db.sqlite
    this.sqlite = s
    this.ownerStmt = s.prepare<[string], number>('SELECT owner FROM library_owner WHERE did = ?').pluck()
    this.lastOwnerStmt = s.prepare<[], number | null>('SELECT max(owner) FROM library_owner').pluck()
    this.insertOwner = s.prepare('INSERT INTO library_owner (did, owner) VALUES (?, ?)')
    this.deleteOwner = s.prepare('DELETE FROM library_owner WHERE owner = ?')
    this.lastIdStmt = s.prepare<[number, number], number | null>('SELECT max(id) FROM library_book WHERE id BETWEEN ? AND ?').pluck()
    this.insertBook = s.prepare(
      `INSERT INTO library_book (id, owner, rkey, title_sort, author_sort, added_at, status, shelf_key, rating, pages,
         pages_read, finished_year, cover_cid, shelf, tags, authors)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    this.insertFts = s.prepare('INSERT INTO library_book_fts (rowid, title, authors, series, subtitle, tags, notes) VALUES (?, ?, ?, ?, ?, ?, ?)')
    this.findBook = s.prepare<[number, string], StoredBook>(
      `SELECT id, status, shelf_key, shelf, pages, pages_read, finished_year, tags, authors FROM library_book WHERE owner = ? AND rkey = ?`,
    )
    this.deleteBookRow = s.prepare('DELETE FROM library_book WHERE id = ?')
    this.deleteFts = s.prepare('DELETE FROM library_book_fts WHERE rowid = ?')
    this.dropEmptyStat = s.prepare('DELETE FROM library_stat WHERE owner = ? AND kind = ? AND key = ? AND name = ? AND books = 0')
    this.deleteOwnerStmts = [
      s.prepare('DELETE FROM library_book_fts WHERE rowid IN (SELECT id FROM library_book WHERE owner = ?)'),
      s.prepare('DELETE FROM library_book WHERE owner = ?'),
      s.prepare('DELETE FROM library_stat WHERE owner = ?'),
      this.deleteOwner,
    ]
    this.clearStmts = [
      s.prepare(`INSERT INTO library_book_fts (library_book_fts) VALUES ('delete-all')`),
      ...LIBRARY_TABLES.map((t) => s.prepare(`DELETE FROM ${t}`)),
    ]
  }

  /** The library number of `did`, while it has books. */
  ownerOf(did: string): number | undefined {
    return this.ownerStmt.get(did)
  }

  private ownerFor(did: string): number {
    let owner = this.ownerOf(did)
    if (owner === undefined) {
      owner = (this.lastOwnerStmt.get() ?? 0) + 1
      this.insertOwner.run(did, owner)
    }
    return owner
  }

  add(book: BookEntry): void {
    const owner = this.ownerFor(book.did)
    const { lo, hi } = ownerIdRange(owner)
    const id = (this.lastIdStmt.get(lo, hi) ?? lo) + 1
    if (id > hi) throw new Error(`library ${owner} has no book ids left`)
    this.insertBook.run(
      id,
      owner,
      book.rkey,
      book.titleSort,
      book.authorSort,
      book.addedAt,
      book.status,
      book.shelf?.key ?? null,
      book.rating,
      book.pages,
      book.pagesRead,
      book.finishedYear,
      book.coverCid,
      book.shelf?.name ?? null,
      pairs(book.tags),
      pairs(book.authors),
    )
    const t = book.text
    this.insertFts.run(id, t.title, t.authors, t.series, t.subtitle, t.tags, t.notes)
    this.addStats(owner, statKeys(book), 1)
  }

  /**
   * Adds `sign` books (and `sign` × their pages) to each count of `keys`, in one statement (one per
   * number of keys, prepared on first use): a book touches 5-10 counts. Returns the counts after.
   */
  private addStats(owner: number, keys: readonly StatKey[], sign: 1 | -1): StatCount[] {
    let stmt = this.addStatStmts.get(keys.length)
    if (!stmt) {
      stmt = this.sqlite.prepare<unknown[], StatCount>(
        `INSERT INTO library_stat (owner, kind, key, name, books, pages) VALUES ${Array(keys.length).fill('(?, ?, ?, ?, ?, ?)').join(', ')}
         ON CONFLICT (owner, kind, key, name) DO UPDATE SET books = books + excluded.books, pages = pages + excluded.pages
         RETURNING kind, key, name, books`,
      )
      this.addStatStmts.set(keys.length, stmt)
    }
    return stmt.all(keys.flatMap(([kind, key, name, pages]) => [owner, kind, key, name, sign, sign * pages]))
  }

  /** How many books the index holds, of every account (the CLI's reindex report). */
  bookCount(): number {
    return this.sqlite.prepare('SELECT count(*) FROM library_book').pluck().get() as number
  }

  /** Removes the book's rows and takes it out of the counts; nothing when it is not indexed. */
  remove(did: string, rkey: string): void {
    const owner = this.ownerOf(did)
    const row = owner === undefined ? undefined : this.findBook.get(owner, rkey)
    if (owner === undefined || !row) return
    this.deleteFts.run(row.id)
    this.deleteBookRow.run(row.id)
    const keys = statKeys({
      status: row.status,
      shelf: row.shelf_key === null ? null : { key: row.shelf_key, name: row.shelf! },
      pages: row.pages,
      pagesRead: row.pages_read,
      finishedYear: row.finished_year,
      tags: unpair(row.tags),
      authors: unpair(row.authors),
    })
    for (const { kind, key, name, books } of this.addStats(owner, keys, -1)) {
      if (books !== 0) continue
      this.dropEmptyStat.run(owner, kind, key, name)
      // an empty library has no number: the index holds exactly what a rebuild would make
      if (kind === 'total') this.deleteOwner.run(owner)
    }
  }

  /** Every row of one DID's library (its repository is being deleted or replaced). */
  removeRepo(did: string): void {
    const owner = this.ownerOf(did)
    if (owner === undefined) return
    for (const stmt of this.deleteOwnerStmts) stmt.run(owner)
  }

  /** Every row of every library (reindex). */
  clear(): void {
    for (const stmt of this.clearStmts) stmt.run()
  }
}
