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
export const MAX_GROUPS = 100

type StatRow = { key: string; books: number; pages: number }

const EMPTY: LibraryStats = { books: 0, pagesRead: 0, byStatus: [], byShelf: [], topTags: [], topAuthors: [], finishedByYear: [] }

/**
 * getStats from library_stat: the counts are kept by the commit hook, so this reads one row per
 * status, shelf, tag, author and year (a few hundred to a few ten thousand for a library of
 * 100,000 books) rather than grouping the books. A shelf, tag or author is counted by its folded
 * key and named as written on its oldest book (lowest rkey), so the answer does not depend on the
 * order the books were indexed in.
 */
export class LibraryStatsReader {
  private ownerStmt
  private rowsStmt
  private topStmt
  private shelfNameStmt
  private tagNameStmt
  private authorNameStmt

  constructor(db: Db) {
    const s = db.sqlite
    this.ownerStmt = s.prepare<[string], number>('SELECT owner FROM library_owner WHERE did = ?').pluck()
    this.rowsStmt = s.prepare<[number, string], StatRow>('SELECT key, books, pages FROM library_stat WHERE owner = ? AND kind = ?')
    this.topStmt = s.prepare<[number, string, number], StatRow>(
      'SELECT key, books, pages FROM library_stat WHERE owner = ? AND kind = ? ORDER BY books DESC, key ASC LIMIT ?',
    )
    this.shelfNameStmt = s.prepare<[number, string], string>('SELECT shelf FROM library_book WHERE owner = ? AND shelf_key = ? ORDER BY rkey LIMIT 1').pluck()
    this.tagNameStmt = s.prepare<[number, string], string>('SELECT tag FROM library_book_tag WHERE owner = ? AND tag_key = ? ORDER BY rkey LIMIT 1').pluck()
    this.authorNameStmt = s
      .prepare<[number, string], string>('SELECT author FROM library_book_author WHERE owner = ? AND author_key = ? ORDER BY rkey LIMIT 1')
      .pluck()
  }

  stats(did: string, top: number): LibraryStats {
    const owner = this.ownerStmt.get(did)
    if (owner === undefined) return EMPTY
    const total = this.rowsStmt.get(owner, 'total')
    const named = (kind: string, limit: number, name: (key: string) => string | undefined) =>
      this.topStmt.all(owner, kind, limit).map((r) => ({ name: name(r.key) ?? r.key, books: r.books }))
    return {
      books: total?.books ?? 0,
      pagesRead: total?.pages ?? 0,
      byStatus: this.topStmt.all(owner, 'status', MAX_GROUPS).map((r) => ({ status: r.key, books: r.books })),
      byShelf: named('shelf', MAX_GROUPS, (k) => this.shelfNameStmt.get(owner, k)).map((r) => ({ shelf: r.name, books: r.books })),
      topTags: named('tag', top, (k) => this.tagNameStmt.get(owner, k)).map((r) => ({ tag: r.name, books: r.books })),
      topAuthors: named('author', top, (k) => this.authorNameStmt.get(owner, k)).map((r) => ({ author: r.name, books: r.books })),
      finishedByYear: this.rowsStmt
        .all(owner, 'year')
        .map((r) => ({ year: Number(r.key), books: r.books, pages: r.pages }))
        .sort((a, b) => a.year - b.year),
    }
  }
}
