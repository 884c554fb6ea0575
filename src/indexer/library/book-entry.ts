import type { Cid } from '@atproto/lex-data'
import type { Lexicons } from '@atproto/lexicon'
import { isValidTid } from '@atproto/syntax'
import { cidToString } from '../../repo/cid.js'
import type { RecordValue } from '../../repo/types.js'
import { isValidRecord } from '../valid-record.js'
import { bookRuleViolation } from './book-rules.js'
import { foldKey, ftsText } from './text.js'

export const BOOK_COLLECTION = 'app.carrel.library.book'

/** A tag, shelf or author: the folded key it is matched and counted by, and the name as written. */
export type NamedKey = { key: string; name: string }

/** The full-text columns, in the order of the FTS table's columns. */
export const FTS_COLUMNS = ['title', 'authors', 'series', 'subtitle', 'tags', 'notes'] as const
export type FtsColumn = (typeof FTS_COLUMNS)[number]

/** What the library index keeps of one book: a pure function of (did, rkey, record). */
export type BookEntry = {
  did: string
  rkey: string
  titleSort: string
  /** '0' + the first author's key; '1' for a book without authors, so that those sort last */
  authorSort: string
  /** createdAt, ms since the epoch */
  addedAt: number
  status: string | null
  shelf: NamedKey | null
  /** 0 = unrated */
  rating: number
  pages: number | null
  pagesRead: number
  finishedYear: number | null
  coverCid: string | null
  tags: NamedKey[]
  authors: NamedKey[]
  text: Record<FtsColumn, string>
}

/** Distinct by key, first spelling kept, in the record's order. */
function namedKeys(names: readonly string[]): NamedKey[] {
  const seen = new Map<string, NamedKey>()
  for (const name of names) {
    const key = foldKey(name)
    if (key !== '' && !seen.has(key)) seen.set(key, { key, name })
  }
  return [...seen.values()]
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined)
const int = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined)

/**
 * The index entry of a book record, or null when the library does not hold it: a record that is
 * not a valid book (written with `validate: false`), breaks the book rules (stored before they
 * existed), or whose key is not a TID. The write path's hook and `reindex` both decide here.
 * `validated`: the write path has just validated the record as the lexicon says (a RecordOp's
 * `validated`), so it is not validated again (~25 µs a book); records that come any other way
 * (reindex, an imported repo, `validate: false`) are.
 */
export function bookEntry(lexicons: Lexicons, did: string, rkey: string, record: RecordValue, opts: { validated?: boolean } = {}): BookEntry | null {
  if (!isValidTid(rkey) || bookRuleViolation(record)) return null
  if (!opts.validated && !isValidRecord(lexicons, BOOK_COLLECTION, record)) return null
  const addedAt = Date.parse(record.createdAt as string)
  if (Number.isNaN(addedAt)) return null
  const title = record.title as string
  const authors = (record.authors as string[] | undefined) ?? []
  const tags = (record.tags as string[] | undefined) ?? []
  const series = record.series as { name: string } | undefined
  const status = str(record.readingStatus) ?? null
  const shelfName = str(record.shelf)
  const shelfKey = shelfName === undefined ? '' : foldKey(shelfName)
  const pages = int(record.pages) ?? null
  const progress = int(record.progress)
  const finishedAt = str(record.finishedAt)
  const finishedYear = finishedAt === undefined ? null : new Date(finishedAt).getUTCFullYear()
  const isRead = status === 'finished' || finishedAt !== undefined
  const pagesRead = pages === null ? 0 : isRead ? pages : status === 'reading' && progress ? Math.floor((pages * progress) / 100) : 0
  const cover = record.cover as { ref: Cid } | undefined
  return {
    did,
    rkey,
    titleSort: foldKey(title),
    authorSort: authors.length > 0 ? '0' + foldKey(authors[0]!) : '1',
    addedAt,
    status,
    shelf: shelfKey === '' ? null : { key: shelfKey, name: shelfName! },
    rating: int(record.rating) ?? 0,
    pages,
    pagesRead,
    finishedYear: Number.isNaN(finishedYear) ? null : finishedYear,
    coverCid: cover ? cidToString(cover.ref) : null,
    tags: namedKeys(tags),
    authors: namedKeys(authors),
    text: {
      title: ftsText(title),
      authors: ftsText(authors.join(' ; ')),
      series: series ? ftsText(series.name) : '',
      subtitle: ftsText(str(record.subtitle) ?? ''),
      tags: ftsText(tags.join(' ; ')),
      notes: ftsText(str(record.notes) ?? ''),
    },
  }
}
