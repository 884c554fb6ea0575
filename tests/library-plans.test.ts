// searchBooks chooses, per search, between two plans for a full-text condition: read every match
// and sort it, or walk the sort order's index keeping the books that match. The choice is made
// from counts and may differ between two pages of the same listing; the answer must not. On a
// generated library of 4,000 books in seven languages (bench/_library-data.ts), hundreds of
// random searches (words, prefixes, two words, common words, Cyrillic and CJK, filters, every
// sort) are paged to the end under each plan forced and under the planner's own choice, and the
// three must give the same books, in the same order, with the same cursors.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { generateBooks, seededRng, type Rng } from '../bench/_library-data.ts'
import { migrateToLatest, openDatabase, type Db } from '../src/db/index.ts'
import { bookEntry } from '../src/indexer/library/book-entry.ts'
import { BookSearcher, type BookSearch, type BookSort } from '../src/indexer/library/book-search.ts'
import { LibraryTables } from '../src/indexer/library/library-tables.ts'
import { loadLexicons } from '../src/lexicons.ts'
import type { RecordValue } from '../src/repo/types.ts'

const DID = 'did:plc:libraryplanstest0000000'
const BOOKS = 4000

let dir: string
let db: Db
const books = [...generateBooks(BOOKS, 11)]

test.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'carrel-plans-'))
  db = openDatabase(join(dir, 'carrel.sqlite'))
  await migrateToLatest(db)
  const { lexicons } = await loadLexicons()
  const tables = new LibraryTables(db)
  db.sqlite.transaction(() => {
    books.forEach((b, i) => {
      const rkey = `3l${String(i).padStart(11, '0')}`.replace(/[0-9]/g, (d) => 'abcdefghij'[Number(d)]!)
      tables.add(bookEntry(lexicons, DID, rkey, { ...b, $type: 'app.carrel.library.book' } as RecordValue)!)
    })
  })()
})

test.after(async () => {
  await db?.close()
  rmSync(dir, { recursive: true, force: true })
})

function wordOf(rng: Rng, text: string): string {
  const chars = [...text]
  if (/[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}]/u.test(text)) {
    const at = Math.floor(rng() * chars.length)
    return chars.slice(at, at + 1 + Math.floor(rng() * 2)).join('')
  }
  const words = text.split(/[\s,.;:!?'’"]+/u).filter((w) => w.length >= 2)
  return words[Math.floor(rng() * words.length)] ?? text
}

function randomSearch(rng: Rng): Omit<BookSearch, 'limit'> {
  const b = books[Math.floor(rng() * books.length)]!
  const authors = (b.authors as string[] | undefined) ?? []
  const text = rng() < 0.7 || authors.length === 0 ? b.title : authors[0]!
  const word = wordOf(rng, text)
  const shape = Math.floor(rng() * 6)
  const q =
    shape === 0 ? word
    : shape === 1 ? `${[...word].slice(0, 2).join('')}*`
    : shape === 2 ? `${word} ${wordOf(rng, b.title)}`
    : shape === 3 ? ['the', 'de', 'la', 'и', 'の', 'der'][Math.floor(rng() * 6)]!
    : word
  const search: Omit<BookSearch, 'limit'> = { q }
  const sorts: BookSort[] = ['relevance', 'added', 'title', 'author', 'rating']
  if (rng() < 0.6) search.sort = sorts[Math.floor(rng() * sorts.length)]
  if (shape >= 4) {
    if (rng() < 0.5) search.status = String(b.readingStatus)
    if (b.shelf && rng() < 0.5) search.shelf = String(b.shelf)
    else if (Array.isArray(b.tags) && b.tags.length > 0 && rng() < 0.5) search.tag = String(b.tags[0])
    if (shape === 5 && authors.length > 0) search.author = authors[0]
  }
  return search
}

/** Every page of a search, as rkeys and cursors. */
function allPages(searcher: BookSearcher, search: Omit<BookSearch, 'limit'>, limit: number): { rkeys: string[]; cursors: (string | undefined)[] } {
  const rkeys: string[] = []
  const cursors: (string | undefined)[] = []
  let cursor: string | undefined
  for (let page = 0; page < 500; page++) {
    const res = searcher.search(DID, { ...search, limit, cursor })
    rkeys.push(...res.hits.map((h) => h.rkey))
    cursors.push(res.cursor)
    if (!res.cursor) return { rkeys, cursors }
    cursor = res.cursor
  }
  throw new Error(`no end to ${JSON.stringify(search)}`)
}

test('the plans agree on every page of 300 random searches, and each book comes once', () => {
  const planned = new BookSearcher(db)
  const sorting = new BookSearcher(db, 'sort matches')
  const walking = new BookSearcher(db, 'walk order')
  const rng = seededRng(7)
  let found = 0
  for (let i = 0; i < 300; i++) {
    const search = randomSearch(rng)
    const limit = [7, 25, 100][i % 3]!
    const a = allPages(planned, search, limit)
    const b = allPages(sorting, search, limit)
    const c = allPages(walking, search, limit)
    const what = JSON.stringify({ ...search, limit })
    assert.equal(b, a, `sort matches vs planner: ${what}`)
    assert.equal(c, a, `walk order vs planner: ${what}`)
    assert.is(new Set(a.rkeys).size, a.rkeys.length, `a book twice: ${what}`)
    found += a.rkeys.length
  }
  // the searches find books: a test of empty answers would prove nothing
  assert.ok(found > 3000, `${found} books found in all`)
})

test.run()
