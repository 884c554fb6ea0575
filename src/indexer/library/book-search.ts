import type { Statement } from 'better-sqlite3'
import { InvalidRequestError } from '@atproto/xrpc-server'
import type { Db } from '../../db/index.js'
import { ownerIdRange } from './library-tables.js'
import { columnsExpression, matchExpression, MAX_QUERY_TERMS, parseQuery, type QueryTerm } from './query.js'
import { foldKey } from './text.js'

export const BOOK_SORTS = ['added', 'title', 'author', 'rating', 'relevance'] as const
export type BookSort = (typeof BOOK_SORTS)[number]

export type BookSearch = {
  q?: string
  tag?: string
  status?: string
  shelf?: string
  author?: string
  /** default: relevance with q, added without */
  sort?: BookSort
  limit: number
  cursor?: string
}

export type BookHit = { rkey: string; cid: string; coverCid: string | null }
export type BookPage = { hits: BookHit[]; cursor?: string }

type KeyColumn = 'added_at' | 'title_sort' | 'author_sort' | 'rating' | 'rkey'
type Order = { keys: KeyColumn[]; direction: 'ASC' | 'DESC'; index: string }
type Key = (string | number)[]

/**
 * Every order ends with the rkey, so that each book has a key of its own and a page ends at an
 * exact place: the cursor is the last book's key, and the next page starts strictly after it
 * (keyset pagination). A book written meanwhile lands before or after that place, so no book
 * comes twice and none after the place is skipped. Each order has an index that walks it.
 */
const ORDERS: Record<Exclude<BookSort, 'relevance'>, Order> = {
  added: { keys: ['added_at', 'rkey'], direction: 'DESC', index: 'library_book_added_idx' },
  title: { keys: ['title_sort', 'rkey'], direction: 'ASC', index: 'library_book_title_idx' },
  author: { keys: ['author_sort', 'title_sort', 'rkey'], direction: 'ASC', index: 'library_book_author_idx' },
  rating: { keys: ['rating', 'added_at', 'rkey'], direction: 'DESC', index: 'library_book_rating_idx' },
}
const INTEGER_KEYS = new Set<KeyColumn>(['added_at', 'rating'])

/**
 * sort=relevance: books with a query term in the title first, then those with one in an author
 * or the series, then the rest (subtitle, tags, notes); newest first within each. A book's place
 * depends only on itself and the query (FTS5's bm25 also depends on every other book, so a
 * cursor could skip or repeat books as others are written). Its cursor key is (level, added).
 */
function relevanceLevels(terms: readonly QueryTerm[]): { level: number; match: string }[] {
  const q = matchExpression(terms)
  const title = columnsExpression(['title'], terms)
  const authorSeries = columnsExpression(['authors', 'series'], terms)
  const any = columnsExpression(['title', 'authors', 'series'], terms)
  return [
    { level: 2, match: `(${q}) AND (${title})` },
    { level: 1, match: `(${q}) AND ((${authorSeries}) NOT (${title}))` },
    { level: 0, match: `(${q}) NOT (${any})` },
  ]
}

/**
 * How many matching books a full-text condition is counted up to. Counting reads the matches'
 * rowids only (~40 ns each); past this many the exact number no longer changes the plan.
 */
const COUNT_CAP = 10_000

/**
 * The planner's costs, in units of one index entry read during a walk (measured on the 100,000
 * book library of `npm run bench -- library`): reading a book through a full-text match or a tag
 * or author row costs a table lookup; through the status or shelf index, an index entry;
 * checking a book against the matches of a full-text condition needs them in a list first.
 */
const COST = { lookup: 10, indexEntry: 1, sortedRow: 3, listMatch: 1.2, walkCheck: 5 }

type Filters = { status?: string; shelf?: string; tag?: string; author?: string; match?: string }
type FilterName = keyof Filters

/** A per-book condition for each filter (the full-text one: the book's id among the matches). */
const CONDITIONS: Record<FilterName, string> = {
  status: 'b.status = @status',
  shelf: 'b.shelf_key = @shelf',
  tag: 'EXISTS (SELECT 1 FROM library_book_tag t WHERE t.owner = b.owner AND t.tag_key = @tag AND t.rkey = b.rkey)',
  author: 'EXISTS (SELECT 1 FROM library_book_author a WHERE a.owner = b.owner AND a.author_key = @author AND a.rkey = b.rkey)',
  match: 'b.id IN (SELECT rowid FROM library_book_fts WHERE library_book_fts MATCH @match AND rowid BETWEEN @lo AND @hi)',
}

/**
 * Where a search starts, when one filter leaves few books: those books are read through it and
 * sorted. Otherwise the search walks the sort order's index and keeps the books that pass.
 */
const SOURCES: Record<FilterName, string> = {
  status: 'library_book b INDEXED BY library_book_status_idx',
  shelf: 'library_book b INDEXED BY library_book_shelf_idx',
  tag: 'library_book_tag s CROSS JOIN library_book b ON b.owner = s.owner AND b.rkey = s.rkey AND s.tag_key = @tag',
  author: 'library_book_author s CROSS JOIN library_book b ON b.owner = s.owner AND b.rkey = s.rkey AND s.author_key = @author',
  match: 'library_book_fts s CROSS JOIN library_book b ON b.id = s.rowid AND s.library_book_fts MATCH @match AND s.rowid BETWEEN @lo AND @hi',
}
const STAT_KIND: Record<Exclude<FilterName, 'match'>, string> = { status: 'status', shelf: 'shelf', tag: 'tag', author: 'author' }

/**
 * Where to start: the filter whose books are cheapest to read and sort, or undefined for a walk
 * of the sort order's index, which reads about limit / (share of books that pass) entries (the
 * filters taken as independent) and stops at the limit. Matches a full-text condition must be
 * listed first unless they are the source.
 */
function cheapestSource(counts: Map<FilterName, number>, total: number, limit: number, order: Order): FilterName | undefined {
  const shareOf = (count: number) => Math.min(1, count / Math.max(total, 1))
  const share = [...counts.values()].reduce((p, c) => p * shareOf(c), 1)
  const listing = (source: FilterName | undefined) => (counts.has('match') && source !== 'match' ? counts.get('match')! * COST.listMatch : 0)
  const checks = counts.size * COST.walkCheck
  let best: FilterName | undefined
  let bestCost = Math.min(total, limit / share) * (COST.indexEntry + checks) + listing(undefined)
  for (const [name, count] of counts) {
    // of the books this source gives, the share that passes the other filters
    const othersShare = share / shareOf(count)
    const cost =
      name === 'status' && order.index === ORDERS.added.index
        ? // the status index is in added order: a walk of it, like the one above
          Math.min(count, limit / othersShare) * (COST.indexEntry + checks) + listing(name)
        : count * ((name === 'status' || name === 'shelf' ? COST.indexEntry : COST.lookup) + checks) +
          count * othersShare * COST.sortedRow +
          listing(name)
    if (cost < bestCost) [best, bestCost] = [name, cost]
  }
  return best
}

function encodeCursor(sort: BookSort, key: Key): string {
  return `${sort}:${Buffer.from(JSON.stringify(key)).toString('base64url')}`
}

function decodeCursor(sort: BookSort, cursor: string, columns: ('level' | KeyColumn)[]): Key {
  const malformed = () => new InvalidRequestError(`Malformed cursor: not a cursor of a searchBooks with sort=${sort}`)
  if (!cursor.startsWith(`${sort}:`)) throw malformed()
  let key: unknown
  try {
    key = JSON.parse(Buffer.from(cursor.slice(sort.length + 1), 'base64url').toString('utf8'))
  } catch {
    throw malformed()
  }
  if (!Array.isArray(key) || key.length !== columns.length) throw malformed()
  columns.forEach((column, i) => {
    const ok = column === 'level' || INTEGER_KEYS.has(column) ? Number.isSafeInteger(key[i]) : typeof key[i] === 'string'
    if (!ok) throw malformed()
  })
  return key as Key
}

type Row = Record<KeyColumn, string | number> & { cid: string; cover_cid: string | null }

/**
 * searchBooks over the library index. The SQL is put together from the fixed pieces above; user
 * text only ever reaches SQLite as a bound parameter, and reaches FTS5 quoted (query.ts).
 */
export class BookSearcher {
  private statements = new Map<string, Statement>()
  private ownerStmt
  private statStmt
  private countStmt

  constructor(private readonly db: Db) {
    const s = db.sqlite
    this.ownerStmt = s.prepare<[string], number>('SELECT owner FROM library_owner WHERE did = ?').pluck()
    this.statStmt = s.prepare<[number, string, string], number>('SELECT books FROM library_stat WHERE owner = ? AND kind = ? AND key = ?').pluck()
    this.countStmt = s
      .prepare<[string, number, number, number], number>(
        'SELECT count(*) FROM (SELECT 1 FROM library_book_fts WHERE library_book_fts MATCH ? AND rowid BETWEEN ? AND ? LIMIT ?)',
      )
      .pluck()
  }

  private statement(sql: string): Statement {
    let stmt = this.statements.get(sql)
    if (!stmt) {
      stmt = this.db.sqlite.prepare(sql)
      this.statements.set(sql, stmt)
    }
    return stmt
  }

  search(did: string, opts: BookSearch): BookPage {
    const terms: QueryTerm[] = opts.q === undefined ? [] : parseQuery(opts.q)
    if (terms.length > MAX_QUERY_TERMS) {
      throw new InvalidRequestError(`q has ${terms.length} words and phrases; at most ${MAX_QUERY_TERMS} are searched for`)
    }
    const sort = opts.sort ?? (terms.length > 0 ? 'relevance' : 'added')
    const relevance = sort === 'relevance'
    const order = ORDERS[relevance ? 'added' : sort]
    const after = opts.cursor === undefined ? undefined : decodeCursor(sort, opts.cursor, relevance ? ['level', ...order.keys] : order.keys)
    // a query with no word in it ("?!") finds nothing; one of white space only is no query
    if (terms.length === 0 && opts.q !== undefined && opts.q.trim() !== '') return { hits: [] }
    const owner = this.ownerStmt.get(did)
    if (owner === undefined) return { hits: [] }

    const filters: Filters = {
      status: opts.status,
      shelf: opts.shelf === undefined ? undefined : foldKey(opts.shelf),
      tag: opts.tag === undefined ? undefined : foldKey(opts.tag),
      author: opts.author === undefined ? undefined : foldKey(opts.author),
    }
    const levels =
      relevance && terms.length > 0
        ? relevanceLevels(terms)
        : [{ level: 0, match: terms.length > 0 ? matchExpression(terms) : undefined }]
    const found: { key: Key; row: Row }[] = []
    for (const { level, match } of levels) {
      if (relevance && after && level > (after[0] as number)) continue
      const levelAfter = relevance ? (after && level === after[0] ? after.slice(1) : undefined) : after
      const rows = this.find(owner, { ...filters, match }, order, levelAfter, opts.limit + 1 - found.length)
      for (const row of rows) {
        const key = order.keys.map((k) => row[k])
        found.push({ key: relevance ? [level, ...key] : key, row })
      }
      if (found.length > opts.limit) break
    }
    const page = found.slice(0, opts.limit)
    return {
      hits: page.map(({ row }) => ({ rkey: row.rkey as string, cid: row.cid, coverCid: row.cover_cid })),
      cursor: found.length > opts.limit ? encodeCursor(sort, page.at(-1)!.key) : undefined,
    }
  }

  /** Up to `limit` books of the library that pass every filter, in `order`, after the key `after`. */
  private find(owner: number, filters: Filters, order: Order, after: Key | undefined, limit: number): Row[] {
    const { lo, hi } = ownerIdRange(owner)
    const params: Record<string, string | number> = { owner, lo, hi, limit }
    const names = (Object.keys(filters) as FilterName[]).filter((n) => filters[n] !== undefined)
    for (const name of names) params[name] = filters[name]!

    // how many books each filter leaves (exact counts from library_stat; matches counted up to a cap)
    const total = this.statStmt.get(owner, 'total', '') ?? 0
    const counts = new Map<FilterName, number>()
    for (const name of names) {
      const count =
        name === 'match'
          ? this.countStmt.get(filters.match!, lo, hi, COUNT_CAP)!
          : (this.statStmt.get(owner, STAT_KIND[name], filters[name]!) ?? 0)
      if (count === 0) return []
      counts.set(name, count)
    }
    const source = cheapestSource(counts, total, limit, order)
    const where = ['b.owner = @owner', ...names.filter((n) => n !== source || n === 'status' || n === 'shelf').map((n) => CONDITIONS[n])]
    if (after) {
      after.forEach((v, i) => (params[`k${i}`] = v))
      const cmp = order.direction === 'DESC' ? '<' : '>'
      where.push(`(${order.keys.map((k) => `b.${k}`).join(', ')}) ${cmp} (${after.map((_, i) => `@k${i}`).join(', ')})`)
    }
    const from = source ? SOURCES[source] : `library_book b INDEXED BY ${order.index}`
    const sql = `SELECT b.rkey, b.cid, b.cover_cid, ${order.keys.map((k) => `b.${k}`).join(', ')} FROM ${from}
      WHERE ${where.join(' AND ')}
      ORDER BY ${order.keys.map((k) => `b.${k} ${order.direction}`).join(', ')} LIMIT @limit`
    return this.statement(sql).all(params) as Row[]
  }
}
