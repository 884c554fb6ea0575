import type { Db } from '../../db/index.js'
import type { BookEntry } from './book-entry.js'

/** The library index's tables (migrations/005_library_index.ts): all of them derived from the repos. */
export const LIBRARY_TABLES = ['library_owner', 'library_book', 'library_book_tag', 'library_book_author', 'library_stat'] as const
export const LIBRARY_FTS_TABLE = 'library_book_fts'

/** A library's books are the ids (and full-text rowids) owner * 2^40 + 1 .. + 2^40 - 1. */
export const OWNER_ID_BITS = 40
const OWNER_SPAN = 2 ** OWNER_ID_BITS

/** The first and last id a library's books can have. */
export function ownerIdRange(owner: number): { lo: number; hi: number } {
  return { lo: owner * OWNER_SPAN, hi: owner * OWNER_SPAN + OWNER_SPAN - 1 }
}

type StoredBook = {
  id: number
  status: string | null
  shelf_key: string | null
  pages: number | null
  pages_read: number
  finished_year: number | null
  tag_keys: string
  author_keys: string
}

type StatKind = 'total' | 'status' | 'shelf' | 'tag' | 'author' | 'year'

/** The counts of library_stat one book adds to (or takes from): [kind, key, pages]. */
function statKeys(b: {
  status: string | null
  shelfKey: string | null
  pages: number | null
  pagesRead: number
  finishedYear: number | null
  tagKeys: readonly string[]
  authorKeys: readonly string[]
}): [StatKind, string, number][] {
  const keys: [StatKind, string, number][] = [['total', '', b.pagesRead]]
  if (b.status !== null) keys.push(['status', b.status, 0])
  if (b.shelfKey !== null) keys.push(['shelf', b.shelfKey, 0])
  for (const k of b.tagKeys) keys.push(['tag', k, 0])
  for (const k of b.authorKeys) keys.push(['author', k, 0])
  if (b.finishedYear !== null) keys.push(['year', String(b.finishedYear), b.pages ?? 0])
  return keys
}

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
  private lastIdStmt
  private insertBook
  private insertFts
  private insertTag
  private insertAuthor
  private findBook
  private deleteBookRow
  private deleteFts
  private deleteTag
  private deleteAuthor
  private addStat
  private dropEmptyStat
  private deleteOwner
  private deleteOwnerStmts
  private clearStmts

  constructor(db: Db) {
    const s = db.sqlite
    this.ownerStmt = s.prepare<[string], number>('SELECT owner FROM library_owner WHERE did = ?').pluck()
    this.lastOwnerStmt = s.prepare<[], number | null>('SELECT max(owner) FROM library_owner').pluck()
    this.insertOwner = s.prepare('INSERT INTO library_owner (did, owner) VALUES (?, ?)')
    this.lastIdStmt = s.prepare<[number, number], number | null>('SELECT max(id) FROM library_book WHERE id BETWEEN ? AND ?').pluck()
    this.insertBook = s.prepare(
      `INSERT INTO library_book (id, owner, rkey, cid, title_sort, author_sort, added_at, status, shelf_key, shelf, rating,
         pages, pages_read, finished_year, cover_cid, tag_keys, author_keys)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    this.insertFts = s.prepare('INSERT INTO library_book_fts (rowid, title, authors, series, subtitle, tags, notes) VALUES (?, ?, ?, ?, ?, ?, ?)')
    this.insertTag = s.prepare('INSERT INTO library_book_tag (owner, tag_key, rkey, tag) VALUES (?, ?, ?, ?)')
    this.insertAuthor = s.prepare('INSERT INTO library_book_author (owner, author_key, rkey, author) VALUES (?, ?, ?, ?)')
    this.findBook = s.prepare<[number, string], StoredBook>(
      `SELECT id, status, shelf_key, pages, pages_read, finished_year, tag_keys, author_keys
       FROM library_book WHERE owner = ? AND rkey = ?`,
    )
    this.deleteBookRow = s.prepare('DELETE FROM library_book WHERE id = ?')
    this.deleteFts = s.prepare('DELETE FROM library_book_fts WHERE rowid = ?')
    this.deleteTag = s.prepare('DELETE FROM library_book_tag WHERE owner = ? AND tag_key = ? AND rkey = ?')
    this.deleteAuthor = s.prepare('DELETE FROM library_book_author WHERE owner = ? AND author_key = ? AND rkey = ?')
    this.addStat = s.prepare(
      `INSERT INTO library_stat (owner, kind, key, books, pages) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (owner, kind, key) DO UPDATE SET books = books + excluded.books, pages = pages + excluded.pages`,
    )
    this.dropEmptyStat = s.prepare('DELETE FROM library_stat WHERE owner = ? AND kind = ? AND key = ? AND books = 0')
    this.deleteOwner = s.prepare('DELETE FROM library_owner WHERE owner = ?')
    this.deleteOwnerStmts = [
      s.prepare('DELETE FROM library_book_fts WHERE rowid IN (SELECT id FROM library_book WHERE owner = ?)'),
      ...['library_book', 'library_book_tag', 'library_book_author', 'library_stat'].map((t) => s.prepare(`DELETE FROM ${t} WHERE owner = ?`)),
    ]
    this.clearStmts = [
      s.prepare(`INSERT INTO library_book_fts (library_book_fts) VALUES ('delete-all')`),
      ...LIBRARY_TABLES.map((t) => s.prepare(`DELETE FROM ${t}`)),
    ]
  }

  /** The library number of `did`, if it has ever had a book indexed. */
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
    const { rkey } = book
    const tagKeys = book.tags.map((t) => t.key)
    const authorKeys = book.authors.map((a) => a.key)
    this.insertBook.run(
      id,
      owner,
      rkey,
      book.cid,
      book.titleSort,
      book.authorSort,
      book.addedAt,
      book.status,
      book.shelf?.key ?? null,
      book.shelf?.name ?? null,
      book.rating,
      book.pages,
      book.pagesRead,
      book.finishedYear,
      book.coverCid,
      JSON.stringify(tagKeys),
      JSON.stringify(authorKeys),
    )
    const t = book.text
    this.insertFts.run(id, t.title, t.authors, t.series, t.subtitle, t.tags, t.notes)
    for (const tag of book.tags) this.insertTag.run(owner, tag.key, rkey, tag.name)
    for (const author of book.authors) this.insertAuthor.run(owner, author.key, rkey, author.name)
    for (const [kind, key, pages] of statKeys({ ...book, shelfKey: book.shelf?.key ?? null, tagKeys, authorKeys })) {
      this.addStat.run(owner, kind, key, 1, pages)
    }
  }

  /** Removes the book's rows and takes it out of the counts; nothing when it is not indexed. */
  remove(did: string, rkey: string): void {
    const owner = this.ownerOf(did)
    const row = owner === undefined ? undefined : this.findBook.get(owner, rkey)
    if (owner === undefined || !row) return
    const tagKeys = JSON.parse(row.tag_keys) as string[]
    const authorKeys = JSON.parse(row.author_keys) as string[]
    this.deleteFts.run(row.id)
    this.deleteBookRow.run(row.id)
    for (const key of tagKeys) this.deleteTag.run(owner, key, rkey)
    for (const key of authorKeys) this.deleteAuthor.run(owner, key, rkey)
    const keys = statKeys({
      status: row.status,
      shelfKey: row.shelf_key,
      pages: row.pages,
      pagesRead: row.pages_read,
      finishedYear: row.finished_year,
      tagKeys,
      authorKeys,
    })
    for (const [kind, key, pages] of keys) {
      this.addStat.run(owner, kind, key, -1, -pages)
      const emptied = this.dropEmptyStat.run(owner, kind, key).changes > 0
      // an empty library has no number: the index holds exactly what a rebuild would make
      if (emptied && kind === 'total') this.deleteOwner.run(owner)
    }
  }

  /** Every row of one DID's library (its repository is being deleted or replaced). */
  removeRepo(did: string): void {
    const owner = this.ownerOf(did)
    if (owner === undefined) return
    for (const stmt of this.deleteOwnerStmts) stmt.run(owner)
    this.deleteOwner.run(owner)
  }

  /** Every row of every library (reindex). */
  clear(): void {
    for (const stmt of this.clearStmts) stmt.run()
  }
}
