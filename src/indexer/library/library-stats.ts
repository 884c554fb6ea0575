import type { Db } from '../../db/index.js'

export type LibraryStats = {
  books: number
  pagesRead: number
  byStatus: { status: string; books: number }[]
  byShelf: { shelf: string; books: number }[]
  topTags: { tag: string; books: number }[]
  topAuthors: { author: string; books: number }[]
  finishedByYear: { year: number; books: number; pages: number }[]
}

/** Most statuses and shelves listed (the fullest first). */
const MAX_GROUPS = 100

const EMPTY: LibraryStats = { books: 0, pagesRead: 0, byStatus: [], byShelf: [], topTags: [], topAuthors: [], finishedByYear: [] }

/**
 * getStats from library_stat: the counts are kept by the commit hook, so this reads the rows of
 * one library (one per status, shelf, tag, author, way of writing them, and year) rather than
 * grouping its books. A shelf, tag or author is counted by its folded key and named the way most
 * of its books write it (ties: the first in code point order), whatever order the books came in.
 */
export class LibraryStatsReader {
  private ownerStmt
  private totalStmt
  private topStmt
  private nameStmt
  private yearsStmt

  constructor(db: Db) {
    const s = db.sqlite
    this.ownerStmt = s.prepare<[string], number>('SELECT owner FROM library_owner WHERE did = ?').pluck()
    this.totalStmt = s.prepare<[number], { books: number; pages: number }>(
      `SELECT books, pages FROM library_stat WHERE owner = ? AND kind = 'total' AND key = ''`,
    )
    this.topStmt = s.prepare<[number, string, number], { key: string; books: number }>(
      'SELECT key, sum(books) AS books FROM library_stat WHERE owner = ? AND kind = ? GROUP BY key ORDER BY books DESC, key ASC LIMIT ?',
    )
    this.nameStmt = s
      .prepare<[number, string, string], string>(
        'SELECT name FROM library_stat WHERE owner = ? AND kind = ? AND key = ? ORDER BY books DESC, name ASC LIMIT 1',
      )
      .pluck()
    this.yearsStmt = s.prepare<[number], { key: string; books: number; pages: number }>(
      `SELECT key, books, pages FROM library_stat WHERE owner = ? AND kind = 'year'`,
    )
  }

  stats(did: string, top: number): LibraryStats {
    const owner = this.ownerStmt.get(did)
    if (owner === undefined) return EMPTY
    const total = this.totalStmt.get(owner)
    const named = (kind: string, limit: number) =>
      this.topStmt.all(owner, kind, limit).map((r) => ({ name: this.nameStmt.get(owner, kind, r.key)!, books: r.books }))
    return {
      books: total?.books ?? 0,
      pagesRead: total?.pages ?? 0,
      byStatus: this.topStmt.all(owner, 'status', MAX_GROUPS).map((r) => ({ status: r.key, books: r.books })),
      byShelf: named('shelf', MAX_GROUPS).map((r) => ({ shelf: r.name, books: r.books })),
      topTags: named('tag', top).map((r) => ({ tag: r.name, books: r.books })),
      topAuthors: named('author', top).map((r) => ({ author: r.name, books: r.books })),
      finishedByYear: this.yearsStmt
        .all(owner)
        .map((r) => ({ year: Number(r.key), books: r.books, pages: r.pages }))
        .sort((a, b) => a.year - b.year),
    }
  }
}
