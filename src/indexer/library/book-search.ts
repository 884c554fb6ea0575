import type { Statement } from 'better-sqlite3'
import { InvalidRequestError } from '@atproto/xrpc-server'
import type { Db } from '../../db/index.js'
import { ownerIdRange } from './library-tables.js'
import { columnsExpression, matchExpression, MAX_QUERY_TERMS, parseQuery, type QueryTerm } from './query.js'
import { foldKey, hasWordCharacters } from './text.js'

const BOOK_SORTS = ['added', 'title', 'author', 'rating', 'relevance'] as const
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

export type BookHit = { rkey: string; coverCid: string | null }
export type BookPage = { hits: BookHit[]; cursor?: string }

type KeyColumn = 'added_at' | 'title_sort' | 'author_sort' | 'rating' | 'rkey'
/** `byScript`: the order groups books by script (Latin titles and names first, then Cyrillic, then CJK...) */
type Order = { keys: KeyColumn[]; direction: 'ASC' | 'DESC'; index: string; byScript: boolean }
type Key = (string | number)[]

/**
 * Every order ends with the rkey, so that each book has a key of its own and a page ends at an
 * exact place: the cursor is the last book's key, and the next page starts strictly after it
 * (keyset pagination). A book written meanwhile lands before or after that place, so no book
 * comes twice and none after the place is skipped. Each order has an index that walks it.
 */
const ORDERS: Record<Exclude<BookSort, 'relevance'>, Order> = {
  added: { keys: ['added_at', 'rkey'], direction: 'DESC', index: 'library_book_added_idx', byScript: false },
  title: { keys: ['title_sort', 'rkey'], direction: 'ASC', index: 'library_book_title_idx', byScript: true },
  author: { keys: ['author_sort', 'title_sort', 'rkey'], direction: 'ASC', index: 'library_book_author_idx', byScript: true },
  rating: { keys: ['rating', 'added_at', 'rkey'], direction: 'DESC', index: 'library_book_rating_idx', byScript: false },
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
 * In an order that groups books by script, for words of a script that sorts after the Latin ones,
 * up to this many full-text matches are always read and sorted (~1 µs each). A walk's cost is an
 * estimate that takes the filters as independent of the order: a word is not independent of the
 * title order, as Cyrillic and CJK titles all sort after the Latin ones. A walk of the title order for a Russian word read ~70,000 entries before its
 * first match (5 ms, where its 900 matches sort in under 1 ms). Past this many matches, a walk
 * finds its page soon wherever they are.
 */
const ALWAYS_SORT_MATCHES = 5_000

/**
 * How many books a full-text condition is counted up to: one past ALWAYS_SORT_MATCHES. Past that, a
 * larger count only makes sorting the matches look dearer than walking, which it already is.
 * Counting reads the matches' rowids (~40-90 ns each): a cap of 10,000 made "the" (35,000
 * matches) 7.2 ms a search in-process, this one 6.1 ms.
 */
const COUNT_CAP = ALWAYS_SORT_MATCHES + 1

/**
 * A letter of a script that sorts after the Latin ones (Cyrillic, Greek, CJK...). A query with
 * only Latin words is not skewed that way: its matches are mostly books with Latin titles, which
 * come first, so a walk of the title order meets them at least as soon as the estimate says
 * (measured: "Young" with sort=title 7.4 ms when its ~4,000 matches were sorted, ~2 ms walked).
 */
const LATER_SCRIPT_LETTER = /(?=\p{L})\P{Script=Latin}/u

/**
 * The planner's costs, in units of one index entry read during a walk (measured on the library of
 * `npm run bench -- library`): reading a full-text match's book costs a table lookup; a walk that
 * checks full-text matches needs them listed first.
 */
const COST = { lookup: 10, indexEntry: 1, sortedRow: 3, listMatch: 1.2, check: 2, jsonCheck: 12 }

/**
 * The filters, each as a condition on a book `b`. status and shelf are in every sort index; the
 * tag and author filters compare the folded name with the book's own list; the full-text
 * condition (the query's terms, and the tag and author as phrases of their columns, which find a
 * superset of the exact matches) keeps the books among its matches.
 */
const CONDITIONS = {
  status: 'b.status = @status',
  shelf: 'b.shelf_key = @shelf',
  tag: 'EXISTS (SELECT 1 FROM json_each(b.tags) j WHERE j.value ->> 0 = @tag)',
  author: 'EXISTS (SELECT 1 FROM json_each(b.authors) j WHERE j.value ->> 0 = @author)',
  match: 'b.id IN (SELECT rowid FROM library_book_fts WHERE library_book_fts MATCH @match AND rowid BETWEEN @lo AND @hi)',
}
type FilterName = keyof typeof CONDITIONS
type Filters = Partial<Record<FilterName, string>>

/** Where a search driven by its full-text condition reads its books. */
const FROM_MATCHES =
  'library_book_fts s CROSS JOIN library_book b ON b.id = s.rowid AND s.library_book_fts MATCH @match AND s.rowid BETWEEN @lo AND @hi'

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
    const ok =
      column === 'level' ? [0, 1, 2].includes(key[i]) : INTEGER_KEYS.has(column) ? Number.isSafeInteger(key[i]) : typeof key[i] === 'string'
    if (!ok) throw malformed()
  })
  return key as Key
}

/** A tag or author filter as a phrase of its full-text column, or nothing when it has no word. */
function columnPhrase(column: 'tags' | 'authors', value: string | undefined): string | undefined {
  if (value === undefined || !hasWordCharacters(value)) return undefined
  return columnsExpression([column], [{ text: value, prefix: false }])
}

type Row = Record<KeyColumn, string | number> & { cover_cid: string | null }

/**
 * searchBooks over the library index. The SQL is put together from the fixed pieces above; user
 * text only ever reaches SQLite as a bound parameter, and reaches FTS5 quoted (query.ts).
 */
export class BookSearcher {
  private statements = new Map<string, Statement>()
  private ownerStmt
  private countStmt
  private statStmt

  constructor(
    private readonly db: Db,
    /** one plan for every search that has a full-text condition, whatever the counts say (tests compare them) */
    private readonly forcePlan?: 'sort matches' | 'walk order',
  ) {
    const s = db.sqlite
    this.ownerStmt = s.prepare<[string], number>('SELECT owner FROM library_owner WHERE did = ?').pluck()
    this.statStmt = s
      .prepare<[number, string, string], number | null>('SELECT sum(books) FROM library_stat WHERE owner = ? AND kind = ? AND key = ?')
      .pluck()
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
    const phrases = [columnPhrase('tags', opts.tag), columnPhrase('authors', opts.author)].filter((p) => p !== undefined)
    const levels =
      relevance && terms.length > 0
        ? relevanceLevels(terms)
        : [{ level: 0, match: terms.length > 0 ? matchExpression(terms) : undefined }]
    // matches that bunch at the end of a by-script order: the filters' words as well as the query's
    const skewed = order.byScript && [...terms.map((t) => t.text), opts.tag ?? '', opts.author ?? ''].some((t) => LATER_SCRIPT_LETTER.test(t))
    const found: { key: Key; row: Row }[] = []
    for (const { level, match } of levels) {
      if (relevance && after && level > (after[0] as number)) continue
      const levelAfter = relevance ? (after && level === after[0] ? after.slice(1) : undefined) : after
      const parts = [match, ...phrases].filter((p) => p !== undefined)
      const levelFilters = { ...filters, match: parts.length > 0 ? parts.map((p) => `(${p})`).join(' AND ') : undefined }
      const rows = this.find(owner, levelFilters, order, levelAfter, opts.limit + 1 - found.length, skewed)
      for (const row of rows) {
        const key = order.keys.map((k) => row[k])
        found.push({ key: relevance ? [level, ...key] : key, row })
      }
      if (found.length > opts.limit) break
    }
    const page = found.slice(0, opts.limit)
    return {
      hits: page.map(({ row }) => ({ rkey: row.rkey as string, coverCid: row.cover_cid })),
      cursor: found.length > opts.limit ? encodeCursor(sort, page.at(-1)!.key) : undefined,
    }
  }

  /**
   * Up to `limit` books of the library that pass every filter, in `order`, after the key `after`:
   * either read from the full-text matches and sorted, or found by walking the order's index and
   * keeping the books that pass, whichever the counts say reads less. `skewed`: the matches are
   * likely to sit at the end of the order (ALWAYS_SORT_MATCHES).
   */
  private find(owner: number, filters: Filters, order: Order, after: Key | undefined, limit: number, skewed: boolean): Row[] {
    const { lo, hi } = ownerIdRange(owner)
    const params: Record<string, string | number> = { owner, lo, hi, limit }
    const names = (Object.keys(filters) as FilterName[]).filter((n) => filters[n] !== undefined)
    for (const name of names) params[name] = filters[name]!

    const total = this.statStmt.get(owner, 'total', '') ?? 0
    // the share of the library each filter keeps: exact counts, full-text matches counted up to a cap
    let matches = 0
    let share = 1
    let othersShare = 1
    for (const name of names) {
      const count = name === 'match' ? this.countStmt.get(filters.match!, lo, hi, COUNT_CAP)! : (this.statStmt.get(owner, name, filters[name]!) ?? 0)
      if (count === 0) return []
      if (name === 'match') matches = count
      // the tag and author filters are part of the full-text condition when it exists
      const counted = name === 'match' || !((name === 'tag' || name === 'author') && filters.match !== undefined)
      if (!counted) continue
      share *= Math.min(1, count / Math.max(total, 1))
      if (name !== 'match') othersShare *= Math.min(1, count / Math.max(total, 1))
    }
    const checks = names.reduce((c, n) => c + (n === 'tag' || n === 'author' ? COST.jsonCheck : COST.check), 0)
    const walkCost = Math.min(total, limit / share) * (COST.indexEntry + checks) + matches * COST.listMatch
    const fromMatches =
      filters.match !== undefined &&
      (this.forcePlan !== undefined
        ? this.forcePlan === 'sort matches'
        : (skewed && matches <= ALWAYS_SORT_MATCHES) || matches * (COST.lookup + checks + othersShare * COST.sortedRow) < walkCost)

    const where = ['b.owner = @owner', ...names.filter((n) => !(fromMatches && n === 'match')).map((n) => CONDITIONS[n])]
    if (after) {
      after.forEach((v, i) => (params[`k${i}`] = v))
      const cmp = order.direction === 'DESC' ? '<' : '>'
      where.push(`(${order.keys.map((k) => `b.${k}`).join(', ')}) ${cmp} (${after.map((_, i) => `@k${i}`).join(', ')})`)
    }
    const from = fromMatches ? FROM_MATCHES : `library_book b INDEXED BY ${order.index}`
    const sql = `SELECT b.rkey, b.cover_cid, ${order.keys.map((k) => `b.${k}`).join(', ')} FROM ${from}
      WHERE ${where.join(' AND ')}
      ORDER BY ${order.keys.map((k) => `b.${k} ${order.direction}`).join(', ')} LIMIT @limit`
    return this.statement(sql).all(params) as Row[]
  }
}
